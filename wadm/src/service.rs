//! The wadm service: the API for everyone, the lease, and (while leading)
//! the reconcile loop. It owns three parts and wires them together:
//! [`HostTracker`] (what the lattice runs), [`Lease`] (whether we act),
//! and [`Reconciler`] (plan, execute, report).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use trellis_lattice::{ControlError, Lattice, LatticeConfig, LatticeError};
use trellis_metrics::prometheus_client::collector::Collector;
use trellis_protocol::event::CloudEvent;
use trellis_protocol::event::data::HostStarted;
use trellis_protocol::inventory::HostInventory;
use trellis_protocol::subject::pattern;
use trellis_protocol::wadm::{AppStatus, StatusState};
use trellis_protocol::{AppName, ConfigName, EventType, HostId};

use crate::executor::{Backoff, ExecutorConfig, execute_run, read_hosts, runs};
use crate::lease::{Lease, LeaseView};
use crate::metrics::WadmMetrics;
use crate::model::{Command, DeployedApp, Observed};
use crate::observer::HostTracker;
use crate::scaler::desired::inline_configs;
use crate::scaler::{Failures, Plan, plan};
use crate::stager::{self, Stager};
use crate::store::{AppRecord, AppStore, ManifestCache};

/// Settings of a wadm instance.
#[derive(Debug, Clone)]
pub struct WadmConfig {
    /// Where the lattice is.
    pub lattice: LatticeConfig,
    /// How long a leader's claim lasts; a follower takes over within about
    /// this long after the leader dies.
    pub lease_ttl: Duration,
    /// How often everything is re-listed from the hosts, so that a missed
    /// event heals itself.
    pub resync_interval: Duration,
    /// How often lost hosts are looked for.
    pub check_interval: Duration,
    /// Heartbeat interval of hosts that do not say theirs.
    pub default_heartbeat: Duration,
    /// How long to gather `host.ping` replies when listing hosts.
    pub discovery_window: Duration,
    /// Bound on reading one host's inventory.
    pub inventory_timeout: Duration,
    /// Pause between two commands: paces rollouts so a fleet (or a slow
    /// edge link) is not hit all at once. Zero by default.
    pub command_interval: Duration,
    /// How long a quiet host at an edge site counts as unreachable (its
    /// share stays, it gets no commands) before it is taken for gone.
    pub partition_grace: Duration,
    /// Bounds on commands.
    pub executor: ExecutorConfig,
}

impl Default for WadmConfig {
    fn default() -> Self {
        Self {
            lattice: LatticeConfig::default(),
            lease_ttl: Duration::from_secs(3),
            resync_interval: Duration::from_secs(30),
            check_interval: Duration::from_secs(1),
            default_heartbeat: Duration::from_secs(5),
            discovery_window: Duration::from_millis(1000),
            inventory_timeout: Duration::from_secs(3),
            command_interval: Duration::ZERO,
            partition_grace: Duration::from_secs(600),
            executor: ExecutorConfig::default(),
        }
    }
}

/// Why wadm could not start.
#[derive(Debug, thiserror::Error)]
pub enum WadmError {
    /// The lattice could not be reached or its bucket opened.
    #[error("wadm cannot use the lattice: {0}")]
    Lattice(#[from] LatticeError),
}

/// The longest [`WadmHandle::stop`] waits for the leader loop to finish.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// A running wadm instance.
pub struct WadmHandle {
    id: String,
    stop: watch::Sender<bool>,
    leader: JoinHandle<()>,
    /// The loop and the lease holder `leader` waits for, aborted when the
    /// stop runs out of time.
    stuck: Vec<tokio::task::AbortHandle>,
    tasks: Vec<JoinHandle<()>>,
    metrics: Arc<WadmMetrics>,
}

impl WadmHandle {
    /// This instance's id (in logs and the lease).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// This instance's Prometheus metrics ([`WadmMetrics`]), boxed as
    /// `Registry::register_collector` takes them:
    /// `registry.register_collector(wadm.metrics())`. The collector reads
    /// the live counters at each scrape and outlives the handle; register
    /// it once per registry (twice would write every series twice).
    pub fn metrics(&self) -> Box<dyn Collector> {
        Box::new(self.metrics.clone())
    }

    /// Runs until `signal` resolves, then stops (handing the lease over).
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        self.stop().await;
    }

