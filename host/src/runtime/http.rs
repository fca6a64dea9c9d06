//! One `wasi:http/incoming-handler.handle` call in a fresh instance.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use trellis_protocol::invocation::{
    Body, ErrorKind, Header, HttpRequest, HttpResponse, InvocationError, InvocationReply,
};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::state::StoreState;
use crate::capabilities::ComponentCaps;

/// A compiled, pre-linked HTTP component; cheap to clone.
#[derive(Clone)]
pub struct PreparedHttp {
    proxy: ProxyPre<StoreState>,
    max_execution: Duration,
    max_memory_bytes: usize,
}

impl PreparedHttp {
    pub(super) fn new(
        proxy: ProxyPre<StoreState>,
        max_execution: Duration,
        max_memory_bytes: usize,
    ) -> Self {
        Self {
            proxy,
            max_execution,
            max_memory_bytes,
        }
    }

    /// Runs the request in a new instance. A trap, a blown deadline or a
    /// memory cap hit fails only this request.
    /// `slot` is held until the guest finishes, even if the caller stops
    /// waiting earlier.
    pub async fn handle(
        &self,
        request: HttpRequest,
        slot: tokio::sync::OwnedSemaphorePermit,
        caps: std::sync::Arc<ComponentCaps>,
    ) -> InvocationReply<HttpResponse> {
        let hyper_request = to_hyper(request)?;
        let mut store = Store::new(
            self.proxy.engine(),
            StoreState::new(self.max_memory_bytes, caps),
        );
        store.limiter(|state| &mut state.limits);
        // Yield to tokio at every epoch tick so a spinning guest cannot
        // starve other requests, and trap once the deadline has passed.
        let deadline = Instant::now() + self.max_execution;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
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
        let proxy = self.proxy.clone();
        // The guest may keep writing the body after it sends the head, so it
        // runs in its own task while this one reads the body.
        let guest = tokio::spawn(async move {
            let _slot = slot;
            let instance = proxy.instantiate_async(&mut store).await?;
            instance
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        });
        let backstop = self.max_execution + Duration::from_secs(1);
        let head = match tokio::time::timeout(backstop, receiver).await {
            Ok(Ok(Ok(response))) => response,
            Ok(Ok(Err(code))) => {
                tracing::debug!(?code, "guest answered with an error code");
                return Err(InvocationError::new(
                    ErrorKind::Internal,
                    "component failed to handle the request",
                ));
            }
            // The guest dropped the outparam without answering: the task's
            // result says why.
            Ok(Err(_)) => return Err(guest_failure(guest.await)),
            Err(_) => {
                guest.abort();
                return Err(deadline_error());
            }
        };
        let (parts, body) = head.into_parts();
        let body = match tokio::time::timeout(backstop, body.collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) => {
                tracing::debug!(%e, "guest response body failed");
                return Err(guest_failure(guest.await));
            }
            Err(_) => {
                guest.abort();
                return Err(deadline_error());
            }
        };
        Ok(HttpResponse {
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
        })
    }
}

fn to_hyper(request: HttpRequest) -> Result<hyper::Request<Full<Bytes>>, InvocationError> {
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

fn deadline_error() -> InvocationError {
    InvocationError::new(
        ErrorKind::DeadlineExceeded,
        "component exceeded its execution time limit",
    )
}

fn internal(what: &str, e: impl std::fmt::Display) -> InvocationError {
    tracing::warn!(%e, "{what}");
    InvocationError::new(ErrorKind::Internal, what.to_owned())
}

/// Classifies how a guest ended without a usable response.
fn guest_failure(joined: Result<wasmtime::Result<()>, tokio::task::JoinError>) -> InvocationError {
    match joined {
        Ok(Ok(())) => InvocationError::new(
            ErrorKind::Internal,
            "component returned without sending a response",
        ),
        Ok(Err(e)) => {
            if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                return deadline_error();
            }
            tracing::info!(error = %format!("{e:#}"), "guest trapped");
            InvocationError::new(ErrorKind::Trapped, "component trapped")
        }
        Err(e) => internal("component task failed", e),
    }
}
