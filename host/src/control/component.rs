//! `component.scale` and `component.update`.

use std::sync::Arc;

use trellis_protocol::control::{
    ArtifactRef, Failure, ScaleComponentRequest, UpdateComponentRequest, parse_request,
};
use trellis_protocol::event::data::{ComponentScaleFailed, ComponentScaled};
use trellis_protocol::inventory::ComponentDescription;
use trellis_protocol::{ComponentId, EventType, LinkName, limits};

use super::plan::{self, Scale};
use super::{Outcome, data, not_running};
use crate::artifacts;
use crate::capabilities::ComponentCaps;
use crate::components::RunningComponent;
use crate::context::{HostContext, publish};
use crate::runtime::PreparedComponent;
use crate::runtime::cache::CacheOutcome;

pub(super) async fn scale(ctx: &Arc<HostContext>, body: &[u8]) -> Outcome {
    let request: ScaleComponentRequest = parse_request(body)?;
    let id = request.component_id.clone();
    let _guard = ctx.workload_locks.lock(&id).await;
    let running = ctx.components.get(&id);
    let current = running.as_ref().map(|r| r.description());
    let artifact = match (plan::scale(&request, current.as_ref())?, running, current) {
        (Scale::Stop, _, Some(current)) => {
            ctx.components.remove(&id);
            announce(ctx, &current, 0, None).await;
            tracing::info!(component = %id, "component stopped");
            return Ok(serde_json::Value::Null);
        }
        (Scale::Rescale, Some(running), _) => {
            return rescale(ctx, &running, &request).await;
        }
        (Scale::Start(artifact), ..) => artifact,
        // The plan stops or rescales only what runs.
        _ => return Err(not_running(&id)),
    };
    match start(ctx, &request, artifact).await {
        Ok((description, provenance)) => {
            announce(ctx, &description, description.max, Some(&provenance)).await;
            data(description)
        }
        Err(error) => {
            publish(
                ctx,
                EventType::ComponentScaleFailed,
                ComponentScaleFailed {
                    host_id: ctx.info.id.clone(),
                    component_id: id,
                    image: request.image.clone(),
                    error: error.message.clone(),
                },
            )
            .await;
            Err(error)
        }
    }
}

/// Changes a running component's bounds and, when given, its
/// annotations and secrets.
async fn rescale(
    ctx: &HostContext,
    running: &RunningComponent,
    request: &ScaleComponentRequest,
) -> Outcome {
    running.set_max(request.max);
    if let Some(reuse) = request.reuse {
        running.set_reuse(reuse);
    }
    // Empty annotations mean "keep them": `trellis scale` sends none.
    // wadm always sends them, with the secrets its version lists.
    if !request.annotations.is_empty() {
        running.set_annotations(request.annotations.clone());
        running.set_secret_refs(request.secrets.clone());
    }
    let description = running.description();
    announce(ctx, &description, request.max, None).await;
    data(description)
}

async fn start(
    ctx: &Arc<HostContext>,
    request: &ScaleComponentRequest,
    artifact: &ArtifactRef,
) -> Result<(ComponentDescription, Provenance), Failure> {
    let id = &request.component_id;
    let (code, provenance) = prepare(ctx, id, artifact).await?;
    let description = ComponentDescription {
        id: id.clone(),
        image: request.image.clone(),
        digest: artifact.sha256.to_string(),
        max: request.max,
        reuse: request.reuse.unwrap_or(1),
        config: request.config.clone(),
        annotations: request.annotations.clone(),
        stats: Default::default(),
        exports: listed(code.interfaces().export_names()),
        imports: listed(code.interfaces().import_names()),
    };
    let caps = Arc::new(ComponentCaps {
        component_id: id.clone(),
        link_name: LinkName::default(),
        config: request.config.clone(),
        links: ctx.links.clone(),
        providers: ctx.provider_calls.clone(),
        calls: ctx.calls.clone(),
        outbound: ctx.outbound.clone(),
        secrets: Arc::new(crate::capabilities::secrets::ComponentSecrets::new(
            ctx.lattice.clone(),
            ctx.config.secrets_key.clone(),
            request.secrets.clone(),
        )),
    });
    let component = Arc::new(RunningComponent::new(
        description.clone(),
        code,
        caps,
        ctx.config.metrics,
    ));
    let task = ctx
        .data_plane
        .serve(id)
        .await
        .map_err(Failure::unavailable)?;
    component.set_rpc_task(task);
    ctx.components.insert(component);
    tracing::info!(component = %id, digest = %artifact.sha256, max = request.max, "component started");
    Ok((description, provenance))
}

