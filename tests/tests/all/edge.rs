//! An edge site behind a leaf node: a hub nats-server (JetStream domain
//! `hub`, wadm, a cloud host) and an edge nats-server that is its leaf
//! through a proxy that can cut the link.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use trellis_tests::{
    Cli, EdgeSite, Host, Wadm, actor, free_port, http_get, unique_lattice, wait_for_http,
};

use crate::fixture::shop_at_the_edge;

/// How long the uplink stays cut (the issue's acceptance line).
const CUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn an_edge_site_serves_through_a_cut_uplink_and_nothing_moves() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let site = EdgeSite::start("shop").await?;
    let (hub, edge_nats, proxy) = (&site.hub, &site.leaf, &site.uplink);

    let lattice = unique_lattice("edge");
    let _cloud = Host::spawn(
        hub,
        site.host_opts(&lattice, "cloud", &[("zone", "cloud")], false),
    )?;
    // The leaf connection is up once the edge host's storage calls reach
    // the hub's domain; spawn waits for the host to start, which needs them.
    let edge = Host::spawn(
        edge_nats,
        site.host_opts(&lattice, "shop", &[("zone", "edge")], true),
    )?;
    let wadm = Wadm::spawn(hub, &lattice, &[])?;
    let cli = Cli::new(hub, &lattice);

    let port = free_port();
    let manifest = dir.path().join("shop.yaml");
    std::fs::write(&manifest, shop_at_the_edge(port))?;
    let file = manifest.display().to_string();
    cli.run_async(&["app", "deploy", &file, "--wait", "--timeout", "60"])
        .await?
        .ok()?;
    let url = format!("http://127.0.0.1:{port}/");
    let (_, _, body) = wait_for_http(&url, 200, Duration::from_secs(30)).await?;
    assert_eq!(body, b"Hello from Trellis!");

    // Count what wadm does from here on, seen from the hub.
    let client = async_nats::connect(hub.url()).await?;
    let mut events = client.subscribe(format!("trellis.{lattice}.evt.>")).await?;
    client.flush().await?;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    tokio::spawn(async move {
        while let Some(msg) = events.next().await {
            if let Ok(ev) = serde_json::from_slice::<serde_json::Value>(&msg.payload) {
                let kind = ev["type"].as_str().unwrap_or_default().to_owned();
                sink.lock().unwrap().push(kind);
            }
        }
    });

    proxy.cut();
    let cut_at = Instant::now();
    let mut served = 0;
    while cut_at.elapsed() < CUT {
        let (code, _, body) = http_get(&url)
            .await
            .context("edge request during the cut")?;
        assert_eq!(
            (code, body.as_slice()),
            (200, b"Hello from Trellis!".as_slice()),
            "after {:?} of the cut",
            cut_at.elapsed()
        );
        served += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(served > 100, "{served}");
    assert!(
        wadm.log().contains("edge host unreachable"),
        "wadm took the quiet edge host for cut off, not gone: {}",
        wadm.log()
    );
    proxy.restore();

    // After the heal the hub sees the edge host with what it ran, and wadm
    // had started or stopped nothing anywhere.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = cli
            .run_async(&["app", "status", "shop"])
            .await?
            .ok()?
            .json()?;
        if status["state"] == "deployed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not deployed after the heal: {status}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let inv = cli.run_async(&["get", "inventory"]).await?.ok()?.json()?;
    let hosts = inv.as_array().context("inventory array")?;
    for host in hosts {
        let ids: Vec<(&str, u64)> = host["components"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["id"].as_str().unwrap_or(""),
                    c["max"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        if host["id"] == edge.id() {
            assert_eq!(ids, [("shop-hello", 2)], "{inv}");
        } else {
            assert!(
                ids.is_empty(),
                "nothing pinned to the edge lands in the cloud: {inv}"
            );
        }
    }
    let kinds = seen.lock().unwrap().clone();
    for kind in [
        "component_scaled",
        "provider_started",
        "provider_stopped",
        "link_put",
    ] {
        let n = kinds.iter().filter(|k| k.ends_with(kind)).count();
        assert_eq!(n, 0, "{kind} during or after the partition: {kinds:?}");
    }
    let (up, down) = proxy.bytes();
    assert!(
        up > 0 && down > 0,
        "the leaf link carried traffic ({up}/{down})"
    );
    Ok(())
}

/// The invocation count of `id` on each host, by host name.
async fn invocations(cli: &Cli, id: &str) -> anyhow::Result<Vec<(String, u64)>> {
    let inv = cli.run_async(&["get", "inventory"]).await?.ok()?.json()?;
    let mut out = Vec::new();
    for host in inv.as_array().context("inventory array")? {
        for c in host["components"].as_array().into_iter().flatten() {
            if c["id"] == id {
                out.push((
                    host["name"].as_str().unwrap_or_default().to_owned(),
                    c["stats"]["invocations"].as_u64().unwrap_or(0),
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_entering_at_the_edge_is_served_at_the_edge() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let site = EdgeSite::start("shop").await?;
    let lattice = unique_lattice("locality");
    let opts = |name: &str, labels: &[(&str, &str)], at_edge: bool| {
        site.host_opts(&lattice, name, labels, at_edge)
    };
    let _cloud = Host::spawn(&site.hub, opts("cloud", &[("zone", "cloud")], false))?;
    // The gateway takes requests and runs no instance: every call to the
    // component leaves it over NATS, to the worker or across the uplink.
    let _gateway = Host::spawn(
        &site.leaf,
        opts("gateway", &[("zone", "edge"), ("role", "gateway")], true),
    )?;
    let _worker = Host::spawn(
        &site.leaf,
        opts("worker", &[("zone", "edge"), ("role", "worker")], true),
    )?;
    let _wadm = Wadm::spawn(&site.hub, &lattice, &[])?;
    let cli = Cli::new(&site.hub, &lattice);
    let port = free_port();
    let manifest = dir.path().join("echo.yaml");
    std::fs::write(
        &manifest,
        format!(
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: echo, annotations: {{ version: v1 }} }}
spec:
  components:
    - name: echo
      type: component
      properties: {{ image: "file://{wasm}" }}
      traits:
        - type: spreadscaler
          properties:
            instances: 2
            spread:
              - {{ name: cloud, requirements: {{ zone: cloud }} }}
              - {{ name: edge-workers, requirements: {{ role: worker }} }}
    - name: http
      type: capability
      properties: {{ image: "builtin://http-server" }}
      traits:
        - type: spreadscaler
          properties: {{ instances: 1, spread: [ {{ name: gateway, requirements: {{ role: gateway }} }} ] }}
        - type: link
          properties:
            target: {{ name: echo }}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: {{ config: [ {{ name: echo-addr, properties: {{ address: "127.0.0.1:{port}" }} }} ] }}
"#,
            wasm = actor("http_echo").display()
        ),
    )?;
    let file = manifest.display().to_string();
    cli.run_async(&["app", "deploy", &file, "--wait", "--timeout", "60"])
        .await?
        .ok()?;
    let url = format!("http://127.0.0.1:{port}/echo");
    wait_for_http(&url, 200, Duration::from_secs(30)).await?;
    let before = invocations(&cli, "echo-echo").await?;
    assert_eq!(
        before.len(),
        2,
        "one instance in the cloud, one on the edge worker"
    );
    assert_eq!(before[0], ("cloud".to_owned(), 0), "{before:?}");

    // 100 calls of 32 KiB each way: across the uplink they would move
    // more than 6 MiB through the proxy.
    const CALLS: u64 = 100;
    const BODY: usize = 32 * 1024;
    let (up_before, down_before) = site.uplink.bytes();
    for i in 0..CALLS {
        let body: Vec<u8> = (0..BODY).map(|j| ((i as usize + j) % 251) as u8).collect();
        let (code, _, got) = trellis_tests::http_post(&url, body.clone()).await?;
        assert_eq!((code, got.len()), (200, BODY), "call {i}");
        assert!(got == body, "call {i} echoed other bytes");
    }
    let (up, down) = site.uplink.bytes();
    let crossed = (up - up_before) + (down - down_before);
    assert!(
        crossed < (CALLS as usize * BODY / 8) as u64,
        "{crossed} bytes crossed the uplink during {CALLS} edge calls"
    );
    assert_eq!(
        invocations(&cli, "echo-echo").await?,
        [
            ("cloud".to_owned(), 0),
            ("worker".to_owned(), before[1].1 + CALLS)
        ],
        "every call was served by the edge worker, none in the cloud"
    );
    Ok(())
}
