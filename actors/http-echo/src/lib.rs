//! `http_echo.wasm`: test helper actor.
//!
//! - `/echo` (any method): reads the whole request body and answers `200`
//!   with the same bytes and `x-body-len: <n>`.
//! - `/big?bytes=N`: answers `200` with `N` bytes where byte `i` is
//!   `(i % 251) as u8`, streamed in chunks of at most 64 KiB.
//! - anything else: `200` with body `echo ok`.
//!
//! Every response carries the request's `x-trace` header back, if it had
//! one.

use actor_common::{
    Guest, IncomingRequest, MAX_CHUNK, ResponseOutparam, header, path_and_query, query_param,
    read_body, respond, start_response,
};

/// Period of the `/big` byte pattern (a prime, so it never lines up with
/// power-of-two chunk sizes).
const PATTERN_PERIOD: u64 = 251;

struct HttpEcho;

impl Guest for HttpEcho {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let (path, query) = path_and_query(&request);
        let trace = header(&request, "x-trace");
        let mut headers: Vec<(&str, &[u8])> = vec![("content-type", b"application/octet-stream")];
        if let Some(trace) = &trace {
            headers.push(("x-trace", trace));
        }
        // The W3C trace context the platform handed in, for the tracing tests.
        let traceparent = header(&request, "traceparent");
        if let Some(traceparent) = &traceparent {
            headers.push(("x-seen-traceparent", traceparent));
        }

        match path.as_str() {
            "/echo" => match read_body(request) {
                Ok(body) => {
                    let len = body.len().to_string();
                    headers.push(("x-body-len", len.as_bytes()));
                    respond(response_out, 200, &headers, &body);
                }
                Err(e) => {
                    headers[0].1 = b"text/plain";
                    respond(
                        response_out,
                        400,
                        &headers,
                        format!("bad body: {e}").as_bytes(),
                    );
                }
            },
            "/big" => match query_param(query.as_deref(), "bytes").and_then(|n| n.parse().ok()) {
                Some(total) => send_pattern(response_out, &headers, total),
                None => {
                    headers[0].1 = b"text/plain";
                    respond(response_out, 400, &headers, b"expected /big?bytes=N");
                }
            },
            _ => {
                headers[0].1 = b"text/plain";
                respond(response_out, 200, &headers, b"echo ok");
            }
        }
    }
}

/// Streams `total` pattern bytes without ever holding more than one chunk.
fn send_pattern(out: ResponseOutparam, headers: &[(&str, &[u8])], total: u64) {
    let len = total.to_string();
    let mut headers = headers.to_vec();
    headers.push(("content-length", len.as_bytes()));
    let mut writer = start_response(out, 200, &headers);
    let mut chunk = vec![0u8; MAX_CHUNK];
    let mut offset = 0u64;
    while offset < total {
        let n = (total - offset).min(MAX_CHUNK as u64) as usize;
        for (i, byte) in chunk[..n].iter_mut().enumerate() {
            *byte = ((offset + i as u64) % PATTERN_PERIOD) as u8;
        }
        if writer.write_all(&chunk[..n]).is_err() {
            return; // Client went away; dropping the body reports the error.
        }
        offset += n as u64;
    }
    let _ = writer.finish();
}

actor_common::export_http_actor!(HttpEcho);
