//! `host.ping`, `host.stop`, `host.labels`.

use trellis_protocol::control::{LabelsRequest, PingReply, StopHostRequest, parse_request};

use super::{Outcome, data};
use crate::host::{AUTOMATIC_LABELS, HostContext, VERSION};

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
    let touched = request.put.keys().chain(request.delete.iter());
    if let Some(key) = touched
        .clone()
        .find(|k| AUTOMATIC_LABELS.contains(&k.as_str()))
    {
        return Err(format!(
            "label `{key}` is set by the host itself and cannot be changed"
        ));
    }
    if touched.clone().any(|k| k.is_empty()) {
        return Err("label keys must not be empty".into());
    }
    let labels = {
        let mut labels = ctx
            .info
            .labels
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in &request.delete {
            labels.remove(key);
        }
        labels.extend(request.put);
        labels.clone()
    };
    data(labels)
}
