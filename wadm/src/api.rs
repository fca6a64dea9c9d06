//! The wadm API: `trellis.{lattice}.wadm.app.{op}`. Every wadm instance
//! answers (in one queue group); they share the store, so it does not
//! matter which one gets a request. Only the leader acts on what is stored.

use futures::StreamExt;
use serde::Serialize;
use trellis_lattice::Lattice;
use trellis_protocol::AppName;
use trellis_protocol::control::{Failure, Reply, parse_request};
use trellis_protocol::limits;
use trellis_protocol::page::Pager;
use trellis_protocol::subject::WadmOp;
use trellis_protocol::wadm::{
    AppListRequest, AppPage, AppRequest, AppStatus, AppSummary, DeployReply, GetReply,
    ImageResolution, MAX_IMAGE_RESOLUTIONS, PutReply, PutRequest, RolloutRequest, StatusState,
};

use crate::manifest::{self, ImageRef, ManifestError};
use crate::store::{AppRecord, AppStore, StoreError};

type Answer = Result<serde_json::Value, Failure>;

/// Requests answered at once. Each waits on a few KV round trips, so one
/// at a time made a burst of deploys (a CI pipeline, 10,000 apps in the
/// scale bench) queue behind each other until callers timed out; writes
/// to one app stay safe concurrently (compare-and-set, see `modify`).
const CONCURRENT_REQUESTS: usize = 32;

/// Answers API requests until the subscription ends.
pub async fn serve(lattice: Lattice, store: AppStore, requests: async_nats::Subscriber) {
    requests
        .for_each_concurrent(CONCURRENT_REQUESTS, |msg| answer(&lattice, &store, msg))
        .await;
}

async fn answer(lattice: &Lattice, store: &AppStore, msg: async_nats::Message) {
    let Some(reply_to) = msg.reply.clone() else {
        return;
    };
    let max_payload = lattice.nats().server_info().max_payload;
    let answer = match lattice.wadm_op(&msg.subject) {
        Ok(op) => handle(store, op, &msg.payload, max_payload).await,
        Err(e) => Err(Failure::invalid(e.to_string())),
    };
    // A reply the server would drop must still tell the caller why.
    let reply = Reply::encode(answer, max_payload);
    if let Some(bytes) = reply.oversized {
        tracing::warn!(
            bytes,
            max_payload,
            "wadm reply too large; sent an error instead"
        );
    }
    if let Err(e) = lattice.nats().publish(reply_to, reply.payload.into()).await {
        tracing::warn!(%e, "could not answer a wadm API request");
    }
}

fn json<T: Serialize>(value: T) -> Answer {
    serde_json::to_value(value).map_err(|e| Failure::internal(format!("cannot encode reply: {e}")))
}

/// A store failure as the caller sees it: a refusal keeps its kind; a
/// lost race or an unreachable bucket may work when tried again.
fn stored(e: StoreError) -> Failure {
    match e {
        StoreError::Refused(failure) => failure,
        StoreError::Contended(_) => Failure::conflict(e.to_string()),
        other => Failure::unavailable(other.to_string()),
    }
}

fn no_app(name: &AppName) -> Failure {
    Failure::not_found(format!(
        "no app named {name}; `trellis app list` shows the stored ones"
    ))
}

async fn handle(store: &AppStore, op: WadmOp, body: &[u8], max_payload: usize) -> Answer {
    match op {
        WadmOp::Put => put(store, parse_request(body)?).await,
        WadmOp::List => list(store, body, limits::inventory_page_limit(max_payload)).await,
        WadmOp::Get => get(store, parse_request(body)?).await,
        WadmOp::Deploy => deploy(store, parse_request(body)?).await,
        WadmOp::Undeploy => undeploy(store, parse_request(body)?).await,
        WadmOp::Delete => delete(store, parse_request(body)?).await,
        WadmOp::Status => status(store, parse_request(body)?).await,
        WadmOp::History => {
            let request: AppRequest = parse_request(body)?;
            json(existing(store, &request.name).await?.history())
        }
        WadmOp::Rollout => rollout(store, parse_request(body)?).await,
    }
}

/// Pause, resume or abort a rollout; the leader acts on the stored state.
async fn rollout(store: &AppStore, request: RolloutRequest) -> Answer {
    let name = request.name.clone();
    let state = store
        .modify(&name, |record| {
            let mut record = record.ok_or_else(|| no_app(&name))?;
            let current = record.rollout.as_ref().ok_or_else(|| {
                Failure::conflict(format!(
                    "app {name} has no staged rollout; add spec.rollout to its manifest and deploy a new version"
                ))
            })?;
            let (next, rollback) = current.act(request.action).map_err(Failure::conflict)?;
            if rollback {
                record.deployed = Some(next.from.clone());
            }
            record.rollout = Some(next.clone());
            Ok((Some(record), next))
        })
        .await
        .map_err(stored)?;
    json(DeployReply {
        name: request.name,
        version: Some(match state.phase {
            crate::rollout::Phase::RolledBack { .. } => state.from,
            _ => state.to,
        }),
    })
}

