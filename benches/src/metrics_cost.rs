//! What metrics cost a request: hello-http served locally by a host that
//! keeps latency histograms and is scraped every second (`--metrics-addr`)
//! against the same component on the bench lattice's host a, which keeps
//! neither, in the same run. Measured alternately (off, on, off, on) so a
//! drift of the machine hits both sides.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use trellis_tests::{Host, HostOpts, actor, free_port};

use crate::load::{self, LoadResult};
use crate::setup::{self, Lattice};

/// How often the scraper asks for /metrics (Prometheus' usual is 15 s;
/// this is the harsh end).
const SCRAPE_EVERY: Duration = Duration::from_secs(1);

/// The metrics row.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MetricsCost {
    /// Concurrent connections.
    pub concurrency: usize,
    /// Host a, no metrics (each measurement).
    pub off: Vec<LoadResult>,
    /// The metrics host, scraped every second (each measurement).
    pub on: Vec<LoadResult>,
    /// Scrapes answered 200 while the on side ran.
    pub scrapes: u64,
}

fn mean(results: &[LoadResult]) -> f64 {
    results.iter().map(|r| r.rps).sum::<f64>() / results.len().max(1) as f64
}

/// Starts the metrics host next to `lattice`'s and measures both.
pub(crate) async fn measure(
    lattice: &Lattice,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<MetricsCost> {
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let host = Host::spawn(
        &lattice.nats,
        HostOpts {
            lattice: lattice.name.clone(),
            name: "m".into(),
            extra_args: vec!["--metrics-addr".into(), metrics_addr.to_string()],
            ..HostOpts::default()
        },
    )?;
    let cli = &lattice.cli;
    setup::run(
        cli,
        &[
            "start",
            "provider",
            "builtin://http-server",
            "http-m",
            "--host",
            host.id(),
        ],
    )?;
    let image = format!("file://{}", actor("hello_http").display());
    setup::start_component(cli, &image, "hello-metrics", &host)?;
    let port = free_port();
    let config = "hello-metrics-addr";
    setup::run(
        cli,
        &[
            "config",
            "put",
            config,
            &format!("address=127.0.0.1:{port}"),
        ],
    )?;
    setup::run(
        cli,
        &[
            "link",
            "put",
            "http-m",
            "hello-metrics",
            "wasi",
            "http",
            "--interface",
            "incoming-handler",
            "--name",
            "hello-metrics",
            "--source-config",
            config,
        ],
    )?;
    let on_addr = SocketAddr::from(([127, 0, 0, 1], port));
    setup::wait_ready(on_addr).await?;

    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        off.push(load::run(lattice.local, "/", concurrency, warmup, measure).await?);
        let counter = answered.clone();
        let scraper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(SCRAPE_EVERY).await;
                if let Ok(200) = load::get_once(metrics_addr, "/metrics").await {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        on.push(load::run(on_addr, "/", concurrency, warmup, measure).await?);
        scraper.abort();
    }
    let scrapes = answered.load(std::sync::atomic::Ordering::Relaxed);
    drop(host);
    Ok(MetricsCost {
        concurrency,
        off,
        on,
        scrapes,
    })
}

impl MetricsCost {
    /// The human table.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let (off, on) = (mean(&self.off), mean(&self.on));
        let _ = writeln!(
            out,
            "{:<40} {:>5} {:>10} {:>9}",
            "metrics cost (hello, local)", "conc", "req/s", "on/off"
        );
        let _ = writeln!(
            out,
            "{:<40} {:>5} {:>10.0} {:>9}",
            "metrics off", self.concurrency, off, "1.00x"
        );
        let _ = writeln!(
            out,
            "{:<40} {:>5} {:>10.0} {:>8.2}x",
            "metrics on, scraped every 1 s",
            self.concurrency,
            on,
            if off > 0.0 { on / off } else { 0.0 }
        );
        out
    }
}