    /// Stops: the leader loop finishes its command and releases the lease.
    /// Bounded by [`STOP_DEADLINE`]: past it (a command stuck on a
    /// nats-server that is gone) the loop is dropped and the lease runs
    /// out on its own.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let mut leader = self.leader;
        if tokio::time::timeout(STOP_DEADLINE, &mut leader)
            .await
            .is_err()
        {
            tracing::warn!(wadm = %self.id, "wadm did not stop within {STOP_DEADLINE:?}; stopping anyway");
            leader.abort();
            for task in self.stuck {
                task.abort();
            }
        }
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Connects and starts the API, the event observer and the leader loop.
pub async fn start(config: WadmConfig) -> Result<WadmHandle, WadmError> {
    let lattice = Lattice::connect(&config.lattice).await?;
    let store = AppStore::new(lattice.wadm_store().await?);
    let id = format!("wadm-{}", uuid::Uuid::new_v4().simple());
    let wake = Arc::new(Notify::new());
    let tracker = Arc::new(Mutex::new(HostTracker::new(
        config.default_heartbeat,
        config.partition_grace,
    )));

    let api = lattice.serve_wadm_api().await?;
    let events = lattice
        .nats()
        .subscribe(pattern::all_events(lattice.name()))
        .await
        .map_err(|e| LatticeError::nats("subscribe", e))?;
    let app_changes = store.bucket().watch("app.>").await?;
    lattice.flush().await?;

    let mut tasks = vec![tokio::spawn(crate::api::serve(
        lattice.clone(),
        store.clone(),
        api,
    ))];
    tasks.push(tokio::spawn(observe(events, tracker.clone(), wake.clone())));
    let app_wake = wake.clone();
    tasks.push(tokio::spawn(async move {
        let mut changes = std::pin::pin!(app_changes);
        while changes.next().await.is_some() {
            app_wake.notify_one();
        }
    }));

    let (stop, stopped) = watch::channel(false);
    let (claim, claim_view) = watch::channel(None);
    let lease = Lease::new(store.bucket().clone(), id.clone(), config.lease_ttl);
    let (release, released) = watch::channel(false);
    let lease_task = tokio::spawn(lease.hold(claim, released));
    let lease = LeaseView::new(claim_view, config.lease_ttl);
    let metrics = Arc::new(WadmMetrics::default());
    let stager = Stager {
        lattice: lattice.clone(),
        store: store.clone(),
        tracker: tracker.clone(),
        inventory_timeout: config.inventory_timeout,
    };
    let reconciler = Reconciler {
        lattice,
        store,
        tracker,
        stager,
        rolling: false,
        config,
        failures: Failures::new(),
        backoff: Backoff::default(),
        published: BTreeMap::new(),
        id: id.clone(),
        settled: false,
        manifests: ManifestCache::default(),
        buckets: tokio::sync::OnceCell::new(),
        types: Default::default(),
        metrics: metrics.clone(),
        hosts_settle_until: None,
    };
    let leader = tokio::spawn(lead(reconciler, lease, wake, stopped));
    let stuck = vec![leader.abort_handle(), lease_task.abort_handle()];
    let leader = tokio::spawn(async move {
        // The lease goes only after the loop finished its command.
        let _ = leader.await;
        let _ = release.send(true);
        let _ = lease_task.await;
    });
    tracing::info!(wadm = %id, "wadm started");
    Ok(WadmHandle {
        id,
        stop,
        leader,
        stuck,
        tasks,
        metrics,
    })
}

fn lock(tracker: &Mutex<HostTracker>) -> std::sync::MutexGuard<'_, HostTracker> {
    tracker.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps the host tracker current from lattice events.
async fn observe(
    mut events: async_nats::Subscriber,
    tracker: Arc<Mutex<HostTracker>>,
    wake: Arc<Notify>,
) {
    while let Some(msg) = events.next().await {
        let Ok(event) = serde_json::from_slice::<CloudEvent>(&msg.payload) else {
            continue;
        };
        let now = Instant::now();
        let host = || {
            event
                .data
                .get("host_id")
                .and_then(|h| h.as_str())
                .and_then(|h| HostId::new(h).ok())
        };
        let changed = match event.kind() {
            Some(EventType::HostHeartbeat) => {
                match serde_json::from_value::<HostInventory>(event.data.clone()) {
                    Ok(inv) => lock(&tracker).heartbeat(&inv, now),
                    Err(_) => false,
                }
            }
            Some(EventType::HostStarted) => {
                match serde_json::from_value::<HostStarted>(event.data.clone()) {
                    Ok(s) => {
                        lock(&tracker).started(&s.host_id, s.labels, now);
                        true
                    }
                    Err(_) => false,
                }
            }
            Some(EventType::HostStopped) => match host() {
                Some(h) => {
                    lock(&tracker).stopped(&h);
                    true
                }
                None => false,
            },
            Some(EventType::AppStatus) | None => false,
            Some(EventType::LinkPut | EventType::LinkDeleted)
            | Some(EventType::ConfigSet | EventType::ConfigDeleted) => true,
            Some(_) => {
                if let Some(h) = host() {
                    lock(&tracker).touched(&h);
                }
                true
            }
        };
        if changed {
            wake.notify_one();
        }
    }
}

/// The leader loop: while the lease (held by its own task) is ours,
/// reconcile on every wake-up, on lost hosts, and on the resync timer.
async fn lead(
    mut r: Reconciler,
    mut lease: LeaseView,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut check_tick = tokio::time::interval(r.config.check_interval);
    check_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut leading = false;
    let mut next_resync = Instant::now();
    loop {
        let mut woken = false;
        tokio::select! {
            _ = stopped.changed() => break,
            _ = lease.changed() => {}
            _ = check_tick.tick() => {}
            _ = wake.notified() => woken = true,
        }
        if *stopped.borrow() {
            break;
        }
        let now_leading = lease.is_held();
        if now_leading && !leading {
            tracing::info!(wadm = %r.id, "wadm leads this lattice");
            next_resync = Instant::now();
            r.hosts_settle_until =
                Some(Instant::now() + r.config.default_heartbeat + r.config.discovery_window);
        } else if !now_leading && leading {
            tracing::warn!(wadm = %r.id, "wadm lost the lease; following");
        }
        if now_leading != leading {
            r.metrics.leader(now_leading);
        }
        leading = now_leading;
        if !leading {
            continue;
        }
        let retry_due = r.backoff.next_due().is_some_and(|at| Instant::now() >= at);
        let mut due = woken || r.rolling || retry_due;
        if Instant::now() >= next_resync {
            r.relist().await;
            next_resync = Instant::now() + r.config.resync_interval;
            due = true;
        }
        if r.check_hosts().await {
            due = true;
        }
        // The view is complete now: what waited on it is judged again.
        if r.hosts_settle_until
            .is_some_and(|until| Instant::now() >= until)
        {
            r.hosts_settle_until = None;
            due = true;
        }
        if due {
            let started = Instant::now();
            r.pass(&lease).await;
            r.metrics.pass(started.elapsed());
        }
    }
    r.metrics.leader(false);
    tracing::info!(wadm = %r.id, "wadm stopped");
}

/// Plans, executes and reports.
struct Reconciler {
    lattice: Lattice,
    store: AppStore,
    tracker: Arc<Mutex<HostTracker>>,
    stager: Stager,
    /// Whether a rollout rolls or bakes: then every tick plans.
    rolling: bool,
    config: WadmConfig,
    failures: Failures,
    /// When commands that failed may be sent again.
    backoff: Backoff,
    published: BTreeMap<AppName, AppStatus>,
    id: String,
    /// Whether the last pass found nothing to do (logged once per change).
    settled: bool,
    /// Deployed manifests, parsed once.
    manifests: ManifestCache,
    /// The lattice's link and config buckets.
    buckets: tokio::sync::OnceCell<trellis_lattice::store::LatticeStore>,
    /// Function types of linked components, by digest.
    types: crate::types::TypesCache,
    /// What the loop counts for Prometheus.
    metrics: Arc<WadmMetrics>,
    /// Until when, after taking the lead, this wadm may not have heard
    /// from every host yet (a ping reply can be missed; a heartbeat comes
    /// within its period): a placement no known host meets is waited on
    /// until then, not failed. `None` once a pass ran after it.
    hosts_settle_until: Option<Instant>,
}

/// Where a round's time went, for the debug log: the first thing to
/// look at when a big lattice converges slowly.
struct RoundTimes {
    last: Instant,
    laps: Vec<(&'static str, u128)>,
}

impl RoundTimes {
    fn start() -> Self {
        Self {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, what: &'static str) {
        let now = Instant::now();
        self.laps
            .push((what, now.duration_since(self.last).as_millis()));
        self.last = now;
    }
}

impl std::fmt::Display for RoundTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (what, ms)) in self.laps.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{what}={ms}")?;
        }
        Ok(())
    }
}

