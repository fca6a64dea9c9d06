//! Density: RSS of a host with many scaled components, and its memory high
//! water mark while many requests are in flight on one component.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use trellis_lattice::{Lattice, LatticeConfig};
use trellis_protocol::{HostId, LatticeName};
use trellis_tests::{Cli, Host, HostOpts, NatsServer, unique_lattice};

use crate::cold_start::scale_component;

/// What the density rows measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Density {
    /// Components scaled.
    pub components: usize,
    /// Host RSS before, MiB.
    pub rss_before_mib: f64,
    /// Host RSS with all of them scaled, MiB.
    pub rss_after_mib: f64,
    /// (after - before) / components, KiB.
    pub rss_per_component_kib: f64,
    /// Seconds to scale them all.
    pub scale_seconds: f64,
    /// Requests held in flight at once on one component.
    pub in_flight: usize,
    /// Host memory high water mark during them, MiB.
    pub in_flight_peak_mib: f64,
}

/// `VmRSS` or `VmHWM` of `pid`, MiB.
fn proc_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .with_context(|| format!("{field} missing in /proc/{pid}/status"))?;
    Ok(kib / 1024.0)
}

/// Scales `components` copies of hello-http on a fresh host, then holds
/// `in_flight` requests on misbehave's `/loop` (stopped by the deadline).
pub(crate) async fn measure(components: usize, in_flight: usize) -> anyhow::Result<Density> {
    let nats = NatsServer::start()?;
    let name = unique_lattice("density");
    let host = Host::spawn(
        &nats,
        HostOpts {
            lattice: name.clone(),
            name: "dense".into(),
            extra_args: vec![
                "--max-execution-ms".into(),
                "1500".into(),
                "--max-instances".into(),
                (in_flight + 16).to_string(),
            ],
            ..HostOpts::default()
        },
    )?;
    let client = Lattice::connect(&LatticeConfig {
        nats_url: nats.url(),
        lattice: LatticeName::new(name.clone())?,
        ..LatticeConfig::default()
    })
    .await?;
    let host_id = HostId::new(host.id())?;
    let bytes = std::fs::read(trellis_tests::actor("hello_http"))?;
    let artifact = client.store().await?.put_artifact(&bytes).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = proc_mib(host.pid(), "VmRSS:")?;
    let t0 = Instant::now();
    for i in 0..components {
        let id = format!("dense-{i}");
        scale_component(&client, &host_id, &id, Some(artifact.clone()), 1).await?;
    }
    let scale_seconds = t0.elapsed().as_secs_f64();
    let rss_after = proc_mib(host.pid(), "VmRSS:")?;

    // In-flight: misbehave's /loop spins until the execution deadline.
    let cli = Cli::new(&nats, &name);
    let run = |args: &[&str]| -> anyhow::Result<()> {
        cli.run(args)?.ok()?;
        Ok(())
    };
    let image = format!("file://{}", trellis_tests::actor("misbehave").display());
    let max = in_flight.to_string();
    run(&["start", "provider", "builtin://http-server", "http"])?;
    run(&["start", "component", &image, "spin", "--max", &max])?;
    let port = trellis_tests::free_port();
    run(&[
        "config",
        "put",
        "spin-addr",
        &format!("address=127.0.0.1:{port}"),
    ])?;
    run(&[
        "link",
        "put",
        "http",
        "spin",
        "wasi",
        "http",
        "--interface",
        "incoming-handler",
        "--source-config",
        "spin-addr",
    ])?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    crate::setup::wait_ready(addr).await?;
    let requests: Vec<_> = (0..in_flight)
        .map(|_| tokio::spawn(crate::load::get_once(addr, "/loop")))
        .collect();
    for r in requests {
        // Each ends with the deadline's 503/500; only the memory matters.
        let _ = r.await;
    }
    let peak = proc_mib(host.pid(), "VmHWM:")?;
    Ok(Density {
        components,
        rss_before_mib: rss_before,
        rss_after_mib: rss_after,
        rss_per_component_kib: (rss_after - rss_before) * 1024.0 / components as f64,
        scale_seconds,
        in_flight,
        in_flight_peak_mib: peak,
    })
}
