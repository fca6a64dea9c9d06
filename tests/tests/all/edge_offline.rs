//! Edge autonomy: an edge site (`trellis up --leaf-remote`) that loses
//! power while its uplink is down comes back serving from what it kept on
//! disk, and when the uplink returns wadm finds its work in place.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use trellis_protocol::LatticeName;
use trellis_protocol::subject::pattern;
use trellis_tests::{Cli, Host, UpSite, Wadm, free_port, http_get, unique_lattice};

use crate::fixture::shop_at_the_edge;

/// The bound from the restart of the edge `up` to a served request.
const RESUME_BOUND: Duration = Duration::from_secs(10);

/// The control verbs that would start, stop or change a workload or link.
const WORKLOAD_VERBS: [&str; 6] = [
    ".ctl.component.scale.",
    ".ctl.component.update.",
    ".ctl.provider.start.",
    ".ctl.provider.stop.",
    ".ctl.link.put",
    ".ctl.link.del",
];

/// The edge host's (component id, max) pairs and provider ids, as the hub
/// sees them; `None` while the hub does not list the host.
async fn edge_workloads(
    cli: &Cli,
    edge_id: &str,
) -> anyhow::Result<Option<(Vec<(String, u64)>, Vec<String>)>> {
    let inv = cli.run_async(&["get", "inventory"]).await?.ok()?.json()?;
    let hosts = inv.as_array().context("inventory array")?;
    let Some(host) = hosts.iter().find(|h| h["id"] == edge_id) else {
        return Ok(None);
    };
    let components = host["components"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["max"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let providers = host["providers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    Ok(Some((components, providers)))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edge_site_rebooted_during_an_outage_serves_and_is_adopted_when_back()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let site = UpSite::start("shop").await?;
    let lattice = unique_lattice("offline");
    let cloud = Host::spawn(
        &site.hub,
        trellis_tests::HostOpts {
            lattice: lattice.clone(),
            name: "cloud".into(),
            labels: [("zone".to_owned(), "cloud".to_owned())].into(),
            heartbeat_ms: Some(500),
            ..Default::default()
        },
    )?;
    let (edge, edge_id) = site.spawn_up(&lattice, &[("zone", "edge")])?;
    // Full re-lists every 2 s, so the watch after the heal spans several.
    let wadm = Wadm::spawn(&site.hub, &lattice, &["--resync-seconds", "2"])?;
    let cli = Cli::new(&site.hub, &lattice);

    let port = free_port();
    let file = dir.path().join("shop.yaml");
    std::fs::write(&file, shop_at_the_edge(port))?;
    cli.run_async(&[
        "app",
        "deploy",
        &file.display().to_string(),
        "--wait",
        "--timeout",
        "60",
    ])
    .await?
    .ok()?;
    let url = format!("http://127.0.0.1:{port}/");
    let (_, _, body) = trellis_tests::wait_for_http(&url, 200, Duration::from_secs(30)).await?;
    assert_eq!(body, b"Hello from Trellis!");
    let before = edge_workloads(&cli, &edge_id)
        .await?
        .context("the hub lists the edge host")?;
    assert_eq!(before.0, [("shop-hello".to_owned(), 2)], "{before:?}");
    assert_eq!(before.1, ["shop-http"], "{before:?}");

    // The host keeps its record on disk (written within a second of a
    // change); wait until it names the workloads and the listener's config.
    let record = site.data_dir.join("host-state.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        if ["shop-hello", "shop-http", "shop-addr", &edge_id]
            .iter()
            .all(|needle| text.contains(needle))
        {
            break;
        }
        assert!(Instant::now() < deadline, "record not written: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The outage, then a power cut at the site: the `up` and its
    // nats-server die together (SIGKILL to its process group).
    site.uplink.cut();
    drop(edge);
    assert!(
        http_get(&url).await.is_err(),
        "the listener died with the host"
    );

    // Watch, from the hub, every control request wadm sends and every
    // event from here on.
    let hub = async_nats::connect(site.hub.url()).await?;
    let name = LatticeName::new(lattice.to_string())?;
    let mut control = hub.subscribe(pattern::all_control(&name)).await?;
    let mut events = hub.subscribe(pattern::all_events(&name)).await?;
    hub.flush().await?;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    tokio::spawn(async move {
        while let Some(msg) = control.next().await {
            sink.lock().unwrap().push(msg.subject.to_string());
        }
    });
    let sink = seen.clone();
    tokio::spawn(async move {
        while let Some(msg) = events.next().await {
            if let Ok(ev) = serde_json::from_slice::<serde_json::Value>(&msg.payload) {
                let kind = ev["type"].as_str().unwrap_or_default().to_owned();
                sink.lock().unwrap().push(format!("event {kind}"));
            }
        }
    });

    // Back on with the uplink still cut: it serves within the bound.
    let restarted = Instant::now();
    let (mut edge, again_id) = site.spawn_up(&lattice, &[("zone", "edge")])?;
    assert_eq!(again_id, edge_id, "the site keeps its host identity");
    let served = loop {
        if let Ok((200, _, body)) = http_get(&url).await {
            break (restarted.elapsed(), body);
        }
        assert!(
            restarted.elapsed() < RESUME_BOUND,
            "not serving {RESUME_BOUND:?} after the restart; edge log:\n{}",
            edge.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(served.1, b"Hello from Trellis!");
    eprintln!("edge served {:?} after its restart, uplink cut", served.0);
    let log = edge.log();
    assert!(
        log.contains("starting offline") && log.contains("resumed recorded workloads offline"),
        "the host started offline and resumed its record: {log}"
    );
    for _ in 0..20 {
        let (code, _, body) = http_get(&url).await?;
        assert_eq!(
            (code, body.as_slice()),
            (200, b"Hello from Trellis!".as_slice())
        );
    }

    // The uplink returns: the hub sees the host again with what it ran,
    // the host follows the hub's links and config again, and wadm sends
    // nothing that starts, stops or changes a workload.
    site.uplink.restore();
    edge.wait_for("buckets reachable again", Duration::from_secs(60), |log| {
        log.contains("following links and config again")
            .then_some(())
    })?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = cli
            .run_async(&["app", "status", "shop"])
            .await?
            .ok()?
            .json()?;
        let listed = edge_workloads(&cli, &edge_id).await?;
        if status["state"] == "deployed" && listed.as_ref() == Some(&before) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not adopted after the heal: {status} {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Give wadm several heartbeats and a reconcile pass to react, if it
    // were going to.
    let heal = Instant::now();
    while heal.elapsed() < Duration::from_secs(5) {
        let (code, _, _) = http_get(&url).await?;
        assert_eq!(code, 200, "served through the heal");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(edge_workloads(&cli, &edge_id).await?, Some(before.clone()));
    let seen = seen.lock().unwrap().clone();
    let commands: Vec<&String> = seen
        .iter()
        .filter(|s| WORKLOAD_VERBS.iter().any(|verb| s.contains(verb)))
        .collect();
    assert!(commands.is_empty(), "wadm sent {commands:?}; all: {seen:?}");
    for kind in [
        "component_scaled",
        "provider_started",
        "provider_stopped",
        "link_put",
    ] {
        assert!(
            !seen
                .iter()
                .any(|s| s.starts_with("event") && s.ends_with(kind)),
            "{kind} after the restart: {seen:?}"
        );
    }
    assert!(
        seen.iter().any(|s| s.ends_with("host_heartbeat")),
        "the hub heard the edge host again: {seen:?}"
    );
    let status = cli
        .run_async(&["app", "status", "shop"])
        .await?
        .ok()?
        .json()?;
    assert_eq!(status["state"], "deployed", "{status}");
    assert!(
        edge_workloads(&cli, cloud.id())
            .await?
            .is_some_and(|(c, p)| c.is_empty() && p.is_empty()),
        "nothing moved to the cloud"
    );
    drop(wadm);
    Ok(())
}
