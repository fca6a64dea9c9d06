//! `wasmcloud:messaging/consumer` calls across hosts, and the one rpc
//! server of a builtin or external provider, which answers both the
//! key-value and the messaging calls sent to it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::RequestErrorKind;
use trellis_protocol::invocation;
use trellis_protocol::keyvalue::{KvError, KvReply, KvRequest};
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::messaging::{MessagingReply, MessagingRequest};
use trellis_protocol::{ComponentId, Subject};

use crate::connect::Lattice;
use crate::error::LatticeError;
use trellis_protocol::context::CallContext;

use crate::stats::ServedInterface;

impl Lattice {
    /// Sends one messaging call to any instance of provider `target`.
    pub async fn invoke_messaging(
        &self,
        target: &ComponentId,
        request: &MessagingRequest,
        ctx: &CallContext,
    ) -> MessagingReply {
        let (interface, function) = request.operation();
        let payload = invocation::encode(request);
        let reply = self
            .provider_request(target, &interface, &function, payload, ctx, "messaging")
            .await?;
        invocation::decode::<MessagingReply>(&reply)
            .map_err(|e| format!("bad reply from {target}: {e}"))?
    }

    /// One request to any instance of provider `target`; a failure says
    /// what kind of provider (`what`) did not answer and why.
    pub(crate) async fn provider_request(
        &self,
        target: &ComponentId,
        interface: &InterfaceRef,
        function: &WitName,
        payload: Vec<u8>,
        ctx: &CallContext,
        what: &str,
    ) -> Result<bytes::Bytes, String> {
        let subject = Subject::rpc(&self.lattice, target, interface, function);
        let msg = async_nats::Request::new()
            .payload(payload.into())
            .headers(crate::rpc::to_headers(ctx))
            .timeout(Some(ctx.remaining().max(Duration::from_millis(1))));
        let reply = self.client.send_request(subject.to_string(), msg).await;
        self.rpc_stats.record(&reply);
        let reply = reply.map_err(|e| match e.kind() {
            RequestErrorKind::NoResponders => {
                format!("{what} provider {target} is not running")
            }
            RequestErrorKind::TimedOut => {
                format!("{what} provider {target} did not answer in time")
            }
            RequestErrorKind::Other => format!("{what} call to {target} failed: {e}"),
        })?;
        Ok(reply.payload)
    }

    /// Serves the calls components on other hosts send provider `target`
    /// (key-value and messaging, told apart by the subject's interface)
    /// until the returned task is aborted.
    pub async fn serve_provider<K, KFut, M, MFut>(
        &self,
        target: &ComponentId,
        keyvalue: K,
        messaging: M,
    ) -> Result<tokio::task::JoinHandle<()>, LatticeError>
    where
        K: Fn(KvRequest, CallContext) -> KFut + Send + Sync + 'static,
        KFut: Future<Output = KvReply> + Send + 'static,
        M: Fn(MessagingRequest, CallContext) -> MFut + Send + Sync + 'static,
        MFut: Future<Output = MessagingReply> + Send + 'static,
    {
        let handlers = Arc::new((keyvalue, messaging));
        let served = self.served_stats.clone();
        self.serve_rpc(target, move |payload, ctx, route| {
            let (handlers, served) = (handlers.clone(), served.clone());
            async move {
                // The provider's hop of the caller's trace.
                let mut span = trellis_telemetry::start(
                    "provider call",
                    trellis_telemetry::Kind::Server,
                    ctx.trace,
                );
                if span.is_recording() {
                    let method = format!("{}.{}", route.interface, route.function);
                    span.set("rpc.method", method);
                }
                let ctx = ctx.traced(Some(span.context()));
                if route.interface.package.as_str() == "messaging" {
                    let reply = match invocation::decode::<MessagingRequest>(&payload) {
                        Ok(request) => (handlers.1)(request, ctx).await,
                        Err(e) => Err(format!("malformed messaging call: {e}")),
                    };
                    if let Err(e) = &reply {
                        span.fail(e.clone());
                    }
                    served.record(ServedInterface::Messaging, reply.is_ok());
                    return invocation::encode(&reply);
                }
                let reply = match invocation::decode::<KvRequest>(&payload) {
                    Ok(request) => (handlers.0)(request, ctx).await,
                    Err(e) => Err(KvError::Other(format!("malformed keyvalue call: {e}"))),
                };
                if let Err(e) = &reply {
                    span.fail(e.to_string());
                }
                served.record(ServedInterface::Keyvalue, reply.is_ok());
                invocation::encode(&reply)
            }
        })
        .await
    }
}
