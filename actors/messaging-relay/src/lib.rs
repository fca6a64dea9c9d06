//! `messaging_relay.wasm`: a message-handling actor (world
//! `trellis:actors/messaging-actor@0.1.0` in the repo's `wit/` root). It
//! exports `wasmcloud:messaging/handler@0.2.0` and answers through the
//! `wasmcloud:messaging/consumer@0.2.0` it imports, which the host binds
//! through the component's link to a messaging provider.
//!
//! `handle-message(msg)` looks at `msg.body` (bytes, compared as is):
//!
//! - exactly `fail`: returns `err("asked to fail")` without sending
//!   anything, so a stream delivers the message again (redelivery tests).
//! - starts with `ask:`: the rest is `SUBJECT:PAYLOAD`, split at its first
//!   `:` (the payload may contain further colons). Without that colon it
//!   returns `err("ask: wants ask:SUBJECT:PAYLOAD")`; if `SUBJECT` is not
//!   UTF-8, `err("ask: subject is not UTF-8")`; without `msg.reply-to`,
//!   `err("ask: needs reply-to")`. Each of these is checked before anything
//!   is sent. Otherwise it calls `consumer.request(SUBJECT, PAYLOAD, 2000)`
//!   and publishes to `msg.reply-to` (with no `reply-to` of its own):
//!   - on `ok(reply)`: body `answer:` followed by `reply.body`;
//!   - on `err(e)`: body `request failed: ` followed by `e`. A failed
//!     request is reported to the asker, not treated as a failure to handle
//!     the message.
//!
//!   The result is that of the `publish` call (`ok` when it succeeded).
//! - anything else (echo with a mark): with `msg.reply-to` set to `r`, it
//!   publishes `{subject: r, reply-to: none, body: "handled:" + msg.body}`
//!   and returns the result of that `publish`. Without `reply-to` (a
//!   stream's messages have none) it publishes the same body to
//!   `handled.` followed by `msg.subject`.
//!
//! Beyond those two interfaces it imports only what Rust's standard library
//! for `wasm32-wasip2` needs (`wasi:cli`, `wasi:io`, ...).

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        // Relative to this crate's Cargo.toml: actors/messaging-relay ->
        // <repo>/wit.
        path: "../../wit",
        world: "trellis:actors/messaging-actor@0.1.0",
        // Generate the imported interfaces here rather than mapping them
        // onto some other crate's types.
        generate_all,
    });
}

use bindings::exports::wasmcloud::messaging::handler;
use bindings::wasmcloud::messaging::consumer;
use bindings::wasmcloud::messaging::types::BrokerMessage;

/// How long an `ask:` request waits for its answer, in milliseconds.
const REQUEST_TIMEOUT_MS: u32 = 2000;

/// The body that makes `handle-message` fail.
const FAIL_BODY: &[u8] = b"fail";

/// The prefix of a body that asks for a request to be relayed.
const ASK_PREFIX: &[u8] = b"ask:";

/// Prepended to the body of a request's answer before it is passed on.
const ANSWER_PREFIX: &[u8] = b"answer:";

/// Prepended to a request's error before it is passed on.
const REQUEST_FAILED_PREFIX: &[u8] = b"request failed: ";

/// Prepended to the body of an echoed message.
const HANDLED_PREFIX: &[u8] = b"handled:";

/// The component: handles every message delivered to it.
struct MessagingRelay;

impl handler::Guest for MessagingRelay {
    fn handle_message(msg: BrokerMessage) -> Result<(), String> {
        if msg.body == FAIL_BODY {
            return Err("asked to fail".to_string());
        }
        if let Some(rest) = msg.body.strip_prefix(ASK_PREFIX) {
            return ask(rest, msg.reply_to);
        }
        echo(msg)
    }
}

/// Handles an `ask:SUBJECT:PAYLOAD` message, `rest` being what follows
/// `ask:`: relays `PAYLOAD` as a request to `SUBJECT` and publishes the
/// outcome to `reply_to`.
fn ask(rest: &[u8], reply_to: Option<String>) -> Result<(), String> {
    let colon = rest
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| "ask: wants ask:SUBJECT:PAYLOAD".to_string())?;
    let (subject, payload) = (&rest[..colon], &rest[colon + 1..]);
    let subject =
        std::str::from_utf8(subject).map_err(|_| "ask: subject is not UTF-8".to_string())?;
    // Checked before the request so that nothing is sent when the answer
    // could not be delivered anyway.
    let reply_to = reply_to.ok_or_else(|| "ask: needs reply-to".to_string())?;

    let body = match consumer::request(subject, payload, REQUEST_TIMEOUT_MS) {
        Ok(reply) => [ANSWER_PREFIX, &reply.body].concat(),
        Err(e) => [REQUEST_FAILED_PREFIX, e.as_bytes()].concat(),
    };
    consumer::publish(&BrokerMessage {
        subject: reply_to,
        body,
        reply_to: None,
    })
}

/// Handles any other message: publishes its body, marked with `handled:`,
/// to its `reply_to`, or to `handled.` + its subject when it has none (a
/// stream's messages carry no reply-to; this is how a test sees them).
fn echo(msg: BrokerMessage) -> Result<(), String> {
    let subject = match msg.reply_to {
        Some(reply_to) => reply_to,
        None => format!("handled.{}", msg.subject),
    };
    consumer::publish(&BrokerMessage {
        subject,
        body: [HANDLED_PREFIX, &msg.body].concat(),
        reply_to: None,
    })
}

bindings::export!(MessagingRelay with_types_in bindings);
