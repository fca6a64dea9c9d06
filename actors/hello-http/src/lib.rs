//! `hello_http.wasm`: the smallest useful Trellis actor.
//!
//! Answers every request with `200 OK`, `content-type: text/plain` and the
//! body `Hello from Trellis!` (no trailing newline).

use actor_common::{Guest, IncomingRequest, ResponseOutparam, respond};

struct HelloHttp;

impl Guest for HelloHttp {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        respond(
            response_out,
            200,
            &[("content-type", b"text/plain")],
            b"Hello from Trellis!",
        );
    }
}

actor_common::export_http_actor!(HelloHttp);
