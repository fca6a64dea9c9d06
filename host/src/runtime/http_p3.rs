//! One `wasi:http/handler@0.3.x` request (WASI 0.3, component-model async)
//! in a fresh instance.
//!
//! The same rules as the 0.2 path: one instance per request (isolation is
//! the same for both), the response is buffered up to the host's limit and
//! only a body the guest finished is answered, and the epoch deadline and
//! memory cap fail this request alone. The difference is the calling
//! convention: a 0.3 handler returns its response (head and body stream)
//! and may go on writing the body after it returned, so the body is read
//! inside the store's event loop (`run_concurrent`), which is what runs the
//! guest's remaining work.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use trellis_protocol::invocation::{HttpResponse, InvocationReply};
use wasmtime::Store;
use wasmtime::component::Accessor;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::bindings::{Service, ServicePre};

use super::instance::{Alongside, Limits};
use super::reply::{body_aborted, cut_short, finish, handler_error, to_reply, too_large};
use super::state::StoreState;

/// How a 0.3 guest's request ended, when the store survived it.
enum Served {
    /// A finished response.
    Response(http::response::Parts, Bytes),
    /// The handler returned an `error-code` instead of a response.
    ErrorCode(ErrorCode),
    /// The body went over the host's limit.
    TooLarge(u16),
    /// The body ended with an error (the guest's or its content-length's).
    Aborted(u16, String),
}

/// Runs one request through a 0.3 handler; `slot` is held until the store
/// is gone.
pub(super) async fn handle<S: Send + 'static>(
    service: &ServicePre<StoreState>,
    store: Store<StoreState>,
    request: hyper::Request<Full<Bytes>>,
    slot: S,
    limits: Limits,
) -> InvocationReply<HttpResponse> {
    let max = limits.max_response_bytes;
    let guest = async move {
        let mut store = store;
        let instance = service.instantiate_async(&mut store).await?;
        store
            .run_concurrent(async move |accessor| serve(accessor, &instance, request, max).await)
            .await?
    };
    match finish(Alongside::new(guest, slot), limits.backstop()).await? {
        Served::Response(parts, body) => Ok(to_reply(&parts, body)),
        Served::ErrorCode(code) => Err(handler_error(&code)),
        Served::TooLarge(status) => Err(too_large(status, max)),
        Served::Aborted(status, reason) => Err(cut_short(status, body_aborted(reason))),
    }
}

/// Calls the handler and reads the whole response body, inside the store's
/// event loop.
async fn serve(
    accessor: &Accessor<StoreState>,
    instance: &Service,
    request: hyper::Request<Full<Bytes>>,
    max: usize,
) -> wasmtime::Result<Served> {
    let (request, request_io) = accessor.with(|mut access| {
        let view = access.get().http();
        wasmtime_wasi_http::p3::Request::from_http(view.hooks, request)
    });
    let response = match instance.handle(accessor, request).await? {
        Ok(response) => response,
        Err(code) => return Ok(Served::ErrorCode(code)),
    };
    let response = accessor.with(|access| response.into_http(access, request_io))?;
    let (parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    Ok(match Limited::new(body, max).collect().await {
        Ok(collected) => Served::Response(parts, collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Served::TooLarge(status),
        Err(e) => Served::Aborted(status, e.to_string()),
    })
}
