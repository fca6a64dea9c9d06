//! A real Prometheus (Debian's `prometheus` package) scraping the given
//! targets every second, with its query API for assertions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::http::{http_get, wait_for_http};
use crate::paths::free_port;
use crate::process::Process;

/// How long Prometheus may take to be ready.
const READY: Duration = Duration::from_secs(30);

/// The prometheus executable: `PROMETHEUS_BIN`, then PATH, then /usr/bin.
pub fn prometheus_bin() -> anyhow::Result<PathBuf> {
    crate::paths::system_bin("PROMETHEUS_BIN", "prometheus").with_context(|| {
        "prometheus is not installed: run `apt-get install --no-install-recommends prometheus` \
         (or scripts/install-deps.sh), or set PROMETHEUS_BIN"
    })
}

/// A running Prometheus; killed when dropped.
pub struct Prometheus {
    process: Process,
    port: u16,
    /// Its config and database.
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts one that scrapes `targets` (`host:port`, path /metrics)
    /// every second, and waits until it is ready.
    pub async fn start(targets: &[SocketAddr]) -> anyhow::Result<Prometheus> {
        let bin = prometheus_bin()?;
        let port = free_port();
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global: {{ scrape_interval: 1s, scrape_timeout: 1s }}\n\
             scrape_configs:\n  - job_name: trellis\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        );
        let mut cmd = Command::new(bin);
        let dir = tempfile::Builder::new()
            .prefix("trellis-prometheus-")
            .tempdir()?;
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config)?;
        cmd.arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let process = Process::spawn(cmd, "prometheus")?;
        let prometheus = Prometheus {
            process,
            port,
            _dir: dir,
        };
        wait_for_http(&prometheus.url("/-/ready"), 200, READY)
            .await
            .with_context(|| {
                format!("prometheus never got ready:\n{}", prometheus.process.log())
            })?;
        Ok(prometheus)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The values of an instant query's result vector.
    pub async fn query(&self, promql: &str) -> anyhow::Result<Vec<f64>> {
        let url = reqwest::Url::parse_with_params(&self.url("/api/v1/query"), [("query", promql)])?;
        let (status, _, body) = http_get(url.as_str()).await?;
        let reply: serde_json::Value = serde_json::from_slice(&body)
            .with_context(|| format!("query {promql}: status {status}, not JSON"))?;
        anyhow::ensure!(reply["status"] == "success", "query {promql}: {reply}");
        reply["data"]["result"]
            .as_array()
            .context("no result vector")?
            .iter()
            .map(|sample| {
                sample["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .with_context(|| format!("query {promql}: bad sample {sample}"))
            })
            .collect()
    }

    /// Polls `promql` until its single value satisfies `want`, or fails
    /// after `timeout` with the last answer.
    pub async fn wait_for(
        &self,
        promql: &str,
        want: impl Fn(f64) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<f64> {
        let values = self
            .wait_until(promql, |values| matches!(values, [v] if want(*v)), timeout)
            .await?;
        Ok(values[0])
    }

    /// Polls `promql` until it returns any sample (a `rate()` needs two
    /// scrapes of a series inside its window), or fails after `timeout`.
    pub async fn wait_for_data(&self, promql: &str, timeout: Duration) -> anyhow::Result<Vec<f64>> {
        self.wait_until(promql, |values| !values.is_empty(), timeout)
            .await
    }

    async fn wait_until(
        &self,
        promql: &str,
        done: impl Fn(&[f64]) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Vec<f64>> {
        let deadline = Instant::now() + timeout;
        loop {
            let values = self.query(promql).await?;
            if done(&values) {
                return Ok(values);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{promql} answered {values:?} for {timeout:?}; targets: {}",
                    self.targets().await.unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Prometheus' own view of its targets (health, last error), for
    /// failure messages.
    pub async fn targets(&self) -> anyhow::Result<String> {
        let (_, _, body) = http_get(&self.url("/api/v1/targets")).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// The `/metrics` page of a Trellis process at `addr`, as Prometheus
/// would read it.
pub async fn scrape(addr: SocketAddr) -> anyhow::Result<String> {
    let (status, _, body) = http_get(&format!("http://{addr}/metrics")).await?;
    anyhow::ensure!(status == 200, "GET http://{addr}/metrics answered {status}");
    Ok(String::from_utf8(body)?)
}

/// The one sample of `series` (name and labels, then a space) on the
/// metrics page at `addr`, as a count.
pub async fn scrape_one(addr: SocketAddr, series: &str) -> anyhow::Result<u64> {
    let page = scrape(addr).await?;
    match samples(&page, series)?[..] {
        [value] => Ok(value as u64),
        _ => anyhow::bail!("no single {series} in\n{page}"),
    }
}

/// The values of the samples on `page` whose name and labels start with
/// `series` (e.g. `trellis_component_invocations_total{`).
pub fn samples(page: &str, series: &str) -> anyhow::Result<Vec<f64>> {
    page.lines()
        .filter(|line| line.starts_with(series))
        .map(|line| {
            let value = line.rsplit(' ').next().unwrap_or_default();
            value
                .parse::<f64>()
                .with_context(|| format!("bad sample line {line:?}"))
        })
        .collect()
}
