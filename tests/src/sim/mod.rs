//! Simulated hosts: N fake `trellis host`s in this process, speaking the
//! host side of the control protocol without running any wasm, so that
//! wadm can be measured and tested against a lattice of 1,000 hosts on a
//! small machine.
//!
//! Each sim host has a real host identity (an nkeys `N...` key from
//! `trellis-claims`, as `trellis host` makes), its own subscription to its
//! host-specific control subjects (`ctl.*.*.{host}`), and sends
//! `host_started` and periodic `host_heartbeat` events carrying its
//! [`HostInventory`] (the first page, as the host does). It answers
//! `host.ping`, `host.inventory` (paged with [`HostInventory::page`]),
//! `host.stop`, `host.labels`, `component.scale`, `component.update`,
//! `component.probe` (a healthy 200 for a component it runs),
//! `provider.start` and `provider.stop` with the host's replies and
//! events. A started component or provider is only recorded: nothing is
//! fetched, compiled or listened on, and `component.call` is refused.
//!
//! The lattice-wide verbs (`link.put/del/list`, `config.put/get/del`) are
//! answered by one queue-group subscriber for the whole process, as one
//! host of the queue group would: it validates with the protocol's own
//! checks, stores in the lattice's buckets with `trellis_lattice`'s store,
//! publishes the event and replies. Two things the host does there are
//! left out on purpose, because the scale work takes them off the hot
//! path: the barrier (pinging every host until all report the new
//! revision before replying) and the ping-and-inventory scan that refuses
//! links naming ids no host runs. One watcher of the links and config
//! buckets, shared by every sim host, stands for each host's own: its
//! revisions are what every sim reports as `links_revision` and
//! `config_revision`, and a link naming a provider a sim runs is reported
//! applied in that sim's `link_status`.
//!
//! The sim hosts share a few NATS connections ([`SimOptions::connections`]).
//! Nothing subscribes to another host's subjects, so a request to a host
//! that was killed (or never existed) gets "no responders" from the
//! server, as the hosts of the scale work behave. [`SimHosts::kill`] makes
//! hosts vanish like `kill -9`: no replies, no heartbeats, no
//! `host_stopped`.

mod apps;
mod host;
mod wide;

pub use apps::{AppStatuses, SimApps};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use trellis_lattice::{Lattice, LatticeConfig};
use trellis_protocol::control::{Failure, Reply};
use trellis_protocol::inventory::{HostInventory, Labels};
use trellis_protocol::subject::pattern;
use trellis_protocol::{ComponentId, ControlVerb, HostId, LatticeName, Subject};

use host::SimHost;
use wide::LatticeView;

/// Bound on connecting, subscribing, flushing and each bucket operation.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start a set of simulated hosts.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// NATS URL of the lattice.
    pub nats_url: String,
    /// Lattice name.
    pub lattice: String,
    /// How many hosts.
    pub hosts: usize,
    /// Heartbeat interval (reported as `heartbeat_ms`).
    pub heartbeat: Duration,
    /// NATS connections the hosts share (at least 1).
    pub connections: usize,
    /// Labels every host carries besides `os` and `arch`.
    pub labels: Labels,
}

impl SimOptions {
    /// `hosts` hosts on `lattice` at `nats_url`, heartbeating every second
    /// over 4 connections.
    pub fn new(nats_url: impl Into<String>, lattice: impl Into<String>, hosts: usize) -> Self {
        Self {
            nats_url: nats_url.into(),
            lattice: lattice.into(),
            hosts,
            heartbeat: Duration::from_secs(1),
            connections: 4,
            labels: Labels::new(),
        }
    }
}

/// What one live sim host runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// The host's name (`sim-<n>`).
    pub name: String,
    /// Components and their instance bound (`max`).
    pub components: BTreeMap<ComponentId, u32>,
    /// Providers it runs.
    pub providers: BTreeSet<ComponentId>,
}

/// The hosts of the process, alive or killed.
#[derive(Default)]
struct Registry {
    hosts: RwLock<BTreeMap<HostId, Arc<SimHost>>>,
}

impl Registry {
    fn live(&self) -> Vec<Arc<SimHost>> {
        self.hosts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|h| h.alive())
            .cloned()
            .collect()
    }
}

