//! `host.ping`, `host.inventory`, `host.stop`, `host.labels`.

use trellis_protocol::control::{
    InventoryRequest, LabelsRequest, PingReply, StopHostRequest, parse_request,
};
use trellis_protocol::limits;

use super::{Outcome, data, plan};
use crate::context::{HostContext, VERSION};

pub(super) fn ping(ctx: &HostContext) -> Outcome {
    data(PingReply {
        id: ctx.info.id.clone(),
        name: ctx.info.name.clone(),
        labels: ctx.labels(),
        uptime_seconds: ctx.info.started.elapsed().as_secs(),
        version: VERSION.into(),
        components: ctx.components.descriptions().len(),
        providers: ctx.providers.all().len(),
        links_revision: ctx.links.links_revision(),
        config_revision: ctx.links.config_revision(),
        trusted_issuers: ctx.config.trusted_issuers.clone(),
        allow_unsigned: ctx.config.allow_unsigned,
    })
}

/// One page of the inventory. A body that is empty or `null` (callers
/// from before paging) asks for the first page, which is all of a usual
/// inventory.
pub(super) fn inventory(ctx: &HostContext, body: &[u8]) -> Outcome {
    let request: InventoryRequest = match body {
        b"" | b"null" | b"{}" => InventoryRequest::default(),
        _ => parse_request(body)?,
    };
    let page_bytes = request.page_bytes().min(page_limit(ctx));
    data(ctx.inventory().page(request.cursor.as_ref(), page_bytes))
}

/// The most bytes of workloads one page may carry on this connection:
/// half the server's `max_payload` (a server configured below the default
/// still gets pages that fit), never less than the smallest page.
pub(crate) fn page_limit(ctx: &HostContext) -> usize {
    limits::inventory_page_limit(ctx.lattice.nats().server_info().max_payload)
}

pub(super) fn stop(ctx: &HostContext, body: &[u8]) -> Outcome {
    // An empty body is a plain "stop"; anything else must parse.
    if !body.is_empty() {
        parse_request::<StopHostRequest>(body)?;
    }
    ctx.request_stop("host.stop request");
    Ok(serde_json::Value::Null)
}

pub(super) async fn labels(ctx: &HostContext, body: &[u8]) -> Outcome {
    let request: LabelsRequest = parse_request(body)?;
    let labels = {
        let mut labels = ctx
            .info
            .labels
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *labels = plan::labels(&labels, request)?;
        labels.clone()
    };
    data(labels)
}
