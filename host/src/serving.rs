//! The data plane of a component: its invocations arriving over NATS (HTTP
//! requests and calls of every other export, on one queue group shared by
//! every host running it) handed to the running component. Control
//! handlers start and stop this; they do not carry invocations.

use std::sync::Arc;

use trellis_lattice::Lattice;
use trellis_protocol::ComponentId;
use trellis_protocol::invocation::{ErrorKind, InvocationError};

use crate::components::Components;

/// Serves the component's HTTP handler and every other export over NATS,
/// in its queue group, until the returned task is aborted.
pub(crate) async fn serve(
    lattice: &Lattice,
    components: &Arc<Components>,
    id: &ComponentId,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let stopped = || InvocationError::new(ErrorKind::NotFound, "component stopped");
    let (for_http, for_calls) = (components.clone(), components.clone());
    let (http_id, call_id) = (id.clone(), id.clone());
    lattice
        .serve_component(
            id,
            move |request, call| {
                let component = for_http.get(&http_id);
                async move {
                    match component {
                        Some(c) => {
                            c.invoke_http(request, call.callee_budget(), call.trace)
                                .await
                        }
                        None => Err(stopped()),
                    }
                }
            },
            move |route, request, call| {
                let component = for_calls.get(&call_id);
                async move {
                    match component {
                        Some(c) => {
                            let budget = call.callee_budget();
                            let (interface, function) = (&route.interface, &route.function);
                            c.invoke_call(interface, function, request, budget, call.trace)
                                .await
                        }
                        None => Err(stopped()),
                    }
                }
            },
        )
        .await
        .map_err(|e| e.to_string())
}