/// A running set of simulated hosts; dropping it stops them all at once
/// (as a crash would: no `host_stopped`).
pub struct SimHosts {
    registry: Arc<Registry>,
    kills: BTreeMap<HostId, tokio::sync::oneshot::Sender<()>>,
    tasks: BTreeMap<HostId, tokio::task::JoinHandle<()>>,
    shared: Vec<tokio::task::JoinHandle<()>>,
    connections: Vec<Lattice>,
}

impl Drop for SimHosts {
    fn drop(&mut self) {
        for task in self.tasks.values().chain(&self.shared) {
            task.abort();
        }
    }
}

impl SimHosts {
    /// Connects, subscribes every host, then announces them
    /// (`host_started`) and starts their heartbeats, spread over one
    /// interval so that 1,000 hosts do not beat in step.
    pub async fn start(options: SimOptions) -> anyhow::Result<SimHosts> {
        let lattice_name = LatticeName::new(options.lattice.clone())
            .map_err(|e| anyhow::anyhow!("lattice `{}`: {e}", options.lattice))?;
        let mut connections = Vec::new();
        for i in 0..options.connections.max(1) {
            let config = LatticeConfig {
                nats_url: options.nats_url.clone(),
                lattice: lattice_name.clone(),
                connection_name: format!("trellis-sim {i}"),
                connect_timeout: NETWORK_TIMEOUT,
                ..LatticeConfig::default()
            };
            connections.push(
                Lattice::connect(&config)
                    .await
                    .with_context(|| format!("sim connection {i} to {}", options.nats_url))?,
            );
        }
        let first = connections[0].clone();
        let store = tokio::time::timeout(NETWORK_TIMEOUT, first.store())
            .await
            .context("opening the lattice's buckets timed out")??;
        let view = Arc::new(LatticeView::default());
        let registry = Arc::new(Registry::default());
        let mut shared = wide::watch(store.clone(), view.clone()).await?;
        shared.push(serve_pings(first.clone(), registry.clone()).await?);
        let mut hosts = Vec::with_capacity(options.hosts);
        for i in 0..options.hosts {
            let lattice = connections[i % connections.len()].clone();
            let host = Arc::new(SimHost::new(
                format!("sim-{i}"),
                lattice,
                view.clone(),
                &options,
            ));
            let sub = host.subscribe().await?;
            registry
                .hosts
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(host.id().clone(), host.clone());
            hosts.push((host, sub));
        }
        let answering = hosts.first().map(|(h, _)| h.id().clone());
        if let Some(source) = answering {
            shared.extend(wide::serve(first.clone(), store, source).await?);
        }
        flush_all(&connections).await?;
        let n = u32::try_from(hosts.len().max(1)).unwrap_or(u32::MAX);
        let mut kills = BTreeMap::new();
        let mut tasks = BTreeMap::new();
        for (i, (host, sub)) in hosts.into_iter().enumerate() {
            host.announce().await;
            let offset = options.heartbeat / n * u32::try_from(i).unwrap_or(0);
            let (kill, killed) = tokio::sync::oneshot::channel();
            let id = host.id().clone();
            tasks.insert(id.clone(), tokio::spawn(host.run(sub, killed, offset)));
            kills.insert(id, kill);
        }
        flush_all(&connections).await?;
        Ok(SimHosts {
            registry,
            kills,
            tasks,
            shared,
            connections,
        })
    }

    /// Ids of the hosts still alive, sorted.
    pub fn ids(&self) -> Vec<HostId> {
        self.registry
            .live()
            .iter()
            .map(|h| h.id().clone())
            .collect()
    }

    /// Makes `ids` vanish at once, like `kill -9`: they stop answering
    /// (their subscriptions are gone from the server when this returns, so
    /// requests to them get "no responders") and stop heartbeating; no
    /// `host_stopped` is sent. Unknown or already dead ids are ignored.
    pub async fn kill(&mut self, ids: &[HostId]) -> anyhow::Result<()> {
        let mut ending = Vec::new();
        for id in ids {
            if let Some(host) = self
                .registry
                .hosts
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(id)
            {
                host.die();
            }
            if let Some(kill) = self.kills.remove(id) {
                let _ = kill.send(());
            }
            if let Some(task) = self.tasks.remove(id) {
                ending.push(task);
            }
        }
        for task in ending {
            tokio::time::timeout(NETWORK_TIMEOUT, task)
                .await
                .context("a killed sim host did not stop in time")?
                .context("a killed sim host's task failed")?;
        }
        flush_all(&self.connections).await
    }

