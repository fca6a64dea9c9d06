//! What wadm counts for Prometheus: reconcile passes and how long they
//! took, commands sent to hosts by kind (and how many failed), apps by
//! state, and whether this instance leads.
//!
//! Recording is a few relaxed atomic adds (no lock, no allocation); the
//! [`Collector`] impl reads the atomics into OpenMetrics text at scrape
//! time. [`WadmHandle::metrics`](crate::WadmHandle::metrics) hands out the
//! collector of a running instance.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use trellis_metrics::Histogram;
use trellis_metrics::prometheus_client::collector::Collector;
use trellis_metrics::prometheus_client::encoding::DescriptorEncoder;
use trellis_metrics::prometheus_client::registry::Unit;
use trellis_metrics::{MetricType, family, single};
use trellis_protocol::wadm::{RolloutPhase, StatusState};

use crate::model::Command;

/// The `kind` label of each command variant, indexed by [`kind`]: a fixed
/// set, so a manifest cannot grow the number of series.
const KINDS: [&str; 7] = [
    "put_config",
    "scale_component",
    "update_component",
    "start_provider",
    "stop_provider",
    "put_link",
    "del_link",
];

/// Where `command`'s kind is in [`KINDS`]. Exhaustive: a new command
/// variant does not compile until it has a label.
fn kind(command: &Command) -> usize {
    match command {
        Command::PutConfig { .. } => 0,
        Command::ScaleComponent { .. } => 1,
        Command::UpdateComponent { .. } => 2,
        Command::StartProvider { .. } => 3,
        Command::StopProvider { .. } => 4,
        Command::PutLink(_) => 5,
        Command::DelLink(_) => 6,
    }
}

/// Every status state, indexed by [`state`].
const STATES: [StatusState; 5] = [
    StatusState::Deployed,
    StatusState::Reconciling,
    StatusState::Waiting,
    StatusState::Failed,
    StatusState::Undeployed,
];

/// Where `s` is in [`STATES`]; exhaustive like [`kind`].
fn state(s: StatusState) -> usize {
    match s {
        StatusState::Deployed => 0,
        StatusState::Reconciling => 1,
        StatusState::Waiting => 2,
        StatusState::Failed => 3,
        StatusState::Undeployed => 4,
    }
}

/// Every rollout phase, indexed by [`phase`].
const PHASES: [RolloutPhase; 5] = [
    RolloutPhase::Rolling,
    RolloutPhase::Baking,
    RolloutPhase::Paused,
    RolloutPhase::RolledBack,
    RolloutPhase::Done,
];

/// Where `p` is in [`PHASES`]; exhaustive like [`kind`].
fn phase(p: RolloutPhase) -> usize {
    match p {
        RolloutPhase::Rolling => 0,
        RolloutPhase::Baking => 1,
        RolloutPhase::Paused => 2,
        RolloutPhase::RolledBack => 3,
        RolloutPhase::Done => 4,
    }
}

/// One wadm instance's metrics. Register it (through
/// [`WadmHandle::metrics`](crate::WadmHandle::metrics)) once per registry:
/// every series is written by this one collector.
///
/// - `trellis_wadm_reconcile_passes_total`: reconcile passes run.
/// - `trellis_wadm_reconcile_duration_seconds`: how long each pass took.
/// - `trellis_wadm_commands_total{kind}`: commands sent to hosts.
/// - `trellis_wadm_command_failures_total{kind}`: of those, how many
///   failed (an error reply, no responders or a timeout).
/// - `trellis_wadm_apps{state}`: apps by the state of the statuses this
///   instance last published while leading; all 0 on a follower, so a sum
///   over instances counts each app once.
/// - `trellis_wadm_rollouts{phase}`: apps whose last published status
///   has a staged rollout, by its phase (0 on a follower, likewise).
/// - `trellis_wadm_leader`: 1 while this instance holds the lease.
#[derive(Debug, Default)]
pub struct WadmMetrics {
    passes: AtomicU64,
    pass_duration: Histogram,
    commands: [AtomicU64; KINDS.len()],
    command_failures: [AtomicU64; KINDS.len()],
    apps: [AtomicU64; STATES.len()],
    rollouts: [AtomicU64; PHASES.len()],
    leader: AtomicBool,
}

