//! Shared support for the Trellis example actors.
//!
//! This crate runs `wit_bindgen::generate!` once for the world
//! `trellis:actors/capability-actor` (the repo's `wit/` root: the
//! `wasi:http/proxy` world of `trellis:actors/http-actor` plus
//! `wasi:keyvalue`, `wasi:logging` and `wasi:config`) and exports the
//! generated bindings as [`bindings`], plus the `export_http_actor!` macro
//! that each actor crate invokes to export its `wasi:http/incoming-handler`
//! implementation.
//!
//! Generating every capability interface here does not add imports to actors
//! that don't use them: when a core module is turned into a component, only
//! the interfaces whose functions the module actually imports end up among
//! the component's imports. An actor that never calls `wasi:keyvalue` (like
//! `hello_http.wasm`) stays a pure `wasi:http/proxy` component that hosts
//! without a key-value provider can run.
//!
//! On top of the bindings it offers the few helpers every actor needs:
//! reading a whole request body, sending a response whose body is known up
//! front, and streaming a body in bounded chunks while honouring the output
//! stream's `check-write` budget.

// Lets the generated `export_http_actor!` macro name this crate by the same
// path both here and in the actor crates that invoke it.
extern crate self as actor_common;

#[doc(hidden)]
pub use wit_bindgen;

/// Generated bindings for the `trellis:actors/capability-actor` world.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        // Relative to this crate's Cargo.toml: actors/common -> <repo>/wit.
        path: "../../wit",
        world: "trellis:actors/capability-actor",
        export_macro_name: "export_http_actor",
        pub_export_macro: true,
        default_bindings_module: "actor_common::bindings",
        runtime_path: "actor_common::wit_bindgen::rt",
        // Generate bindings for every imported WASI interface here rather
        // than mapping them onto some other crate's types.
        generate_all,
    });
}

/// `wasi:config@0.2.0-rc.1` (`store`). The generated module's name carries
/// the version because `wit/` also holds `wasi:config@0.2.0-draft`.
pub use bindings::wasi::config0_2_0_rc_1 as config;
/// `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`).
pub use bindings::wasi::keyvalue;
/// `wasi:logging@0.1.0-draft` (`logging`).
pub use bindings::wasi::logging;

/// `export_http_actor!(MyType)` exports `MyType`'s [`Guest`] impl as the
/// component's `wasi:http/incoming-handler`.
pub use bindings::export_http_actor;
pub use bindings::exports::wasi::http::incoming_handler::Guest;
pub use bindings::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
pub use bindings::wasi::io::streams::{OutputStream, StreamError};

/// Largest chunk read from or written to a stream in one call (64 KiB).
pub const MAX_CHUNK: usize = 64 * 1024;

/// Upper bound on how much memory a `content-length` hint may pre-reserve.
const MAX_RESERVE: usize = 256 * 1024 * 1024;

/// The request's path (without the query) and its query string, if any.
pub fn path_and_query(request: &IncomingRequest) -> (String, Option<String>) {
    let full = request.path_with_query().unwrap_or_else(|| "/".to_string());
    match full.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (full, None),
    }
}

/// The value of query parameter `name` in `query` (no percent-decoding).
pub fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// The value of query parameter `name` in `query`, decoded the way HTML
/// forms encode it (`+` is a space, `%XX` is the byte `0xXX`; a `%` not
/// followed by two hex digits is kept as is).
///
/// `Ok(None)` if the parameter is absent; `Err` if its decoded bytes are not
/// UTF-8.
pub fn query_param_decoded(query: Option<&str>, name: &str) -> Result<Option<String>, String> {
    let Some(raw) = query_param(query, name) else {
        return Ok(None);
    };
    String::from_utf8(percent_decode(raw))
        .map(Some)
        .map_err(|_| format!("query parameter {name:?} is not UTF-8 once decoded"))
}

/// Decodes `+` and `%XX` escapes (form encoding) in `s` to bytes.
pub fn percent_decode(s: &str) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let escaped = bytes
                    .get(i + 1..i + 3)
                    .and_then(|pair| Some(hex(pair[0])? << 4 | hex(pair[1])?));
                if let Some(byte) = escaped {
                    out.push(byte);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The first value of request header `name`, if present.
pub fn header(request: &IncomingRequest, name: &str) -> Option<Vec<u8>> {
    let headers = request.headers();
    headers.get(name).into_iter().next()
}

/// Reads the whole request body, in chunks of at most [`MAX_CHUNK`] bytes,
/// until the stream is closed.
pub fn read_body(request: IncomingRequest) -> Result<Vec<u8>, String> {
    let hint = header(&request, "content-length")
        .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_RESERVE);
    let body = request
        .consume()
        .map_err(|()| "request body already consumed".to_string())?;
    let stream = body
        .stream()
        .map_err(|()| "request body stream already taken".to_string())?;
    let mut data = Vec::with_capacity(hint);
    let result = loop {
        match stream.blocking_read(MAX_CHUNK as u64) {
            Ok(chunk) => data.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break Ok(data),
            Err(StreamError::LastOperationFailed(e)) => break Err(e.to_debug_string()),
        }
    };
    // The stream is a child of the body: drop it first.
    drop(stream);
    drop(IncomingBody::finish(body));
    result
}

