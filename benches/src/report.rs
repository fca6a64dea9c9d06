//! The results: one table for people, one JSON file for machines.

use std::fmt::Write;

use serde::Serialize;

use crate::capability::Capability;
use crate::cold_start::ColdStart;
use crate::density::Density;
use crate::load::LoadResult;
use crate::mesh::Mesh;
use crate::orchestration::Orchestration;

/// Where the numbers were taken.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// Total memory, MiB (from /proc/meminfo).
    pub memory_mib: u64,
}

impl Machine {
    /// This machine.
    pub(crate) fn here() -> Self {
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_mib: memory_kib / 1024,
        }
    }
}

/// HTTP hello world at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HttpRow {
    /// Concurrent connections.
    pub concurrency: usize,
    /// Provider and component on one host.
    pub local: LoadResult,
    /// Provider on host a, component on host b.
    pub remote: LoadResult,
    /// `wasmtime serve`, when installed.
    pub wasmtime: Option<LoadResult>,
    /// nginx `return 200` (the HTTP stack alone), when installed.
    pub nginx: Option<LoadResult>,
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Results {
    /// The machine.
    pub machine: Machine,
    /// `wasmtime --version` of the reference.
    pub wasmtime_version: Option<String>,
    /// Seconds measured per load row.
    pub measure_seconds: u64,
    /// HTTP rows.
    pub http: Vec<HttpRow>,
    /// One hello world per toolchain.
    pub languages: Vec<crate::languages::LanguageRow>,
    /// Component-to-component call rows.
    pub mesh: Option<Mesh>,
    /// Cold start rows.
    pub cold_start: Vec<ColdStart>,
    /// Capability call rows.
    pub capability: Option<Capability>,
    /// Density rows.
    pub density: Option<Density>,
    /// Orchestration rows.
    pub orchestration: Option<Orchestration>,
}

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

impl Results {
    /// The human table.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "machine: {} cpus, {} MiB; reference: {}",
            self.machine.cpus,
            self.machine.memory_mib,
            self.wasmtime_version
                .as_deref()
                .unwrap_or("wasmtime serve not installed")
        );
        if !self.http.is_empty() {
            let _ = writeln!(
                out,
                "{:<26} {:>5} {:>10} {:>10} {:>10} {:>9} {:>9} {:>7}",
                "row", "conc", "req/s", "p50 us", "p99 us", "rps/ref", "p99/ref", "errors"
            );
        }
        for row in &self.http {
            let reference = row.wasmtime.as_ref();
            let mut line = |name: &str, r: &LoadResult, is_ref: bool| {
                let (rps, p99) = if is_ref {
                    ("1.00x".to_owned(), "1.00x".to_owned())
                } else {
                    (
                        ratio(r.rps, reference.map(|x| x.rps)),
                        ratio(r.p99_us, reference.map(|x| x.p99_us)),
                    )
                };
                let _ = writeln!(
                    out,
                    "{:<26} {:>5} {:>10.0} {:>10.0} {:>10.0} {:>9} {:>9} {:>7}",
                    name, row.concurrency, r.rps, r.p50_us, r.p99_us, rps, p99, r.errors
                );
            };
            if let Some(w) = reference {
                line("http wasmtime serve (ref)", w, true);
            }
            if let Some(n) = &row.nginx {
                line("http nginx return 200", n, false);
            }
            line("http trellis local", &row.local, false);
            line("http trellis remote (nats)", &row.remote, false);
        }
        for row in &self.http {
            if let Some(n) = &row.nginx {
                let _ = writeln!(
                    out,
                    "trellis local / nginx at conc {}: {} req/s",
                    row.concurrency,
                    ratio(row.local.rps, Some(n.rps))
                );
            }
        }
        if !self.languages.is_empty() {
            let _ = writeln!(
                out,
                "{:<30} {:>5} {:>10} {:>10} {:>9} {:>7}",
                "language (hello world)", "conc", "req/s", "ref req/s", "rps/ref", "errors"
            );
        }
        for row in &self.languages {
            let reference = row.wasmtime.as_ref().map(|w| w.rps);
            let _ = writeln!(
                out,
                "{:<30} {:>5} {:>10.0} {:>10} {:>9} {:>7}",
                row.language,
                row.trellis.concurrency,
                row.trellis.rps,
                reference.map_or("-".into(), |r| format!("{r:.0}")),
                ratio(row.trellis.rps, reference),
                row.trellis.errors + row.wasmtime.as_ref().map_or(0, |w| w.errors)
            );
        }
        if let Some(m) = &self.mesh {
            mesh_table(&mut out, m);
        }
        if !self.cold_start.is_empty() {
            let _ = writeln!(
                out,
                "{:<26} {:>5} {:>10} {:>10}",
                "cold start", "runs", "p50 ms", "p99 ms"
            );
        }
        for c in &self.cold_start {
            let _ = writeln!(
                out,
                "{:<26} {:>5} {:>10.2} {:>10.2}",
                match c.cache {
                    "compile" => "compile alone (reference)".to_owned(),
                    cache => format!("cold start, {cache} cache"),
                },
                c.runs,
                c.p50_ms,
                c.p99_ms
            );
        }
        if let Some(c) = &self.capability {
            let _ = writeln!(
                out,
                "{:<26} {:>10} {:>10} {:>16}",
                "capability (conc 1)", "p50 us", "p99 us", "p50 - hello us"
            );
            for (name, r) in [
                ("hello-http (baseline)", &c.baseline),
                ("kv get, provider local", &c.get_local),
                ("kv get, provider remote", &c.get_remote),
                ("kv incr, provider local", &c.local),
                ("kv incr, provider remote", &c.remote),
            ] {
                let _ = writeln!(
                    out,
                    "{:<26} {:>10.0} {:>10.0} {:>16.0}",
                    name,
                    r.p50_us,
                    r.p99_us,
                    r.p50_us - c.baseline.p50_us
                );
            }
        }
        if let Some(d) = &self.density {
            let _ = writeln!(
                out,
                "density: {} components: RSS {:.1} -> {:.1} MiB ({:.0} KiB each, scaled in {:.1} s); {} requests in flight: peak {:.1} MiB",
                d.components,
                d.rss_before_mib,
                d.rss_after_mib,
                d.rss_per_component_kib,
                d.scale_seconds,
                d.in_flight,
                d.in_flight_peak_mib
            );
        }
        if let Some(o) = &self.orchestration {
            let _ = writeln!(
                out,
                "orchestration: {} apps on {} hosts deployed in {:.1} s; a killed host's share back in {:.1} s",
                o.apps, o.hosts, o.deploy_seconds, o.restore_seconds
            );
        }
        out
    }
}

