//! Runs planned commands as control requests. A host replies once it has
//! done the work (and published its event), so a reply means done. A
//! command that failed is held back for a pause that doubles while it
//! keeps failing ([`Backoff`]), so a start that fails at once (and whose
//! failure event wakes wadm) is not sent again in a tight loop.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use trellis_lattice::{ControlError, Lattice};
use trellis_protocol::control::{
    ControlRequest, DeleteLinkRequest, PutConfigRequest, PutLinkRequest, StopProviderRequest,
};
use trellis_protocol::inventory::HostInventory;
use trellis_protocol::{ControlVerb, HostId};

use futures::StreamExt;

use crate::lease::LeaseView;
use crate::metrics::WadmMetrics;
use crate::model::{Command, Step};
use crate::observer::HostTracker;

/// Reads `host`'s inventory (every page) into `tracker` (the only source
/// of what a host runs); a host that does not answer in `timeout` is left
/// as it was. Returns whether the host was taken for gone (no responders).
pub async fn read_host(
    lattice: &Lattice,
    tracker: &Mutex<HostTracker>,
    host: &HostId,
    timeout: Duration,
) -> bool {
    let inv: Result<Option<HostInventory>, _> =
        lattice.host_inventory(host, None, Some(timeout)).await;
    match inv {
        Ok(Some(inv)) => tracker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .inventory(&inv, Instant::now()),
        Ok(None) => {}
        Err(ControlError::NoResponders { .. }) => {
            let gone = tracker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unanswered(host);
            if gone {
                tracing::warn!(%host, "host does not answer (no responders); taken for gone");
            } else if let Some(site) = tracker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .site(host)
            {
                // Cut off, not gone: the same words as when its heartbeats
                // run out, so operators look for one thing.
                tracing::warn!(%host, %site, "edge host unreachable (no responders); its share stays put for the partition grace");
            }
            return gone;
        }
        Err(e) => tracing::debug!(%host, %e, "host inventory not read"),
    }
    false
}

/// Reads several hosts' inventories, `limit` at a time: a pass after a
/// burst of events (or a resync of a big lattice) would otherwise pay one
/// round trip per host in a row.
pub async fn read_hosts(
    lattice: &Lattice,
    tracker: &Mutex<HostTracker>,
    hosts: Vec<HostId>,
    timeout: Duration,
    limit: usize,
) -> usize {
    let reads: Vec<_> = hosts
        .iter()
        .map(|host| read_host(lattice, tracker, host, timeout))
        .collect();
    futures::stream::iter(reads)
        .buffer_unordered(limit.max(1))
        .filter(|gone| std::future::ready(*gone))
        .count()
        .await
}

/// Bounds on commands: starting a component may fetch and compile it.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// For starts, updates and scales.
    pub workload_timeout: Duration,
    /// For links and configs.
    pub store_timeout: Duration,
    /// Commands of one phase in flight at once. Each waits on a round trip
    /// (a start on a fetch and compile too), so one at a time made a pass
    /// cost commands x round trips; hosts run each request in its own task.
    pub max_in_flight: usize,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            workload_timeout: Duration::from_secs(60),
            store_timeout: Duration::from_secs(10),
            max_in_flight: 32,
        }
    }
}

