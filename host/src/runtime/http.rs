//! One HTTP request in a fresh instance: the WASI 0.2 path
//! (`wasi:http/incoming-handler.handle`) here, the WASI 0.3 one
//! (`wasi:http/handler.handle`) in [`super::http_p3`]; the store, limits
//! and error mapping both share are here too.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use trellis_protocol::invocation::{
    Body, ErrorKind, Header, HttpRequest, HttpResponse, InvocationError, InvocationReply,
};
use wasmtime::{PoolConcurrencyLimitError, Store, Trap};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p3::bindings::ServicePre;

use super::instance::{Alongside, Ended, Limits};
use super::state::StoreState;
use crate::capabilities::ComponentCaps;

/// A compiled, pre-linked HTTP component; cheap to clone.
#[derive(Clone)]
pub struct PreparedHttp {
    handler: Handler,
    limits: Limits,
}

/// Which HTTP handler interface a component exports.
#[derive(Clone)]
pub(super) enum Handler {
    /// `wasi:http/incoming-handler@0.2.x`: one synchronous call per request.
    P2(ProxyPre<StoreState>),
    /// `wasi:http/handler@0.3.x`: an async export (component-model async).
    P3(ServicePre<StoreState>),
}

impl PreparedHttp {
    pub(super) fn new(handler: Handler, limits: Limits) -> Self {
        Self { handler, limits }
    }

    /// The WASI version of the handler the component exports (`0.2` or
    /// `0.3`), for the log line that says a component is ready.
    pub fn wasi_http(&self) -> &'static str {
        match self.handler {
            Handler::P2(_) => "0.2",
            Handler::P3(_) => "0.3",
        }
    }

    /// Runs the request in a new instance. A trap, a blown deadline or a
    /// memory cap hit fails only this request, also when the guest already
    /// sent the response head and part of the body: the body is buffered,
    /// so the caller gets an error instead of a short body.
    /// `slot` (the request's admission) is held until the guest's store is
    /// gone, even if the caller stops waiting earlier.
    pub async fn handle<S: Send + 'static>(
        &self,
        request: HttpRequest,
        slot: S,
        caps: Arc<ComponentCaps>,
    ) -> InvocationReply<HttpResponse> {
        let hyper_request = to_hyper(request)?;
        let store = self.new_store(caps);
        match &self.handler {
            Handler::P2(proxy) => self.handle_p2(proxy, store, hyper_request, slot).await,
            Handler::P3(service) => {
                super::http_p3::handle(service, store, hyper_request, slot, self.limits).await
            }
        }
    }

    fn new_store(&self, caps: Arc<ComponentCaps>) -> Store<StoreState> {
        let engine = match &self.handler {
            Handler::P2(proxy) => proxy.engine(),
            Handler::P3(service) => service.engine(),
        };
        self.limits.new_store(engine, caps)
    }

    async fn handle_p2<S: Send + 'static>(
        &self,
        proxy: &ProxyPre<StoreState>,
        mut store: Store<StoreState>,
        hyper_request: hyper::Request<Full<Bytes>>,
        slot: S,
    ) -> InvocationReply<HttpResponse> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let setup = |store: &mut Store<StoreState>| -> wasmtime::Result<_> {
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, hyper_request)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            Ok((req, out))
        };
        let (req, out) = setup(&mut store).map_err(|e| internal("cannot set up request", e))?;
        // The guest may keep writing the body after it sends the head, so
        // it runs alongside the reading of the head and body.
        let guest = async move {
            let instance = proxy.instantiate_async(&mut store).await?;
            instance
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        };
        let max = self.limits.max_response_bytes;
        let guest = Alongside::new(guest, slot);
        tokio::time::timeout_at(self.limits.backstop(), respond(guest, receiver, max))
            .await
            .unwrap_or_else(|_| Err(deadline_error()))
    }
}

/// The head the guest sends through its response outparam.
type HeadReceiver = tokio::sync::oneshot::Receiver<
    Result<hyper::Response<wasmtime_wasi_http::p2::body::HyperOutgoingBody>, ErrorCode>,
>;

/// Reads the head and the whole body a 0.2 guest sends, and waits for the
/// guest's return, which alone says the response is complete.
async fn respond<F, S>(
    mut guest: Alongside<F, S>,
    head: HeadReceiver,
    max: usize,
) -> InvocationReply<HttpResponse>
where
    F: Future<Output = wasmtime::Result<()>>,
{
    let head = match guest.during(head).await {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => return Err(handler_error(&code)),
        // The guest dropped the outparam without answering: its end says
        // why.
        Err(_) => return Err(guest_failure(guest.end().await)),
    };
    let (parts, body) = head.into_parts();
    let status = parts.status.as_u16();
    let body = match guest.during(Limited::new(body, max).collect()).await {
        Ok(collected) => collected.to_bytes(),
        // Dropping the guest stops it now rather than buffer without end.
        Err(e) if e.is::<LengthLimitError>() => return Err(too_large(status, max)),
        Err(e) => {
            // The guest aborted the body (dropped it unfinished, or wrote
            // other than its content-length), or failed.
            let error = match guest.end().await {
                Ok(Ok(())) => body_aborted(e),
                ended => guest_failure(ended),
            };
            return Err(cut_short(status, error));
        }
    };
    // A body also ends cleanly when the guest's store is dropped under it
    // (a trap, the deadline, the memory cap mid-body): only the guest's
    // own return says the response is complete.
    match guest.end().await {
        Ok(Ok(())) => Ok(to_reply(&parts, body)),
        ended => Err(cut_short(status, guest_failure(ended))),
    }
}

