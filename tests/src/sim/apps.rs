//! The workload of the scale test and bench: many one-component apps,
//! each with an HTTP server provider linked to it through an inline
//! config (as `examples/hello.yaml`), deployed through the wadm API; and
//! how to tell that wadm placed exactly what they ask for.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use trellis_lattice::Lattice;
use trellis_protocol::event::CloudEvent;
use trellis_protocol::subject::WadmOp;
use trellis_protocol::wadm::{AppRequest, AppStatus, PutReply, PutRequest, StatusState};
use trellis_protocol::{ComponentId, EventType, HostId, Subject};

use super::{Placement, SimHosts};

/// Bound on one wadm API request.
const API_TIMEOUT: Duration = Duration::from_secs(30);

/// How often convergence is checked.
const POLL: Duration = Duration::from_millis(100);

/// Apps `sim-app-0` .. `sim-app-{count-1}`: app `i` runs component
/// `sim-app-{i}-web` with `1 + i % 2` instances (spreadscaler) and
/// provider `sim-app-{i}-http` (`builtin://http-server`, one instance)
/// linked to it on `wasi:http/incoming-handler`, with an inline config.
#[derive(Debug, Clone, Copy)]
pub struct SimApps {
    /// How many apps.
    pub count: usize,
}

impl SimApps {
    /// The name of app `i`.
    pub fn name(i: usize) -> String {
        format!("sim-app-{i}")
    }

    /// Instances app `i` asks for.
    pub fn instances(i: usize) -> u32 {
        1 + u32::from(i % 2 == 1)
    }

    fn component(i: usize) -> String {
        format!("sim-app-{i}-web")
    }

    fn provider(i: usize) -> String {
        format!("sim-app-{i}-http")
    }

    /// The manifest of app `i`; `image` is a `nats://` artifact reference.
    pub fn manifest(i: usize, image: &str) -> String {
        let name = Self::name(i);
        let instances = Self::instances(i);
        let port = 20_000 + i % 40_000;
        format!(
            r#"apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: {name}, annotations: {{ version: v1 }} }}
spec:
  components:
    - name: web
      type: component
      properties: {{ image: "{image}" }}
      traits:
        - type: spreadscaler
          properties: {{ instances: {instances} }}
    - name: http
      type: capability
      properties: {{ image: "builtin://http-server" }}
      traits:
        - type: spreadscaler
          properties: {{ instances: 1 }}
        - type: link
          properties:
            target: {{ name: web }}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: {{ config: [ {{ name: {name}-addr, properties: {{ address: "127.0.0.1:{port}" }} }} ] }}
"#
        )
    }

    /// Uploads a stand-in component (the sims never run it) and puts and
    /// deploys every app through the wadm API, `concurrency` requests at a
    /// time.
    pub async fn deploy(&self, client: &Lattice, concurrency: usize) -> anyhow::Result<()> {
        let store = tokio::time::timeout(API_TIMEOUT, client.store())
            .await
            .context("opening the lattice's buckets timed out")??;
        let image = store
            .put_artifact(b"a simulated component: sim hosts never run it")
            .await?
            .reference();
        let image = &image;
        let mut puts = futures::stream::iter(0..self.count)
            .map(|i| async move {
                let put: Option<PutReply> = client
                    .wadm_request(
                        WadmOp::Put,
                        &PutRequest::new(Self::manifest(i, image)),
                        API_TIMEOUT,
                    )
                    .await
                    .with_context(|| format!("putting {}", Self::name(i)))?;
                let put = put.with_context(|| format!("empty put reply for {}", Self::name(i)))?;
                let request = AppRequest {
                    name: put.name,
                    version: Some(put.version),
                };
                client
                    .wadm_request::<_, serde_json::Value>(WadmOp::Deploy, &request, API_TIMEOUT)
                    .await
                    .with_context(|| format!("deploying {}", Self::name(i)))?;
                anyhow::Ok(())
            })
            .buffer_unordered(concurrency.max(1));
        while let Some(done) = puts.next().await {
            done?;
        }
        Ok(())
    }

