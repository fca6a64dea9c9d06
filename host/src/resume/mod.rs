//! Edge autonomy: a host at a site keeps, on disk, what it needs to start
//! its workloads again without the lattice's JetStream (which lives in
//! the cloud, across the uplink), so that a site that reboots during an
//! outage serves again.
//!
//! - [`state`]: the record (workload requests, links, named config) and
//!   its atomic file.
//!
//! The [`Keeper`] rewrites the record whenever a workload verb succeeds
//! or the host applies a new link or config revision. A host that starts
//! offline replays the record through its own control handlers (so
//! artifacts come from the disk cache and are verified by digest and
//! claims as always), serves, and keeps trying to open the buckets; once
//! they open, the link and config watches replay the lattice's current
//! values over the record. Workloads resume with the annotations they had,
//! so wadm finds its own work in place when the uplink returns.

pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use trellis_protocol::control::{
    ArtifactRef, ScaleComponentRequest, StartProviderRequest, UpdateComponentRequest, parse_request,
};
use trellis_protocol::{ComponentId, ConfigName, ControlVerb};

pub use state::{HostState, StateError};

use crate::context::{HostContext, VerbJournal};

/// Artifacts remembered per component (see [`Keeper`]).
const ARTIFACTS_PER_COMPONENT: usize = 4;

/// Notes `artifact` as the newest of `seen`, keeping a few.
fn remember(seen: &mut Vec<ArtifactRef>, artifact: ArtifactRef) {
    seen.retain(|a| a.sha256 != artifact.sha256);
    seen.push(artifact);
    if seen.len() > ARTIFACTS_PER_COMPONENT {
        seen.remove(0);
    }
}

/// How often the keeper looks for link or config revisions it has not
/// recorded yet (workload changes wake it at once).
const POLL: Duration = Duration::from_secs(1);

/// Keeps a host's [`HostState`] file up to date.
pub struct Keeper {
    path: PathBuf,
    /// What the running state does not say: where each component's bytes
    /// came from, and the requests that started the providers (claims and
    /// artifact of external ones). The last few artifacts per component,
    /// newest last: verbs are noted after they finish, so two updates can
    /// be noted in the other order; the record takes the one whose digest
    /// runs.
    artifacts: Mutex<BTreeMap<ComponentId, Vec<ArtifactRef>>>,
    providers: Mutex<BTreeMap<ComponentId, StartProviderRequest>>,
    changed: Notify,
}

impl Keeper {
    /// A keeper of the record at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            artifacts: Mutex::default(),
            providers: Mutex::default(),
            changed: Notify::new(),
        }
    }

    /// The record's file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The record of what `ctx` runs now.
    pub(crate) fn snapshot(&self, ctx: &HostContext) -> HostState {
        let artifacts = self
            .artifacts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut components: Vec<ScaleComponentRequest> = Vec::new();
        for d in ctx.components.descriptions() {
            let secrets = ctx
                .components
                .get(&d.id)
                .map(|c| c.secret_refs())
                .unwrap_or_default();
            let running = artifacts
                .get(&d.id)
                .and_then(|seen| seen.iter().rev().find(|a| a.sha256.as_str() == d.digest));
            let Some(artifact) = running.cloned() else {
                tracing::warn!(component = %d.id, "no artifact known; it cannot resume offline");
                continue;
            };
            components.push(ScaleComponentRequest {
                component_id: d.id,
                image: d.image,
                artifact: Some(artifact),
                max: d.max,
                reuse: Some(d.reuse).filter(|r| *r > 1),
                config: d.config,
                annotations: d.annotations,
                secrets,
            });
        }
        components.sort_by(|a, b| a.component_id.cmp(&b.component_id));
        let providers: Vec<StartProviderRequest> = self
            .providers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|p| ctx.providers.get(&p.provider_id).is_some())
            .cloned()
            .collect();
        let ids: BTreeSet<&ComponentId> = components
            .iter()
            .map(|c| &c.component_id)
            .chain(providers.iter().map(|p| &p.provider_id))
            .collect();
        let (links, configs) = ctx.links.snapshot();
        let mut links: Vec<_> = links
            .into_iter()
            .filter(|l| ids.contains(&l.source_id) || ids.contains(&l.target_id))
            .collect();
        links.sort_by_key(|l| l.key().storage_key());
        let used: BTreeSet<&ConfigName> = links
            .iter()
            .flat_map(|l| l.source_config.iter().chain(&l.target_config))
            .chain(components.iter().flat_map(|c| &c.config))
            .chain(providers.iter().flat_map(|p| &p.config))
            .collect();
        let mut configs: Vec<_> = configs
            .into_iter()
            .filter(|(name, _)| used.contains(name))
            .collect();
        configs.sort_by(|a, b| a.0.cmp(&b.0));
        HostState {
            version: state::VERSION,
            host_id: ctx.info.id.to_string(),
            providers,
            components,
            links,
            configs,
        }
    }

    /// Rewrites the record whenever it would change, until aborted.
    pub(crate) async fn run(self: Arc<Self>, ctx: Arc<HostContext>) {
        let mut saved: Option<HostState> = None;
        let mut revisions = None;
        loop {
            let woken = tokio::select! {
                () = self.changed.notified() => true,
                () = tokio::time::sleep(POLL) => false,
            };
            let now = (ctx.links.links_revision(), ctx.links.config_revision());
            if !woken && revisions == Some(now) && saved.is_some() {
                continue;
            }
            revisions = Some(now);
            let state = self.snapshot(&ctx);
            if saved.as_ref() == Some(&state) {
                continue;
            }
            let path = self.path.clone();
            let written = state.clone();
            match tokio::task::spawn_blocking(move || state::save(&path, &written)).await {
                Ok(Ok(())) => {
                    tracing::debug!(path = %self.path.display(), "host state saved");
                    saved = Some(state);
                }
                Ok(Err(e)) => tracing::warn!(%e, "could not save host state"),
                Err(e) => tracing::warn!(%e, "could not save host state"),
            }
        }
    }
}