/// Plan-execute rounds per pass; each round starts from re-read hosts, so
/// a pass normally ends in its second round with nothing left to do.
const MAX_ROUNDS: usize = 5;

impl Reconciler {
    /// Lists every host and reads its inventory.
    async fn relist(&mut self) {
        match self.lattice.ping_hosts(self.config.discovery_window).await {
            Ok(hosts) => {
                self.read_hosts(hosts.into_iter().map(|p| p.id).collect())
                    .await;
            }
            Err(e) => tracing::warn!(%e, "wadm could not list hosts"),
        }
    }

    /// Forgets hosts silent too long and asks late ones directly (one that
    /// is gone is forgotten now, not after three missed heartbeats).
    /// Returns whether a host was lost or cut off. Runs between passes and
    /// before every round: a pass at size lasts seconds, and a loss
    /// noticed only after it would wait that long to be acted on.
    async fn check_hosts(&self) -> bool {
        let pruned = lock(&self.tracker).prune(Instant::now());
        for host in &pruned.unreachable {
            tracing::warn!(%host, grace_s = self.config.partition_grace.as_secs(), "edge host unreachable; its share stays put for the partition grace");
        }
        for host in &pruned.gone {
            tracing::warn!(%host, "host missed its heartbeats; taken for gone");
        }
        let overdue = lock(&self.tracker).overdue(Instant::now());
        let lost = !overdue.is_empty() && self.read_hosts(overdue).await > 0;
        lost || !pruned.is_empty()
    }

