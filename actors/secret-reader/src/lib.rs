//! `secret_reader.wasm`: reads secrets through
//! `wasmcloud:secrets@0.1.0-draft` (world `trellis:actors/secret-actor`).
//!
//! - `GET /NAME`: `store::get(NAME)` then `reveal`; `200` with the value as
//!   the body (text or bytes as stored).
//! - An error from `get` answers `404` with its text: `not-found`, or
//!   `upstream: <message>` / `io: <message>`.
//! - Other methods answer `405`. Every body is `text/plain` unless the
//!   secret is bytes (`application/octet-stream`).

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        // Relative to this crate's Cargo.toml: actors/secret-reader -> <repo>/wit.
        path: "../../wit",
        world: "trellis:actors/secret-actor@0.1.0",
        // The HTTP types are actor-common's, so its helpers apply.
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
            // Imports of another package are generated only when named.
            "wasmcloud:secrets/store@0.1.0-draft": generate,
            "wasmcloud:secrets/reveal@0.1.0-draft": generate,
        },
    });
}

use actor_common::{IncomingRequest, Method, ResponseOutparam, path_and_query, respond};
use bindings::exports::wasi::http::incoming_handler::Guest;
use bindings::wasmcloud::secrets::{reveal, store};

const TEXT: &[(&str, &[u8])] = &[("content-type", b"text/plain")];
const BYTES: &[(&str, &[u8])] = &[("content-type", b"application/octet-stream")];

struct SecretReader;

impl Guest for SecretReader {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        if !matches!(request.method(), Method::Get) {
            return respond(response_out, 405, TEXT, b"method not allowed (use GET)");
        }
        let (path, _) = path_and_query(&request);
        let name = path.trim_start_matches('/');
        match store::get(name) {
            Ok(secret) => match reveal::reveal(&secret) {
                store::SecretValue::String(text) => {
                    respond(response_out, 200, TEXT, text.as_bytes())
                }
                store::SecretValue::Bytes(bytes) => respond(response_out, 200, BYTES, &bytes),
            },
            Err(e) => {
                let text = match e {
                    store::SecretsError::NotFound => "not-found".to_string(),
                    store::SecretsError::Upstream(m) => format!("upstream: {m}"),
                    store::SecretsError::Io(m) => format!("io: {m}"),
                };
                respond(response_out, 404, TEXT, text.as_bytes())
            }
        }
    }
}

bindings::export!(SecretReader with_types_in bindings);
