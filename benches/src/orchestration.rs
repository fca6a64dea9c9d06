//! Orchestration: many apps deployed through wadm across many host
//! processes, and how long wadm takes to restore a lost host's share.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use trellis_lattice::{Lattice, LatticeConfig};
use trellis_protocol::LatticeName;
use trellis_protocol::subject::WadmOp;
use trellis_protocol::wadm::{AppRequest, AppSummary, PutReply, PutRequest, StatusState};
use trellis_tests::{Host, HostOpts, NatsServer, Wadm, unique_lattice};

/// What the orchestration rows measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Orchestration {
    /// Host processes.
    pub hosts: usize,
    /// Apps deployed.
    pub apps: usize,
    /// From the first deploy request to every app `deployed`, seconds.
    pub deploy_seconds: f64,
    /// From `kill -9` of a host to every instance running again, seconds.
    pub restore_seconds: f64,
}

const BOUND: Duration = Duration::from_secs(300);
const API: Duration = Duration::from_secs(30);

/// Deploys `apps` one-component apps (2 instances each, spread) on `hosts`
/// hosts, then kills one host.
pub(crate) async fn measure(hosts: usize, apps: usize) -> anyhow::Result<Orchestration> {
    let nats = NatsServer::start()?;
    let name = unique_lattice("orch");
    let mut running = Vec::new();
    for i in 0..hosts {
        running.push(Host::spawn(
            &nats,
            HostOpts {
                lattice: name.clone(),
                name: format!("h{i}"),
                heartbeat_ms: Some(1000),
                ..HostOpts::default()
            },
        )?);
    }
    let _wadm = Wadm::spawn(&nats, &name, &[])?;
    let client = Lattice::connect(&LatticeConfig {
        nats_url: nats.url(),
        lattice: LatticeName::new(name.clone())?,
        ..LatticeConfig::default()
    })
    .await?;
    let bytes = std::fs::read(trellis_tests::actor("hello_http"))?;
    let image = client
        .store()
        .await?
        .put_artifact(&bytes)
        .await?
        .reference();

    let t0 = Instant::now();
    for i in 0..apps {
        let manifest = format!(
            "apiVersion: core.oam.dev/v1beta1\nkind: Application\n\
             metadata: {{ name: app{i}, annotations: {{ version: v1 }} }}\n\
             spec:\n  components:\n    - name: c\n      type: component\n      \
             properties: {{ image: \"{image}\" }}\n      \
             traits: [ {{ type: spreadscaler, properties: {{ instances: 2 }} }} ]\n"
        );
        let put: Option<PutReply> = client
            .wadm_request(WadmOp::Put, &PutRequest::new(manifest), API)
            .await?;
        let put = put.context("empty put reply")?;
        let request = AppRequest {
            name: put.name,
            version: Some(put.version),
        };
        client
            .wadm_request::<_, serde_json::Value>(WadmOp::Deploy, &request, API)
            .await?;
    }
    wait_all_deployed(&client, apps).await?;
    let deploy_seconds = t0.elapsed().as_secs_f64();

    let victim = running.pop().context("no hosts")?;
    let t1 = Instant::now();
    victim.sigkill()?;
    let want = u64::try_from(apps * 2)?;
    loop {
        let live = client.inventories(Duration::from_millis(500)).await?;
        let placed: u64 = live
            .iter()
            .filter(|inv| inv.id.as_str() != victim.id())
            .flat_map(|inv| inv.components.iter())
            .map(|c| u64::from(c.max))
            .sum();
        if placed == want {
            break;
        }
        if t1.elapsed() > BOUND {
            bail!("only {placed} of {want} instances back after {BOUND:?}");
        }
    }
    Ok(Orchestration {
        hosts,
        apps,
        deploy_seconds,
        restore_seconds: t1.elapsed().as_secs_f64(),
    })
}

async fn wait_all_deployed(client: &Lattice, apps: usize) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let list: Vec<AppSummary> = client.apps(None, API).await?;
        let deployed = list
            .iter()
            .filter(|a| a.state == StatusState::Deployed)
            .count();
        if deployed == apps {
            return Ok(());
        }
        if start.elapsed() > BOUND {
            bail!("{deployed} of {apps} apps deployed after {BOUND:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
