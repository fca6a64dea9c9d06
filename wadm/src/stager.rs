//! Drives staged rollouts for the leader: gathers each rollout's input
//! (the clock, the hosts' invocation counts, probe answers), asks
//! [`RolloutState::next`] for the move and stores it with compare-and-set.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use trellis_lattice::Lattice;
use trellis_protocol::control::{Failure, ProbeComponentRequest, ProbeReply};
use trellis_protocol::wadm::AppStatus;
use trellis_protocol::{ComponentId, ControlVerb, HostId};

use crate::executor::read_host;
use crate::manifest::{ComponentKind, HealthProbe, Manifest};
use crate::observer::HostTracker;
use crate::rollout::{Count, Input, Next, Phase, RolloutState, annotate};
use crate::scaler::{Plan, Progress};
use crate::store::{AppRecord, AppStore, ManifestCache};

/// Bound on one health probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The leader's rollout driver.
pub(crate) struct Stager {
    pub lattice: Lattice,
    pub store: AppStore,
    pub tracker: Arc<Mutex<HostTracker>>,
    pub inventory_timeout: Duration,
}

/// A rollout that may move, with what it needs.
struct Moving<'a> {
    record: &'a AppRecord,
    state: &'a RolloutState,
    manifest: Manifest,
    progress: &'a Progress,
}

impl Stager {
    /// Moves every rolling or baking rollout one step if it can; returns
    /// whether any stored state changed (then the caller plans again).
    pub(crate) async fn advance(
        &self,
        records: &[AppRecord],
        plan: &Plan,
        manifests: &mut ManifestCache,
    ) -> bool {
        let mut changed = false;
        for record in records {
            let Some(moving) = moving(record, plan, manifests) else {
                continue;
            };
            changed |= self.advance_one(moving).await;
        }
        changed
    }

    async fn advance_one(&self, m: Moving<'_>) -> bool {
        let Some(spec) = &m.manifest.spec.rollout else {
            return false;
        };
        let names: Vec<String> = spec.stages.iter().map(|s| s.name.clone()).collect();
        let hosts: Vec<HostId> = m
            .progress
            .stage_of
            .iter()
            .filter(|(h, s)| **s <= m.state.stage && m.progress.updated.contains(*h))
            .map(|(h, _)| h.clone())
            .collect();
        let components: BTreeSet<ComponentId> = m
            .manifest
            .spec
            .components
            .iter()
            .filter(|c| c.kind == ComponentKind::Component)
            .filter_map(|c| ComponentId::new(m.manifest.component_id(c)).ok())
            .collect();
        let now_ms = now_ms();
        let counts = self.counts(&hosts, &components);
        let mut input = Input {
            now_ms,
            converged: m.progress.converged,
            counts: &counts,
            probe_failures: None,
            stage_names: &names,
        };
        let mut next = m.state.next(spec, &input);
        let fresh;
        let failures;
        if next == Next::Probe {
            // Judge on the counts as they are now, not a heartbeat ago.
            for host in &hosts {
                read_host(&self.lattice, &self.tracker, host, self.inventory_timeout).await;
            }
            fresh = self.counts(&hosts, &components);
            failures = match &spec.health {
                Some(health) => self.probe(&hosts, &m.manifest, health).await,
                None => Vec::new(),
            };
            input.counts = &fresh;
            input.probe_failures = Some(&failures);
            next = m.state.next(spec, &input);
        }
        let Next::Set { state, rollback } = next else {
            return false;
        };
        let name = &m.record.name;
        let before = m.state.clone();
        let written = self
            .store
            .modify(name, |record| {
                let mut record =
                    record.ok_or_else(|| Failure::not_found(format!("app {name} was deleted")))?;
                if record.rollout.as_ref() != Some(&before) {
                    return Err(Failure::conflict(format!(
                        "the rollout of {name} was changed meanwhile"
                    )));
                }
                if rollback {
                    record.deployed = Some(state.from.clone());
                }
                record.rollout = Some(state.clone());
                Ok((Some(record), ()))
            })
            .await;
        match written {
            Ok(()) => {
                let stage = names.get(state.stage).map(String::as_str).unwrap_or("?");
                match &state.phase {
                    Phase::RolledBack { reason } => {
                        tracing::warn!(app = %name, %reason, "rollout rolled back")
                    }
                    Phase::Paused { reason, .. } => {
                        tracing::warn!(app = %name, %reason, "rollout paused")
                    }
                    phase => {
                        tracing::info!(app = %name, to = %state.to, stage, phase = %state.protocol_phase(), done = matches!(phase, Phase::Done), "rollout moved")
                    }
                }
                true
            }
            Err(e) => {
                tracing::info!(app = %name, %e, "rollout move not stored");
                false
            }
        }
    }