    /// Reads `hosts`' inventories; returns how many turned out gone.
    async fn read_hosts(&self, hosts: Vec<HostId>) -> usize {
        let timeout = self.config.inventory_timeout;
        let limit = self.config.executor.max_in_flight;
        read_hosts(&self.lattice, &self.tracker, hosts, timeout, limit).await
    }

    async fn pass(&mut self, lease: &LeaseView) {
        for _ in 0..MAX_ROUNDS {
            let mut times = RoundTimes::start();
            self.check_hosts().await;
            let dirty = lock(&self.tracker).dirty();
            let reread = dirty.len();
            self.read_hosts(dirty).await;
            times.lap("hosts");
            let records = match self.store.list().await {
                Ok(records) => records,
                Err(e) => {
                    tracing::warn!(%e, "wadm could not read apps; not acting");
                    return;
                }
            };
            let mut apps: Vec<DeployedApp> = Vec::new();
            let mut unreadable = BTreeMap::new();
            for record in &records {
                match self.manifests.deployed_app(record) {
                    Some(Ok(app)) => apps.push(app),
                    Some(Err(e)) => {
                        tracing::error!(app = %record.name, "{e}; leaving what it runs alone");
                        unreadable.insert(record.name.clone(), e);
                    }
                    None => {}
                }
            }
            self.manifests.sweep();
            times.lap("records");
            let Some(observed) = self.observe(&apps, &unreadable).await else {
                return;
            };
            times.lap("observe");
            let Some((plan, apps)) = plan_apart(apps, observed, &self.failures).await else {
                return;
            };
            times.lap("plan");
            self.rolling = stager::any_in_motion(&records);
            if self
                .stager
                .advance(&records, &plan, &mut self.manifests)
                .await
            {
                // A stage moved: plan again from the stored state.
                continue;
            }
            let statuses = all_statuses(&records, &plan, &unreadable, &mut self.manifests);
            self.publish(&records, statuses).await;
            times.lap("statuses");
            tracing::debug!(
                apps = apps.len(),
                reread,
                steps = plan.steps.len(),
                ms = %times,
                "wadm round planned"
            );
            let planned: BTreeSet<String> =
                plan.steps.iter().map(|s| s.command.to_string()).collect();
            self.backoff.retain(&planned);
            if plan.steps.is_empty() {
                self.failures.clear();
                if !self.settled {
                    tracing::info!(
                        apps = apps.len(),
                        "wadm pass done, lattice matches the apps"
                    );
                    self.settled = true;
                }
                return;
            }
            self.settled = false;
            let mut failures = Failures::new();
            let mut progressed = false;
            let mut runnable = Vec::new();
            for step in &plan.steps {
                let text = step.command.to_string();
                if let Some(error) = self.backoff.held(&text, Instant::now()) {
                    // Failed a moment ago: its error stands until its retry.
                    if let Some(owner) = &step.owner {
                        failures
                            .entry(owner.clone())
                            .or_insert_with(|| error.to_owned());
                    }
                    continue;
                }
                runnable.push(step);
            }
            for (i, run) in runs(&runnable).into_iter().enumerate() {
                let interval = self.config.command_interval;
                if i > 0 && !interval.is_zero() {
                    tokio::time::sleep(interval).await;
                }
                if !lease.is_held() {
                    tracing::warn!(
                        "wadm lease ran out mid-pass; leaving the rest to the next leader"
                    );
                    return;
                }
                let outcomes = execute_run(
                    &self.lattice,
                    run,
                    &self.config.executor,
                    interval,
                    lease,
                    &self.metrics,
                )
                .await;
                let mut lease_lost = false;
                for (step, outcome) in outcomes {
                    let text = step.command.to_string();
                    let Some(outcome) = outcome else {
                        lease_lost = true;
                        continue;
                    };
                    match outcome {
                        Ok(()) => {
                            progressed = true;
                            self.backoff.succeeded(&text);
                        }
                        Err(e) => {
                            tracing::warn!(command = %step.command, %e, "wadm command failed");
                            if let (ControlError::NoResponders { .. }, Some(host)) =
                                (&e, step.command.host())
                                && lock(&self.tracker).unanswered(host)
                            {
                                // Plan again at once without it: its work
                                // goes elsewhere now, not after heartbeats.
                                tracing::warn!(%host, "host does not answer (no responders); taken for gone");
                                progressed = true;
                            }
                            let error = format!("{text}: {e}");
                            if let Some(owner) = &step.owner {
                                failures
                                    .entry(owner.clone())
                                    .or_insert_with(|| error.clone());
                            }
                            self.backoff.failed(text, error, Instant::now());
                        }
                    }
                    self.touch_hosts_of(&step.command);
                }
                if lease_lost {
                    tracing::warn!(
                        "wadm lease ran out mid-pass; leaving the rest to the next leader"
                    );
                    return;
                }
            }
            let all_failed = !progressed;
            self.failures = failures;
            if all_failed {
                // Report the failures; the held commands go again when
                // their back-off ends (or on the next event or resync).
                if let Some(observed) = self.observe(&apps, &unreadable).await {
                    let Some((plan, _)) = plan_apart(apps, observed, &self.failures).await else {
                        return;
                    };
                    let statuses = all_statuses(&records, &plan, &unreadable, &mut self.manifests);
                    self.publish(&records, statuses).await;
                }
                return;
            }
        }
    }

