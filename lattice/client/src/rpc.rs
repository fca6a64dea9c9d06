//! Invocations across hosts.
//!
//! The caller publishes to `trellis.{lattice}.rpc.{target}.{iface}.{fn}`;
//! every host running the target subscribes with the target's queue group,
//! so NATS hands each call to one instance wherever it runs.

use std::future::Future;
use std::time::Duration;

use async_nats::{HeaderMap, RequestErrorKind};
use futures::StreamExt;
use tokio::time::Instant;
use trellis_protocol::context::CallContext;
use trellis_protocol::invocation::{
    self, ErrorKind, HttpRequest, HttpResponse, InvocationError, InvocationReply,
};
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::subject::pattern;
use trellis_protocol::{ComponentId, Subject};

use crate::connect::Lattice;
use crate::error::LatticeError;

/// The call context as NATS headers.
pub(crate) fn to_headers(ctx: &CallContext) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in ctx.header_pairs() {
        headers.insert(name, value.as_str());
    }
    headers
}

/// The call context a message's headers claim (see
/// [`CallContext::from_header_values`] for how each claim is bounded).
pub(crate) fn context_from_headers(headers: Option<&HeaderMap>, fallback: Duration) -> CallContext {
    CallContext::from_header_values(
        |name| headers.and_then(|h| h.get(name)).map(|v| v.as_str()),
        fallback,
    )
}

pub(crate) fn instant_deadline(ctx: &CallContext) -> Instant {
    Instant::now() + ctx.remaining()
}

fn handle_fn() -> WitName {
    WitName::new("handle").unwrap_or_else(|e| unreachable!("`handle` is a WIT name: {e}"))
}

/// Which function of a target an invocation is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The interface, versionless.
    pub interface: InterfaceRef,
    /// The function in it.
    pub function: WitName,
}

impl Route {
    /// Whether this is an HTTP request (`wasi:http/incoming-handler.handle`).
    pub fn is_http(&self) -> bool {
        self.interface == InterfaceRef::http_incoming_handler() && self.function == handle_fn()
    }
}

impl Lattice {
    /// Sends an HTTP request to any instance of `target` in the lattice.
    /// The request body must be inline; large ones are streamed here.
    pub async fn invoke_http(
        &self,
        target: &ComponentId,
        request: HttpRequest,
        ctx: &CallContext,
    ) -> InvocationReply<HttpResponse> {
        let internal = |e: LatticeError| InvocationError::new(ErrorKind::Internal, e.to_string());
        let mut request = request;
        if let invocation::Body::Inline(bytes) = &mut request.body {
            let bytes = std::mem::take(bytes);
            request.body = self
                .offer_body(bytes, ctx.remaining())
                .await
                .map_err(internal)?;
        }
        let route = Route {
            interface: InterfaceRef::http_incoming_handler(),
            function: handle_fn(),
        };
        let reply = self
            .request_rpc(target, &route, invocation::encode(&request), ctx)
            .await?;
        let mut response: HttpResponse =
            invocation::decode::<InvocationReply<HttpResponse>>(&reply.payload)
                .map_err(|e| InvocationError::new(ErrorKind::Internal, e.to_string()))??;
        let body = std::mem::replace(&mut response.body, invocation::Body::Inline(Vec::new()));
        let bytes = self
            .fetch_body(body, instant_deadline(ctx))
            .await
            .map_err(internal)?;
        response.body = invocation::Body::Inline(bytes);
        Ok(response)
    }

    /// Sends one encoded invocation to `route` of any instance of `target`
    /// and waits for its reply until the context's deadline.
    pub(crate) async fn request_rpc(
        &self,
        target: &ComponentId,
        route: &Route,
        payload: Vec<u8>,
        ctx: &CallContext,
    ) -> Result<async_nats::Message, InvocationError> {
        let subject = Subject::rpc(&self.lattice, target, &route.interface, &route.function);
        let msg = async_nats::Request::new()
            .payload(payload.into())
            .headers(to_headers(ctx))
            .timeout(Some(ctx.remaining().max(Duration::from_millis(1))));
        let reply = self.client.send_request(subject.to_string(), msg).await;
        self.rpc_stats.record(&reply);
        reply.map_err(|e| match e.kind() {
            RequestErrorKind::NoResponders => InvocationError::new(
                ErrorKind::NotFound,
                format!("no instance of {target} is running"),
            ),
            RequestErrorKind::TimedOut => InvocationError::new(
                ErrorKind::Timeout,
                format!("{target} did not answer in time"),
            ),
            RequestErrorKind::Other => InvocationError::new(
                ErrorKind::Internal,
                LatticeError::nats("invoke", e).to_string(),
            ),
        })
    }

