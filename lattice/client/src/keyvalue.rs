//! `wasi:keyvalue` calls across hosts: a host whose component is linked to
//! a provider elsewhere sends the call to the provider's queue group.

use trellis_protocol::ComponentId;
use trellis_protocol::invocation;
use trellis_protocol::keyvalue::{KvError, KvReply, KvRequest};

use crate::connect::Lattice;
use trellis_protocol::context::CallContext;

impl Lattice {
    /// Sends one key-value call to any instance of provider `target`.
    pub async fn invoke_keyvalue(
        &self,
        target: &ComponentId,
        request: &KvRequest,
        ctx: &CallContext,
    ) -> KvReply {
        let (interface, function) = request.operation();
        let payload = invocation::encode(request);
        let reply = self
            .provider_request(target, &interface, &function, payload, ctx, "keyvalue")
            .await
            .map_err(KvError::Other)?;
        invocation::decode::<KvReply>(&reply)
            .map_err(|e| KvError::Other(format!("bad reply from {target}: {e}")))?
    }
}
