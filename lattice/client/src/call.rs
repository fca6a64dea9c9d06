//! Calls of any exported function across the lattice, and serving a
//! component: its HTTP handler and every other export on one queue group.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use trellis_protocol::ComponentId;
use trellis_protocol::call::{CallRequest, CallResponse};
use trellis_protocol::invocation::{
    self, Body, ErrorKind, HttpRequest, HttpResponse, InvocationError, InvocationReply,
};
use trellis_protocol::link::{InterfaceRef, WitName};

use crate::connect::Lattice;
use crate::error::LatticeError;
use trellis_protocol::context::CallContext;

use crate::rpc::{Route, instant_deadline};

impl Lattice {
    /// Calls `interface.function` of any instance of `target` in the
    /// lattice.
    pub async fn call(
        &self,
        target: &ComponentId,
        interface: &InterfaceRef,
        function: &WitName,
        request: &CallRequest,
        ctx: &CallContext,
    ) -> InvocationReply<CallResponse> {
        let route = Route {
            interface: interface.clone(),
            function: function.clone(),
        };
        // Arguments of any size: over the inline limit they are served as
        // a body the callee pulls in chunks, as HTTP bodies are.
        let internal = |e: LatticeError| InvocationError::new(ErrorKind::Internal, e.to_string());
        let body = self
            .offer_body(invocation::encode(request), ctx.remaining())
            .await
            .map_err(internal)?;
        let reply = self
            .request_rpc(target, &route, invocation::encode(&body), ctx)
            .await?;
        let unreadable = |e: &dyn std::fmt::Display| {
            InvocationError::new(
                ErrorKind::Internal,
                format!("{target} sent a reply this side cannot read: {e}"),
            )
        };
        let body: Body = invocation::decode(&reply.payload).map_err(|e| unreadable(&e))?;
        let bytes = self
            .fetch_body(body, instant_deadline(ctx))
            .await
            .map_err(internal)?;
        invocation::decode::<InvocationReply<CallResponse>>(&bytes).map_err(|e| unreadable(&e))?
    }

    /// Serves every invocation of `target` from this process until the
    /// returned task is aborted: HTTP requests (with inline bodies) go to
    /// `http`, calls of any other export to `call`.
    pub async fn serve_component<H, HF, C, CF>(
        &self,
        target: &ComponentId,
        http: H,
        call: C,
    ) -> Result<tokio::task::JoinHandle<()>, LatticeError>
    where
        H: Fn(HttpRequest, CallContext) -> HF + Send + Sync + 'static,
        HF: Future<Output = InvocationReply<HttpResponse>> + Send + 'static,
        C: Fn(Route, CallRequest, CallContext) -> CF + Send + Sync + 'static,
        CF: Future<Output = InvocationReply<CallResponse>> + Send + 'static,
    {
        let lattice = self.clone();
        let (http, call) = (Arc::new(http), Arc::new(call));
        self.serve_rpc(target, move |payload, ctx, route| {
            let (lattice, http, call) = (lattice.clone(), http.clone(), call.clone());
            async move {
                if route.is_http() {
                    return invocation::encode(&lattice.answer_http(&payload, ctx, &*http).await);
                }
                let ttl = ctx.remaining() + Duration::from_secs(5);
                let reply = lattice.answer_call(&payload, ctx, route, &*call).await;
                // A large result goes back as a body the caller pulls.
                let body = match lattice.offer_body(invocation::encode(&reply), ttl).await {
                    Ok(body) => body,
                    Err(e) => {
                        let failed: InvocationReply<CallResponse> =
                            Err(InvocationError::new(ErrorKind::Internal, e.to_string()));
                        Body::Inline(invocation::encode(&failed))
                    }
                };
                invocation::encode(&body)
            }
        })
        .await
    }

    /// Reads a call (its payload is a body, inline or pulled), checks it
    /// and runs it.
    async fn answer_call<C, CF>(
        &self,
        payload: &[u8],
        ctx: CallContext,
        route: Route,
        call: &C,
    ) -> InvocationReply<CallResponse>
    where
        C: Fn(Route, CallRequest, CallContext) -> CF,
        CF: Future<Output = InvocationReply<CallResponse>>,
    {
        let bad = |what: String| InvocationError::new(ErrorKind::BadRequest, what);
        let body: Body =
            invocation::decode(payload).map_err(|e| bad(format!("malformed call: {e}")))?;
        let bytes = self
            .fetch_body(body, instant_deadline(&ctx))
            .await
            .map_err(|e| bad(e.to_string()))?;
        let request: CallRequest =
            invocation::decode(&bytes).map_err(|e| bad(format!("malformed call: {e}")))?;
        request.check_limits().map_err(|e| bad(e.to_string()))?;
        call(route, request, ctx).await
    }
}