/// At most [`limits::MAX_LISTED_INTERFACES`] names, the last saying how
/// many were left out.
fn listed(mut names: Vec<String>) -> Vec<String> {
    if names.len() > limits::MAX_LISTED_INTERFACES {
        let left_out = names.len() - (limits::MAX_LISTED_INTERFACES - 1);
        names.truncate(limits::MAX_LISTED_INTERFACES - 1);
        names.push(format!("... and {left_out} more"));
    }
    names
}

/// Where a component's bytes and code came from.
struct Provenance {
    artifact: &'static str,
    code: &'static str,
}

/// Fetches (or reads from the disk cache), verifies, compiles (or loads
/// from the compile cache) and pre-instantiates.
async fn prepare(
    ctx: &HostContext,
    id: &ComponentId,
    artifact: &ArtifactRef,
) -> Result<(PreparedComponent, Provenance), Failure> {
    let (bytes, fetched) = artifacts::load(ctx, artifact)
        .await
        .map_err(|e| Failure::unavailable(format!("cannot fetch component {id}: {e}")))?;
    // Say "not a component" before anything about its claims.
    crate::runtime::check_component_header(&bytes)
        .map_err(|e| Failure::invalid(format!("component {id}: {e}")))?;
    // Nothing starts unless this host's policy accepts its claims.
    let policy = trellis_claims::TrustPolicy {
        trusted_issuers: ctx.config.trusted_issuers.clone(),
        allow_unsigned: ctx.config.allow_unsigned,
    };
    trellis_claims::verify(&bytes, &policy, trellis_claims::now_unix())
        .map_err(|refusal| Failure::refused(format!("component {id} refused: {refusal}")))?;
    let runtime = ctx.runtime.clone();
    let (code, outcome) = tokio::task::spawn_blocking(move || runtime.prepare(&bytes))
        .await
        .map_err(|e| Failure::internal(format!("compiling component {id} failed: {e}")))?
        .map_err(|e| Failure::invalid(format!("component {id}: {e}")))?;
    ctx.counters
        .prepared(matches!(outcome, CacheOutcome::Compiled));
    let provenance = Provenance {
        artifact: if fetched { "fetched" } else { "cache" },
        code: match outcome {
            CacheOutcome::Hit => "cache",
            CacheOutcome::Compiled => "compiled",
        },
    };
    tracing::info!(component = %id, artifact = provenance.artifact, code = provenance.code, wasi_http = code.kind(), engine = code.engine(), exports = %code.interfaces().describe(), "component prepared");
    Ok((code, provenance))
}

pub(super) async fn update(ctx: &Arc<HostContext>, body: &[u8]) -> Outcome {
    let request: UpdateComponentRequest = parse_request(body)?;
    let id = &request.component_id;
    let updated: Result<(ComponentDescription, Provenance), Failure> = async {
        let _guard = ctx.workload_locks.lock(id).await;
        let running = ctx.components.get(id);
        plan::update(&request, running.is_some())?;
        let running = running.ok_or_else(|| not_running(id))?;
        let (code, provenance) = prepare(ctx, id, &request.artifact).await?;
        let exports = listed(code.interfaces().export_names());
        let imports = listed(code.interfaces().import_names());
        running.replace_code(
            code,
            request.image.clone(),
            request.artifact.sha256.to_string(),
            (exports, imports),
        );
        Ok((running.description(), provenance))
    }
    .await;
    match updated {
        Ok((description, provenance)) => {
            announce(ctx, &description, description.max, Some(&provenance)).await;
            data(description)
        }
        // A refused update says why on the event stream too, as a refused
        // start does: wadm and `trellis events` see it without the reply.
        Err(error) => {
            publish(
                ctx,
                EventType::ComponentScaleFailed,
                ComponentScaleFailed {
                    host_id: ctx.info.id.clone(),
                    component_id: id.clone(),
                    image: request
                        .image
                        .chars()
                        .take(limits::MAX_IMAGE_BYTES)
                        .collect(),
                    error: error.message.clone(),
                },
            )
            .await;
            Err(error)
        }
    }
}

async fn announce(
    ctx: &HostContext,
    description: &ComponentDescription,
    max: u32,
    provenance: Option<&Provenance>,
) {
    publish(
        ctx,
        EventType::ComponentScaled,
        ComponentScaled {
            host_id: ctx.info.id.clone(),
            component_id: description.id.clone(),
            image: description.image.clone(),
            max,
            annotations: description.annotations.clone(),
            artifact: provenance.map(|p| p.artifact.to_owned()),
            code: provenance.map(|p| p.code.to_owned()),
        },
    )
    .await;
}