    /// Marks the hosts a command changed for re-reading: its host, or for
    /// a link, every host running a provider the link names (they report
    /// whether the provider applied it).
    fn touch_hosts_of(&self, command: &Command) {
        let mut tracker = lock(&self.tracker);
        let ends = match command {
            Command::PutLink(link) => vec![link.source_id.clone(), link.target_id.clone()],
            Command::DelLink(key) => vec![key.source_id.clone()],
            _ => Vec::new(),
        };
        if let Some(host) = command.host() {
            tracker.touched(host);
        }
        if !ends.is_empty() {
            tracker.touch_providers(&ends);
        }
    }

    /// The planner's input: live hosts, links, the configs apps define,
    /// and the apps whose records could not be read (with why).
    async fn observe(
        &mut self,
        apps: &[DeployedApp],
        unreadable: &BTreeMap<AppName, String>,
    ) -> Option<Observed> {
        // Opened once: opening asks JetStream about three buckets, a cost
        // every round paid before.
        let store = match self.buckets.get_or_try_init(|| self.lattice.store()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%e, "wadm could not open the lattice store");
                return None;
            }
        };
        let links = match store.list_links_revised().await {
            Ok(links) => links,
            Err(e) => {
                tracing::warn!(%e, "wadm could not list links");
                return None;
            }
        };
        let mut observed = Observed {
            hosts: lock(&self.tracker).views(),
            link_revisions: links.iter().map(|l| (l.change.key(), l.revision)).collect(),
            links: links.into_iter().map(|l| l.change).collect(),
            configs: BTreeMap::new(),
            unreadable: unreadable.keys().cloned().collect(),
            types: BTreeMap::new(),
            hosts_settling: self.hosts_settle_until.is_some(),
        };
        let timeout = self.config.inventory_timeout;
        self.types.fill(&self.lattice, &mut observed, timeout).await;
        // The apps' configs out of one streamed read of the bucket: a
        // read per config cost a round trip each, 10,000 per round.
        let wanted: BTreeSet<ConfigName> = inline_configs(apps).into_iter().collect();
        if !wanted.is_empty() {
            match store.list_configs().await {
                Ok(all) => {
                    observed.configs = all
                        .into_iter()
                        .filter(|(name, _)| wanted.contains(name))
                        .collect();
                }
                Err(e) => {
                    tracing::warn!(%e, "wadm could not read configs");
                    return None;
                }
            }
        }
        Some(observed)
    }

    /// Stores and announces statuses that changed; apps not deployed are
    /// `undeployed`.
    async fn publish(&mut self, records: &[AppRecord], statuses: Vec<AppStatus>) {
        let mut all: BTreeMap<AppName, AppStatus> =
            statuses.into_iter().map(|s| (s.name.clone(), s)).collect();
        for r in records {
            all.entry(r.name.clone())
                .or_insert_with(|| AppStatus::undeployed(r.name.clone()));
        }
        self.published.retain(|name, _| all.contains_key(name));
        let changed: Vec<AppStatus> = all
            .into_values()
            .filter(|status| self.published.get(&status.name) != Some(status))
            .collect();
        // Stored and announced 32 at a time: after a host loss a thousand
        // statuses change in one pass, one round trip each.
        let (store, lattice, id) = (&self.store, &self.lattice, self.id.as_str());
        let limit = self.config.executor.max_in_flight.max(1);
        let stored: Vec<AppStatus> = futures::stream::iter(changed)
            .map(|status| async move {
                if let Err(e) = store.put_status(&status).await {
                    tracing::warn!(%e, "wadm could not store the status of {}", status.name);
                    return None;
                }
                tracing::info!(app = %status.name, state = %status.state, message = ?status.message, "app status");
                if let Err(e) = lattice
                    .publish_event(EventType::AppStatus, id, &status)
                    .await
                {
                    tracing::warn!(%e, "wadm could not publish app_status");
                }
                Some(status)
            })
            .buffer_unordered(limit)
            .filter_map(std::future::ready)
            .collect()
            .await;
        for status in stored {
            self.published.insert(status.name.clone(), status);
        }
        self.metrics
            .apps(self.published.values().map(|status| status.state));
        self.metrics.rollouts(
            self.published
                .values()
                .filter_map(|status| Some(status.rollout.as_ref()?.phase)),
        );
    }
}