impl WadmMetrics {
    /// A reconcile pass ran, taking `elapsed`.
    pub(crate) fn pass(&self, elapsed: Duration) {
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.pass_duration.observe(elapsed);
    }

    /// `command` goes out to its host(s).
    pub(crate) fn command_sent(&self, command: &Command) {
        self.commands[kind(command)].fetch_add(1, Ordering::Relaxed);
    }

    /// `command` (counted as sent) failed.
    pub(crate) fn command_failed(&self, command: &Command) {
        self.command_failures[kind(command)].fetch_add(1, Ordering::Relaxed);
    }

    /// The published apps are now in `states` (one per app).
    pub(crate) fn apps(&self, states: impl IntoIterator<Item = StatusState>) {
        set_counts(&self.apps, states.into_iter().map(state));
    }

    /// The published apps' rollouts are now in `phases` (one per app
    /// with a staged rollout).
    pub(crate) fn rollouts(&self, phases: impl IntoIterator<Item = RolloutPhase>) {
        set_counts(&self.rollouts, phases.into_iter().map(phase));
    }

    /// Whether this instance holds the lease; a follower reports no apps.
    pub(crate) fn leader(&self, leading: bool) {
        self.leader.store(leading, Ordering::Relaxed);
        if !leading {
            self.apps([]);
            self.rollouts([]);
        }
    }
}

/// Sets each gauge to how many of `indices` name it.
fn set_counts<const N: usize>(gauges: &[AtomicU64; N], indices: impl Iterator<Item = usize>) {
    let mut counts = [0u64; N];
    for i in indices {
        counts[i] += 1;
    }
    for (gauge, count) in gauges.iter().zip(counts) {
        gauge.store(count, Ordering::Relaxed);
    }
}

