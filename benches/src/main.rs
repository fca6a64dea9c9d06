//! `trellis-bench`: measures Trellis against `wasmtime serve` with the
//! same component, in the same run, and prints ratios.
//!
//! Run it through `scripts/bench.sh` (release build, wasmtime-cli install).
//! Flags: `--smoke` (a few seconds: does it start, does it print),
//! `--seconds N` (measure time per load row, default 10),
//! `--concurrency LIST` (the http and mesh rows' concurrencies, default
//! 1,16,64),
//! `--out FILE` (JSON, default `target/bench/results.json`),
//! `--rows http,languages,mesh,messaging,metrics,cold,capability,density,orchestration,scale`
//! (default all but `scale`, which runs for minutes; the smoke run does
//! http and cold), `--scale-hosts N` and `--scale-apps N` (the scale
//! row's simulated hosts and apps, default 1000 and 10000) and
//! `--scale-heartbeat-ms N` (their heartbeat, default 5000, a host's).
//! The http rows also
//! measure nginx (`return 200`) when it is installed, as the HTTP-stack
//! reference; the mesh rows measure component-to-component calls at the
//! same concurrencies as the http rows; the messaging rows measure NATS
//! messages handled by a component through `builtin://messaging-nats` (one
//! host) against a bare NATS responder, at concurrency 16 (throughput) and
//! 1 (latency), printed after the table and kept under `messaging` in the
//! JSON; the metrics row measures hello-http locally on a host with
//! `--metrics-addr`, scraped every second, against a host started alike
//! without metrics at concurrency 16, alternately, and prints on/off (JSON
//! `metrics`).

mod capability;
mod cold_start;
mod density;
mod languages;
mod load;
mod mesh;
mod messaging;
mod metrics_cost;
mod nats;
mod nginx;
mod orchestration;
mod report;
mod responder;
mod scale;
mod setup;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use trellis_tests::actor;

/// Settings from the command line.
struct Settings {
    smoke: bool,
    measure: Duration,
    out: PathBuf,
    rows: Vec<String>,
    /// Concurrencies of the http and mesh rows (`--concurrency 16` to
    /// profile one).
    concurrency: Option<Vec<usize>>,
    /// The scale row's size.
    scale: scale::ScaleSettings,
}

const ROWS: &[&str] = &[
    "http",
    "languages",
    "mesh",
    "messaging",
    "metrics",
    "cold",
    "capability",
    "density",
    "orchestration",
    "scale",
];

/// Rows left out unless asked for by name.
const LONG_ROWS: &[&str] = &["scale"];

/// What `--help` prints.
const USAGE: &str = "\
usage: trellis-bench [--smoke] [--seconds N] [--concurrency LIST] [--rows LIST]
                     [--out FILE] [--scale-hosts N] [--scale-apps N] [--scale-heartbeat-ms N]

  --smoke               a few seconds: does it start, does it print (http and cold rows)
  --seconds N           measure time per load row (default 10)
  --concurrency LIST    concurrencies of the http and mesh rows (default 1,16,64)
  --rows LIST           rows to run (default all but {long}), from
                        {rows}
  --out FILE            JSON results (default target/bench/results.json)
  --scale-hosts N       the scale row's simulated hosts (default 1000)
  --scale-apps N        the scale row's apps (default 10000)
  --scale-heartbeat-ms N
                        the simulated hosts' heartbeat (default 5000)
  -h, --help            this text

