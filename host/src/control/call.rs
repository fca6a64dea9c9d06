//! `component.call`: one call of an exported function of this host's
//! instance of a component (`trellis call --host`).

use std::sync::Arc;
use std::time::Duration;

use trellis_protocol::control::{CallComponentRequest, parse_request};

use super::{Outcome, data};
use crate::context::HostContext;

/// Upper bound on one call, whatever the request asks.
const MAX_CALL: Duration = Duration::from_secs(300);

pub(super) async fn call(ctx: &Arc<HostContext>, body: &[u8]) -> Outcome {
    let request: CallComponentRequest = parse_request(body)?;
    let id = &request.component_id;
    request
        .call
        .check_limits()
        .map_err(|e| format!("call of {id} refused: {e}"))?;
    let component = ctx
        .components
        .get(id)
        .ok_or_else(|| format!("component {id} is not running on this host"))?;
    let budget = Duration::from_millis(request.timeout_ms).min(MAX_CALL);
    let (interface, function) = (&request.interface, &request.function);
    let response = component
        .invoke_call(interface, function, request.call.clone(), budget)
        .await
        .map_err(|e| {
            format!(
                "calling {interface}.{function} of {id} failed ({:?}): {}",
                e.kind, e.message
            )
        })?;
    data(response)
}