/// Sends `command` and waits for its reply.
pub async fn execute(
    lattice: &Lattice,
    command: &Command,
    config: &ExecutorConfig,
) -> Result<(), ControlError> {
    let slow = Some(config.workload_timeout);
    let fast = Some(config.store_timeout);
    match command {
        // Link and config writes do not wait for every host to apply them
        // (a round of pings over the whole lattice per write); the status
        // waits instead, for the hosts that run the link's ends.
        Command::PutConfig { name, values } => {
            let request = PutConfigRequest::Wrapped {
                values: values.clone(),
                no_wait: true,
            };
            send(
                lattice,
                ControlVerb::ConfigPut(name.clone()),
                &request,
                fast,
            )
            .await
        }
        Command::ScaleComponent { host, request } => {
            send(
                lattice,
                ControlVerb::ComponentScale(host.clone()),
                request,
                slow,
            )
            .await
        }
        Command::UpdateComponent { host, request } => {
            send(
                lattice,
                ControlVerb::ComponentUpdate(host.clone()),
                request,
                slow,
            )
            .await
        }
        Command::StartProvider { host, request } => {
            send(
                lattice,
                ControlVerb::ProviderStart(host.clone()),
                request,
                slow,
            )
            .await
        }
        Command::StopProvider { host, provider_id } => {
            let request = StopProviderRequest {
                provider_id: provider_id.clone(),
            };
            send(
                lattice,
                ControlVerb::ProviderStop(host.clone()),
                &request,
                slow,
            )
            .await
        }
        Command::PutLink(link) => {
            let request = PutLinkRequest {
                link: link.clone(),
                force: false,
                no_wait: true,
            };
            send(lattice, ControlVerb::LinkPut, &request, fast).await
        }
        Command::DelLink(key) => {
            let request = DeleteLinkRequest {
                source_id: key.source_id.clone(),
                wit_namespace: key.wit_namespace.clone(),
                wit_package: key.wit_package.clone(),
                name: key.name.clone(),
                no_wait: true,
            };
            send(lattice, ControlVerb::LinkDel, &request, fast).await
        }
    }
}

/// Sends one command; its reply is decoded as the request type says, so a
/// host that answers with something else is an error, not a success.
async fn send<T: ControlRequest>(
    lattice: &Lattice,
    verb: ControlVerb,
    request: &T,
    timeout: Option<Duration>,
) -> Result<(), ControlError> {
    lattice.request(verb, request, timeout).await.map(|_| ())
}

/// Splits planned steps (in plan order) into runs whose commands may go
/// out at once. The planner orders steps in phases (configs, link
/// removals, stops, starts and rescales, link puts) and a later phase may
/// need an earlier one done (a link put wants both ends running, a start
/// its config), so only consecutive steps of one kind share a run.
pub fn runs<'a>(steps: &[&'a Step]) -> Vec<Vec<&'a Step>> {
    let kind = |c: &Command| match c {
        Command::PutConfig { .. } => 0,
        Command::DelLink(_) => 1,
        Command::StopProvider { .. } => 2,
        Command::StartProvider { .. } => 3,
        // Different hosts or components: independent of each other.
        Command::ScaleComponent { .. } | Command::UpdateComponent { .. } => 4,
        Command::PutLink(_) => 5,
    };
    let mut out: Vec<Vec<&Step>> = Vec::new();
    for step in steps {
        match out.last_mut() {
            Some(run) if run.last().map(|s| kind(&s.command)) == Some(kind(&step.command)) => {
                run.push(step)
            }
            _ => out.push(vec![step]),
        }
    }
    out
}

/// What became of one step of a run.
pub type RunOutcome<'a> = (&'a Step, Option<Result<(), ControlError>>);

/// Sends one run's commands, at most `config.max_in_flight` at a time
/// (one at a time, `interval` apart, when an interval paces rollouts);
/// returns each step with its outcome, in completion order: `None` for a
/// step not sent because the lease ran out first (a former leader must
/// not go on commanding). Each command sent, and each that failed, is
/// counted in `metrics`.
pub async fn execute_run<'a>(
    lattice: &Lattice,
    run: Vec<&'a Step>,
    config: &ExecutorConfig,
    interval: Duration,
    lease: &LeaseView,
    metrics: &WadmMetrics,
) -> Vec<RunOutcome<'a>> {
    let limit = if interval.is_zero() {
        config.max_in_flight.max(1)
    } else {
        1
    };
    // Futures built up front (not in a `map` closure): a closure returning
    // a borrowing future makes the spawned leader loop fail `Send`.
    let sends: Vec<_> = run
        .into_iter()
        .enumerate()
        .map(|(i, step)| send_one(lattice, step, config, i, interval, lease, metrics))
        .collect();
    futures::stream::iter(sends)
        .buffer_unordered(limit)
        .collect()
        .await
}