Environment: NATS_SERVER_BIN (the nats-server to start; default the one
scripts/install-deps.sh installs, else PATH), TRELLIS_BIN (the trellis binary
the hosts run; default the one beside this binary), TRELLIS_CHILD_LOG (the
hosts' log filter; default info). docs/benchmarks.md says what each row
measures.
";

fn settings() -> anyhow::Result<Settings> {
    let mut s = Settings {
        smoke: false,
        measure: Duration::from_secs(10),
        out: trellis_tests::target_dir().join("bench/results.json"),
        rows: ROWS
            .iter()
            .filter(|r| !LONG_ROWS.contains(r))
            .map(|r| r.to_string())
            .collect(),
        concurrency: None,
        scale: scale::ScaleSettings::default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => {
                print!(
                    "{}",
                    USAGE
                        .replace("{rows}", &ROWS.join(","))
                        .replace("{long}", &LONG_ROWS.join(","))
                );
                std::process::exit(0);
            }
            "--smoke" => s.smoke = true,
            "--seconds" => {
                let n: u64 = args
                    .next()
                    .context("--seconds needs a number")?
                    .parse()
                    .context("--seconds needs a whole number of seconds")?;
                s.measure = Duration::from_secs(n.max(1));
            }
            "--concurrency" => {
                let list = args.next().context("--concurrency needs a list")?;
                let parsed: Result<Vec<usize>, _> = list.split(',').map(str::parse).collect();
                s.concurrency =
                    Some(parsed.context("--concurrency needs whole numbers, e.g. 1,16,64")?);
            }
            "--scale-hosts" | "--scale-apps" | "--scale-heartbeat-ms" => {
                let n: usize = args
                    .next()
                    .with_context(|| format!("{arg} needs a number"))?
                    .parse()
                    .with_context(|| format!("{arg} needs a whole number"))?;
                match arg.as_str() {
                    "--scale-hosts" => s.scale.hosts = n.max(1),
                    "--scale-apps" => s.scale.apps = n,
                    _ => s.scale.heartbeat = Duration::from_millis(u64::try_from(n)?.max(100)),
                }
            }
            "--out" => s.out = PathBuf::from(args.next().context("--out needs a path")?),
            "--rows" => {
                let list = args.next().context("--rows needs a list")?;
                s.rows = list.split(',').map(str::to_owned).collect();
                if let Some(bad) = s.rows.iter().find(|r| !ROWS.contains(&r.as_str())) {
                    bail!("unknown row `{bad}`; rows are {}", ROWS.join(","));
                }
            }
            other => bail!("unknown argument `{other}`; trellis-bench --help lists the flags"),
        }
    }
    if s.smoke {
        s.measure = Duration::from_secs(1);
        s.rows.retain(|r| r == "http" || r == "cold");
    }
    Ok(s)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(responder::FLAG) {
        return responder::run_child(&args[1..]).await;
    }
    let s = settings()?;
    // The harness reads its settings from the environment, which this
    // (threaded) process must not change: re-run with it set instead. Use
    // the trellis built beside this binary (release, normally), and keep
    // children's logs at info: per-request debug logs would be measured.
    let missing_bin = std::env::var_os("TRELLIS_BIN").is_none();
    if missing_bin || std::env::var_os("TRELLIS_CHILD_LOG").is_none() {
        let exe = std::env::current_exe()?;
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(std::env::args_os().skip(1));
        if missing_bin && let Some(dir) = exe.parent() {
            cmd.env("TRELLIS_BIN", dir.join("trellis"));
        }
        // A filter the caller set (to see a child's debug log) stays.
        if std::env::var_os("TRELLIS_CHILD_LOG").is_none() {
            cmd.env("TRELLIS_CHILD_LOG", "info");
        }
        let status = cmd.status().context("re-running trellis-bench")?;
        std::process::exit(status.code().unwrap_or(1));
    }
    let concurrency: &[usize] = match (&s.concurrency, s.smoke) {
        (Some(list), _) => list,
        (None, true) => &[1],
        (None, false) => &[1, 16, 64],
    };
    let warmup = if s.smoke {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(2)
    };

    let want = |row: &str| s.rows.iter().any(|r| r == row);
    let lattice = setup::Lattice::start().await?;
    let data = tempfile_dir()?;
    let wasmtime = match (want("http"), setup::find_wasmtime()) {
        (false, _) => None,
        (true, Some(bin)) => Some(setup::WasmtimeServe::start(&bin, &actor("hello_http")).await?),
        (true, None) => {
            eprintln!(
                "wasmtime not found: the wasmtime serve rows are skipped \
                 (scripts/bench.sh installs wasmtime-cli 50 with cargo)"
            );
            None
        }
    };
    let nginx = match (want("http"), nginx::find()) {
        (false, _) => None,
        (true, Some(bin)) => Some(nginx::Nginx::start(&bin, &data).await?),
        (true, None) => {
            eprintln!("nginx not found: the nginx rows are skipped (apt-get install nginx-light)");
            None
        }
    };
    let mut http = Vec::new();
    for &c in concurrency.iter().filter(|_| want("http")) {
        let reference = match &wasmtime {
            Some(w) => Some(load::run(w.addr, "/", c, warmup, s.measure).await?),
            None => None,
        };
        let stack = match &nginx {
            Some(n) => Some(load::run(n.addr, "/", c, warmup, s.measure).await?),
            None => None,
        };
        let local = load::run(lattice.local, "/", c, warmup, s.measure).await?;
        let remote = load::run(lattice.remote, "/", c, warmup, s.measure).await?;
        http.push(report::HttpRow {
            concurrency: c,
            local,
            remote,
            wasmtime: reference,
            nginx: stack,
        });
    }
    drop((wasmtime, nginx));
    let languages = if want("languages") {
        let bin = setup::find_wasmtime();
        languages::measure(&lattice, bin.as_ref(), 16, warmup, s.measure).await?
    } else {
        Vec::new()
    };
    let mesh = if want("mesh") {
        Some(mesh::measure(&lattice, concurrency, warmup, s.measure).await?)
    } else {
        None
    };
    let metrics = if want("metrics") {
        Some(metrics_cost::measure(&lattice, 16, warmup, s.measure).await?)
    } else {
        None
    };
    let messaging = if want("messaging") {
        Some(messaging::measure(&lattice, warmup, s.measure).await?)
    } else {
        None
    };
    let cold = if want("cold") {
        cold_start::measure(&lattice, if s.smoke { 2 } else { 20 }).await?
    } else {
        Vec::new()
    };
    let capability = if want("capability") {
        Some(capability::measure(&lattice, &data, warmup, s.measure).await?)
    } else {
        None
    };
    drop(lattice);
    let density = if want("density") {
        Some(density::measure(1000, 1000).await?)
    } else {
        None
    };
    let orchestration = if want("orchestration") {
        Some(orchestration::measure(10, 100).await?)
    } else {
        None
    };
    let scale = if want("scale") {
        Some(scale::measure(&s.scale).await?)
    } else {
        None
    };
    let results = report::Results {
        machine: report::Machine::here(),
        wasmtime_version: setup::find_wasmtime().and_then(|b| setup::version(&b)),
        measure_seconds: s.measure.as_secs(),
        http,
        languages,
        mesh,
        cold_start: cold,
        capability,
        density,
        orchestration,
    };
    print!("{}", results.table());
    let mut json = serde_json::to_value(&results)?;
    if let Some(m) = &messaging {
        print!("{}", m.table());
        if let Some(fields) = json.as_object_mut() {
            fields.insert("messaging".into(), serde_json::to_value(m)?);
        }
    }
    if let Some(row) = &metrics {
        print!("{}", row.table());
        if let Some(fields) = json.as_object_mut() {
            fields.insert("metrics".into(), serde_json::to_value(row)?);
        }
    }
    if let Some(row) = &scale {
        print!("{}", row.table());
        if let Some(fields) = json.as_object_mut() {
            fields.insert("scale".into(), serde_json::to_value(row)?);
        }
    }
    if let Some(dir) = s.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&s.out, serde_json::to_vec_pretty(&json)?)?;
    eprintln!("results: {}", s.out.display());
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// A scratch folder for sled data, under the target dir.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = trellis_tests::target_dir()
        .join("bench")
        .join(format!("data-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