    /// When host `id` (alive or killed) last sent a heartbeat.
    pub fn last_heartbeat(&self, id: &HostId) -> Option<std::time::Instant> {
        self.registry
            .hosts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .and_then(|h| h.last_beat())
    }

    /// Kills `fraction` (0..=1) of the live hosts, spread over them (every
    /// k-th), and returns their ids.
    pub async fn kill_fraction(&mut self, fraction: f64) -> anyhow::Result<Vec<HostId>> {
        let live = self.ids();
        let count = ((live.len() as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
        let victims: Vec<HostId> = match count {
            0 => Vec::new(),
            _ => {
                let step = live.len() / count;
                live.into_iter().step_by(step.max(1)).take(count).collect()
            }
        };
        self.kill(&victims).await?;
        Ok(victims)
    }

    /// What each live host runs, by host id.
    pub fn placements(&self) -> BTreeMap<HostId, Placement> {
        self.registry
            .live()
            .iter()
            .map(|h| (h.id().clone(), h.placement()))
            .collect()
    }

    /// The full inventory of a live host, as it would answer it.
    pub fn inventory(&self, id: &HostId) -> Option<HostInventory> {
        self.registry
            .live()
            .into_iter()
            .find(|h| h.id() == id)
            .map(|h| h.inventory())
    }
}

/// Waits until the server has processed everything each connection sent
/// so far (a killed host's unsubscribe above all). async-nats's `flush`
/// only writes the socket, so a request sent right after it from another
/// connection could still reach the dead host's subscription and time out
/// instead of getting "no responders": a message to itself that comes
/// back is the round trip that proves it.
async fn flush_all(connections: &[Lattice]) -> anyhow::Result<()> {
    for c in connections {
        let nats = c.nats();
        let echo = nats.new_inbox();
        let mut back = subscribe(c, echo.clone()).await?;
        tokio::time::timeout(NETWORK_TIMEOUT, async {
            nats.publish(echo, Default::default()).await?;
            nats.flush().await?;
            back.next().await.context("the echo subscription ended")
        })
        .await
        .context("a round trip through a sim connection timed out")??;
    }
    Ok(())
}

/// One `host.ping` subscription for the process; every live host answers
/// each ping, as each would from its own subscription.
async fn serve_pings(
    lattice: Lattice,
    registry: Arc<Registry>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let subject = Subject::control(lattice.name(), ControlVerb::HostPing).to_string();
    let mut sub = tokio::time::timeout(NETWORK_TIMEOUT, lattice.nats().subscribe(subject))
        .await
        .context("subscribing to host.ping timed out")??;
    Ok(tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(reply_to) = msg.reply else { continue };
            for host in registry.live() {
                host.answer(reply_to.clone(), Ok(host.ping())).await;
            }
        }
    }))
}

/// What a handler returns: reply data, or what sort of failure and why
/// (the kinds a real host gives).
type Outcome = Result<serde_json::Value, Failure>;

/// Serialises reply data.
fn data<T: serde::Serialize>(value: T) -> Outcome {
    serde_json::to_value(value).map_err(|e| Failure::internal(format!("cannot encode reply: {e}")))
}

/// The reply envelope, as the host sends it.
fn encode_reply(outcome: Outcome, max_payload: usize) -> Vec<u8> {
    Reply::encode(outcome, max_payload).payload
}

/// The most bytes of workloads one page may carry on `lattice`'s
/// connection (what the host computes).
fn page_limit(lattice: &Lattice) -> usize {
    trellis_protocol::limits::inventory_page_limit(lattice.nats().server_info().max_payload)
}

/// Subscribes to `pattern` (a host's own subjects) within the timeout.
async fn subscribe(lattice: &Lattice, pattern: String) -> anyhow::Result<async_nats::Subscriber> {
    tokio::time::timeout(NETWORK_TIMEOUT, lattice.nats().subscribe(pattern.clone()))
        .await
        .with_context(|| format!("subscribing to {pattern} timed out"))?
        .with_context(|| format!("subscribing to {pattern}"))
}

/// The host-specific subjects of `host`.
fn host_pattern(lattice: &Lattice, host: &HostId) -> String {
    pattern::host_control(lattice.name(), host)
}