/// Reads the record of this host, if there is a usable one.
pub(crate) fn load(keeper: &Keeper, ctx: &HostContext) -> Option<HostState> {
    match state::load(keeper.path()) {
        Ok(Some(state)) if state.host_id == ctx.info.id.as_str() => Some(state),
        Ok(Some(state)) => {
            tracing::warn!(
                path = %keeper.path().display(),
                recorded = %state.host_id,
                "host state belongs to another host identity (keep the host's --seed-file); not resuming it"
            );
            None
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(%e, "not resuming");
            None
        }
    }
}

/// Starts the recorded workloads through the host's own control handlers,
/// components first so that a provider's listener opens onto a component
/// that is ready. A workload that fails to start is logged and skipped.
pub(crate) async fn resume(ctx: &Arc<HostContext>, keeper: &Keeper, state: HostState) {
    ctx.links.restore(state.links, state.configs);
    let host = ctx.info.id.clone();
    let mut resumed = 0usize;
    let requests = state
        .components
        .iter()
        .map(|c| {
            (
                ControlVerb::ComponentScale(host.clone()),
                serde_json::to_vec(c),
            )
        })
        .chain(state.providers.iter().map(|p| {
            (
                ControlVerb::ProviderStart(host.clone()),
                serde_json::to_vec(p),
            )
        }));
    for (verb, body) in requests {
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(%e, "cannot encode a recorded request");
                continue;
            }
        };
        match crate::control::handle(ctx.clone(), verb.clone(), &body).await {
            Ok(_) => {
                keeper.observe(&verb, &body);
                resumed += 1;
            }
            Err(reason) => tracing::warn!(%reason, "could not resume a recorded workload"),
        }
    }
    tracing::info!(
        resumed,
        recorded = state.components.len() + state.providers.len(),
        "resumed recorded workloads offline"
    );
}

impl VerbJournal for Keeper {
    /// Notes a workload verb that succeeded with request `body`; other
    /// verbs are ignored.
    fn observe(&self, verb: &ControlVerb, body: &[u8]) {
        let mut artifacts = self
            .artifacts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut providers = self
            .providers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match verb {
            ControlVerb::ComponentScale(_) => {
                if let Ok(request) = parse_request::<ScaleComponentRequest>(body)
                    && let Some(artifact) = request.artifact
                {
                    remember(artifacts.entry(request.component_id).or_default(), artifact);
                }
            }
            ControlVerb::ComponentUpdate(_) => {
                if let Ok(request) = parse_request::<UpdateComponentRequest>(body) {
                    let seen = artifacts.entry(request.component_id).or_default();
                    remember(seen, request.artifact);
                }
            }
            ControlVerb::ProviderStart(_) => {
                if let Ok(request) = parse_request::<StartProviderRequest>(body) {
                    providers.insert(request.provider_id.clone(), request);
                }
            }
            // Stopped workloads drop out of the record when it is next
            // built from what runs.
            ControlVerb::ProviderStop(_) => {}
            _ => return,
        }
        self.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(c: char) -> ArtifactRef {
        ArtifactRef {
            bucket: "ARTIFACTS".into(),
            name: format!("sha256-{}", c.to_string().repeat(64)),
            sha256: c.to_string().repeat(64).parse().unwrap(),
        }
    }

    #[test]
    fn updates_noted_out_of_order_keep_both_artifacts_and_a_few_only() {
        let keeper = Keeper::new(PathBuf::from("unused"));
        let id: ComponentId = "c".parse().unwrap();
        let host = trellis_protocol::HostId::new(format!("N{}", "C".repeat(55))).unwrap();
        for c in ['b', 'a'] {
            let request = UpdateComponentRequest {
                component_id: id.clone(),
                image: String::new(),
                artifact: artifact(c),
            };
            let body = serde_json::to_vec(&request).unwrap();
            keeper.observe(&ControlVerb::ComponentUpdate(host.clone()), &body);
        }
        let seen = keeper.artifacts.lock().unwrap()[&id].clone();
        assert_eq!(seen, [artifact('b'), artifact('a')]);
        let mut seen = Vec::new();
        for c in ['1', '2', '3', '4', '5', '2'] {
            remember(&mut seen, artifact(c));
        }
        let digests: Vec<&str> = seen.iter().map(|a| &a.sha256.as_str()[..1]).collect();
        assert_eq!(digests, ["3", "4", "5", "2"]);
    }
}
