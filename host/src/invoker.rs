//! Local-first invocation: a target in this host is called in process; any
//! other goes over NATS to the target's queue group.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use trellis_lattice::Lattice;
use trellis_protocol::ComponentId;
use trellis_protocol::call::{CallRequest, CallResponse};
use trellis_protocol::context::CallContext;
use trellis_protocol::invocation::{HttpRequest, HttpResponse, InvocationReply};
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_provider_sdk::Invoker;

use crate::components::Components;

/// The invoker builtin providers get.
pub struct HostInvoker {
    components: Arc<Components>,
    lattice: Lattice,
}

impl HostInvoker {
    /// An invoker over this host's components and the lattice.
    pub fn new(components: Arc<Components>, lattice: Lattice) -> Self {
        Self {
            components,
            lattice,
        }
    }
}

impl Invoker for HostInvoker {
    fn invoke_http(
        &self,
        target: ComponentId,
        request: HttpRequest,
        ctx: CallContext,
    ) -> BoxFuture<'static, InvocationReply<HttpResponse>> {
        let local = self.components.get(&target);
        let lattice = self.lattice.clone();
        async move {
            match local {
                Some(component) => {
                    component
                        .invoke_http(request, ctx.remaining(), ctx.trace)
                        .await
                }
                None => lattice.invoke_http(&target, request, &ctx).await,
            }
        }
        .boxed()
    }

    fn invoke_call(
        &self,
        target: ComponentId,
        interface: InterfaceRef,
        function: WitName,
        request: CallRequest,
        ctx: CallContext,
    ) -> BoxFuture<'static, InvocationReply<CallResponse>> {
        let local = self.components.get(&target);
        let lattice = self.lattice.clone();
        async move {
            match local {
                Some(component) => {
                    component
                        .invoke_call(&interface, &function, request, ctx.remaining(), ctx.trace)
                        .await
                }
                None => {
                    lattice
                        .call(&target, &interface, &function, &request, &ctx)
                        .await
                }
            }
        }
        .boxed()
    }
}
