//! `spec.rollout`: how a new version reaches the hosts, stage by stage,
//! and what makes a stage fail. Types and their rules; no IO.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::Problem;

/// Bake time when the manifest gives none.
pub const DEFAULT_BAKE_SECONDS: u64 = 30;
/// Failed invocations over all invocations a stage may show when the
/// manifest gives no bound.
pub const DEFAULT_MAX_ERROR_RATE: f64 = 0.01;
/// Longest bake accepted (a day).
pub(super) const MAX_BAKE_SECONDS: u64 = 86_400;
/// Most stages accepted.
pub(super) const MAX_STAGES: usize = 16;

/// `spec.rollout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Host groups, in the order the new version reaches them. A host
    /// belongs to the first stage it matches; hosts no stage matches go
    /// with the last one.
    pub stages: Vec<Stage>,
    /// Seconds each stage runs the new version before it is judged.
    #[serde(default = "default_bake")]
    pub bake_seconds: u64,
    /// Highest failed/all invocation ratio a stage may show (0 to 1).
    #[serde(default = "default_error_rate")]
    pub max_error_rate: f64,
    /// A `GET` each updated host's instance must answer as expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthProbe>,
    /// What a failed stage leads to.
    #[serde(default)]
    pub on_failure: OnFailure,
}

fn default_bake() -> u64 {
    DEFAULT_BAKE_SECONDS
}

fn default_error_rate() -> f64 {
    DEFAULT_MAX_ERROR_RATE
}

/// One stage of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Name, unique within the rollout (shown in `app status`).
    pub name: String,
    /// Host labels a host must all have to belong to the stage.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requirements: BTreeMap<String, String>,
    /// At most this many matching hosts (a canary); the rest fall through
    /// to later stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hosts: Option<u32>,
}

/// `health`: an HTTP probe sent to every component the app's HTTP
/// provider links to, on each host the rollout updated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthProbe {
    /// Path and query, from `/`.
    pub path: String,
    /// Status the answer must have.
    #[serde(default = "default_status")]
    pub expect_status: u16,
}

fn default_status() -> u16 {
    200
}

/// `on_failure`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Put the previous version back everywhere.
    #[default]
    Rollback,
    /// Hold where it is, for a person to `resume` or `abort`.
    Pause,
}

/// The problems of `spec.rollout`. `probe_targets` says whether any
/// component of the app is the target of a `wasi:http` link, the only
/// thing a health probe can reach.
pub(super) fn validate(r: &Rollout, probe_targets: bool, problems: &mut Vec<Problem>) {
    let mut push = |path: String, message: String| problems.push(Problem::new(path, message));
    if r.stages.is_empty() {
        push(
            "spec.rollout.stages".into(),
            "is empty; list at least one stage, e.g. `- name: all`".into(),
        );
    }
    if r.stages.len() > MAX_STAGES {
        push(
            "spec.rollout.stages".into(),
            format!("has {} stages; use at most {MAX_STAGES}", r.stages.len()),
        );
    }
    let mut names = HashSet::new();
    for (i, s) in r.stages.iter().enumerate() {
        let at = format!("spec.rollout.stages[{i}]");
        if s.name.trim().is_empty() {
            push(format!("{at}.name"), "is empty; name the stage".into());
        } else if !names.insert(s.name.as_str()) {
            push(
                format!("{at}.name"),
                format!(
                    "`{}` is used by an earlier stage; names must be unique",
                    s.name
                ),
            );
        }
        if s.max_hosts == Some(0) {
            push(
                format!("{at}.max_hosts"),
                "is 0; use at least 1, or leave it out for every matching host".into(),
            );
        }
    }
    if r.bake_seconds > MAX_BAKE_SECONDS {
        push(
            "spec.rollout.bake_seconds".into(),
            format!(
                "is {}; use at most {MAX_BAKE_SECONDS} (a day)",
                r.bake_seconds
            ),
        );
    }
    if !(0.0..=1.0).contains(&r.max_error_rate) {
        push(
            "spec.rollout.max_error_rate".into(),
            format!(
                "is {}; give a ratio from 0 to 1, e.g. 0.01 for 1%",
                r.max_error_rate
            ),
        );
    }
    if let Some(h) = &r.health {
        if !h.path.starts_with('/') {
            push(
                "spec.rollout.health.path".into(),
                format!("`{}` must start with `/`, e.g. /healthz", h.path),
            );
        }
        if !(100..=599).contains(&h.expect_status) {
            push(
                "spec.rollout.health.expect_status".into(),
                format!("{} is not an HTTP status (100 to 599)", h.expect_status),
            );
        }
        if !probe_targets {
            push(
                "spec.rollout.health".into(),
                "no component of this app is the target of a wasi:http link, so there is nothing to probe; \
                 add the link or drop `health`"
                    .into(),
            );
        }
    }
}