async fn send_one<'a>(
    lattice: &Lattice,
    step: &'a Step,
    config: &ExecutorConfig,
    index: usize,
    interval: Duration,
    lease: &LeaseView,
    metrics: &WadmMetrics,
) -> RunOutcome<'a> {
    if index > 0 && !interval.is_zero() {
        tokio::time::sleep(interval).await;
    }
    if !lease.is_held() {
        return (step, None);
    }
    tracing::info!(command = %step.command, "wadm executes");
    metrics.command_sent(&step.command);
    let outcome = execute(lattice, &step.command, config).await;
    if outcome.is_err() {
        metrics.command_failed(&step.command);
    }
    (step, Some(outcome))
}

/// First pause before a failed command is sent again.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Longest pause between two tries of a failed command.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct Held {
    until: Instant,
    pause: Duration,
    error: String,
}

/// Failed commands (by their text, which names the host and ids) and when
/// each may be sent again: 1 s after the first failure, doubling up to
/// [`MAX_RETRY`] while it keeps failing. Pure: the caller passes the time.
#[derive(Debug, Default)]
pub struct Backoff {
    held: BTreeMap<String, Held>,
}

impl Backoff {
    /// The last error of `command` if it must wait at `now`.
    pub fn held(&self, command: &str, now: Instant) -> Option<&str> {
        self.held
            .get(command)
            .filter(|h| now < h.until)
            .map(|h| h.error.as_str())
    }

    /// `command` failed with `error` at `now`.
    pub fn failed(&mut self, command: String, error: String, now: Instant) {
        let pause = self
            .held
            .get(&command)
            .map_or(FIRST_RETRY, |h| (h.pause * 2).min(MAX_RETRY));
        self.held.insert(
            command,
            Held {
                until: now + pause,
                pause,
                error,
            },
        );
    }

    /// `command` went through.
    pub fn succeeded(&mut self, command: &str) {
        self.held.remove(command);
    }

    /// Forgets commands the plan no longer has.
    pub fn retain(&mut self, planned: &BTreeSet<String>) {
        self.held.retain(|c, _| planned.contains(c));
    }

    /// When the first held command may go again.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.values().map(|h| h.until).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_protocol::{ComponentId, ConfigName};

    #[test]
    fn only_consecutive_steps_of_one_phase_share_a_run() {
        let config = |n: &str| Step {
            command: Command::PutConfig {
                name: ConfigName::new(n).unwrap(),
                values: Default::default(),
            },
            owner: None,
        };
        let stop = Step {
            command: Command::StopProvider {
                host: HostId::new(format!("N{}", "A".repeat(55))).unwrap(),
                provider_id: ComponentId::new("p").unwrap(),
            },
            owner: None,
        };
        let steps = [config("a"), config("b"), stop, config("c")];
        let refs: Vec<&Step> = steps.iter().collect();
        let sizes: Vec<usize> = runs(&refs).iter().map(Vec::len).collect();
        // "c" waits for the stop before it, though it is a config too.
        assert_eq!(sizes, [2, 1, 1]);
        assert!(runs(&[]).is_empty());
    }

    #[test]
    fn a_failing_command_waits_longer_each_time_up_to_the_cap() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        let cmd = "start provider p on host h".to_owned();
        assert_eq!(b.held(&cmd, t0), None);
        let mut now = t0;
        let mut pauses = Vec::new();
        for _ in 0..7 {
            b.failed(cmd.clone(), "exited".into(), now);
            let until = b.next_due().unwrap();
            assert_eq!(b.held(&cmd, now), Some("exited"));
            assert_eq!(
                b.held(&cmd, until),
                None,
                "free again at the end of the pause"
            );
            pauses.push(until.duration_since(now).as_secs());
            now = until;
        }
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
        b.succeeded(&cmd);
        assert_eq!(b.next_due(), None);
        b.failed(cmd.clone(), "exited".into(), now);
        assert_eq!(b.next_due(), Some(now + FIRST_RETRY), "success resets");
        b.retain(&BTreeSet::new());
        assert_eq!(b.held(&cmd, now), None, "no longer planned: forgotten");
    }
}
