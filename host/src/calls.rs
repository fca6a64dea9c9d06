//! Where a component's calls of its imported custom interfaces go: through
//! its link for that interface's package to the target component, which is
//! called in process when it runs on this host and over NATS (its queue
//! group) otherwise.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use trellis_lattice::Lattice;
use trellis_protocol::call::{CallArgs, CallRequest, CallResponse};
use trellis_protocol::context::CallContext;
use trellis_protocol::invocation::{ErrorKind, InvocationError, InvocationReply};
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::trace::TraceParent;
use trellis_protocol::value::Values;
use trellis_protocol::{ComponentId, LinkName};

use trellis_provider_sdk::links::LinkState;

use crate::counters::{Reached, RoutedCalls};
use crate::spans;

/// The components running on this host, as calls see them. A port, so
/// the router (which running components hold through their
/// capabilities) need not know the component table that holds them.
pub trait LocalTargets: Send + Sync {
    /// Calls `target` in process if it runs here; if it does not, hands
    /// the request back for the lattice.
    #[allow(
        clippy::result_large_err,
        reason = "the request goes back by value, not as an error"
    )]
    fn call_local<'a>(
        &'a self,
        target: &ComponentId,
        interface: &'a InterfaceRef,
        function: &'a WitName,
        request: CallRequest,
        budget: Duration,
        trace: Option<TraceParent>,
    ) -> Result<BoxFuture<'a, InvocationReply<CallResponse>>, CallRequest>;
}

/// Routes calls by link, local first.
pub struct CallRouter {
    links: Arc<LinkState>,
    /// Weak: running components hold this router (through their
    /// capabilities), and the router must not keep them alive.
    components: Weak<dyn LocalTargets>,
    lattice: Lattice,
    /// What the calls reached and how they ended.
    counted: Arc<RoutedCalls>,
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
    /// The arguments, in their wire form: local and remote calls carry
    /// the same values, so the callee checks them against its own types
    /// the same way (and no resource handle escapes its store).
    pub args: Values,
    /// What is left of the caller's own deadline.
    pub budget: Duration,
}

impl CallRouter {
    /// A router over this host's links and components and the lattice,
    /// counting into `counted`.
    pub fn new(
        links: Arc<LinkState>,
        components: Weak<dyn LocalTargets>,
        lattice: Lattice,
        counted: Arc<RoutedCalls>,
    ) -> Self {
        Self {
            links,
            components,
            lattice,
            counted,
        }
    }

    /// Calls the target the caller's link names for the interface; the
    /// answer is the callee's results, which the caller checks against
    /// the types it expects.
    pub async fn call(&self, call: OutgoingCall<'_>) -> Result<Values, InvocationError> {
        let OutgoingCall {
            source,
            link_name,
            interface,
            function,
            args,
            budget,
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
        let started = Instant::now();
        let request = CallRequest {
            args: CallArgs::Values(args),
            wave: false,
        };
        let mut span = spans::client("call component", source, link_name);
        if span.is_recording() {
            span.set("rpc.method", format!("{interface}.{function}"));
            span.set("trellis.target", target.to_string());
        }
        let trace = Some(span.context());
        let components = self.components.upgrade();
        let local = match components.as_deref() {
            Some(c) => c.call_local(&target, interface, function, request, budget, trace),
            None => Err(request),
        };
        let remote = local.is_err();
        let outcome = match local {
            Ok(answer) => answer.await,
            Err(request) => {
                let ctx =
                    CallContext::new(Some(source.clone()), link_name.clone(), budget).traced(trace);
                self.lattice
                    .call(&target, interface, function, &request, &ctx)
                    .await
            }
        }
        .map(|response| response.results);
        spans::finish(
            &mut span,
            remote,
            outcome.as_ref().err().map(|e| &e.message),
        );
        self.counted
            .record(Reached::Component, remote, outcome.is_ok(), started);
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
