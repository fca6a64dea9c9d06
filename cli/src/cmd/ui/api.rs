//! The dashboard's JSON: hosts with what they run and how busy it is,
//! apps with their status and rollout, and links, read through the same
//! lattice calls `trellis get` and `trellis app` make. Every call has a
//! bound; a host or app whose call fails carries the error in its entry,
//! so one slow host does not blank the whole page.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use trellis_lattice::{ControlError, Lattice};
use trellis_protocol::control::PingReply;
use trellis_protocol::inventory::{HostInventory, InvocationStats, Labels};
use trellis_protocol::link::Link;
use trellis_protocol::subject::WadmOp;
use trellis_protocol::wadm::{AppRequest, AppStatus, AppSummary, ComponentStatus, RolloutStatus};
use trellis_protocol::{ComponentId, HostId};

use crate::cmd::DISCOVERY_WINDOW;

/// Bound on one lattice request (a host's inventory page, a wadm call).
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on reading one host's whole inventory (it may come in pages).
const INVENTORY_TIMEOUT: Duration = Duration::from_secs(10);
/// Hosts (or apps) asked at once: enough to hide the round trips, few
/// enough not to flood a big lattice every refresh.
const PARALLEL: usize = 8;
/// Apps whose full status is asked for; the rest show their summary
/// (name, versions, state), which the list already carries.
const MAX_APP_STATUSES: usize = 100;
/// Shortest time between two counter samples a rate is computed from:
/// several open pages refreshing at once must not shrink it to nothing.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// Reads the lattice for the dashboard; shared by every connection.
pub(super) struct Api {
    lattice: Lattice,
    rates: Mutex<Rates>,
}

/// One host as the dashboard shows it.
#[derive(Debug, Serialize)]
pub(super) struct HostView {
    /// Host id (public key).
    id: HostId,
    /// Human name.
    name: String,
    /// Labels (`os`, `arch`, the operator's).
    labels: Labels,
    /// Trellis version.
    version: String,
    /// Seconds since it started.
    uptime_seconds: u64,
    /// The edge site it runs at, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<String>,
    /// Sum of its components' instance bounds.
    instances: u64,
    /// Invocations per second over all its components, once two samples
    /// of its counters are known.
    rate: Option<f64>,
    /// What runs there.
    components: Vec<ComponentView>,
    /// Providers running there.
    providers: Vec<ProviderView>,
    /// Why its inventory could not be read (the ping's counts still show).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Components running, from its ping (kept when the inventory fails).
    component_count: usize,
    /// Providers running, from its ping.
    provider_count: usize,
}

/// One component on one host.
#[derive(Debug, Serialize)]
pub(super) struct ComponentView {
    /// Component id.
    id: ComponentId,
    /// Image reference.
    image: String,
    /// Instance bound.
    max: u32,
    /// Invocations since its version started on this host.
    invocations: u64,
    /// Of those, the failed ones.
    failures: u64,
    /// Invocations per second between the last two samples.
    rate: Option<f64>,
    /// Failures per second, likewise.
    failure_rate: Option<f64>,
}

/// One provider on one host.
#[derive(Debug, Serialize)]
pub(super) struct ProviderView {
    /// Provider id.
    id: ComponentId,
    /// Image reference (`builtin://...`, `file://...`).
    image: String,
    /// Why it does not serve, while it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<String>,
}

/// One app: wadm's summary plus, when asked, its status.
#[derive(Debug, Serialize)]
pub(super) struct AppView {
    /// Name, versions, state and message from `app list`.
    #[serde(flatten)]
    summary: AppSummary,
    /// The staged rollout of its last deploy, if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    rollout: Option<RolloutStatus>,
    /// Per component, from `app status`.
    components: Vec<ComponentStatus>,
    /// Why its status could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One link, without its secret references and annotations.
#[derive(Debug, Serialize)]
pub(super) struct LinkView {
    /// Caller.
    source_id: ComponentId,
    /// Callee.
    target_id: ComponentId,
    /// Link name.
    name: String,
    /// `namespace:package`.
    package: String,
    /// Interfaces of the package it covers.
    interfaces: Vec<String>,
}

impl Api {
    /// Reads `lattice`.
    pub(super) fn new(lattice: Lattice) -> Self {
        Self {
            lattice,
            rates: Mutex::new(Rates::default()),
        }
    }

