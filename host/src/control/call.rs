//! `component.call`: one call of an exported function of this host's
//! instance of a component (`trellis call --host`).

use std::sync::Arc;
use std::time::Duration;

use trellis_protocol::control::{CallComponentRequest, Failure, FailureKind, parse_request};
use trellis_protocol::invocation::ErrorKind;

use super::{Outcome, data, not_running};
use crate::context::HostContext;

/// Upper bound on one call, whatever the request asks.
const MAX_CALL: Duration = Duration::from_secs(300);

pub(super) async fn call(ctx: &Arc<HostContext>, body: &[u8]) -> Outcome {
    let request: CallComponentRequest = parse_request(body)?;
    let id = &request.component_id;
    request
        .call
        .check_limits()
        .map_err(|e| Failure::invalid(format!("call of {id} refused: {e}")))?;
    let component = ctx.components.get(id).ok_or_else(|| not_running(id))?;
    let budget = Duration::from_millis(request.timeout_ms).min(MAX_CALL);
    let (interface, function) = (&request.interface, &request.function);
    let response = component
        .invoke_call(interface, function, request.call.clone(), budget, None)
        .await
        .map_err(|e| {
            let message = format!(
                "calling {interface}.{function} of {id} failed ({:?}): {}",
                e.kind, e.message
            );
            Failure::new(invocation_failure(e.kind), message)
        })?;
    data(response)
}

/// The control failure kind for a failed invocation: the caller's
/// mistakes stay theirs, a busy or late callee may answer later.
fn invocation_failure(kind: ErrorKind) -> FailureKind {
    match kind {
        ErrorKind::BadRequest => FailureKind::Invalid,
        ErrorKind::NotFound => FailureKind::NotFound,
        ErrorKind::Busy | ErrorKind::DeadlineExceeded | ErrorKind::Timeout => {
            FailureKind::Unavailable
        }
        ErrorKind::Trapped | ErrorKind::Internal => FailureKind::Internal,
    }
}
