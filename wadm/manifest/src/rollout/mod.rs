//! Staged rollouts, with no IO and no clock: which stage each host is in
//! ([`stages`]), whether a stage is healthy ([`health`]), and how a
//! rollout moves from stage to stage ([`RolloutState::next`]). The
//! service feeds it the time, the hosts' invocation counts and probe
//! answers, stores what it returns and acts on it.
//!
//! A rollout replaces version `from` with `to`. Hosts in stages up to the
//! current one run `to`; the others keep `from`. A stage goes
//! rolling (its hosts are being updated) → baking (they all run `to`; the
//! bake time runs) → judged (error rate over the bake, health probes) →
//! the next stage, or `done` after the last. A failed stage either rolls
//! back (`from` everywhere again) or pauses, as the manifest says.

pub mod health;
pub mod stages;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use trellis_protocol::inventory::InvocationStats;
use trellis_protocol::wadm::{
    AppStatus, AppVersion, RolloutAction, RolloutPhase, RolloutStatus, StatusState,
};
use trellis_protocol::{ComponentId, HostId};

use crate::manifest::{OnFailure, Rollout};

/// Invocations a stage must have seen before its error rate can fail it
/// before the bake ends; below that, a few unlucky requests would decide.
pub const EARLY_FAILURE_SAMPLES: u64 = 20;

/// A rollout as stored with its app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    /// The version being replaced.
    pub from: AppVersion,
    /// The version rolled out.
    pub to: AppVersion,
    /// Index of the current stage.
    pub stage: usize,
    /// Where the current stage stands.
    pub phase: Phase,
}

/// Where the current stage of a rollout stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Its hosts are being moved to `to`.
    Rolling,
    /// Its hosts run `to`; judged once the bake time has passed.
    Baking {
        /// When the bake began (ms since the Unix epoch).
        since_ms: u64,
        /// Counts of the updated workloads when the bake began.
        baseline: Vec<Count>,
    },
    /// Held until `resume` or `abort`.
    Paused {
        /// Why.
        reason: String,
        /// Whether a person paused it (rather than a failed stage).
        by_hand: bool,
    },
    /// Failed or aborted; `from` runs everywhere again.
    RolledBack {
        /// Why.
        reason: String,
    },
    /// Every stage passed.
    Done,
}

/// Invocation counts of one component on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The host.
    pub host: HostId,
    /// The component.
    pub component: ComponentId,
    /// Its counts.
    pub stats: InvocationStats,
}

/// What the service knows when it asks a rollout for its next move.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// Now, in ms since the Unix epoch.
    pub now_ms: u64,
    /// Whether every host up to the current stage runs `to` and the plan
    /// has nothing left to do for the app.
    pub converged: bool,
    /// Current counts of the app's components on hosts that run `to`.
    pub counts: &'a [Count],
    /// Probe failures, once probes were sent (`None` before).
    pub probe_failures: Option<&'a [String]>,
    /// Names of the stages.
    pub stage_names: &'a [String],
}

/// A rollout's next move.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Nothing changes yet.
    Wait,
    /// The bake is over: send the health probes and ask again with them.
    Probe,
    /// Store this state. `rollback` means the app's deployed version
    /// goes back to `from`.
    Set {
        /// The new state.
        state: RolloutState,
        /// Whether to deploy `from` again.
        rollback: bool,
    },
}

impl RolloutState {
    /// A new rollout from `from` to `to`, at its first stage.
    pub fn start(from: AppVersion, to: AppVersion) -> Self {
        Self {
            from,
            to,
            stage: 0,
            phase: Phase::Rolling,
        }
    }

    /// Whether hosts are still split between versions (rolling, baking or
    /// paused).
    pub fn is_active(&self) -> bool {
        matches!(
            self.phase,
            Phase::Rolling | Phase::Baking { .. } | Phase::Paused { .. }
        )
    }

    /// The phase as the protocol names it.
    pub fn protocol_phase(&self) -> RolloutPhase {
        match self.phase {
            Phase::Rolling => RolloutPhase::Rolling,
            Phase::Baking { .. } => RolloutPhase::Baking,
            Phase::Paused { .. } => RolloutPhase::Paused,
            Phase::RolledBack { .. } => RolloutPhase::RolledBack,
            Phase::Done => RolloutPhase::Done,
        }
    }

    /// The reason given for a pause or roll-back.
    pub fn reason(&self) -> Option<&str> {
        match &self.phase {
            Phase::Paused { reason, .. } | Phase::RolledBack { reason } => Some(reason),
            _ => None,
        }
    }

    /// The next move of a rolling or baking rollout under `spec`.
    pub fn next(&self, spec: &Rollout, input: &Input<'_>) -> Next {
        match &self.phase {
            Phase::Rolling if input.converged => self.set(Phase::Baking {
                since_ms: input.now_ms,
                baseline: input.counts.to_vec(),
            }),
            Phase::Baking { since_ms, baseline } => {
                let seen = health::since(input.counts, baseline);
                let bake_over =
                    input.now_ms >= since_ms.saturating_add(spec.bake_seconds.saturating_mul(1000));
                let early = seen.invocations >= EARLY_FAILURE_SAMPLES || bake_over;
                if early && let Err(why) = health::error_rate(seen, spec.max_error_rate) {
                    return self.fail(spec, input, why);
                }
                if !bake_over {
                    return Next::Wait;
                }
                match input.probe_failures {
                    None if spec.health.is_some() => Next::Probe,
                    Some(failures) if !failures.is_empty() => {
                        self.fail(spec, input, failures.join("; "))
                    }
                    _ => self.pass(input),
                }
            }
            _ => Next::Wait,
        }
    }