    /// The lattice's name.
    pub(super) fn lattice_name(&self) -> String {
        self.lattice.name().to_string()
    }

    /// Every host that answers a ping, with its inventory.
    pub(super) async fn hosts(&self) -> anyhow::Result<Vec<HostView>> {
        let pings = bounded(
            "listing hosts",
            CALL_TIMEOUT,
            self.lattice.ping_hosts(DISCOVERY_WINDOW),
        )
        .await?;
        // Owned ids: a closure over borrowed items would make the future
        // too general for the compiler to see that it is `Send`.
        let ids: Vec<HostId> = pings.iter().map(|ping| ping.id.clone()).collect();
        let inventories: Vec<anyhow::Result<Option<HostInventory>>> = futures::stream::iter(ids)
            .map(|id| async move {
                bounded(
                    "reading the inventory",
                    INVENTORY_TIMEOUT,
                    self.lattice.host_inventory(&id, None, Some(CALL_TIMEOUT)),
                )
                .await
            })
            .buffered(PARALLEL)
            .collect()
            .await;
        let now = Instant::now();
        let mut rates = self.rates.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seen = HashSet::new();
        let hosts = pings
            .into_iter()
            .zip(inventories)
            .map(|(ping, inventory)| host_view(ping, inventory, &mut rates, &mut seen, now))
            .collect();
        rates.retain(&seen);
        Ok(hosts)
    }

    /// Every app wadm keeps, with the status of the first
    /// [`MAX_APP_STATUSES`].
    pub(super) async fn apps(&self) -> anyhow::Result<Vec<AppView>> {
        // Paged: one reply must fit in a NATS message, and 10,000 apps do not.
        let apps: Vec<AppSummary> = self
            .lattice
            .apps(None, CALL_TIMEOUT)
            .await
            .map_err(|e| self.wadm_failure(WadmOp::List, e))?;
        let requests: Vec<AppRequest> = apps
            .iter()
            .take(MAX_APP_STATUSES)
            .map(|app| AppRequest {
                name: app.name.clone(),
                version: None,
            })
            .collect();
        let statuses: Vec<anyhow::Result<AppStatus>> = futures::stream::iter(requests)
            .map(|request| async move { self.wadm(WadmOp::Status, &request).await })
            .buffered(PARALLEL)
            .collect()
            .await;
        let mut statuses = statuses.into_iter();
        Ok(apps
            .into_iter()
            .map(|summary| {
                let (status, error) = match statuses.next() {
                    Some(Ok(status)) => (Some(status), None),
                    Some(Err(e)) => (None, Some(format!("{e:#}"))),
                    None => (None, None),
                };
                let (rollout, components) = status
                    .map(|s| (s.rollout, s.components))
                    .unwrap_or_default();
                AppView {
                    summary,
                    rollout,
                    components,
                    error,
                }
            })
            .collect())
    }

    /// Every link of the lattice.
    pub(super) async fn links(&self) -> anyhow::Result<Vec<LinkView>> {
        let links = bounded("listing links", INVENTORY_TIMEOUT, self.lattice.links(None)).await?;
        Ok(links.into_iter().map(link_view).collect())
    }

    /// One wadm API request, bounded, naming a missing wadm plainly.
    async fn wadm<Req: Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        op: WadmOp,
        request: &Req,
    ) -> anyhow::Result<Resp> {
        let call = self.lattice.wadm_request(op, request, CALL_TIMEOUT);
        match tokio::time::timeout(CALL_TIMEOUT + Duration::from_secs(1), call).await {
            Err(_) => anyhow::bail!("wadm `{op}` timed out after {CALL_TIMEOUT:?}"),
            Ok(Err(e)) => Err(self.wadm_failure(op, e)),
            Ok(Ok(None)) => anyhow::bail!("wadm sent an empty reply to `{op}`"),
            Ok(Ok(Some(reply))) => Ok(reply),
        }
    }