    /// What is wrong with `placements` (live hosts only) against what the
    /// apps ask for: components with more or fewer instances than asked,
    /// providers on no host or on several, and workloads no app asks for.
    /// Empty when every app is placed exactly.
    pub fn misplaced(&self, placements: &BTreeMap<HostId, Placement>) -> Vec<String> {
        let mut instances: BTreeMap<&ComponentId, u32> = BTreeMap::new();
        let mut providers: BTreeMap<&ComponentId, Vec<&str>> = BTreeMap::new();
        for p in placements.values() {
            for (id, max) in &p.components {
                *instances.entry(id).or_default() += max;
            }
            for id in &p.providers {
                providers.entry(id).or_default().push(&p.name);
            }
        }
        let mut problems = Vec::new();
        for i in 0..self.count {
            let want = Self::instances(i);
            let component = Self::component(i);
            let have = instances
                .iter()
                .find(|(id, _)| id.as_str() == component)
                .map_or(0, |(_, n)| *n);
            if have != want {
                problems.push(format!("{component}: {have} instances, want {want}"));
            }
            let provider = Self::provider(i);
            let hosts = providers
                .iter()
                .find(|(id, _)| id.as_str() == provider)
                .map_or(&[][..], |(_, hosts)| &hosts[..]);
            if hosts.len() != 1 {
                problems.push(format!(
                    "{provider}: on {} hosts {hosts:?}, want 1",
                    hosts.len()
                ));
            }
        }
        let known = |id: &ComponentId| {
            id.as_str()
                .strip_prefix("sim-app-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n < self.count)
        };
        problems.extend(
            instances
                .keys()
                .chain(providers.keys())
                .filter(|id| !known(id))
                .map(|id| format!("{id}: runs, but no app asks for it")),
        );
        problems
    }

    /// Waits until every app's last `app_status` says deployed and the
    /// live sims run exactly what the apps ask for; returns how long it
    /// took, or what was still wrong at `within`.
    pub async fn converge(
        &self,
        sims: &SimHosts,
        statuses: &AppStatuses,
        within: Duration,
    ) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            let misplaced = self.misplaced(&sims.placements());
            let pending = statuses.not_deployed(self.count);
            if misplaced.is_empty() && pending.is_empty() {
                return Ok(start.elapsed());
            }
            if start.elapsed() > within {
                anyhow::bail!(
                    "not converged after {within:?}: {} placement problems (first: {:?}); \
                     {} apps not deployed (first: {:?})",
                    misplaced.len(),
                    misplaced.iter().take(5).collect::<Vec<_>>(),
                    pending.len(),
                    pending.iter().take(5).collect::<Vec<_>>(),
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Each app's last state and message.
type Latest = BTreeMap<String, (StatusState, Option<String>)>;

/// The last `app_status` event wadm published for each app: how the
/// scale runs follow status without asking wadm (a `list` of 10,000 apps
/// is itself work for wadm, and bigger than a message).
pub struct AppStatuses {
    latest: Arc<Mutex<Latest>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AppStatuses {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AppStatuses {
    /// Subscribes to `app_status` events (before anything is deployed, so
    /// that none is missed).
    pub async fn follow(client: &Lattice) -> anyhow::Result<AppStatuses> {
        let subject = Subject::event(client.name(), EventType::AppStatus).to_string();
        let mut sub = tokio::time::timeout(API_TIMEOUT, client.nats().subscribe(subject))
            .await
            .context("subscribing to app_status timed out")??;
        tokio::time::timeout(API_TIMEOUT, client.flush())
            .await
            .context("flushing timed out")??;
        let latest = Arc::new(Mutex::new(BTreeMap::new()));
        let seen = latest.clone();
        let task = tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let Ok(event) = serde_json::from_slice::<CloudEvent<AppStatus>>(&msg.payload)
                else {
                    continue;
                };
                let status = event.data;
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(status.name.to_string(), (status.state, status.message));
            }
        });
        Ok(AppStatuses { latest, task })
    }

    /// Apps among the first `count` whose last status is not deployed,
    /// with that status.
    pub fn not_deployed(&self, count: usize) -> Vec<String> {
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        (0..count)
            .map(SimApps::name)
            .filter_map(|name| match latest.get(&name) {
                Some((StatusState::Deployed, _)) => None,
                Some((state, message)) => Some(format!("{name}: {state:?} {message:?}")),
                None => Some(format!("{name}: no status yet")),
            })
            .collect()
    }
}
