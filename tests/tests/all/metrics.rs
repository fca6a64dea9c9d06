//! Prometheus metrics: a real Prometheus scrapes two hosts and wadm while
//! an app serves real HTTP, and its query API sees the counts.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use trellis_tests::{
    Cli, HelloApp, Host, HostOpts, NatsServer, Prometheus, Wadm, actor, free_port, http_get,
    unique_lattice, wait_for_http,
};

/// Bound on Prometheus seeing what happened (it scrapes every second).
const SEEN: Duration = Duration::from_secs(30);

fn metrics_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_counts_every_request_across_hosts_and_sees_wadm() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("metrics");
    let addrs = [metrics_addr(), metrics_addr(), metrics_addr()];
    let host = |name: &str, zone: &str, addr: SocketAddr| {
        Host::spawn(
            &nats,
            HostOpts {
                lattice: lattice.clone(),
                name: name.into(),
                labels: vec![("zone".into(), zone.into())],
                heartbeat_ms: Some(500),
                extra_args: vec!["--metrics-addr".into(), addr.to_string()],
                ..HostOpts::default()
            },
        )
    };
    let _web = host("web", "web", addrs[0])?;
    let _work = host("work", "work", addrs[1])?;
    let _wadm = Wadm::spawn(&nats, &lattice, &["--metrics-addr", &addrs[2].to_string()])?;
    let prometheus = Prometheus::start(&addrs).await?;

    // The HTTP server on one host, the component on the other: every
    // request crosses the lattice.
    let port = free_port();
    let dir = tempfile::tempdir()?;
    let app = HelloApp {
        component_zone: Some("work"),
        http_zone: Some("web"),
        ..HelloApp::shop(format!("file://{}", actor("hello_http").display()), port)
    };
    let manifest = app.write_in(dir.path())?.display().to_string();
    let cli = Cli::new(&nats, &lattice);
    cli.run_async(&["app", "deploy", &manifest, "--wait", "--timeout", "45"])
        .await?
        .ok()?;
    let url = format!("http://127.0.0.1:{port}/");
    wait_for_http(&url, 200, SEEN).await?;
    // The requests of wait_for_http counted too: read how many straight
    // from the hosts (Prometheus may not have scraped them all yet).
    let before = invocations(&addrs[..2]).await?;
    assert!(before >= 1.0, "the 200 above was counted");
    for _ in 0..100 {
        let (status, _, _) = http_get(&url).await?;
        assert_eq!(status, 200);
    }
    let total = before + 100.0;
    prometheus
        .wait_for(
            "sum(trellis_component_invocations_total)",
            |v| v == total,
            SEEN,
        )
        .await?;
    prometheus
        .wait_for(
            "sum(trellis_component_invocation_duration_seconds_count{kind=\"http\"})",
            |v| v == total,
            SEEN,
        )
        .await?;
    // Every request took more than 50 µs end to end, and under 10 s: the
    // histogram's first bucket is below the total and the +Inf one equals it.
    let slowest = prometheus
        .query(
            "sum(trellis_component_invocation_duration_seconds_bucket{kind=\"http\",le=\"10.0\"})",
        )
        .await?;
    assert_eq!(slowest, vec![total], "all within 10 s");
    // Both hosts and wadm were scraped.
    prometheus
        .wait_for("count(trellis_host_info)", |v| v == 2.0, SEEN)
        .await?;
    prometheus
        .wait_for(
            "sum(trellis_wadm_reconcile_passes_total)",
            |v| v >= 1.0,
            SEEN,
        )
        .await?;
    prometheus
        .wait_for(
            "sum(trellis_wadm_apps{state=\"deployed\"})",
            |v| v == 1.0,
            SEEN,
        )
        .await?;
    // Every panel of the example Grafana dashboard has data.
    let file = trellis_tests::workspace_root().join("examples/grafana-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_slice(&std::fs::read(&file)?)?;
    let panels = dashboard["panels"].as_array().context("panels")?;
    assert!(panels.len() >= 10, "{} panels", panels.len());
    for panel in panels {
        for target in panel["targets"].as_array().context("targets")? {
            let expr = target["expr"].as_str().context("expr")?;
            prometheus
                .wait_for_data(expr, SEEN)
                .await
                .with_context(|| format!("panel {}: no data", panel["title"]))?;
        }
    }
    Ok(())
}

/// `trellis_component_invocations_total` summed over the hosts' own
/// /metrics pages.
async fn invocations(hosts: &[SocketAddr]) -> anyhow::Result<f64> {
    let mut sum = 0.0;
    for host in hosts {
        let page = trellis_tests::scrape(*host).await?;
        sum += trellis_tests::samples(&page, "trellis_component_invocations_total{")?
            .iter()
            .sum::<f64>();
    }
    Ok(sum)
}