    /// A failed wadm request, saying what to do when no wadm runs.
    fn wadm_failure(&self, op: WadmOp, e: ControlError) -> anyhow::Error {
        super::super::app_deploy::wadm_error(&self.lattice, e).context(format!("wadm `{op}`"))
    }
}

/// Runs `call` for at most `limit`; its error or the timeout says `what`
/// failed.
async fn bounded<T>(
    what: &str,
    limit: Duration,
    call: impl Future<Output = Result<T, ControlError>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(anyhow::Error::from(e).context(what.to_owned())),
        Err(_) => anyhow::bail!("{what} timed out after {limit:?}"),
    }
}

fn host_view(
    ping: PingReply,
    inventory: anyhow::Result<Option<HostInventory>>,
    rates: &mut Rates,
    seen: &mut HashSet<RateKey>,
    now: Instant,
) -> HostView {
    let mut view = HostView {
        id: ping.id,
        name: ping.name,
        labels: ping.labels,
        version: ping.version,
        uptime_seconds: ping.uptime_seconds,
        site: None,
        instances: 0,
        rate: None,
        components: Vec::new(),
        providers: Vec::new(),
        error: None,
        component_count: ping.components,
        provider_count: ping.providers,
    };
    let inventory = match inventory {
        Ok(Some(inventory)) => inventory,
        Ok(None) => {
            view.error = Some("the host sent no inventory".into());
            return view;
        }
        Err(e) => {
            view.error = Some(format!("{e:#}"));
            return view;
        }
    };
    view.site = inventory.site;
    for c in inventory.components {
        let key = (view.id.clone(), c.id.clone());
        let rate = rates.observe(&key, c.stats, now);
        seen.insert(key);
        view.instances += u64::from(c.max);
        if let Some((invocations, _)) = rate {
            *view.rate.get_or_insert(0.0) += invocations;
        }
        view.components.push(ComponentView {
            id: c.id,
            image: c.image,
            max: c.max,
            invocations: c.stats.invocations,
            failures: c.stats.failures,
            rate: rate.map(|r| r.0),
            failure_rate: rate.map(|r| r.1),
        });
    }
    view.providers = inventory
        .providers
        .into_iter()
        .map(|p| ProviderView {
            id: p.id,
            image: p.image,
            failure: p.failure,
        })
        .collect();
    view
}

fn link_view(link: Link) -> LinkView {
    LinkView {
        source_id: link.source_id,
        target_id: link.target_id,
        name: link.name.to_string(),
        package: format!("{}:{}", link.wit_namespace, link.wit_package),
        interfaces: link.interfaces.iter().map(ToString::to_string).collect(),
    }
}

/// A component on a host: its counters are per host.
type RateKey = (HostId, ComponentId);

/// Invocation rates derived from the counters hosts report in their
/// inventory (`stats`: invocations and failures since the component's
/// version started there). Only what the last snapshot listed is kept.
#[derive(Debug, Default)]
struct Rates {
    samples: HashMap<RateKey, Sample>,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    stats: InvocationStats,
    /// Invocations and failures per second up to `at`.
    rate: Option<(f64, f64)>,
}

impl Rates {
    /// Records `stats` seen at `now` and returns (invocations, failures)
    /// per second: over the time since the last sample once that is at
    /// least [`RATE_WINDOW`] old, else the rate computed then (`None`
    /// before two samples).
    fn observe(
        &mut self,
        key: &RateKey,
        stats: InvocationStats,
        now: Instant,
    ) -> Option<(f64, f64)> {
        let Some(last) = self.samples.get_mut(key) else {
            self.samples.insert(
                key.clone(),
                Sample {
                    at: now,
                    stats,
                    rate: None,
                },
            );
            return None;
        };
        let elapsed = now.saturating_duration_since(last.at);
        if elapsed < RATE_WINDOW {
            return last.rate;
        }
        // A restarted counter (a new version) counts from zero.
        let delta = stats.since(last.stats);
        let seconds = elapsed.as_secs_f64();
        let rate = (
            delta.invocations as f64 / seconds,
            delta.failures as f64 / seconds,
        );
        *last = Sample {
            at: now,
            stats,
            rate: Some(rate),
        };
        Some(rate)
    }

