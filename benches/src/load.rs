//! A closed-loop HTTP/1.1 load generator: `concurrency` workers, each with
//! one keep-alive connection, send the next request when the last answer
//! arrived. Latency of every request after the warm-up is kept, so the
//! percentiles are exact, not estimated from buckets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde::Serialize;

/// Bound on one request: past it the request counts as an error.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What one load run measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoadResult {
    /// Concurrent connections.
    pub concurrency: usize,
    /// Successful (200) requests after the warm-up.
    pub requests: u64,
    /// Failed or non-200 requests after the warm-up.
    pub errors: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
}

/// Drives `GET path` at `addr` for `warmup` + `measure`.
pub(crate) async fn run(
    addr: SocketAddr,
    path: &str,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<LoadResult> {
    Ok(run_samples(addr, path, concurrency, warmup, measure)
        .await?
        .summary())
}

/// [`run`], keeping every latency.
pub(crate) async fn run_samples(
    addr: SocketAddr,
    path: &str,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Samples> {
    closed_loop(concurrency, warmup, measure, |start, end| {
        worker(addr, path.to_owned(), start, end)
    })
    .await
}

/// Runs `concurrency` closed-loop workers, each made by `make(start, end)`
/// (measuring from `start`, the end of `warmup`, until `end`), and keeps
/// every latency.
pub(crate) async fn closed_loop<F, Fut>(
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    mut make: F,
) -> anyhow::Result<Samples>
where
    F: FnMut(Instant, Instant) -> Fut,
    Fut: Future<Output = WorkerResult> + Send + 'static,
{
    let start = Instant::now() + warmup;
    let end = start + measure;
    let workers = (0..concurrency)
        .map(|_| tokio::spawn(make(start, end)))
        .collect();
    collect_samples(workers, measure).await
}

/// What a closed-loop worker kept: the latency of every successful request
/// after the warm-up, and how many failed.
pub(crate) type WorkerResult = anyhow::Result<(Vec<Duration>, u64)>;

/// What one closed-loop worker saw after the warm-up: latencies of the
/// requests that succeeded, and a count of the ones that did not.
pub(crate) struct Tally {
    start: Instant,
    latencies: Vec<Duration>,
    errors: u64,
}

impl Tally {
    /// Counting starts at `start` (the end of the warm-up).
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            start,
            latencies: Vec::new(),
            errors: 0,
        }
    }

    /// Records one request sent at `t0` that just ended.
    pub(crate) fn record(&mut self, t0: Instant, ok: bool) {
        let elapsed = t0.elapsed();
        if t0 >= self.start {
            if ok {
                self.latencies.push(elapsed);
            } else {
                self.errors += 1;
            }
        }
    }

    /// The worker's result.
    pub(crate) fn finish(self) -> WorkerResult {
        Ok((self.latencies, self.errors))
    }
}

/// Waits for the `workers` of one closed-loop run of `measure` and keeps
/// every latency, to be merged with other runs of the same row.
pub(crate) async fn collect_samples(
    workers: Vec<tokio::task::JoinHandle<WorkerResult>>,
    measure: Duration,
) -> anyhow::Result<Samples> {
    let mut samples = Samples {
        measured: measure,
        ..Samples::empty(workers.len())
    };
    for w in workers {
        let (mut l, e) = w.await.context("load worker panicked")??;
        samples.latencies.append(&mut l);
        samples.errors += e;
    }
    Ok(samples)
}

/// Every latency of one or more closed-loop runs of the same row.
pub(crate) struct Samples {
    concurrency: usize,
    latencies: Vec<Duration>,
    errors: u64,
    measured: Duration,
}

impl Samples {
    /// No run yet, at `concurrency`.
    pub(crate) fn empty(concurrency: usize) -> Self {
        Samples {
            concurrency,
            latencies: Vec::new(),
            errors: 0,
            measured: Duration::ZERO,
        }
    }

    /// Adds another run of the same row (same concurrency) to this one.
    pub(crate) fn merge(&mut self, mut other: Samples) {
        self.latencies.append(&mut other.latencies);
        self.errors += other.errors;
        self.measured += other.measured;
    }

    /// Throughput and exact percentiles over every kept latency.
    pub(crate) fn summary(mut self) -> LoadResult {
        let latencies = &mut self.latencies;
        latencies.sort_unstable();
        let pct = |p: f64| -> f64 {
            if latencies.is_empty() {
                return f64::NAN;
            }
            let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
            latencies[i].as_secs_f64() * 1e6
        };
        LoadResult {
            concurrency: self.concurrency,
            requests: latencies.len() as u64,
            errors: self.errors,
            rps: latencies.len() as f64 / self.measured.as_secs_f64(),
            p50_us: pct(0.50),
            p99_us: pct(0.99),
        }
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::time::timeout(REQUEST_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .context("connect timed out")??;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn worker(addr: SocketAddr, path: String, start: Instant, end: Instant) -> WorkerResult {
    let mut tally = Tally::new(start);
    let mut sender = connect(addr).await?;
    while Instant::now() < end {
        let request = hyper::Request::get(path.as_str())
            .header("host", addr.to_string())
            .body(Empty::<Bytes>::new())?;
        let t0 = Instant::now();
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            anyhow::Ok(status)
        })
        .await;
        tally.record(t0, matches!(outcome, Ok(Ok(status)) if status == 200));
        if !matches!(outcome, Ok(Ok(_))) {
            sender = connect(addr).await?;
        }
    }
    tally.finish()
}

/// One `GET path` on a fresh connection; the status code.
pub(crate) async fn get_once(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    Ok(get_body(addr, path).await?.0)
}

/// One `GET path` on a fresh connection; the status code and the body.
pub(crate) async fn get_body(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, Bytes)> {
    let mut sender = connect(addr).await?;
    let request = hyper::Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())?;
    tokio::time::timeout(REQUEST_TIMEOUT, async {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    })
    .await
    .context("request timed out")?
}
