//! An external provider process: the keyvalue-sled binary, shipped through
//! the lattice, supervised and restarted by its host.

use std::time::Duration;

use anyhow::Context;
use trellis_protocol::{EventType, Subject};
use trellis_tests::{http_get, target_dir, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY, next_event};

/// Whether `pid` runs (a zombie waiting for its reaper does not).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn external_sled_provider_is_restarted_and_keeps_counting() -> anyhow::Result<()> {
    let port = || std::net::SocketAddr::from(([127, 0, 0, 1], trellis_tests::free_port()));
    let (a_metrics, b_metrics, provider_metrics) = (port(), port(), port());
    let lattice = Lattice::start_with(
        "external",
        &["--metrics-addr", &a_metrics.to_string()],
        &["--metrics-addr", &b_metrics.to_string()],
    )?;
    let client = lattice.nats_client().await?;
    let name = lattice.lattice();
    let mut started = client
        .subscribe(Subject::event(&name, EventType::ProviderStarted).to_string())
        .await?;
    let mut stopped = client
        .subscribe(Subject::event(&name, EventType::ProviderStopped).to_string())
        .await?;
    client.flush().await?;

    let data = tempfile::tempdir()?;
    lattice
        .cli
        .run(&[
            "config",
            "put",
            "kv-data",
            &format!("path={}", data.path().display()),
            &format!("metrics_addr={provider_metrics}"),
        ])?
        .ok()?;
    let exe = target_dir().join("debug/trellis-provider-keyvalue-sled");
    let image = format!("file://{}", exe.display());
    lattice
        .cli
        .run(&[
            "start",
            "provider",
            &image,
            "kv",
            "--host",
            lattice.a.id(),
            "--config",
            "kv-data",
        ])?
        .ok()?;
    let first = next_event(&mut started, "provider_id", "kv").await?;
    let first_pid = first["process_id"]
        .as_i64()
        .expect("external providers report their pid") as i32;
    assert!(
        alive(first_pid),
        "{:?}",
        std::fs::read_to_string(format!("/proc/{first_pid}/stat"))
    );

    lattice.start_component("kv_counter", "counter", &lattice.b, 4)?;
    lattice
        .cli
        .run(&[
            "link",
            "put",
            "counter",
            "kv",
            "wasi",
            "keyvalue",
            "--interface",
            "store",
            "--interface",
            "atomics",
        ])?
        .ok()?;
    let url = lattice.route("counter")?;
    let (_, _, body) = wait_for_http(&format!("{url}/incr"), 200, ROUTE_READY).await?;
    assert_eq!(body, b"1");
    let (_, _, body) = http_get(&format!("{url}/incr")).await?;
    assert_eq!(body, b"2");
    let restarts = "trellis_provider_restarts_total{provider=\"kv\"} ";
    assert_eq!(trellis_tests::scrape_one(a_metrics, restarts).await?, 0);
    // The provider process serves its own metrics (config `metrics_addr`):
    // two increments, each an open and an increment it answered.
    let served = "trellis_provider_served_calls_total{interface=\"keyvalue\",outcome=\"ok\"} ";
    assert_eq!(
        trellis_tests::scrape_one(provider_metrics, served).await?,
        4
    );
    let healthy = "trellis_provider_healthy ";
    assert_eq!(
        trellis_tests::scrape_one(provider_metrics, healthy).await?,
        1
    );

    // Kill the provider process; its host notices, says so, and restarts it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first_pid),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let gone = next_event(&mut stopped, "provider_id", "kv").await?;
    assert!(
        gone["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("SIGKILL"),
        "{gone}"
    );
    let second = next_event(&mut started, "provider_id", "kv").await?;
    let second_pid = second["process_id"].as_i64().unwrap_or_default() as i32;
    assert_ne!(second_pid, first_pid);
    // provider_started comes once the new process answers health, which
    // it does only after it serves calls: the next increment works.
    let (status, _, body) = http_get(&format!("{url}/incr")).await?;
    assert_eq!((status, body.as_slice()), (200, &b"3"[..]));
    assert_eq!(trellis_tests::scrape_one(a_metrics, restarts).await?, 1);
    // The new process counts from its start: the one increment since.
    assert_eq!(
        trellis_tests::scrape_one(provider_metrics, served).await?,
        2
    );
    // The counter on b reached the provider on a across NATS: each
    // increment is two answered requests (open, increment), none lost.
    let answered = "trellis_host_lattice_requests_total{outcome=\"answered\"} ";
    assert!(trellis_tests::scrape_one(b_metrics, answered).await? >= 6);
    let timed_out = "trellis_host_lattice_requests_total{outcome=\"timed_out\"} ";
    assert_eq!(trellis_tests::scrape_one(b_metrics, timed_out).await?, 0);

    // Stopping it ends the process.
    lattice.cli.run(&["stop", "provider", "kv"])?.ok()?;
    let last = next_event(&mut stopped, "provider_id", "kv").await?;
    assert_eq!(last["reason"], "stopped");
    assert!(!alive(second_pid), "provider process outlived its stop");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_does_not_outlive_a_host_killed_with_sigkill() -> anyhow::Result<()> {
    let lattice = Lattice::start("orphan", &[])?;
    let client = lattice.nats_client().await?;
    let mut started = client
        .subscribe(Subject::event(&lattice.lattice(), EventType::ProviderStarted).to_string())
        .await?;
    client.flush().await?;
    let data = tempfile::tempdir()?;
    let path = format!("path={}", data.path().display());
    lattice
        .cli
        .run(&["config", "put", "kv-data", &path])?
        .ok()?;
    let exe = target_dir().join("debug/trellis-provider-keyvalue-sled");
    let image = format!("file://{}", exe.display());
    let host = lattice.a.id();
    let args = [
        "start", "provider", &image, "kv", "--host", host, "--config", "kv-data",
    ];
    lattice.cli.run(&args)?.ok()?;
    let event = next_event(&mut started, "provider_id", "kv").await?;
    let pid = event["process_id"].as_i64().context("a pid")? as i32;
    assert!(alive(pid));

    // SIGKILL leaves the host no chance to stop its children; the
    // provider must notice by itself and exit.
    lattice.a.sigkill()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while alive(pid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!alive(pid), "provider {pid} outlived its host");
    Ok(())
}