impl Collector for WadmMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let e = &mut encoder;
        single(
            e,
            "trellis_wadm_reconcile_passes",
            "Reconcile passes this wadm ran while leading.",
            MetricType::Counter,
            load(&self.passes),
        )?;
        let duration = e.encode_descriptor(
            "trellis_wadm_reconcile_duration",
            "How long each reconcile pass took (reading hosts, planning, sending commands, publishing statuses).",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        self.pass_duration.encode(duration)?;
        for (name, help, counts) in [
            (
                "trellis_wadm_commands",
                "Commands wadm sent to hosts, by kind.",
                &self.commands,
            ),
            (
                "trellis_wadm_command_failures",
                "Commands wadm sent that failed (error reply, no responders or timeout), by kind.",
                &self.command_failures,
            ),
        ] {
            let samples = KINDS
                .iter()
                .zip(counts)
                .map(|(kind, n)| ([("kind", *kind)], load(n)));
            family(e, name, help, MetricType::Counter, samples)?;
        }
        family(
            e,
            "trellis_wadm_apps",
            "Apps by the state of the status this wadm last published while leading (0 on a follower).",
            MetricType::Gauge,
            STATES
                .iter()
                .zip(&self.apps)
                .map(|(s, n)| ([("state", s.as_str())], load(n))),
        )?;
        family(
            e,
            "trellis_wadm_rollouts",
            "Apps with a staged rollout in the status this wadm last published while leading, by \
             the rollout's phase (0 on a follower).",
            MetricType::Gauge,
            PHASES
                .iter()
                .zip(&self.rollouts)
                .map(|(p, n)| ([("phase", p.as_str())], load(n))),
        )?;
        single(
            e,
            "trellis_wadm_leader",
            "1 while this wadm holds the lattice's leader lease, else 0.",
            MetricType::Gauge,
            u64::from(self.leader.load(Ordering::Relaxed)),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use trellis_metrics::Registry;
    use trellis_protocol::HostId;
    use trellis_protocol::control::ScaleComponentRequest;
    use trellis_protocol::link::LinkKey;

    use super::*;

    fn scale() -> Command {
        let request: ScaleComponentRequest =
            serde_json::from_value(serde_json::json!({"component_id": "c", "max": 1})).unwrap();
        Command::ScaleComponent {
            host: HostId::new(format!("N{}", "A".repeat(55))).unwrap(),
            request,
        }
    }

    fn del_link() -> Command {
        let key: LinkKey = serde_json::from_value(serde_json::json!({
            "source_id": "c",
            "wit_namespace": "wasi",
            "wit_package": "keyvalue",
        }))
        .unwrap();
        Command::DelLink(key)
    }

    fn encode(metrics: &Arc<WadmMetrics>) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(metrics.clone()));
        trellis_metrics::encode(&registry).unwrap()
    }

    fn has(text: &str, line: &str) {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in:\n{text}"
        );
    }

    #[test]
    fn labels_are_one_per_variant_and_state() {
        for (i, s) in STATES.iter().enumerate() {
            assert_eq!(state(*s), i, "{s}");
        }
        assert_eq!(KINDS[kind(&scale())], "scale_component");
        assert_eq!(KINDS[kind(&del_link())], "del_link");
    }

    #[test]
    fn a_scrape_shows_what_was_recorded() {
        let metrics = Arc::new(WadmMetrics::default());
        let text = encode(&metrics);
        // Nothing recorded yet: every series is there, at 0.
        has(&text, "trellis_wadm_reconcile_passes_total 0");
        has(&text, "trellis_wadm_commands_total{kind=\"put_link\"} 0");
        has(&text, "trellis_wadm_apps{state=\"failed\"} 0");
        has(&text, "trellis_wadm_leader 0");

        metrics.leader(true);
        metrics.pass(Duration::from_millis(3));
        metrics.pass(Duration::from_secs(20));
        for _ in 0..3 {
            metrics.command_sent(&scale());
        }
        metrics.command_failed(&scale());
        metrics.command_sent(&del_link());
        metrics.apps([
            StatusState::Deployed,
            StatusState::Failed,
            StatusState::Failed,
        ]);
        metrics.rollouts([
            RolloutPhase::Baking,
            RolloutPhase::Baking,
            RolloutPhase::Done,
        ]);
        let text = encode(&metrics);
        for line in [
            "# TYPE trellis_wadm_reconcile_passes counter",
            "trellis_wadm_reconcile_passes_total 2",
            "# UNIT trellis_wadm_reconcile_duration_seconds seconds",
            "trellis_wadm_reconcile_duration_seconds_bucket{le=\"0.005\"} 1",
            "trellis_wadm_reconcile_duration_seconds_bucket{le=\"10.0\"} 1",
            "trellis_wadm_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2",
            "trellis_wadm_reconcile_duration_seconds_count 2",
            "trellis_wadm_reconcile_duration_seconds_sum 20.003",
            "trellis_wadm_commands_total{kind=\"scale_component\"} 3",
            "trellis_wadm_commands_total{kind=\"del_link\"} 1",
            "trellis_wadm_commands_total{kind=\"put_config\"} 0",
            "trellis_wadm_command_failures_total{kind=\"scale_component\"} 1",
            "trellis_wadm_command_failures_total{kind=\"del_link\"} 0",
            "trellis_wadm_apps{state=\"deployed\"} 1",
            "trellis_wadm_apps{state=\"failed\"} 2",
            "trellis_wadm_apps{state=\"reconciling\"} 0",
            "trellis_wadm_apps{state=\"waiting\"} 0",
            "trellis_wadm_apps{state=\"undeployed\"} 0",
            "trellis_wadm_rollouts{phase=\"baking\"} 2",
            "trellis_wadm_rollouts{phase=\"done\"} 1",
            "trellis_wadm_rollouts{phase=\"paused\"} 0",
            "trellis_wadm_leader 1",
        ] {
            has(&text, line);
        }
        for (name, help) in [
            ("trellis_wadm_reconcile_passes", "Reconcile passes"),
            ("trellis_wadm_reconcile_duration_seconds", "How long"),
            ("trellis_wadm_commands", "Commands wadm sent"),
            ("trellis_wadm_command_failures", "Commands wadm sent"),
            ("trellis_wadm_apps", "Apps by"),
            ("trellis_wadm_leader", "1 while"),
        ] {
            let prefix = format!("# HELP {name} {help}");
            assert!(
                text.lines().any(|l| l.starts_with(&prefix)),
                "no help {prefix:?} in:\n{text}"
            );
        }
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("trellis_wadm_commands_total{"))
                .count(),
            KINDS.len(),
            "{text}"
        );

        // Losing the lease: no longer leader, and the apps are the new
        // leader's to report.
        metrics.leader(false);
        let text = encode(&metrics);
        has(&text, "trellis_wadm_leader 0");
        has(&text, "trellis_wadm_apps{state=\"failed\"} 0");
        has(&text, "trellis_wadm_reconcile_passes_total 2");
    }
}