/// The mesh rows: each chain next to hello-http at the same concurrency,
/// what one call adds (half the difference: two calls per request), and a
/// remote call against a bare NATS request-reply.
fn mesh_table(out: &mut String, mesh: &Mesh) {
    let _ = writeln!(
        out,
        "{:<30} {:>5} {:>10} {:>10} {:>10} {:>9} {:>10} {:>11} {:>7}",
        "mesh (GET /, 2 calls)",
        "conc",
        "req/s",
        "p50 us",
        "p99 us",
        "rps/base",
        "+p50/call",
        "+1/rps/call",
        "errors"
    );
    for row in &mesh.rows {
        let mut line = |name: &str, r: &LoadResult, chain: bool| {
            let (rps, p50, by_rps) = if chain {
                (
                    ratio(r.rps, Some(row.baseline.rps)),
                    format!("{:.1}", row.added_p50_us(r)),
                    format!("{:.1}", row.added_rps_us(r)),
                )
            } else {
                ("-".into(), "-".into(), "-".into())
            };
            let _ = writeln!(
                out,
                "{:<30} {:>5} {:>10.0} {:>10.0} {:>10.0} {:>9} {:>10} {:>11} {:>7}",
                name, row.concurrency, r.rps, r.p50_us, r.p99_us, rps, p50, by_rps, r.errors
            );
        };
        line("hello-http (baseline)", &row.baseline, false);
        line("chain, calls in process", &row.local, true);
        line("chain, calls across hosts", &row.remote, true);
        line("chain, in process, reuse", &row.local_reuse, true);
        line("chain, across hosts, reuse", &row.remote_reuse, true);
        line("bare NATS request-reply", &row.nats, false);
        line("bare NATS, other process", &row.nats_process, false);
        line("pong.ping, bench -> host a", &row.direct, false);
    }
    for hop in &mesh.hops {
        let _ = writeln!(
            out,
            "mesh call on NATS: {} (request {} + {} header bytes, reply {} + {})",
            hop.subject,
            hop.request_payload,
            hop.request_headers,
            hop.reply_payload,
            hop.reply_headers
        );
    }
    for row in &mesh.rows {
        for (instances, local, remote) in [
            ("fresh instances", &row.local, &row.remote),
            ("instance reuse", &row.local_reuse, &row.remote_reuse),
        ] {
            let _ = writeln!(
                out,
                "mesh, {instances}: local call adds {:.1} us p50 per call (c={}), {:.1} us by \
                 req/s; remote call adds {:.1} us p50 = {:.2}x a bare NATS request-reply \
                 answered by another process ({:.0} us p50), {:.2}x by req/s; {:.2}x / {:.2}x \
                 one answered in the bench process ({:.0} us p50)",
                row.added_p50_us(local),
                row.concurrency,
                row.added_rps_us(local),
                row.added_p50_us(remote),
                row.remote_vs_p50(remote, &row.nats_process),
                row.nats_process.p50_us,
                row.remote_vs_rps(remote, &row.nats_process),
                row.remote_vs_p50(remote, &row.nats),
                row.remote_vs_rps(remote, &row.nats),
                row.nats.p50_us,
            );
        }
    }
}
