//! `http_relay.wasm`: the HTTP end of an actor mesh (world
//! `trellis:examples/http-relay@0.1.0` in the repo's `wit/` root: the
//! standard `wasi:http/proxy` world plus an import of
//! `trellis:examples/relay@0.1.0`). It exports `wasi:http/incoming-handler`
//! and answers by calling `relay`, which the host binds through a link to
//! another component (e.g. `relay.wasm`, itself linked to `pingpong.wasm`:
//! the chain http -> http-relay -> relay -> pingpong).
//!
//! Routes:
//! - `GET /`: `200`, body `http -> ` followed by `relay.ping-through()`
//!   (`http -> relayed pong` with the whole chain linked).
//! - `GET /bytes?n=N`: builds `N` bytes (byte `i` is `i % 251`), passes them
//!   to `relay.echo-through` and answers `200` with the returned bytes as
//!   the body (`content-type: application/octet-stream`, with
//!   `content-length`). `N` may be at most 64 MiB (67108864); a missing,
//!   malformed or larger `N` is a `400`.
//! - `GET /divide?a=A&b=B`: `relay.divide-through(A, B)` (both `s32`);
//!   `ok(v)` -> `200` with body `v` in decimal, `err(e)` -> `422` with body
//!   `e`; a missing or malformed `A` or `B` is a `400`.
//! - anything else (other paths or methods): `404`.
//!
//! Text bodies are `text/plain` without a trailing newline. A trap in a
//! linked component (or a missing link) traps this handler too.

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        // Relative to this crate's Cargo.toml: actors/http-relay -> <repo>/wit.
        path: "../../wit",
        world: "trellis:examples/http-relay@0.1.0",
        // The WASI interfaces of `wasi:http/proxy` are the ones
        // actor-common generated, so its helpers (which take its
        // `IncomingRequest`, `ResponseOutparam`, ...) work with the types
        // of this world's `incoming-handler` export.
        with: {
            "wasi:io/poll@0.2.12": actor_common::bindings::wasi::io::poll,
            "wasi:io/error@0.2.12": actor_common::bindings::wasi::io::error,
            "wasi:io/streams@0.2.12": actor_common::bindings::wasi::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": actor_common::bindings::wasi::clocks::monotonic_clock,
            "wasi:clocks/wall-clock@0.2.12": actor_common::bindings::wasi::clocks::wall_clock,
            "wasi:random/random@0.2.12": actor_common::bindings::wasi::random::random,
            "wasi:cli/stdout@0.2.12": actor_common::bindings::wasi::cli::stdout,
            "wasi:cli/stderr@0.2.12": actor_common::bindings::wasi::cli::stderr,
            "wasi:cli/stdin@0.2.12": actor_common::bindings::wasi::cli::stdin,
            "wasi:http/types@0.2.12": actor_common::bindings::wasi::http::types,
            "wasi:http/outgoing-handler@0.2.12": actor_common::bindings::wasi::http::outgoing_handler,
        },
    });
}

use actor_common::{
    IncomingRequest, Method, ResponseOutparam, path_and_query, query_param, respond,
};
use bindings::exports::wasi::http::incoming_handler::Guest;
use bindings::trellis::examples::relay;

/// Largest `n` accepted by `/bytes` (64 MiB).
const MAX_BYTES: usize = 64 * 1024 * 1024;

const TEXT: &[(&str, &[u8])] = &[("content-type", b"text/plain")];

struct HttpRelay;

impl Guest for HttpRelay {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let (path, query) = path_and_query(&request);
        let query = query.as_deref();
        if !matches!(request.method(), Method::Get) {
            return respond(response_out, 404, TEXT, b"not found");
        }
        match path.as_str() {
            "/" => {
                let body = format!("http -> {}", relay::ping_through());
                respond(response_out, 200, TEXT, body.as_bytes());
            }
            "/bytes" => {
                let n = match query_param(query, "n").map(str::parse::<usize>) {
                    Some(Ok(n)) if n <= MAX_BYTES => n,
                    _ => {
                        let msg = format!(
                            "query parameter n must be a byte count of at most {MAX_BYTES}"
                        );
                        return respond(response_out, 400, TEXT, msg.as_bytes());
                    }
                };
                let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
                let echoed = relay::echo_through(&data);
                drop(data);
                respond(
                    response_out,
                    200,
                    &[("content-type", b"application/octet-stream")],
                    &echoed,
                );
            }
            "/divide" => {
                let arg = |name| query_param(query, name).and_then(|v| v.parse::<i32>().ok());
                let (Some(a), Some(b)) = (arg("a"), arg("b")) else {
                    return respond(
                        response_out,
                        400,
                        TEXT,
                        b"query parameters a and b must be 32-bit signed integers",
                    );
                };
                match relay::divide_through(a, b) {
                    Ok(v) => respond(response_out, 200, TEXT, v.to_string().as_bytes()),
                    Err(e) => respond(response_out, 422, TEXT, e.as_bytes()),
                }
            }
            _ => respond(response_out, 404, TEXT, b"not found"),
        }
    }
}

bindings::export!(HttpRelay with_types_in bindings);