    fn counts(&self, hosts: &[HostId], components: &BTreeSet<ComponentId>) -> Vec<Count> {
        let tracker = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
        hosts
            .iter()
            .flat_map(|host| {
                tracker
                    .stats(host)
                    .into_iter()
                    .filter(|(c, _)| components.contains(c))
                    .map(|(component, stats)| Count {
                        host: host.clone(),
                        component,
                        stats,
                    })
            })
            .collect()
    }

    /// Probes every HTTP component of the app on every host; returns what
    /// went wrong, one line each.
    async fn probe(
        &self,
        hosts: &[HostId],
        manifest: &Manifest,
        health: &HealthProbe,
    ) -> Vec<String> {
        let mut failures = Vec::new();
        for c in manifest.http_components() {
            let Ok(id) = ComponentId::new(manifest.component_id(c)) else {
                continue;
            };
            for host in hosts {
                let request = ProbeComponentRequest {
                    component_id: id.clone(),
                    path: health.path.clone(),
                    timeout_ms: u64::try_from(PROBE_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
                };
                let reply: Result<Option<ProbeReply>, _> = self
                    .lattice
                    .control(
                        ControlVerb::ComponentProbe(host.clone()),
                        &request,
                        Some(PROBE_TIMEOUT + Duration::from_secs(1)),
                    )
                    .await;
                let short = &host.as_str()[..8.min(host.as_str().len())];
                match reply {
                    Ok(Some(r)) if r.status == health.expect_status => {}
                    Ok(Some(r)) => failures.push(format!(
                        "health probe GET {} of {id} on host {short} answered {}, expected {}",
                        health.path, r.status, health.expect_status
                    )),
                    Ok(None) => failures.push(format!(
                        "health probe GET {} of {id} on host {short} got no answer",
                        health.path
                    )),
                    Err(e) => failures.push(format!(
                        "health probe GET {} of {id} on host {short} failed: {e}",
                        health.path
                    )),
                }
            }
        }
        failures
    }
}

/// The rollout of `record` if it may move: rolling or baking, with its
/// new version deployed and planned.
fn moving<'a>(
    record: &'a AppRecord,
    plan: &'a Plan,
    manifests: &mut ManifestCache,
) -> Option<Moving<'a>> {
    let state = record.rollout.as_ref()?;
    if !matches!(state.phase, Phase::Rolling | Phase::Baking { .. }) {
        return None;
    }
    if record.deployed.as_ref() != Some(&state.to) {
        return None;
    }
    let manifest = manifests.manifest_of(record, &state.to).ok()?;
    let progress = plan.progress.get(&record.name)?;
    Some(Moving {
        record,
        state,
        manifest,
        progress,
    })
}

/// Whether any rollout is rolling or baking (the leader then plans every
/// tick, so bakes end on time).
pub(crate) fn any_in_motion(records: &[AppRecord]) -> bool {
    records.iter().any(|r| {
        r.rollout
            .as_ref()
            .is_some_and(|s| matches!(s.phase, Phase::Rolling | Phase::Baking { .. }))
    })
}

/// The plan's statuses with each app's rollout added.
pub(crate) fn statuses(
    records: &[AppRecord],
    plan: &Plan,
    mut statuses: Vec<AppStatus>,
    manifests: &mut ManifestCache,
) -> Vec<AppStatus> {
    for status in &mut statuses {
        let Some(record) = records.iter().find(|r| r.name == status.name) else {
            continue;
        };
        let Some(state) = &record.rollout else {
            continue;
        };
        let names: Vec<String> = manifests
            .manifest_of(record, &state.to)
            .ok()
            .and_then(|m| m.spec.rollout)
            .map(|r| r.stages.into_iter().map(|s| s.name).collect())
            .unwrap_or_default();
        annotate(status, state, &names, plan.progress.get(&record.name));
    }
    statuses
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
