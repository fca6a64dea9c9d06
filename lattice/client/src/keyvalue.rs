//! `wasi:keyvalue` calls across hosts: a host whose component is linked to
//! a provider elsewhere sends the call to the provider's queue group.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::RequestErrorKind;
use trellis_protocol::invocation;
use trellis_protocol::keyvalue::{KvError, KvReply, KvRequest};
use trellis_protocol::{ComponentId, Subject};

use crate::connect::Lattice;
use crate::error::LatticeError;
use crate::rpc::CallContext;

impl Lattice {
    /// Sends one key-value call to any instance of provider `target`.
    pub async fn invoke_keyvalue(
        &self,
        target: &ComponentId,
        request: &KvRequest,
        ctx: &CallContext,
    ) -> KvReply {
        let (interface, function) = request.operation();
        let subject = Subject::rpc(&self.lattice, target, &interface, &function);
        let msg = async_nats::Request::new()
            .payload(invocation::encode(request).into())
            .headers(ctx.to_headers())
            .timeout(Some(ctx.remaining().max(Duration::from_millis(1))));
        let reply = match self.client.send_request(subject.to_string(), msg).await {
            Ok(reply) => reply,
            Err(e) => {
                return Err(KvError::Other(match e.kind() {
                    RequestErrorKind::NoResponders => {
                        format!("keyvalue provider {target} is not running")
                    }
                    RequestErrorKind::TimedOut => {
                        format!("keyvalue provider {target} did not answer in time")
                    }
                    RequestErrorKind::Other => format!("keyvalue call to {target} failed: {e}"),
                }));
            }
        };
        invocation::decode::<KvReply>(&reply.payload)
            .map_err(|e| KvError::Other(format!("bad reply from {target}: {e}")))?
    }

    /// Serves key-value calls for provider `target` until the returned task
    /// is aborted.
    pub async fn serve_keyvalue<F, Fut>(
        &self,
        target: &ComponentId,
        handler: F,
    ) -> Result<tokio::task::JoinHandle<()>, LatticeError>
    where
        F: Fn(KvRequest, CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = KvReply> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.serve_rpc(target, move |payload, ctx, _route| {
            let handler = handler.clone();
            async move {
                let reply = match invocation::decode::<KvRequest>(&payload) {
                    Ok(request) => handler(request, ctx).await,
                    Err(e) => Err(KvError::Other(format!("malformed keyvalue call: {e}"))),
                };
                invocation::encode(&reply)
            }
        })
        .await
    }
}
