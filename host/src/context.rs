//! What every part of a running host shares: who it is, its state
//! holders and settings ([`HostContext`]), and how it speaks on the
//! lattice ([`publish`]). The bottom layer of the host's own modules:
//! control handlers, the data plane, link watching and the edge record
//! use it; it uses none of them.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use tokio::sync::watch;
use trellis_lattice::Lattice;
use trellis_protocol::inventory::{HostInventory, Labels, ProviderDescription};
use trellis_protocol::link::LinkStatus;
use trellis_protocol::{ControlVerb, EventType, HostId};
use trellis_provider_sdk::links::LinkState;
use trellis_provider_sdk::outcomes::LinkOutcomes;

use crate::calls::CallRouter;
use crate::capabilities::outbound::OutboundRouter;
use crate::capabilities::route::ProviderRouter;
use crate::components::Components;
use crate::config::HostConfig;
use crate::counters::{HostCounters, RoutedCalls};
use crate::ports::{ArtifactSource, DataPlane, Directory, EventSink};
use crate::providers::Providers;
use crate::runtime::Runtime;
use crate::store::HostStore;

/// Trellis version reported by hosts.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Told of each workload verb that succeeded, with its request body. A
/// port: the edge record ([`crate::resume::Keeper`]) listens, and the
/// control handlers that call it need not know it.
pub trait VerbJournal: Send + Sync {
    /// Notes that `verb` with `body` succeeded.
    fn observe(&self, verb: &ControlVerb, body: &[u8]);
}

/// Who the host is.
pub struct HostInfo {
    /// Host id.
    pub id: HostId,
    /// Human name.
    pub name: String,
    /// Labels, including `os` and `arch`.
    pub labels: RwLock<Labels>,
    /// When it started.
    pub started: Instant,
}

/// Shared state of a running host; control handlers get it.
pub struct HostContext {
    /// Identity and labels.
    pub info: HostInfo,
    /// Lattice connection.
    pub lattice: Lattice,
    /// Lattice buckets (not open yet while a host that started offline
    /// cannot reach them).
    pub store: Arc<HostStore>,
    /// Where uploaded artifacts are fetched from (the store, in a host).
    pub artifacts: Arc<dyn ArtifactSource>,
    /// Where a started component's invocations from other hosts come in.
    pub data_plane: Arc<dyn DataPlane>,
    /// Where this host's events go.
    pub events: Arc<dyn EventSink>,
    /// The lattice's other hosts, as control verbs ask after them.
    pub directory: Arc<dyn Directory>,
    /// Wasm runtime.
    pub runtime: Arc<Runtime>,
    /// Scaled components.
    pub components: Arc<Components>,
    /// Running providers.
    pub providers: Arc<Providers>,
    /// Links and configs.
    pub links: Arc<LinkState>,
    /// What local providers answered to link changes.
    pub link_outcomes: Arc<LinkOutcomes>,
    /// Routes components' key-value and messaging calls to providers.
    pub provider_calls: Arc<ProviderRouter>,
    /// Routes components' calls of imported interfaces to components.
    pub calls: Arc<CallRouter>,
    /// Routes components' outgoing HTTP to their http-client links.
    pub outbound: Arc<OutboundRouter>,
    /// Settings.
    pub config: HostConfig,
    /// Serializes scale/update/start/stop per id, so two requests for one
    /// id cannot interleave and no id waits on another's fetch or compile.
    pub workload_locks: crate::locks::WorkloadLocks,
    /// Told of every workload verb that succeeded: the on-disk record a
    /// host resumes from offline, if enabled.
    pub journal: Option<Arc<dyn VerbJournal>>,
    /// Host-wide counters (compiles, artifact fetches) for the metrics.
    pub counters: HostCounters,
    /// Components' calls through their imports, as the routers count them.
    pub routed: Arc<RoutedCalls>,
    /// Where [`HostContext::request_stop`] sends; the orchestrator waits on it.
    pub(crate) stop: watch::Sender<Option<String>>,
}

/// What a host is made of beyond the state it keeps itself: who it is,
/// its connection and ports, its runtime and settings.
pub struct Parts {
    /// Identity and labels.
    pub info: HostInfo,
    /// Lattice connection (the routers call other hosts through it).
    pub lattice: Lattice,
    /// Lattice buckets.
    pub store: Arc<HostStore>,
    /// Where uploaded artifacts are fetched from.
    pub artifacts: Arc<dyn ArtifactSource>,
    /// Where this host's events go.
    pub events: Arc<dyn EventSink>,
    /// The lattice's other hosts.
    pub directory: Arc<dyn Directory>,
    /// Wasm runtime.
    pub runtime: Arc<Runtime>,
    /// Settings.
    pub config: HostConfig,
    /// The edge record, if enabled.
    pub journal: Option<Arc<dyn VerbJournal>>,
}

