//! wasi:keyvalue through links: exact counts under concurrency, durability
//! across kill -9, links switched at runtime, and the missing-link error.

use std::time::Duration;

use trellis_tests::{Host, http_get, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

const REQUESTS: usize = 500;
const CLIENTS: usize = 5;

/// Sends `REQUESTS` increments at once from `CLIENTS` clients (each its own
/// connection pool) and returns how many were acknowledged with 200.
async fn hammer(url: &str) -> anyhow::Result<usize> {
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .build()?;
        for _ in 0..REQUESTS / CLIENTS {
            let (http, url) = (http.clone(), format!("{url}/incr?client={client}"));
            tasks.spawn(async move {
                let response = http.post(url).send().await?;
                anyhow::Ok(response.status().as_u16())
            });
        }
    }
    let mut acknowledged = 0;
    while let Some(status) = tasks.join_next().await {
        let status = status??;
        assert_eq!(status, 200, "an increment failed");
        acknowledged += 1;
    }
    Ok(acknowledged)
}

async fn count(url: &str, key: &str) -> anyhow::Result<u64> {
    let (status, _, body) = http_get(&format!("{url}/get?key={key}")).await?;
    anyhow::ensure!(
        status == 200,
        "get {key}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    Ok(String::from_utf8(body)?.parse()?)
}

fn kv_link(lattice: &Lattice, provider: &str) -> anyhow::Result<()> {
    lattice
        .cli
        .run(&[
            "link",
            "put",
            "counter",
            provider,
            "wasi",
            "keyvalue",
            "--interface",
            "store",
            "--interface",
            "atomics",
            "--interface",
            "batch",
        ])?
        .ok()?;
    Ok(())
}

fn start_sled(lattice: &Lattice, host: &Host, path: &std::path::Path) -> anyhow::Result<()> {
    lattice
        .cli
        .run(&[
            "config",
            "put",
            "kv-data",
            &format!("path={}", path.display()),
        ])?
        .ok()?;
    lattice
        .cli
        .run(&[
            "start",
            "provider",
            "builtin://keyvalue-sled",
            "kv",
            "--host",
            host.id(),
            "--config",
            "kv-data",
        ])?
        .ok()?;
    Ok(())
}

/// Kills host a with SIGKILL and starts a new one with the same options,
/// with the http-server provider again (its link is still in the lattice).
fn restart_a(lattice: &mut Lattice) -> anyhow::Result<()> {
    let opts = lattice.a.opts().clone();
    lattice.a.sigkill()?;
    lattice.a.wait_exit(Duration::from_secs(10))?;
    lattice.a = Host::spawn(&lattice.nats, opts)?;
    lattice
        .cli
        .run(&[
            "start",
            "provider",
            "builtin://http-server",
            "http",
            "--host",
            lattice.a.id(),
        ])?
        .ok()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sled_counts_exactly_and_survives_kill_9() -> anyhow::Result<()> {
    let mut lattice = Lattice::start("kvsled", &[])?;
    let data = tempfile::tempdir()?;
    start_sled(&lattice, &lattice.a, data.path())?;
    lattice.start_component("kv_counter", "counter", &lattice.b, 16)?;
    kv_link(&lattice, "kv")?;
    let url = lattice.route("counter")?;

    assert_eq!(hammer(&url).await?, REQUESTS);
    assert_eq!(count(&url, "counter").await?, REQUESTS as u64);
    let (status, _, _) =
        trellis_tests::http_request("PUT", &format!("{url}/set?key=note"), &[], b"kept".to_vec())
            .await?;
    assert_eq!(status, 204);

    // Everything acknowledged above must outlive a kill -9 of the host
    // running keyvalue-sled.
    restart_a(&mut lattice)?;
    start_sled(&lattice, &lattice.a, data.path())?;
    wait_for_http(&format!("{url}/get?key=note"), 200, ROUTE_READY).await?;
    assert_eq!(count(&url, "counter").await?, REQUESTS as u64);
    let (_, _, note) = http_get(&format!("{url}/get?key=note")).await?;
    assert_eq!(note, b"kept");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_counts_exactly_across_two_hosts_and_survives_kill_9() -> anyhow::Result<()> {
    let mut lattice = Lattice::start("kvnats", &[])?;
    lattice
        .cli
        .run(&[
            "start",
            "provider",
            "builtin://keyvalue-nats",
            "kv",
            "--host",
            lattice.a.id(),
        ])?
        .ok()?;
    lattice.start_component("kv_counter", "counter", &lattice.a, 8)?;
    lattice.start_component("kv_counter", "counter", &lattice.b, 8)?;
    kv_link(&lattice, "kv")?;
    let url = lattice.route("counter")?;

    assert_eq!(hammer(&url).await?, REQUESTS);
    assert_eq!(count(&url, "counter").await?, REQUESTS as u64);

    // The counter on host b still counts while host a (provider, http and
    // one counter instance) is killed and replaced.
    restart_a(&mut lattice)?;
    lattice
        .cli
        .run(&[
            "start",
            "provider",
            "builtin://keyvalue-nats",
            "kv",
            "--host",
            lattice.a.id(),
        ])?
        .ok()?;
    wait_for_http(&format!("{url}/get?key=counter"), 200, ROUTE_READY).await?;
    assert_eq!(count(&url, "counter").await?, REQUESTS as u64);
    let (status, _, body) = http_get(&format!("{url}/incr")).await?;
    assert_eq!(
        (status, body),
        (200, (REQUESTS + 1).to_string().into_bytes())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn keyvalue_link_switches_at_runtime_and_missing_link_is_named() -> anyhow::Result<()> {
    let lattice = Lattice::start("kvswitch", &[])?;
    let data = tempfile::tempdir()?;
    start_sled(&lattice, &lattice.a, data.path())?;
    lattice
        .cli
        .run(&[
            "start",
            "provider",
            "builtin://keyvalue-nats",
            "kvn",
            "--host",
            lattice.a.id(),
        ])?
        .ok()?;
    lattice.start_component("kv_counter", "counter", &lattice.b, 4)?;
    let url = lattice.route("counter")?;

    // No link yet: the guest gets an error naming what is missing.
    let (status, _, body) = wait_for_http(&format!("{url}/incr"), 500, ROUTE_READY).await?;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 500);
    assert!(
        body.contains("no link from counter for wasi:keyvalue/store (link name default)"),
        "{body}"
    );

    kv_link(&lattice, "kv")?;
    for expected in 1..=3 {
        let (_, _, body) = http_get(&format!("{url}/incr")).await?;
        assert_eq!(body, expected.to_string().into_bytes());
    }
    // Switch to the NATS provider: the very next request counts there.
    lattice
        .cli
        .run(&["link", "del", "counter", "wasi", "keyvalue"])?
        .ok()?;
    kv_link(&lattice, "kvn")?;
    let (_, _, body) = http_get(&format!("{url}/incr")).await?;
    assert_eq!(
        body, b"1",
        "the next request after the switch must use keyvalue-nats"
    );

    // The component was never restarted and the host is healthy.
    let inventory = lattice
        .cli
        .run(&["get", "inventory", lattice.b.id()])?
        .ok()?
        .json()?;
    assert_eq!(inventory[0]["components"][0]["id"], "counter");
    assert!(lattice.b.log().matches("component started").count() == 1);
    Ok(())
}

/// `trellis_host_routed_calls_total` for `labels` on the page at `addr`.
async fn routed(addr: std::net::SocketAddr, labels: &str) -> anyhow::Result<u64> {
    trellis_tests::scrape_one(
        addr,
        &format!("trellis_host_routed_calls_total{{{labels}}} "),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_calls_are_counted_by_route_in_the_metrics() -> anyhow::Result<()> {
    let metrics = std::net::SocketAddr::from(([127, 0, 0, 1], trellis_tests::free_port()));
    let lattice = Lattice::start("kvmetrics", &["--metrics-addr", &metrics.to_string()])?;
    let data = tempfile::tempdir()?;
    // The provider on a, the component on b: every call crosses the lattice.
    start_sled(&lattice, &lattice.a, data.path())?;
    lattice.start_component("kv_counter", "counter", &lattice.b, 4)?;
    kv_link(&lattice, "kv")?;
    let url = lattice.route("counter")?;
    // Not set yet: 404 once the route and the provider answer.
    wait_for_http(&format!("{url}/get?key=counter"), 404, ROUTE_READY).await?;
    let ok = "reached=\"keyvalue\",route=\"lattice\",outcome=\"ok\"";
    let before = routed(metrics, ok).await?;
    for _ in 0..20 {
        let (status, _, _) =
            trellis_tests::http_request("POST", &format!("{url}/incr"), &[], Vec::new()).await?;
        assert_eq!(status, 200);
    }
    assert_eq!(count(&url, "counter").await?, 20);
    // Each increment and the read are at least one call each.
    let after = routed(metrics, ok).await?;
    assert!(after >= before + 21, "{before} -> {after}");
    let local = "reached=\"keyvalue\",route=\"local\",outcome=\"ok\"";
    assert_eq!(routed(metrics, local).await?, 0, "no provider on b");
    let failed = "reached=\"keyvalue\",route=\"lattice\",outcome=\"error\"";
    assert_eq!(routed(metrics, failed).await?, 0);
    // Every counted call was timed, under its route.
    let timed = |route: &str| {
        format!(
            "trellis_host_routed_call_duration_seconds_count{{reached=\"keyvalue\",route=\"{route}\"}} "
        )
    };
    assert_eq!(
        trellis_tests::scrape_one(metrics, &timed("lattice")).await?,
        after
    );
    assert_eq!(
        trellis_tests::scrape_one(metrics, &timed("local")).await?,
        0
    );
    Ok(())
}
