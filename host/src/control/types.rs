//! `component.types`: the function types of a running component's custom
//! interfaces, which `trellis link put` compares before it links two
//! components.

use trellis_protocol::control::{Failure, parse_request};
use trellis_protocol::signature::ComponentTypesRequest;

use super::{Outcome, data, not_running};
use crate::context::HostContext;

pub(super) fn types(ctx: &HostContext, body: &[u8]) -> Outcome {
    let request: ComponentTypesRequest = parse_request(body)?;
    let id = &request.component_id;
    let component = ctx.components.get(id).ok_or_else(|| not_running(id))?;
    let types = component
        .types()
        .map_err(|e| Failure::internal(format!("cannot list the types of {id}: {e}")))?;
    data(types)
}
