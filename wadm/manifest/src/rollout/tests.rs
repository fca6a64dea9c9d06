//! The rollout state machine, step by step.

use trellis_protocol::inventory::InvocationStats;
use trellis_protocol::wadm::{AppVersion, RolloutAction};
use trellis_protocol::{ComponentId, HostId};

use super::*;
use crate::manifest::Rollout;

fn spec(on_failure: &str, health: bool) -> Rollout {
    let health = if health {
        "health: { path: /healthz }"
    } else {
        ""
    };
    serde_yaml::from_str(&format!(
        "stages: [{{name: canary}}, {{name: rest}}]\nbake_seconds: 10\nmax_error_rate: 0.1\non_failure: {on_failure}\n{health}"
    ))
    .unwrap()
}

fn names() -> Vec<String> {
    vec!["canary".into(), "rest".into()]
}

fn count(invocations: u64, failures: u64) -> Vec<Count> {
    vec![Count {
        host: HostId::new(format!("N{}", "A".repeat(55))).unwrap(),
        component: ComponentId::new("web-hello").unwrap(),
        stats: InvocationStats {
            invocations,
            failures,
        },
    }]
}

fn input<'a>(now_ms: u64, converged: bool, counts: &'a [Count], names: &'a [String]) -> Input<'a> {
    Input {
        now_ms,
        converged,
        counts,
        probe_failures: None,
        stage_names: names,
    }
}

fn start() -> RolloutState {
    RolloutState::start(
        AppVersion::new("v1").unwrap(),
        AppVersion::new("v2").unwrap(),
    )
}

fn set(next: Next) -> (RolloutState, bool) {
    match next {
        Next::Set { state, rollback } => (state, rollback),
        other => panic!("expected a move, got {other:?}"),
    }
}

#[test]
fn stages_bake_then_pass_then_finish() {
    let spec = spec("rollback", false);
    let names = names();
    let s = start();
    assert_eq!(s.next(&spec, &input(0, false, &[], &names)), Next::Wait);
    let (s, _) = set(s.next(&spec, &input(1_000, true, &count(5, 0), &names)));
    assert!(matches!(
        s.phase,
        Phase::Baking {
            since_ms: 1_000,
            ..
        }
    ));
    assert_eq!(
        s.next(&spec, &input(10_999, true, &count(50, 1), &names)),
        Next::Wait
    );
    let (s, rollback) = set(s.next(&spec, &input(11_000, true, &count(50, 1), &names)));
    assert!(!rollback);
    assert_eq!((s.stage, &s.phase), (1, &Phase::Rolling));
    let (s, _) = set(s.next(&spec, &input(12_000, true, &count(50, 1), &names)));
    let (s, _) = set(s.next(&spec, &input(22_000, true, &count(60, 1), &names)));
    assert_eq!(s.phase, Phase::Done);
    assert!(!s.is_active());
}

#[test]
fn errors_during_the_bake_roll_back_early_only_on_enough_samples() {
    let spec = spec("rollback", false);
    let names = names();
    let (s, _) = set(start().next(&spec, &input(0, true, &count(100, 0), &names)));
    // 10 of 10 failed, but too few to decide before the bake ends.
    assert_eq!(
        s.next(&spec, &input(1_000, true, &count(110, 10), &names)),
        Next::Wait
    );
    let (s, rollback) = set(s.next(&spec, &input(2_000, true, &count(130, 30), &names)));
    assert!(rollback);
    let Phase::RolledBack { reason } = &s.phase else {
        panic!("{s:?}")
    };
    assert!(reason.contains("stage canary"), "{reason}");
    assert!(reason.contains("30 of 30 invocations failed"), "{reason}");
    assert!(reason.contains("rolled back to v1"), "{reason}");
}

#[test]
fn a_failed_probe_pauses_when_asked_to_and_a_person_resumes_or_aborts() {
    let spec = spec("pause", true);
    let names = names();
    let (s, _) = set(start().next(&spec, &input(0, true, &[], &names)));
    let over = input(10_000, true, &[], &names);
    assert_eq!(s.next(&spec, &over), Next::Probe);
    let failures = vec!["health probe GET /healthz answered 500, expected 200".to_owned()];
    let probed = Input {
        probe_failures: Some(&failures),
        ..over
    };
    let (s, rollback) = set(s.next(&spec, &probed));
    assert!(!rollback);
    assert!(
        matches!(&s.phase, Phase::Paused { by_hand: false, reason } if reason.contains("answered 500"))
    );
    assert!(s.act(RolloutAction::Pause).is_err());
    let (resumed, _) = s.act(RolloutAction::Resume).unwrap();
    assert_eq!(resumed.phase, Phase::Rolling);
    let (aborted, rollback) = s.act(RolloutAction::Abort).unwrap();
    assert!(rollback);
    assert!(matches!(aborted.phase, Phase::RolledBack { .. }));
    assert!(aborted.act(RolloutAction::Resume).is_err());
}

#[test]
fn counters_reset_by_an_update_count_from_zero() {
    let before = count(100, 50);
    let after = count(10, 0);
    assert_eq!(health::since(&after, &before).invocations, 10);
    assert_eq!(health::since(&after, &before).failures, 0);
}
