//! `provider.start` and `provider.stop`.

use std::sync::Arc;

use trellis_protocol::EventType;
use trellis_protocol::control::{StartProviderRequest, StopProviderRequest, parse_request};
use trellis_protocol::event::data::ProviderChanged;
use trellis_protocol::inventory::ProviderDescription;
use trellis_provider_sdk::ProviderContext;

use super::{Outcome, data};
use crate::host::{HostContext, publish};
use crate::invoker::HostInvoker;
use crate::links::{Notice, notify};
use crate::providers::{AbortOnDrop, RunningProvider, builtin};

pub(super) async fn start(ctx: &Arc<HostContext>, body: &[u8]) -> Outcome {
    let request: StartProviderRequest = parse_request(body)?;
    let _guard = ctx.workload_lock.lock().await;
    let id = &request.provider_id;
    if ctx.providers.get(id).is_some() {
        return Err(format!("provider {id} already runs on this host"));
    }
    if ctx.components.get(id).is_some() {
        return Err(format!(
            "{id} is a component on this host; pick another provider id"
        ));
    }
    let provider = builtin(&request.image)?;
    provider
        .start(ProviderContext {
            provider_id: id.clone(),
            lattice: ctx.lattice.name().clone(),
            config: ctx.links.resolve(&request.config),
            invoker: Arc::new(HostInvoker::new(
                ctx.components.clone(),
                ctx.lattice.clone(),
            )),
            connection: ctx.lattice.clone(),
        })
        .await
        .map_err(|e| format!("provider {id} failed to start: {e}"))?;
    let description = ProviderDescription {
        id: id.clone(),
        image: request.image.clone(),
        config: request.config.clone(),
        annotations: request.annotations.clone(),
    };
    // Components on other hosts reach this provider over NATS.
    let served = provider.clone();
    let rpc = ctx
        .lattice
        .serve_keyvalue(id, move |request, call| {
            let provider = served.clone();
            async move { provider.keyvalue(call.source, request).await }
        })
        .await
        .map_err(|e| format!("provider {id} cannot serve the lattice: {e}"))?;
    ctx.providers.insert(RunningProvider {
        description: description.clone(),
        provider,
        rpc: Arc::new(AbortOnDrop(rpc)),
    });
    // Links made before the provider started apply now.
    for link in ctx.links.involving(id) {
        notify(ctx, &link, Notice::Put).await;
    }
    publish(ctx, EventType::ProviderStarted, changed(ctx, &description)).await;
    tracing::info!(provider = %id, image = %request.image, "provider started");
    data(description)
}

pub(super) async fn stop(ctx: &Arc<HostContext>, body: &[u8]) -> Outcome {
    let request: StopProviderRequest = parse_request(body)?;
    let _guard = ctx.workload_lock.lock().await;
    let id = &request.provider_id;
    let running = ctx
        .providers
        .remove(id)
        .ok_or_else(|| format!("provider {id} is not running on this host"))?;
    running.provider.shutdown().await;
    publish(
        ctx,
        EventType::ProviderStopped,
        changed(ctx, &running.description),
    )
    .await;
    tracing::info!(provider = %id, "provider stopped");
    Ok(serde_json::Value::Null)
}

fn changed(ctx: &HostContext, description: &ProviderDescription) -> ProviderChanged {
    ProviderChanged {
        host_id: ctx.info.id.clone(),
        provider_id: description.id.clone(),
        image: description.image.clone(),
        annotations: description.annotations.clone(),
    }
}
