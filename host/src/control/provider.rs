//! `provider.start` and `provider.stop`.

use std::path::PathBuf;
use std::sync::Arc;

use trellis_protocol::control::{
    ConfigValues, Failure, StartProviderRequest, StopProviderRequest, parse_request,
};
use trellis_protocol::event::data::ProviderChanged;
use trellis_protocol::inventory::ProviderDescription;
use trellis_protocol::{ConfigName, EventType};
use trellis_provider_sdk::{Provider, ProviderContext};

use super::plan::{self, ProviderStart};
use super::{Outcome, data};
use crate::artifacts;
use crate::context::{HostContext, publish};
use crate::external::{ExternalProvider, ExternalSpec};
use crate::invoker::HostInvoker;
use crate::link_watch::notify;
use crate::providers::{AbortOnDrop, RunningProvider, builtin};

use trellis_provider_sdk::links::Notice;

pub(super) async fn start(ctx: &Arc<HostContext>, body: &[u8]) -> Outcome {
    let request: StartProviderRequest = parse_request(body)?;
    let id = &request.provider_id;
    let _guard = ctx.workload_locks.lock(id).await;
    let how = plan::provider_start(
        &request,
        ctx.providers.get(id).is_some(),
        ctx.components.get(id).is_some(),
    )?;
    let external = matches!(how, ProviderStart::External(_));
    let provider: Arc<dyn Provider> = if let ProviderStart::External(artifact) = how {
        let exe = install_executable(ctx, id, artifact, request.claims.as_deref()).await?;
        Arc::new(ExternalProvider::new(ExternalSpec {
            exe,
            image: request.image.clone(),
            provider_id: id.clone(),
            annotations: request.annotations.clone(),
            host_id: ctx.info.id.clone(),
            nats_url: ctx.config.lattice.nats_url.clone(),
            auth: ctx.config.lattice.auth.clone(),
            lattice: ctx.lattice.clone(),
            secrets_key: ctx.config.secrets_key.clone(),
        }))
    } else {
        builtin(&request.image).map_err(Failure::invalid)?
    };
    provider
        .start(ProviderContext {
            provider_id: id.clone(),
            lattice: ctx.lattice.name().clone(),
            config: start_config(ctx, &request.config).await?,
            invoker: Arc::new(HostInvoker::new(
                ctx.components.clone(),
                ctx.lattice.clone(),
            )),
            connection: ctx.lattice.clone(),
        })
        .await
        .map_err(|e| Failure::internal(format!("provider {id} failed to start: {e}")))?;
    let description = ProviderDescription {
        id: id.clone(),
        image: request.image.clone(),
        config: request.config.clone(),
        annotations: request.annotations.clone(),
        failure: None,
    };
    // Components on other hosts reach a builtin over NATS through the host;
    // an external process subscribes itself.
    let rpc = if external {
        None
    } else {
        let task = trellis_provider_sdk::serve_calls(&ctx.lattice, id, provider.clone())
            .await
            .map_err(|e| {
                Failure::unavailable(format!("provider {id} cannot serve the lattice: {e}"))
            })?;
        Some(Arc::new(AbortOnDrop(task)))
    };
    ctx.providers.insert(RunningProvider {
        description: description.clone(),
        provider,
        rpc,
        external,
    });
    if !external {
        // Links made before the provider started apply now.
        for link in ctx.links.involving(id) {
            notify(ctx, &link, Notice::Put).await;
        }
        publish(ctx, EventType::ProviderStarted, changed(ctx, &description)).await;
    }
    tracing::info!(provider = %id, image = %request.image, "provider started");
    data(description)
}

/// Makes a provider executable available once the host's policy accepts
/// its detached claims: the artifact cache holds it by sha256 (fetched
/// once), marked executable.
async fn install_executable(
    ctx: &HostContext,
    id: &trellis_protocol::ComponentId,
    artifact: &trellis_protocol::control::ArtifactRef,
    claims: Option<&str>,
) -> Result<PathBuf, Failure> {
    use std::os::unix::fs::PermissionsExt;
    let (bytes, _) = artifacts::load(ctx, artifact)
        .await
        .map_err(|e| Failure::unavailable(format!("cannot fetch provider {id}: {e}")))?;
    let policy = trellis_claims::TrustPolicy {
        trusted_issuers: ctx.config.trusted_issuers.clone(),
        allow_unsigned: ctx.config.allow_unsigned,
    };
    trellis_claims::verify_detached(&bytes, claims, &policy, trellis_claims::now_unix())
        .map_err(|refusal| Failure::refused(format!("provider {id} refused: {refusal}")))?;
    let path = artifacts::path(ctx, &artifact.sha256);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(|e| {
        Failure::internal(format!(
            "cannot install provider {id} at {}: {e}",
            path.display()
        ))
    })?;
    Ok(path)
}

pub(super) async fn stop(ctx: &Arc<HostContext>, body: &[u8]) -> Outcome {
    let request: StopProviderRequest = parse_request(body)?;
    let id = &request.provider_id;
    let _guard = ctx.workload_locks.lock(id).await;
    let running = ctx
        .providers
        .remove(id)
        .ok_or_else(|| Failure::not_found(format!("provider {id} is not running on this host")))?;
    running.provider.shutdown().await;
    ctx.link_outcomes.forget_provider(id);
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
        process_id: None,
        reason: None,
    }
}

/// The named configs a provider starts with, merged in order (later names
/// win). Taken from what this host has applied, or for a name it has not
/// seen yet from the store: wadm writes configs without waiting for every
/// host to apply them, so its start may arrive here first.
async fn start_config(ctx: &HostContext, names: &[ConfigName]) -> Result<ConfigValues, Failure> {
    let mut merged = ConfigValues::new();
    for name in names {
        let values = match ctx.links.config(name) {
            Some(values) => Some(values),
            None => ctx
                .store
                .get_config(name)
                .await
                .map_err(|e| Failure::unavailable(format!("cannot read config {name}: {e}")))?,
        };
        match values {
            Some(values) => merged.extend(values),
            None => tracing::debug!(config = %name, "named config not (yet) known"),
        }
    }
    Ok(merged)
}