/// A response body being streamed to the client.
///
/// Created by [`start_response`]; call [`BodyWriter::finish`] once all bytes
/// are written.
pub struct BodyWriter {
    // Declared before `body` so it is dropped first (child resource).
    stream: OutputStream,
    body: OutgoingBody,
}

impl BodyWriter {
    /// Writes all of `data`, at most [`MAX_CHUNK`] bytes per `write` call and
    /// never more than `check-write` permits, blocking while the stream has
    /// no room.
    pub fn write_all(&mut self, mut data: &[u8]) -> Result<(), StreamError> {
        while !data.is_empty() {
            let permit = self.stream.check_write()?;
            if permit == 0 {
                self.stream.subscribe().block();
                continue;
            }
            let n = data
                .len()
                .min(MAX_CHUNK)
                .min(usize::try_from(permit).unwrap_or(usize::MAX));
            self.stream.write(&data[..n])?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Flushes the stream and finishes the body (no trailers).
    pub fn finish(self) -> Result<(), String> {
        let BodyWriter { stream, body } = self;
        let flushed = stream.blocking_flush();
        drop(stream);
        flushed.map_err(|e| format!("flush failed: {e:?}"))?;
        OutgoingBody::finish(body, None).map_err(|e| format!("finish failed: {e:?}"))
    }
}

/// Sends the status and headers of a response and returns a writer for its
/// body.
///
/// The response is handed to the host *before* any body bytes are written,
/// so large bodies stream to the client instead of filling a buffer that
/// nobody reads yet.
pub fn start_response(out: ResponseOutparam, status: u16, headers: &[(&str, &[u8])]) -> BodyWriter {
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value)
            .unwrap_or_else(|e| panic!("invalid response header {name:?}: {e:?}"));
    }
    let response = OutgoingResponse::new(fields);
    response
        .set_status_code(status)
        .unwrap_or_else(|()| panic!("invalid status code {status}"));
    let body = response.body().expect("outgoing body already taken");
    let stream = body.write().expect("outgoing body stream already taken");
    ResponseOutparam::set(out, Ok(response));
    BodyWriter { stream, body }
}

/// Sends a complete response with the given body and a `content-length`
/// header.
///
/// Errors while writing (e.g. the client went away) are ignored: there is
/// nobody left to report them to.
pub fn respond(out: ResponseOutparam, status: u16, headers: &[(&str, &[u8])], body: &[u8]) {
    let len = body.len().to_string();
    let mut all = Vec::with_capacity(headers.len() + 1);
    all.extend_from_slice(headers);
    all.push(("content-length", len.as_bytes()));
    let mut writer = start_response(out, status, &all);
    if writer.write_all(body).is_ok() {
        let _ = writer.finish();
    }
}

/// Sends a response without a body and without a `content-length` header,
/// as `204 No Content` requires.
pub fn respond_empty(out: ResponseOutparam, status: u16, headers: &[(&str, &[u8])]) {
    let _ = start_response(out, status, headers).finish();
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, query_param, query_param_decoded};

    #[test]
    fn percent_decode_handles_plus_escapes_and_stray_percents() {
        assert_eq!(percent_decode("a+b%20c%2Fd"), b"a b c/d");
        assert_eq!(percent_decode("%e2%9c%93"), "\u{2713}".as_bytes());
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%4"), b"%4");
        assert_eq!(percent_decode("%zz1"), b"%zz1");
        assert_eq!(percent_decode(""), b"");
    }

    #[test]
    fn query_params_raw_and_decoded() {
        let q = Some("key=my+key&bucket=&flag&msg=hi%21");
        assert_eq!(query_param(q, "key"), Some("my+key"));
        assert_eq!(query_param(q, "bucket"), Some(""));
        assert_eq!(query_param(q, "flag"), Some(""));
        assert_eq!(query_param(q, "nope"), None);
        assert_eq!(query_param(None, "key"), None);
        assert_eq!(
            query_param_decoded(q, "key"),
            Ok(Some("my key".to_string()))
        );
        assert_eq!(query_param_decoded(q, "msg"), Ok(Some("hi!".to_string())));
        assert_eq!(query_param_decoded(q, "nope"), Ok(None));
        assert!(query_param_decoded(Some("k=%ff"), "k").is_err());
    }
}
