//! `component.probe`: one health-check `GET` to this host's instance of a
//! component, the way its HTTP provider would call it in process.

use std::sync::Arc;
use std::time::Duration;

use trellis_protocol::control::{Failure, ProbeComponentRequest, ProbeReply, parse_request};
use trellis_protocol::invocation::{Body, HttpRequest};

use super::{Outcome, data, not_running, plan};
use crate::context::HostContext;

/// Upper bound on one probe, whatever the request asks.
const MAX_PROBE: Duration = Duration::from_secs(30);

pub(super) async fn probe(ctx: &Arc<HostContext>, body: &[u8]) -> Outcome {
    let request: ProbeComponentRequest = parse_request(body)?;
    let id = &request.component_id;
    plan::probe_path(id, &request.path)?;
    let component = ctx.components.get(id).ok_or_else(|| not_running(id))?;
    let http = HttpRequest {
        method: "GET".into(),
        scheme: "http".into(),
        authority: Some("localhost".into()),
        path_with_query: request.path.clone(),
        headers: Vec::new(),
        body: Body::Inline(Vec::new()),
    };
    let budget = Duration::from_millis(request.timeout_ms).min(MAX_PROBE);
    let response = component
        .invoke_http(http, budget, None)
        .await
        .map_err(|e| {
            Failure::unavailable(format!("probe of {id} at {} failed: {e}", request.path))
        })?;
    data(ProbeReply {
        status: response.status,
    })
}
