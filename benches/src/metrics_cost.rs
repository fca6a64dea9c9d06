//! What metrics and tracing cost a request: hello-http served locally by a
//! host that keeps latency histograms, is scraped every second
//! (`--metrics-addr`) and traces every hop with an OTLP exporter set up
//! at sampling 0 (`--otlp-endpoint`, `--trace-sampling 0`: spans are made
//! and their context flows, none is exported), against a host started
//! alike without either, in the same run, three rounds in alternating
//! order.

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
    /// The host without metrics (each measurement).
    pub off: Vec<LoadResult>,
    /// The metrics host, scraped every second and tracing at sampling 0
    /// (each measurement).
    pub on: Vec<LoadResult>,
    /// Scrapes answered 200 while the on side ran.
    pub scrapes: u64,
}

fn mean(results: &[LoadResult]) -> f64 {
    results.iter().map(|r| r.rps).sum::<f64>() / results.len().max(1) as f64
}

/// A host of its own serving hello-http locally (its own HTTP provider)
/// on the returned address, started with `extra_args`.
async fn serving_host(
    lattice: &Lattice,
    name: &str,
    extra_args: Vec<String>,
) -> anyhow::Result<(Host, SocketAddr)> {
    let host = Host::spawn(
        &lattice.nats,
        HostOpts {
            lattice: lattice.name.clone(),
            name: name.into(),
            extra_args,
            ..HostOpts::default()
        },
    )?;
    let cli = &lattice.cli;
    let (provider, component) = (format!("http-{name}"), format!("hello-{name}"));
    setup::run(
        cli,
        &[
            "start",
            "provider",
            "builtin://http-server",
            &provider,
            "--host",
            host.id(),
        ],
    )?;
    let image = format!("file://{}", actor("hello_http").display());
    setup::start_component(cli, &image, &component, &host)?;
    let port = free_port();
    let config = format!("{component}-addr");
    setup::run(
        cli,
        &[
            "config",
            "put",
            &config,
            &format!("address=127.0.0.1:{port}"),
        ],
    )?;
    setup::run(
        cli,
        &[
            "link",
            "put",
            &provider,
            &component,
            "wasi",
            "http",
            "--interface",
            "incoming-handler",
            "--name",
            &component,
            "--source-config",
            &config,
        ],
    )?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    setup::wait_ready(addr).await?;
    Ok((host, addr))
}

/// Starts two hosts alike but for metrics next to `lattice`'s and
/// measures both.
pub(crate) async fn measure(
    lattice: &Lattice,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<MetricsCost> {
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let collector = trellis_tests::OtlpReceiver::start().await?;
    let observed = vec![
        "--metrics-addr".into(),
        metrics_addr.to_string(),
        "--otlp-endpoint".into(),
        collector.endpoint(),
        "--trace-sampling".into(),
        "0".into(),
    ];
    let (off_host, off_addr) = serving_host(lattice, "plain", Vec::new()).await?;
    let (on_host, on_addr) = serving_host(lattice, "metered", observed).await?;
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (mut off, mut on) = (Vec::new(), Vec::new());
    // Off first, then on first, then off first: a machine that slows down
    // (or warms up) during the row does not favour one side.
    for round in 0..3 {
        if round % 2 == 0 {
            off.push(load::run(off_addr, "/", concurrency, warmup, measure).await?);
        }
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
        if round % 2 == 1 {
            off.push(load::run(off_addr, "/", concurrency, warmup, measure).await?);
        }
    }
    let scrapes = answered.load(std::sync::atomic::Ordering::Relaxed);
    drop((off_host, on_host));
    let exported = collector.spans().len();
    anyhow::ensure!(exported == 0, "sampling 0 exported {exported} spans");
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
            "metrics + tracing cost (hello, local)", "conc", "req/s", "on/off"
        );
        let _ = writeln!(
            out,
            "{:<40} {:>5} {:>10.0} {:>9}",
            "metrics and tracing off", self.concurrency, off, "1.00x"
        );
        let _ = writeln!(
            out,
            "{:<40} {:>5} {:>10.0} {:>8.2}x",
            "metrics (scraped 1/s) + tracing (0)",
            self.concurrency,
            on,
            if off > 0.0 { on / off } else { 0.0 }
        );
        out
    }
}