/// Checks a manifest as `put` does: parses, validates, and refuses images
/// hosts could not fetch. Every problem is listed.
pub fn check_manifest(yaml: &str) -> Result<manifest::Manifest, Failure> {
    let (m, problems) = manifest::check(yaml).map_err(|e| match e {
        ManifestError::Syntax {
            message,
            line: Some(line),
            column: Some(column),
        } => Failure::invalid(format!(
            "manifest is not valid YAML at line {line}, column {column}: {message}"
        )),
        other => Failure::invalid(format!("manifest is not valid: {other}")),
    })?;
    let mut problems: Vec<String> = problems.into_iter().map(|p| p.to_string()).collect();
    for (i, c) in m.spec.components.iter().enumerate() {
        if let Ok(ImageRef::File(_)) = ImageRef::parse(&c.properties.image) {
            problems.push(format!(
                "{}.properties.image: `{}` is a local file; `trellis app put/deploy FILE` uploads it, the API cannot",
                manifest::component_path(i, c),
                c.properties.image
            ));
        }
    }
    if problems.is_empty() {
        Ok(m)
    } else {
        Err(Failure::invalid(format!(
            "manifest has {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        )))
    }
}

async fn put(store: &AppStore, request: PutRequest) -> Answer {
    let m = check_manifest(&request.manifest)?;
    check_images(&m, &request.images)?;
    let name = AppName::new(m.name()).map_err(|e| Failure::invalid(e.to_string()))?;
    let now = now();
    let (version, created) = store
        .modify(&name, |record| {
            let (record, version, created) = AppRecord::put_resolved(
                record,
                name.clone(),
                m.clone(),
                request.images.clone(),
                &now,
            )
            .map_err(Failure::conflict)?;
            Ok((Some(record), (version, created)))
        })
        .await
        .map_err(stored)?;
    json(PutReply {
        name,
        version,
        created,
    })
}

/// The image resolutions a put records must name the manifest's
/// components, a bounded number of times, with bounded text.
fn check_images(m: &manifest::Manifest, images: &[ImageResolution]) -> Result<(), Failure> {
    if images.len() > MAX_IMAGE_RESOLUTIONS.min(m.spec.components.len()) {
        return Err(Failure::invalid(format!(
            "the put records {} resolved images, more than the manifest's {} components",
            images.len(),
            m.spec.components.len()
        )));
    }
    for i in images {
        if !m.spec.components.iter().any(|c| c.name == i.component) {
            return Err(Failure::invalid(format!(
                "a resolved image names component `{}`, which the manifest does not have",
                i.component.chars().take(64).collect::<String>()
            )));
        }
        let fields = [&i.reference, &i.digest, &i.artifact];
        if fields.iter().any(|f| f.len() > MAX_RESOLUTION_FIELD) {
            return Err(Failure::invalid(format!(
                "the resolved image of component `{}` has a field over {MAX_RESOLUTION_FIELD} bytes",
                i.component
            )));
        }
    }
    Ok(())
}

/// Longest reference, digest or artifact text a resolved image may hold.
const MAX_RESOLUTION_FIELD: usize = 1024;

async fn existing(store: &AppStore, name: &AppName) -> Result<AppRecord, Failure> {
    store
        .get(name)
        .await
        .map_err(stored)?
        .ok_or_else(|| no_app(name))
}

async fn get(store: &AppStore, request: AppRequest) -> Answer {
    let record = existing(store, &request.name).await?;
    let stored = match &request.version {
        Some(v) => record
            .version(v)
            .ok_or_else(|| unknown_version(&record, v))?,
        None => record
            .latest()
            .ok_or_else(|| Failure::not_found(format!("app {} has no versions", record.name)))?,
    };
    json(GetReply {
        name: record.name.clone(),
        version: stored.version.clone(),
        manifest: stored.manifest.clone(),
        deployed: record.deployed.as_ref() == Some(&stored.version),
    })
}

fn unknown_version(record: &AppRecord, v: &trellis_protocol::wadm::AppVersion) -> Failure {
    let known: Vec<String> = record
        .versions
        .iter()
        .map(|s| s.version.to_string())
        .collect();
    Failure::not_found(format!(
        "app {} has no version {v}; stored versions: {}",
        record.name,
        known.join(", ")
    ))
}

async fn deploy(store: &AppStore, request: AppRequest) -> Answer {
    let name = request.name.clone();
    let version = store
        .modify(&name, |record| {
            let mut record = record.ok_or_else(|| {
                Failure::not_found(format!(
                    "no app named {name}; store it first with `trellis app put FILE`"
                ))
            })?;
            let version = match &request.version {
                Some(v) => record
                    .version(v)
                    .ok_or_else(|| unknown_version(&record, v))?
                    .version
                    .clone(),
                None => record
                    .latest()
                    .ok_or_else(|| Failure::not_found(format!("app {name} has no versions")))?
                    .version
                    .clone(),
            };
            record.deploy(version.clone()).map_err(Failure::conflict)?;
            Ok((Some(record), version))
        })
        .await
        .map_err(stored)?;
    json(DeployReply {
        name: request.name,
        version: Some(version),
    })
}

async fn undeploy(store: &AppStore, request: AppRequest) -> Answer {
    let name = request.name.clone();
    store
        .modify(&name, |record| {
            let mut record = record.ok_or_else(|| no_app(&name))?;
            record.undeploy();
            Ok((Some(record), ()))
        })
        .await
        .map_err(stored)?;
    json(DeployReply {
        name: request.name,
        version: None,
    })
}

async fn delete(store: &AppStore, request: AppRequest) -> Answer {
    let name = request.name.clone();
    store
        .modify(&name, |record| match record {
            Some(_) => Ok((None, ())),
            None => Err(no_app(&name)),
        })
        .await
        .map_err(stored)?;
    json(DeployReply {
        name: request.name,
        version: None,
    })
}

async fn status(store: &AppStore, request: AppRequest) -> Answer {
    let record = existing(store, &request.name).await?;
    let mut status = current_status(store, &record).await?;
    // The leader writes the status from the lattice; how the images
    // were resolved is the stored version's.
    if let Some(stored) = status.version.as_ref().and_then(|v| record.version(v)) {
        status.images = stored.images.clone();
    }
    json(status)
}

/// The status of `record`: what the leader last wrote, when it is about
/// the deployed version; otherwise `undeployed` or not yet looked at.
async fn current_status(store: &AppStore, record: &AppRecord) -> Result<AppStatus, Failure> {
    if record.deployed.is_none() {
        return Ok(status_of(record, None));
    }
    let stored = store.status(&record.name).await.map_err(stored)?;
    Ok(status_of(record, stored))
}

/// The status of `record` given the one the leader last wrote for it.
fn status_of(record: &AppRecord, stored: Option<AppStatus>) -> AppStatus {
    let Some(deployed) = &record.deployed else {
        return AppStatus::undeployed(record.name.clone());
    };
    match stored {
        Some(s) if s.version.as_ref() == Some(deployed) => s,
        _ => AppStatus {
            name: record.name.clone(),
            version: Some(deployed.clone()),
            state: StatusState::Reconciling,
            message: Some("waiting for the wadm leader to act on this version".into()),
            components: Vec::new(),
            rollout: None,
            images: Vec::new(),
        },
    }
}

/// Every stored app (an empty or `null` body, as callers before paging
/// sent), or one page of them: two streamed reads either way, records
/// and statuses, not a read per app.
async fn list(store: &AppStore, body: &[u8], page_limit: usize) -> Answer {
    let records = store.list().await.map_err(stored)?;
    let mut statuses = store.statuses().await.map_err(stored)?;
    let summaries = records.iter().filter_map(|record| {
        let latest = record.latest()?;
        let status = status_of(record, statuses.remove(&record.name));
        Some(AppSummary {
            name: record.name.clone(),
            latest_version: latest.version.clone(),
            deployed_version: record.deployed.clone(),
            state: status.state,
            message: status.message,
        })
    });
    if matches!(body, b"" | b"null") {
        return json(summaries.collect::<Vec<_>>());
    }
    let request: AppListRequest = parse_request(body)?;
    // Pages must fit this connection's max_payload, whatever the caller
    // asked for. Records come sorted by name.
    let mut page = Pager::new(Some(
        request.page_bytes.map_or(page_limit, |b| b.min(page_limit)),
    ));
    let after = request.after.as_ref();
    for summary in summaries.filter(|s| after.is_none_or(|after| &s.name > after)) {
        if !page.push(summary) {
            break;
        }
    }
    let (apps, next) = page.finish(|s| s.name.clone());
    json(AppPage { apps, next })
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: hello }
spec:
  components:
    - name: hello
      type: component
      properties: { image: "nats://artifacts/sha256-00" }
"#;

    fn resolution(component: &str) -> ImageResolution {
        ImageResolution {
            component: component.into(),
            reference: "ghcr.io/org/hello:1".into(),
            digest: format!("sha256:{}", "0".repeat(64)),
            artifact: "nats://artifacts/sha256-00".into(),
        }
    }

    #[test]
    fn resolved_images_must_name_the_manifests_components() {
        let m = manifest::parse(YAML).unwrap();
        assert!(check_images(&m, &[resolution("hello")]).is_ok());
        let err = check_images(&m, &[resolution("other")]).unwrap_err();
        assert!(err.message.contains("`other`"), "{err}");
        let err = check_images(&m, &[resolution("hello"), resolution("hello")]).unwrap_err();
        assert!(err.message.contains("more than"), "{err}");
        let mut long = resolution("hello");
        long.reference = "x".repeat(2000);
        assert!(check_images(&m, &[long]).is_err());
    }
}