    /// Forgets components that no longer run (or whose host did not
    /// answer), so the table holds only what the page shows.
    fn retain(&mut self, seen: &HashSet<RateKey>) {
        self.samples.retain(|key, _| seen.contains(key));
    }
}

#[cfg(test)]
mod tests {
    use trellis_protocol::wadm::StatusState;

    use super::*;

    fn summary(name: &str, state: StatusState) -> AppSummary {
        AppSummary {
            name: trellis_protocol::AppName::new(name).unwrap(),
            latest_version: trellis_protocol::wadm::AppVersion::new("v1").unwrap(),
            deployed_version: None,
            state,
            message: None,
        }
    }

    fn key() -> RateKey {
        (
            HostId::new(format!("N{}", "A".repeat(55))).unwrap(),
            ComponentId::new("hello").unwrap(),
        )
    }

    fn stats(invocations: u64, failures: u64) -> InvocationStats {
        InvocationStats {
            invocations,
            failures,
        }
    }

    #[test]
    fn rates_need_two_samples_a_window_apart_and_survive_a_reset() {
        let mut rates = Rates::default();
        let t0 = Instant::now();
        assert_eq!(rates.observe(&key(), stats(10, 0), t0), None);
        // Too soon: still nothing, and the first sample stays the base.
        assert_eq!(
            rates.observe(&key(), stats(12, 0), t0 + Duration::from_secs(1)),
            None
        );
        let rate = rates.observe(&key(), stats(30, 4), t0 + Duration::from_secs(4));
        assert_eq!(rate, Some((5.0, 1.0)));
        // Within the next window the last rate is repeated.
        assert_eq!(
            rates.observe(&key(), stats(31, 4), t0 + Duration::from_secs(5)),
            Some((5.0, 1.0))
        );
        // The counters started over (a new version): counted from zero.
        let rate = rates.observe(&key(), stats(6, 0), t0 + Duration::from_secs(6));
        assert_eq!(rate, Some((3.0, 0.0)));
        rates.retain(&HashSet::new());
        assert!(rates.samples.is_empty());
    }

    #[test]
    fn a_host_whose_inventory_fails_keeps_its_ping_and_says_why() {
        let ping: PingReply = serde_json::from_value(serde_json::json!({
            "id": key().0, "name": "edge-1", "labels": {"zone": "edge"},
            "uptime_seconds": 3, "version": "0.1.0", "components": 2, "providers": 1,
        }))
        .unwrap();
        let mut seen = HashSet::new();
        let view = host_view(
            ping,
            Err(anyhow::anyhow!("reading the inventory timed out after 10s")),
            &mut Rates::default(),
            &mut seen,
            Instant::now(),
        );
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["name"], "edge-1");
        assert_eq!(json["labels"]["zone"], "edge");
        assert_eq!(
            (json["component_count"].as_u64(), json["rate"].clone()),
            (Some(2), serde_json::Value::Null)
        );
        assert!(
            json["error"].as_str().unwrap().contains("timed out"),
            "{json}"
        );
        assert!(seen.is_empty());
    }

    #[test]
    fn app_views_flatten_the_summary() {
        let view = AppView {
            summary: summary("shop", StatusState::Deployed),
            rollout: None,
            components: Vec::new(),
            error: None,
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(
            (json["name"].as_str(), json["state"].as_str()),
            (Some("shop"), Some("deployed"))
        );
        assert!(
            json.get("rollout").is_none() && json.get("error").is_none(),
            "{json}"
        );
    }
}