    /// Subscribes to every invocation subject of `target` in its queue
    /// group and answers each message, in its own task, with what `answer`
    /// makes of its payload; runs until the returned task is aborted.
    pub(crate) async fn serve_rpc<F, Fut>(
        &self,
        target: &ComponentId,
        answer: F,
    ) -> Result<tokio::task::JoinHandle<()>, LatticeError>
    where
        F: Fn(bytes::Bytes, CallContext, Route) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<u8>> + Send + 'static,
    {
        let mut sub = self
            .client
            .queue_subscribe(
                pattern::rpc_target(&self.lattice, target),
                pattern::rpc_queue_group(&self.lattice, target),
            )
            .await
            .map_err(|e| LatticeError::nats("subscribe rpc", e))?;
        let lattice = self.clone();
        let answer = std::sync::Arc::new(answer);
        Ok(tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let Some(reply_to) = msg.reply.clone() else {
                    continue;
                };
                // The subscription's pattern admits only rpc subjects, but
                // the function part is the sender's to choose: one that is
                // no WIT name is dropped (the caller times out).
                let route = match msg.subject.parse::<Subject>() {
                    Ok(Subject::Rpc {
                        interface,
                        function,
                        ..
                    }) => Route {
                        interface,
                        function,
                    },
                    _ => continue,
                };
                let (lattice, answer) = (lattice.clone(), answer.clone());
                tokio::spawn(async move {
                    let ctx = context_from_headers(msg.headers.as_ref(), lattice.request_timeout);
                    let trace_id = ctx.trace_id();
                    let payload = answer(msg.payload, ctx, route).await;
                    if let Err(e) = lattice.client.publish(reply_to, payload.into()).await {
                        tracing::warn!(%e, %trace_id, "could not send invocation reply");
                    }
                });
            }
        }))
    }

    pub(crate) async fn answer_http<F, Fut>(
        &self,
        payload: &[u8],
        ctx: CallContext,
        handler: &F,
    ) -> InvocationReply<HttpResponse>
    where
        F: Fn(HttpRequest, CallContext) -> Fut,
        Fut: Future<Output = InvocationReply<HttpResponse>>,
    {
        let mut request: HttpRequest = invocation::decode(payload)
            .map_err(|e| InvocationError::new(ErrorKind::BadRequest, e.to_string()))?;
        let body = std::mem::replace(&mut request.body, invocation::Body::Inline(Vec::new()));
        request.body = invocation::Body::Inline(
            self.fetch_body(body, instant_deadline(&ctx))
                .await
                .map_err(|e| InvocationError::new(ErrorKind::BadRequest, e.to_string()))?,
        );
        let ttl = ctx.remaining() + Duration::from_secs(5);
        let mut response = handler(request, ctx).await?;
        if let invocation::Body::Inline(bytes) = &mut response.body {
            let bytes = std::mem::take(bytes);
            response.body = self
                .offer_body(bytes, ttl)
                .await
                .map_err(|e| InvocationError::new(ErrorKind::Internal, e.to_string()))?;
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use trellis_protocol::LinkName;
    use trellis_protocol::context::MAX_CALL_TIME;
    use trellis_protocol::invocation::header;

    use super::*;

    #[test]
    fn context_survives_nats_headers() {
        let ctx = CallContext::new(
            Some(ComponentId::new("http").unwrap()),
            LinkName::new("web").unwrap(),
            Duration::from_secs(5),
        );
        let back = context_from_headers(Some(&to_headers(&ctx)), Duration::from_secs(1));
        // Every field, the deadline at the wire's millisecond precision.
        assert_eq!(back.header_pairs(), ctx.header_pairs());
        let fallback = context_from_headers(None, Duration::from_secs(2));
        assert!(fallback.remaining() > Duration::from_secs(1));
    }

    #[test]
    fn far_future_deadlines_are_bounded() {
        let mut headers = HeaderMap::new();
        headers.insert(header::DEADLINE_MS, u64::MAX.to_string().as_str());
        let ctx = context_from_headers(Some(&headers), Duration::from_secs(2));
        assert!(ctx.remaining() <= MAX_CALL_TIME);
        assert!(ctx.remaining() > MAX_CALL_TIME - Duration::from_secs(60));
        // And the instant arithmetic callers do with it stays in range.
        let _ = instant_deadline(&ctx);
    }
}