impl HostContext {
    /// Builds the context from `parts`, with empty state holders and the
    /// routers between them; `data_plane` is made for the components the
    /// context holds. The receiver sees [`HostContext::request_stop`].
    pub fn assemble(
        parts: Parts,
        data_plane: impl FnOnce(&Arc<Components>) -> Arc<dyn DataPlane>,
    ) -> (Arc<Self>, watch::Receiver<Option<String>>) {
        let Parts {
            info,
            lattice,
            store,
            artifacts,
            events,
            directory,
            runtime,
            config,
            journal,
        } = parts;
        let (stop, stopped) = watch::channel(None);
        let links = Arc::new(LinkState::default());
        let providers = Arc::new(Providers::default());
        let routed = Arc::new(RoutedCalls::default());
        let provider_calls = Arc::new(ProviderRouter::new(
            links.clone(),
            providers.clone(),
            lattice.clone(),
            routed.clone(),
        ));
        let components = Arc::new(Components::default());
        // Weak: running components hold the router through their capabilities.
        let local: std::sync::Weak<dyn crate::calls::LocalTargets> =
            Arc::downgrade(&components) as _;
        let calls = Arc::new(CallRouter::new(
            links.clone(),
            local,
            lattice.clone(),
            routed.clone(),
        ));
        let outbound = Arc::new(OutboundRouter::new(
            links.clone(),
            providers.clone(),
            config.allow_outbound,
        ));
        let ctx = Arc::new(Self {
            info,
            lattice,
            store,
            artifacts,
            data_plane: data_plane(&components),
            events,
            directory,
            runtime,
            components,
            providers,
            links,
            link_outcomes: Arc::new(LinkOutcomes::default()),
            provider_calls,
            calls,
            outbound,
            config,
            workload_locks: crate::locks::WorkloadLocks::default(),
            journal,
            counters: HostCounters::default(),
            routed,
            stop,
        });
        (ctx, stopped)
    }

    /// The full inventory (same shape as heartbeats).
    pub fn inventory(&self) -> HostInventory {
        HostInventory {
            id: self.info.id.clone(),
            name: self.info.name.clone(),
            lattice: self.lattice.name().clone(),
            labels: self.labels(),
            version: VERSION.into(),
            uptime_seconds: self.info.started.elapsed().as_secs(),
            heartbeat_ms: u64::try_from(self.config.heartbeat.as_millis()).unwrap_or(u64::MAX),
            site: self.config.site.clone(),
            links_revision: self.links.links_revision(),
            config_revision: self.links.config_revision(),
            components: self.components.descriptions(),
            providers: self
                .providers
                .all()
                .into_iter()
                .map(|p| ProviderDescription {
                    failure: p.provider.failure(),
                    ..p.description
                })
                .collect(),
            next: None,
            link_status: link_statuses(self),
        }
    }

    /// Current labels.
    pub fn labels(&self) -> Labels {
        self.info
            .labels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Asks the host to stop (used by `host.stop`).
    pub fn request_stop(&self, reason: &str) {
        let _ = self.stop.send(Some(reason.to_owned()));
    }
}

/// Most link outcomes one external provider's report may add.
const MAX_REPORTED_LINKS: usize = 1024;

/// The link outcomes of the providers running here: the host's own record
/// for builtins, the last health reply for external processes.
fn link_statuses(ctx: &HostContext) -> Vec<LinkStatus> {
    let running = ctx.providers.all();
    let mut all: Vec<LinkStatus> = ctx
        .link_outcomes
        .statuses()
        .into_iter()
        .filter(|s| {
            running
                .iter()
                .any(|p| !p.external && p.description.id == s.provider_id)
        })
        .collect();
    // A provider process reports on itself: keep only what it says about
    // its own links, with its reasons cut to size, so a broken process can
    // neither speak for another provider nor grow the heartbeat.
    for p in running.iter().filter(|p| p.external) {
        let own = p.provider.own_link_status().unwrap_or_default();
        all.extend(
            own.into_iter()
                .filter(|s| s.provider_id == p.description.id)
                .take(MAX_REPORTED_LINKS)
                .map(|mut s| {
                    s.error = s.error.as_deref().map(LinkStatus::bounded_error);
                    s
                }),
        );
    }
    all.sort_by(|a, b| (&a.provider_id, &a.link).cmp(&(&b.provider_id, &b.link)));
    all
}

/// Publishes an event from this host through its [`EventSink`];
/// failures are logged, not fatal.
pub(crate) async fn publish<T: serde::Serialize>(ctx: &HostContext, event: EventType, data: T) {
    crate::ports::publish(ctx.events.as_ref(), event, data).await;
}