    /// The state after a person's `action`, or why it cannot be done.
    pub fn act(&self, action: RolloutAction) -> Result<(RolloutState, bool), String> {
        let to = &self.to;
        match (action, &self.phase) {
            (_, Phase::Done) => Err(format!("the rollout of {to} is done; nothing to steer")),
            (_, Phase::RolledBack { .. }) => Err(format!(
                "the rollout of {to} was rolled back already; deploy a version to start another"
            )),
            (RolloutAction::Pause, Phase::Paused { .. }) => {
                Err(format!("the rollout of {to} is paused already"))
            }
            (RolloutAction::Pause, _) => Ok((
                self.with(Phase::Paused {
                    reason: "paused by hand".into(),
                    by_hand: true,
                }),
                false,
            )),
            (RolloutAction::Resume, Phase::Paused { .. }) => Ok((self.with(Phase::Rolling), false)),
            (RolloutAction::Resume, _) => Err(format!(
                "the rollout of {to} is not paused; `pause` or `abort` it"
            )),
            (RolloutAction::Abort, _) => Ok((
                self.with(Phase::RolledBack {
                    reason: format!("aborted by hand; {} runs again", self.from),
                }),
                true,
            )),
        }
    }

    fn with(&self, phase: Phase) -> RolloutState {
        RolloutState {
            phase,
            ..self.clone()
        }
    }

    fn set(&self, phase: Phase) -> Next {
        Next::Set {
            state: self.with(phase),
            rollback: false,
        }
    }

    fn pass(&self, input: &Input<'_>) -> Next {
        if self.stage + 1 >= input.stage_names.len() {
            return self.set(Phase::Done);
        }
        Next::Set {
            state: RolloutState {
                stage: self.stage + 1,
                phase: Phase::Rolling,
                ..self.clone()
            },
            rollback: false,
        }
    }

    fn fail(&self, spec: &Rollout, input: &Input<'_>, why: String) -> Next {
        let stage = input
            .stage_names
            .get(self.stage)
            .map(String::as_str)
            .unwrap_or("?");
        let what = format!("stage {stage} of the rollout to {} failed: {why}", self.to);
        match spec.on_failure {
            OnFailure::Rollback => Next::Set {
                state: self.with(Phase::RolledBack {
                    reason: format!("{what}; rolled back to {}", self.from),
                }),
                rollback: true,
            },
            OnFailure::Pause => self.set(Phase::Paused {
                reason: format!("{what}; paused (`trellis app rollout NAME resume` or `abort`)"),
                by_hand: false,
            }),
        }
    }
}

/// How far a staged rollout's hosts are, as [`crate::scaler::plan`] finds
/// them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// The stage of each host that runs the app.
    pub stage_of: BTreeMap<HostId, usize>,
    /// Hosts where every component of the app runs the deployed version.
    pub updated: BTreeSet<HostId>,
    /// Whether every host up to the current stage is updated and no
    /// command for the app is left.
    pub converged: bool,
}

/// Adds a rollout's progress to the status of its app, and makes the
/// state say when the rollout is not over: `reconciling` while it rolls
/// or bakes, `waiting` when paused by hand, `failed` when a stage failed
/// (paused or rolled back; the message says why).
pub fn annotate(
    status: &mut AppStatus,
    state: &RolloutState,
    stage_names: &[String],
    progress: Option<&Progress>,
) {
    let stage = stage_names.get(state.stage).cloned().unwrap_or_default();
    let (updated, total) = progress.map_or((0, 0), |p| {
        let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        (n(p.updated.len()), n(p.stage_of.len()))
    });
    status.rollout = Some(RolloutStatus {
        from: state.from.clone(),
        to: state.to.clone(),
        phase: state.protocol_phase(),
        stage: stage.clone(),
        stage_index: state.stage,
        stages: stage_names.len(),
        hosts_updated: updated,
        hosts_total: total,
        message: state.reason().map(str::to_owned),
    });
    let at = format!(
        "stage {stage} ({} of {}), {updated} of {total} hosts on {}",
        state.stage + 1,
        stage_names.len(),
        state.to
    );
    let (floor, message) = match &state.phase {
        Phase::Rolling => (StatusState::Reconciling, format!("rolling out: {at}")),
        Phase::Baking { .. } => (StatusState::Reconciling, format!("baking: {at}")),
        Phase::Paused { reason, by_hand } => (
            if *by_hand {
                StatusState::Waiting
            } else {
                StatusState::Failed
            },
            format!("{reason}; {at}"),
        ),
        Phase::RolledBack { reason } => (StatusState::Failed, reason.clone()),
        Phase::Done => return,
    };
    // The app's own failure, if any, says more than a rollout in motion.
    if status.state != StatusState::Failed || floor == StatusState::Failed {
        status.message = Some(message);
    }
    status.state = StatusState::combine([status.state, floor]);
}

#[cfg(test)]
mod tests;