/// The reply for a response the guest finished.
pub(super) fn to_reply(parts: &http::response::Parts, body: Bytes) -> HttpResponse {
    HttpResponse {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| Header {
                name: name.as_str().to_owned(),
                value: value.as_bytes().to_vec(),
            })
            .collect(),
        body: Body::Inline(body.into()),
    }
}

/// The error for a response body over the host's limit.
pub(super) fn too_large(status: u16, max: usize) -> InvocationError {
    tracing::warn!(status, max, "component response body over the host's limit");
    InvocationError::new(
        ErrorKind::Internal,
        format!("component response body over {max} bytes (the host's --max-response-mb)"),
    )
}

pub(super) fn to_hyper(
    request: HttpRequest,
) -> Result<hyper::Request<Full<Bytes>>, InvocationError> {
    let bad = |what: &str| InvocationError::new(ErrorKind::BadRequest, what.to_owned());
    let body = match request.body {
        Body::Inline(bytes) => bytes,
        Body::Stream { .. } => return Err(bad("request body was not delivered")),
    };
    let authority = request.authority.as_deref().unwrap_or("localhost");
    let uri = http::Uri::builder()
        .scheme(request.scheme.as_str())
        .authority(authority)
        .path_and_query(request.path_with_query.as_str())
        .build()
        .map_err(|_| bad("invalid request URI"))?;
    let mut builder = hyper::Request::builder()
        .method(request.method.as_str())
        .uri(uri);
    for header in request.headers {
        builder = builder.header(header.name, header.value);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| bad("invalid request head"))
}

pub(super) fn deadline_error() -> InvocationError {
    InvocationError::new(
        ErrorKind::DeadlineExceeded,
        "component exceeded its execution time limit",
    )
}

pub(super) fn internal(what: &str, e: impl std::fmt::Display) -> InvocationError {
    tracing::warn!(%e, "{what}");
    InvocationError::new(ErrorKind::Internal, what.to_owned())
}

/// The error for a handler that answered with an `error-code` instead of
/// a response.
pub(super) fn handler_error(code: &dyn std::fmt::Debug) -> InvocationError {
    tracing::debug!(?code, "guest answered with an error code");
    InvocationError::new(
        ErrorKind::Internal,
        "component failed to handle the request",
    )
}

/// The error for a response body that ended with an error (the guest
/// dropped it unfinished, or wrote other than its content-length).
pub(super) fn body_aborted(reason: impl std::fmt::Display) -> InvocationError {
    InvocationError::new(
        ErrorKind::Internal,
        format!("component aborted its response body ({reason})"),
    )
}

/// The error a caller gets for a response the guest did not finish: same
/// kind, and a message that says the body was incomplete. Logged, since
/// the caller sees only the error, not what the guest had sent.
pub(super) fn cut_short(status: u16, error: InvocationError) -> InvocationError {
    tracing::warn!(status, reason = %error.message, "component response cut short: answering with an error instead");
    InvocationError::new(
        error.kind,
        format!(
            "{} before finishing its response (status {status}); the partial body was dropped",
            error.message
        ),
    )
}

/// Runs `guest` to its end within `backstop`; its value, or the deadline,
/// trap or panic that ended it.
pub(super) async fn finish<T, F, S>(
    guest: Alongside<F, S>,
    backstop: tokio::time::Instant,
) -> InvocationReply<T>
where
    F: Future<Output = wasmtime::Result<T>>,
{
    finish_keeping(guest, backstop)
        .await
        .map(|(value, _slot)| value)
}

/// [`finish`], handing the admission back with the value (a kept instance
/// goes on holding it).
pub(super) async fn finish_keeping<T, F, S>(
    guest: Alongside<F, S>,
    backstop: tokio::time::Instant,
) -> InvocationReply<(T, S)>
where
    F: Future<Output = wasmtime::Result<T>>,
{
    match tokio::time::timeout_at(backstop, guest.end_keeping()).await {
        Ok((ended, slot)) => reply_of(ended).map(|value| (value, slot)),
        Err(_) => Err(deadline_error()),
    }
}

/// A guest's end as a reply: its value, or the trap or panic that ended it.
fn reply_of<T>(ended: Ended<wasmtime::Result<T>>) -> InvocationReply<T> {
    match ended {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(trap_error(&e)),
        Err(_panic) => Err(internal("component panicked", "see the log")),
    }
}

/// Classifies how a guest ended without a usable response.
pub(super) fn guest_failure(ended: Ended<wasmtime::Result<()>>) -> InvocationError {
    match reply_of(ended) {
        Ok(()) => InvocationError::new(
            ErrorKind::Internal,
            "component returned without sending a response",
        ),
        Err(e) => e,
    }
}

/// Classifies a guest's failure: deadline, full pool, or a trap.
pub(super) fn trap_error(e: &wasmtime::Error) -> InvocationError {
    if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt)
        || e.chain()
            .any(|c| c.downcast_ref::<Trap>() == Some(&Trap::Interrupt))
    {
        return deadline_error();
    }
    // Admission keeps the pool from filling up, but a component with
    // unusually many core instances or memories can still hit one of its
    // other limits: that is a full host, not a trap.
    if e.chain().any(|c| c.is::<PoolConcurrencyLimitError>()) {
        tracing::warn!(error = %format!("{e:#}"), "instance pool exhausted");
        return InvocationError::new(
            ErrorKind::Busy,
            "this host has no free instance slot; try again",
        );
    }
    tracing::info!(error = %format!("{e:#}"), "guest trapped");
    InvocationError::new(ErrorKind::Trapped, "component trapped")
}
