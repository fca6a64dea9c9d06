//! Where a component's calls of its imported custom interfaces go: through
//! its link for that interface's package to the target component, which is
//! called in process when it runs on this host and over NATS (its queue
//! group) otherwise.

use std::sync::{Arc, Weak};
use std::time::Duration;

use trellis_lattice::Lattice;
use trellis_lattice::rpc::CallContext;
use trellis_protocol::call::{CallArgs, CallRequest};
use trellis_protocol::invocation::{ErrorKind, InvocationError};
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::{ComponentId, LinkName};
use wasmtime::component::{Type, Val};

use crate::components::Components;
use crate::links::LinkState;
use crate::runtime::values;

/// Routes calls by link, local first.
pub struct CallRouter {
    links: Arc<LinkState>,
    /// Weak: running components hold this router (through their
    /// capabilities), and the router must not keep them alive.
    components: Weak<Components>,
    lattice: Lattice,
}

/// One call a guest made of an imported function.
pub struct OutgoingCall<'a> {
    /// The calling component.
    pub source: &'a ComponentId,
    /// The link name its calls use.
    pub link_name: &'a LinkName,
    /// The imported interface, versionless.
    pub interface: &'a InterfaceRef,
    /// The function in it.
    pub function: &'a WitName,
    /// The arguments.
    pub args: &'a [Val],
    /// The types the guest expects back.
    pub result_types: Vec<Type>,
    /// What is left of the caller's own deadline.
    pub budget: Duration,
}

impl CallRouter {
    /// A router over this host's links and components and the lattice.
    pub fn new(links: Arc<LinkState>, components: &Arc<Components>, lattice: Lattice) -> Self {
        Self {
            links,
            components: Arc::downgrade(components),
            lattice,
        }
    }

    /// Calls the target the caller's link names for the interface.
    pub async fn call(&self, call: OutgoingCall<'_>) -> Result<Vec<Val>, InvocationError> {
        let OutgoingCall {
            source,
            link_name,
            interface,
            function,
            ..
        } = call;
        let link = self
            .links
            .route(source, link_name, interface)
            .map_err(|unlinked| {
                let how = format!(
                    "link it to a component that exports it: trellis link put {source} TARGET \
                     {} {} --interface {}",
                    interface.namespace, interface.package, interface.interface
                );
                let message = unlinked.describe(source, link_name, interface, &how);
                InvocationError::new(ErrorKind::NotFound, message)
            })?;
        let target = link.target_id;
        // Local and remote calls carry the same wire values, so both check
        // the arguments against the callee's types the same way (and
        // neither lets a resource handle escape its store).
        let request = CallRequest {
            args: CallArgs::Values(values::to_wire(call.args).map_err(|e| {
                InvocationError::new(
                    ErrorKind::BadRequest,
                    format!("cannot send the arguments: {e}"),
                )
            })?),
            wave: false,
        };
        let local = self.components.upgrade().and_then(|c| c.get(&target));
        let outcome = match local {
            Some(component) => {
                component
                    .invoke_call(interface, function, request, call.budget)
                    .await
            }
            None => {
                let ctx = CallContext::new(Some(source.clone()), link_name.clone(), call.budget);
                self.lattice
                    .call(&target, interface, function, &request, &ctx)
                    .await
            }
        }
        .and_then(|response| {
            values::from_wire(&call.result_types, &response.results).map_err(|e| {
                InvocationError::new(
                    ErrorKind::Internal,
                    format!("the answer does not fit the import's result types: {e}"),
                )
            })
        });
        outcome.map_err(|e| {
            InvocationError::new(
                e.kind,
                format!(
                    "{interface}.{function} through the link from {source} to {target} (link name \
                     {link_name}): {}",
                    e.message
                ),
            )
        })
    }
}