/// Every app's status: the plan's (with rollouts), then the unreadable
/// apps' failures.
fn all_statuses(
    records: &[AppRecord],
    plan: &crate::scaler::Plan,
    unreadable: &BTreeMap<AppName, String>,
    manifests: &mut ManifestCache,
) -> Vec<AppStatus> {
    let mut statuses = stager::statuses(records, plan, plan.statuses.clone(), manifests);
    statuses.extend(
        unreadable
            .iter()
            .map(|(name, e)| unreadable_status(name, e)),
    );
    statuses
}

/// The status of a deployed app whose stored record cannot be read.
fn unreadable_status(name: &AppName, error: &str) -> AppStatus {
    AppStatus {
        state: StatusState::Failed,
        message: Some(format!(
            "{error}; wadm leaves what the app runs as it is: deploy a new version or delete the app"
        )),
        ..AppStatus::undeployed(name.clone())
    }
}

/// Plans on the blocking pool: a plan over thousands of apps takes long
/// enough to starve the async threads, where the lease renewal and the
/// event subscription (a slow consumer gets dropped by the server) run.
/// Hands the apps back; `None` if the planner panicked (logged).
async fn plan_apart(
    apps: Vec<DeployedApp>,
    observed: Observed,
    failures: &Failures,
) -> Option<(Plan, Vec<DeployedApp>)> {
    let failures = failures.clone();
    match tokio::task::spawn_blocking(move || {
        let plan = plan(&apps, &observed, &failures);
        (plan, apps)
    })
    .await
    {
        Ok(done) => Some(done),
        Err(e) => {
            tracing::error!(%e, "wadm planner failed; not acting this pass");
            None
        }
    }
}
