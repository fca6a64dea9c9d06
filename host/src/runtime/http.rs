//! One HTTP request in a fresh instance: the WASI 0.2 path
//! (`wasi:http/incoming-handler.handle`) here, the WASI 0.3 one
//! (`wasi:http/handler.handle`) in [`super::http_p3`]; the store, limits
//! and error mapping both share are here too.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use trellis_protocol::invocation::{
    Body, ErrorKind, HttpRequest, HttpResponse, InvocationError, InvocationReply,
};
use wasmtime::Store;
use wasmtime::component::Instance;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::{ProxyIndices, ProxyPre};
use wasmtime_wasi_http::p3::bindings::ServicePre;

use super::instance::{Alongside, Limits};
use super::reply::{
    body_aborted, cut_short, deadline_error, guest_failure, handler_error, internal, to_reply,
    too_large,
};
use super::state::StoreState;
use super::warm::Admitted;
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
    /// The indices find the handler in an instance made ahead (a spare).
    P2(ProxyPre<StoreState>, ProxyIndices),
    /// `wasi:http/handler@0.3.x`: an async export (component-model async).
    P3(ServicePre<StoreState>),
}

impl Handler {
    /// The 0.2 handler of a component that exports one.
    pub(super) fn p2(pre: ProxyPre<StoreState>) -> wasmtime::Result<Self> {
        let indices = ProxyIndices::new(pre.instance_pre())?;
        Ok(Handler::P2(pre, indices))
    }
}

impl PreparedHttp {
    pub(super) fn new(handler: Handler, limits: Limits) -> Self {
        Self { handler, limits }
    }

    /// The WASI version of the handler the component exports (`0.2` or
    /// `0.3`), for the log line that says a component is ready.
    pub fn wasi_http(&self) -> &'static str {
        match self.handler {
            Handler::P2(..) => "0.2",
            Handler::P3(_) => "0.3",
        }
    }

    /// Whether a request can run in a spare instance (see `warm`): a 0.2
    /// handler is a plain export of the instance every call makes; a 0.3
    /// one is instantiated as a service of its own.
    pub(super) fn takes_spares(&self) -> bool {
        matches!(self.handler, Handler::P2(..))
    }

    /// Runs the request in a new instance, or in a spare if it was
    /// admitted with one (made ahead, no request or call ran in it: as
    /// fresh as a new one). A kept instance that did serve calls is never
    /// used: it goes, and the request makes its own. A trap, a blown
    /// deadline or a memory cap hit fails only this request, also when the
    /// guest already sent the response head and part of the body: the body
    /// is buffered, so the caller gets an error instead of a short body.
    /// The request's admission is held until the guest's store is gone,
    /// even if the caller stops waiting earlier.
    pub async fn handle<S: Send + 'static>(
        &self,
        request: HttpRequest,
        admitted: Admitted<S>,
        caps: Arc<ComponentCaps>,
    ) -> InvocationReply<HttpResponse> {
        let hyper_request = to_hyper(request)?;
        match &self.handler {
            Handler::P2(proxy, indices) => {
                let (store, made, slot) = match admitted.into_spare() {
                    Ok((mut store, instance, slot)) => {
                        self.limits.renew_now(&mut store);
                        (store, Some(instance), slot)
                    }
                    Err(slot) => (self.new_store(caps), None, slot),
                };
                let handler = Made {
                    proxy,
                    indices,
                    made,
                };
                self.handle_p2(handler, store, hyper_request, slot).await
            }
            Handler::P3(service) => {
                let slot = admitted.into_slot();
                let store = self.new_store(caps);
                super::http_p3::handle(service, store, hyper_request, slot, self.limits).await
            }
        }
    }

    fn new_store(&self, caps: Arc<ComponentCaps>) -> Store<StoreState> {
        let engine = match &self.handler {
            Handler::P2(proxy, _) => proxy.engine(),
            Handler::P3(service) => service.engine(),
        };
        self.limits.new_store(engine, caps)
    }

    async fn handle_p2<S: Send + 'static>(
        &self,
        handler: Made<'_>,
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
            let instance = match handler.made {
                Some(made) => handler.indices.load(&mut store, &made)?,
                None => handler.proxy.instantiate_async(&mut store).await?,
            };
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

/// A 0.2 handler, and the instance made ahead for this request, if any.
struct Made<'a> {
    proxy: &'a ProxyPre<StoreState>,
    indices: &'a ProxyIndices,
    made: Option<Instance>,
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
