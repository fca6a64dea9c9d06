//! `kv_counter.wasm`: an HTTP counter backed by `wasi:keyvalue`.
//!
//! Every route takes the optional query parameters `key=NAME` (default
//! `counter`) and `bucket=NAME` (default the empty string, the host's
//! default bucket); both are form-decoded (`+`, `%XX`).
//!
//! - `GET|POST /` or `/incr`: `store::open(bucket)`, then
//!   `atomics::increment(bucket, key, 1)`; answers `200` with the new count
//!   as decimal text (no newline), `content-type: text/plain`.
//! - `GET /get`: `bucket.get(key)`; answers `200` with the stored bytes as
//!   is (`content-type: application/octet-stream`), or `404 no such key`.
//!   Counters are stored by the provider as the decimal ASCII text of the
//!   `u64` (e.g. `b"42"`).
//! - `PUT /set`: `bucket.set(key, <request body>)`; answers `204`.
//!
//! Successful answers carry `x-seen-traceparent`: the `traceparent`
//! request header the host handed in (empty without one).
//!
//! Any keyvalue error answers `500` with `keyvalue error: <text>`, where the
//! text is the string of `error::other` verbatim (it names e.g. a missing
//! link), or `no such store` / `access denied`. A known path with the wrong
//! method answers `405`, an unknown path `404 not found`, a query parameter
//! that is not UTF-8 once decoded `400`.
//!
//! The actor imports only `wasi:keyvalue/store` and `wasi:keyvalue/atomics`
//! beyond `wasi:http/proxy` (no logging, no config).

use actor_common::keyvalue::{atomics, store};
use actor_common::{
    Guest, IncomingRequest, Method, ResponseOutparam, header, path_and_query,
    query_param_decoded, read_body, respond, respond_empty,
};

const DEFAULT_KEY: &str = "counter";
const DEFAULT_BUCKET: &str = "";
const TEXT: &[(&str, &[u8])] = &[("content-type", b"text/plain")];

struct KvCounter;

/// A successful route's status, `content-type` and body.
type Reply = (u16, &'static str, Vec<u8>);

impl Guest for KvCounter {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        // The trace context the host handed in, for the tracing test.
        let seen = header(&request, "traceparent").unwrap_or_default();
        match route(request) {
            Ok(None) => respond_empty(response_out, 204, &[("x-seen-traceparent", &seen)]),
            Ok(Some((status, content_type, body))) => respond(
                response_out,
                status,
                &[
                    ("content-type", content_type.as_bytes()),
                    ("x-seen-traceparent", &seen),
                ],
                &body,
            ),
            Err((status, message)) => respond(response_out, status, TEXT, message.as_bytes()),
        }
    }
}

/// Dispatches on method and path. `Ok(None)` is a `204` without a body;
/// `Err` carries the status and text of a plain-text error reply.
fn route(request: IncomingRequest) -> Result<Option<Reply>, (u16, String)> {
    let (path, query) = path_and_query(&request);
    let query = query.as_deref();
    let param = |name, default: &str| {
        query_param_decoded(query, name)
            .map(|v| v.unwrap_or_else(|| default.to_string()))
            .map_err(|e| (400, e))
    };
    let method = request.method();

    match path.as_str() {
        "/" | "/incr" => {
            if !matches!(method, Method::Get | Method::Post) {
                return Err(method_not_allowed("GET, POST"));
            }
            let (key, bucket) = (param("key", DEFAULT_KEY)?, param("bucket", DEFAULT_BUCKET)?);
            let bucket = store::open(&bucket).map_err(kv_error)?;
            let count = atomics::increment(&bucket, &key, 1).map_err(kv_error)?;
            Ok(Some((200, "text/plain", count.to_string().into_bytes())))
        }
        "/get" => {
            if !matches!(method, Method::Get) {
                return Err(method_not_allowed("GET"));
            }
            let (key, bucket) = (param("key", DEFAULT_KEY)?, param("bucket", DEFAULT_BUCKET)?);
            let bucket = store::open(&bucket).map_err(kv_error)?;
            match bucket.get(&key).map_err(kv_error)? {
                Some(value) => Ok(Some((200, "application/octet-stream", value))),
                None => Err((404, "no such key".to_string())),
            }
        }
        "/set" => {
            if !matches!(method, Method::Put) {
                return Err(method_not_allowed("PUT"));
            }
            let (key, bucket) = (param("key", DEFAULT_KEY)?, param("bucket", DEFAULT_BUCKET)?);
            let body = read_body(request).map_err(|e| (400, format!("bad body: {e}")))?;
            let bucket = store::open(&bucket).map_err(kv_error)?;
            bucket.set(&key, &body).map_err(kv_error)?;
            Ok(None)
        }
        _ => Err((404, "not found".to_string())),
    }
}

fn method_not_allowed(allowed: &str) -> (u16, String) {
    (405, format!("method not allowed (use {allowed})"))
}

/// `500 keyvalue error: <text>` for a keyvalue error.
fn kv_error(error: store::Error) -> (u16, String) {
    let text = match error {
        store::Error::NoSuchStore => "no such store".to_string(),
        store::Error::AccessDenied => "access denied".to_string(),
        store::Error::Other(text) => text,
    };
    (500, format!("keyvalue error: {text}"))
}

actor_common::export_http_actor!(KvCounter);
