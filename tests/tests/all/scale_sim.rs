//! wadm at size, against simulated hosts: a real nats-server and a real
//! `trellis wadm`, 50 sim hosts (`trellis_tests::sim`), 200 apps of one
//! component (1 or 2 instances) and one linked HTTP server provider with
//! an inline config. Every app must be deployed with exactly the asked
//! placements, and again after 10% of the hosts vanish.

use std::time::Duration;

use anyhow::Context;
use trellis_lattice::{Lattice, LatticeConfig};
use trellis_protocol::LatticeName;
use trellis_tests::sim::{AppStatuses, SimApps, SimHosts, SimOptions};
use trellis_tests::{NatsServer, Wadm, unique_lattice};

const HOSTS: usize = 50;
const APPS: usize = 200;
/// Bound on the first deployment of every app.
const DEPLOY: Duration = Duration::from_secs(40);
/// Bound on restoring the lost hosts' share, from the kill on (wadm asks
/// a host that is 1.5 one-second heartbeats late, and forgets it when
/// nothing answers; three missed heartbeats if the probe is not sent).
const RESTORE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn wadm_places_200_apps_on_50_sim_hosts_exactly_and_again_after_losing_10_percent()
-> anyhow::Result<()> {
    trellis_tests::init_tracing();
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("scale");
    let mut sims = SimHosts::start(SimOptions::new(nats.url(), &lattice, HOSTS)).await?;
    let client = Lattice::connect(&LatticeConfig {
        nats_url: nats.url(),
        lattice: LatticeName::new(lattice.clone())?,
        ..LatticeConfig::default()
    })
    .await?;
    let statuses = AppStatuses::follow(&client).await?;
    let wadm = tokio::task::block_in_place(|| Wadm::spawn(&nats, &lattice, &[]))?;
    let apps = SimApps { count: APPS };

    let started = std::time::Instant::now();
    apps.deploy(&client, 8).await?;
    apps.converge(&sims, &statuses, DEPLOY)
        .await
        .with_context(|| format!("first deployment; wadm log tail:\n{}", tail(&wadm.log())))?;
    let deployed = started.elapsed();
    eprintln!("{APPS} apps on {HOSTS} sim hosts deployed in {deployed:.1?}");

    let killed = sims.kill_fraction(0.1).await?;
    assert_eq!(killed.len(), HOSTS / 10);
    let placements = sims.placements();
    assert!(killed.iter().all(|id| !placements.contains_key(id)));
    assert!(
        !apps.misplaced(&placements).is_empty(),
        "the killed hosts ran nothing: the loss tests nothing"
    );
    let restored = apps
        .converge(&sims, &statuses, RESTORE)
        .await
        .with_context(|| format!("after the loss; wadm log tail:\n{}", tail(&wadm.log())))?;
    eprintln!(
        "{} hosts killed; every app deployed again on live hosts {restored:.1?} after the kill",
        killed.len()
    );
    Ok(())
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The sims answer as hosts do: every live host pings, a scale shows in
/// the inventory and sends `component_scaled`, a stored link is reported
/// applied by the sim running its provider (with the bucket's revision),
/// and a killed host gets "no responders" at once.
#[tokio::test(flavor = "multi_thread")]
async fn sim_hosts_answer_like_hosts_and_a_killed_one_not_at_all() -> anyhow::Result<()> {
    use futures::StreamExt;
    use trellis_lattice::ControlError;
    use trellis_protocol::control::{ArtifactRef, ScaleComponentRequest, StartProviderRequest};
    use trellis_protocol::inventory::HostInventory;
    use trellis_protocol::link::Link;
    use trellis_protocol::{ComponentId, ControlVerb, EventType, Subject};

    let nats = NatsServer::start()?;
    let lattice = unique_lattice("sim");
    let mut sims = SimHosts::start(SimOptions::new(nats.url(), &lattice, 3)).await?;
    let client = Lattice::connect(&LatticeConfig {
        nats_url: nats.url(),
        lattice: LatticeName::new(lattice.clone())?,
        ..LatticeConfig::default()
    })
    .await?;
    let ids = sims.ids();
    let pinged = client.ping_hosts(Duration::from_millis(500)).await?;
    assert_eq!(pinged.iter().map(|p| p.id.clone()).collect::<Vec<_>>(), ids);

    let scaled = Subject::event(client.name(), EventType::ComponentScaled).to_string();
    let mut events = client.nats().subscribe(scaled).await?;
    client.flush().await?;
    let web = ComponentId::new("web")?;
    let artifact = ArtifactRef::parse_reference(&format!("nats://ART/sha256-{}", "ab".repeat(32)))
        .map_err(anyhow::Error::msg)?;
    let scale = ScaleComponentRequest {
        component_id: web.clone(),
        image: artifact.reference(),
        artifact: Some(artifact),
        max: 2,
        reuse: None,
        config: Vec::new(),
        annotations: Default::default(),
        secrets: Vec::new(),
    };
    client
        .control::<_, serde_json::Value>(ControlVerb::ComponentScale(ids[0].clone()), &scale, None)
        .await?;
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await?
        .context("no component_scaled event")?;
    assert!(String::from_utf8_lossy(&event.payload).contains(ids[0].as_str()));
    let inv = client
        .host_inventory(&ids[0], Some(1024), None)
        .await?
        .context("no inventory")?;
    assert_eq!(inv.components.len(), 1);
    assert_eq!(
        (inv.components[0].id.clone(), inv.components[0].max),
        (web.clone(), 2)
    );

    let http = ComponentId::new("http")?;
    let start = StartProviderRequest {
        provider_id: http.clone(),
        image: "builtin://http-server".into(),
        artifact: None,
        claims: None,
        config: Vec::new(),
        annotations: Default::default(),
    };
    client
        .control::<_, serde_json::Value>(ControlVerb::ProviderStart(ids[1].clone()), &start, None)
        .await?;
    let link: Link = serde_json::from_value(serde_json::json!({
        "source_id": "http", "target_id": "web", "wit_namespace": "wasi",
        "wit_package": "http", "interfaces": ["incoming-handler"],
    }))?;
    client
        .control::<_, Link>(ControlVerb::LinkPut, &link, None)
        .await?;
    assert_eq!(client.links(None).await?, vec![link.clone()]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let applied = loop {
        let inv: HostInventory = sims.inventory(&ids[1]).context("sim 1 is alive")?;
        if inv.links_revision > 0 && !inv.link_status.is_empty() {
            break inv;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the sim never applied the link"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(applied.link_status[0].link, link.key());
    assert!(applied.link_status[0].applied);

    sims.kill(&ids[2..]).await?;
    let asked = std::time::Instant::now();
    let gone = client.host_inventory(&ids[2], None, None).await;
    assert!(
        matches!(gone, Err(ControlError::NoResponders { .. })),
        "{gone:?}"
    );
    assert!(asked.elapsed() < Duration::from_secs(2));
    let pinged = client.ping_hosts(Duration::from_millis(500)).await?;
    assert_eq!(pinged.len(), 2);
    assert_eq!(sims.ids(), ids[..2]);
    Ok(())
}
