//! wadm at size: many one-component apps (each with an HTTP server
//! provider linked through an inline config) on many simulated hosts
//! (`trellis_tests::sim`), a real nats-server and a real `trellis wadm`;
//! then 10% of the hosts vanish at once. Not in the default rows: at
//! 1,000 hosts and 10,000 apps it runs for minutes.
//!
//! "Restored" is measured from the kill, and from the moment the last
//! killed host's heartbeat was 1.5 intervals late: then wadm asks it
//! directly, gets "no responders" and places its work elsewhere (wadm
//! looks once a second, so its detection is up to 1 s after that).

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde::Serialize;
use trellis_lattice::{Lattice, LatticeConfig};
use trellis_protocol::{EventType, LatticeName, Subject};
use trellis_tests::sim::{AppStatuses, SimApps, SimHosts, SimOptions};
use trellis_tests::{NatsServer, Wadm, unique_lattice};

/// How the scale row runs.
#[derive(Debug, Clone)]
pub(crate) struct ScaleSettings {
    /// Simulated hosts.
    pub hosts: usize,
    /// Apps.
    pub apps: usize,
    /// Heartbeat interval of the sims (a host's default: 5 s).
    pub heartbeat: Duration,
    /// Bound on each of the two convergences.
    pub bound: Duration,
}

impl Default for ScaleSettings {
    fn default() -> Self {
        Self {
            hosts: 1_000,
            apps: 10_000,
            heartbeat: Duration::from_secs(5),
            bound: Duration::from_secs(300),
        }
    }
}

/// What the scale row measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Scale {
    /// Simulated hosts.
    pub hosts: usize,
    /// Apps.
    pub apps: usize,
    /// Heartbeat interval of the sims, ms.
    pub heartbeat_ms: u64,
    /// From the first deploy request to every app deployed with exact
    /// placements, seconds (`None`: not within the bound).
    pub deploy_seconds: Option<f64>,
    /// Hosts killed (10%).
    pub killed: usize,
    /// From the kill to every app deployed again on live hosts, seconds.
    pub restore_seconds: Option<f64>,
    /// From the moment the last killed host became detectably lost (its
    /// heartbeat 1.5 intervals late) to every app deployed again, seconds.
    pub restore_after_detection_seconds: Option<f64>,
    /// wadm's CPU (user + system) while deploying, seconds.
    pub wadm_cpu_deploy_seconds: f64,
    /// wadm's CPU while restoring, seconds.
    pub wadm_cpu_restore_seconds: f64,
    /// wadm's peak resident memory (VmHWM), MiB.
    pub wadm_peak_rss_mib: f64,
    /// Heartbeat bytes per second on the lattice, steady state.
    pub heartbeat_bytes_per_second: f64,
    /// Mean size of one heartbeat message, bytes.
    pub heartbeat_bytes_each: f64,
    /// What the same nats-server relayed, bytes per second, when this
    /// process published heartbeat-sized messages to itself as fast as it
    /// could (a lower bound on the server's capacity; measured last).
    pub nats_bytes_per_second: f64,
    /// What was still wrong when a bound ran out.
    pub stuck: Vec<String>,
}

impl Scale {
    /// The row as text.
    pub(crate) fn table(&self) -> String {
        let secs = |s: Option<f64>| s.map_or("not converged".to_owned(), |s| format!("{s:.1} s"));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scale: {} apps on {} simulated hosts (heartbeat {} ms)",
            self.apps, self.hosts, self.heartbeat_ms
        );
        let _ = writeln!(
            out,
            "  all deployed            {:>14}   wadm cpu {:.1} s",
            secs(self.deploy_seconds),
            self.wadm_cpu_deploy_seconds
        );
        let _ = writeln!(
            out,
            "  {:>4} hosts killed: back {:>12}   wadm cpu {:.1} s (from the kill)",
            self.killed,
            secs(self.restore_seconds),
            self.wadm_cpu_restore_seconds
        );
        let _ = writeln!(
            out,
            "    back after detection {:>12}   (last lost host 1.5 heartbeats late)",
            secs(self.restore_after_detection_seconds),
        );
        let _ = writeln!(
            out,
            "  wadm peak rss {:.0} MiB; heartbeats {:.0} KB/s ({:.0} B each)",
            self.wadm_peak_rss_mib,
            self.heartbeat_bytes_per_second / 1000.0,
            self.heartbeat_bytes_each
        );
        let _ = writeln!(
            out,
            "  heartbeats are {:.2}% of what the nats-server relayed to this process ({:.0} MB/s)",
            100.0 * self.heartbeat_bytes_per_second / self.nats_bytes_per_second.max(1.0),
            self.nats_bytes_per_second / 1e6
        );
        for line in &self.stuck {
            let _ = writeln!(out, "  stuck: {line}");
        }
        out
    }
}

/// Runs the row.
pub(crate) async fn measure(settings: &ScaleSettings) -> anyhow::Result<Scale> {
    let nats = NatsServer::start()?;
    let name = unique_lattice("scale");
    let mut options = SimOptions::new(nats.url(), &name, settings.hosts);
    options.heartbeat = settings.heartbeat;
    options.connections = 8;
    let mut sims = SimHosts::start(options).await?;
    let client = Lattice::connect(&LatticeConfig {
        nats_url: nats.url(),
        lattice: LatticeName::new(name.clone())?,
        connection_name: "trellis-bench scale".into(),
        ..LatticeConfig::default()
    })
    .await?;
    let beats = HeartbeatMeter::start(&client).await?;
    let statuses = AppStatuses::follow(&client).await?;
    let wadm = tokio::task::block_in_place(|| Wadm::spawn(&nats, &name, &[]))?;
    let pid = child_pid(&name).context("cannot find the wadm process")?;
    let apps = SimApps {
        count: settings.apps,
    };
    let mut stuck = Vec::new();

    let cpu0 = cpu_seconds(pid)?;
    let t0 = Instant::now();
    if let Err(e) = apps.deploy(&client, 16).await {
        // Keep wadm's side of it: an API that stops answering is the news.
        let kept = keep_log(&wadm.log(), settings)?;
        return Err(e.context(format!("wadm's log: {}", kept.display())));
    }
    let requested = t0.elapsed();
    eprintln!(
        "scale: {} apps put and deployed through the API in {requested:.1?}",
        settings.apps
    );
    let deploy = apps.converge(&sims, &statuses, settings.bound).await;
    let deploy_seconds = match deploy {
        Ok(d) => Some((requested + d).as_secs_f64()),
        Err(e) => {
            stuck.push(format!("deploy: {e:#}"));
            None
        }
    };
    let cpu1 = cpu_seconds(pid)?;
    // Steady state: three intervals of heartbeats with nothing changing.
    let window = settings.heartbeat * 3;
    let (bytes0, count0) = beats.read();
    tokio::time::sleep(window).await;
    let (bytes1, count1) = beats.read();
    let heartbeat_bytes = (bytes1 - bytes0) as f64;
    let heartbeats = (count1 - count0).max(1) as f64;

    eprintln!("scale: deployed: {deploy_seconds:?} s; killing 10% of the hosts");
    let cpu2 = cpu_seconds(pid)?;
    let victims = sims.kill_fraction(0.1).await?;
    let killed = victims.len();
    let restoring = Instant::now();
    // The latest a killed host could be noticed: its last heartbeat plus
    // one and a half intervals (wadm's probe threshold).
    let detectable = victims
        .iter()
        .filter_map(|id| sims.last_heartbeat(id))
        .max()
        .map(|last| last + settings.heartbeat * 3 / 2);
    let restore = apps.converge(&sims, &statuses, settings.bound).await;
    let restore_after_detection_seconds = match (&restore, detectable) {
        (Ok(d), Some(detectable)) => {
            let back = restoring + *d;
            Some(match back.checked_duration_since(detectable) {
                Some(after) => after.as_secs_f64(),
                None => -detectable.duration_since(back).as_secs_f64(),
            })
        }
        _ => None,
    };
    let restore_seconds = match restore {
        Ok(d) => Some(d.as_secs_f64()),
        Err(e) => {
            stuck.push(format!("restore: {e:#}"));
            None
        }
    };
    let cpu3 = cpu_seconds(pid)?;
    let peak = peak_rss_mib(pid)?;
    let log = wadm.log();
    let kept = keep_log(&log, settings)?;
    eprintln!("scale: wadm's log: {}", kept.display());
    if !stuck.is_empty() {
        let warnings: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        stuck.push(format!(
            "wadm logged {} warnings/errors; last: {:?}",
            warnings.len(),
            warnings.iter().rev().take(5).collect::<Vec<_>>()
        ));
    }
    drop(wadm);
    drop(sims);
    let each = usize::try_from((heartbeat_bytes / heartbeats) as u64).unwrap_or(16 * 1024);
    let nats_bytes_per_second = relay_rate(&client, each.max(1)).await?;
    Ok(Scale {
        hosts: settings.hosts,
        apps: settings.apps,
        heartbeat_ms: u64::try_from(settings.heartbeat.as_millis()).unwrap_or(u64::MAX),
        deploy_seconds,
        killed,
        restore_seconds,
        restore_after_detection_seconds,
        wadm_cpu_deploy_seconds: cpu1 - cpu0,
        wadm_cpu_restore_seconds: cpu3 - cpu2,
        wadm_peak_rss_mib: peak,
        heartbeat_bytes_per_second: heartbeat_bytes / window.as_secs_f64(),
        heartbeat_bytes_each: heartbeat_bytes / heartbeats,
        nats_bytes_per_second,
        stuck,
    })
}

/// Bytes per second the nats-server relays from this process back to it
/// in messages of `size` bytes: the reference the heartbeat traffic is
/// compared with. Publishes for about two seconds, then waits (bounded)
/// for what is in flight.
async fn relay_rate(client: &Lattice, size: usize) -> anyhow::Result<f64> {
    let subject = client.nats().new_inbox();
    let mut sub = client.nats().subscribe(subject.clone()).await?;
    client.nats().flush().await?;
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let reader = tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            counter.fetch_add(msg.payload.len() as u64, Ordering::Relaxed);
        }
    });
    let payload = bytes::Bytes::from(vec![b'x'; size]);
    let start = Instant::now();
    let mut sent: u64 = 0;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..64 {
            client
                .nats()
                .publish(subject.clone(), payload.clone())
                .await?;
        }
        sent += 64 * size as u64;
    }
    let wait_until = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < sent && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    reader.abort();
    Ok(received.load(Ordering::Relaxed) as f64 / elapsed)
}

/// Counts heartbeat messages and their bytes as they cross the lattice.
struct HeartbeatMeter {
    bytes: Arc<AtomicU64>,
    count: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HeartbeatMeter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HeartbeatMeter {
    async fn start(client: &Lattice) -> anyhow::Result<Self> {
        let subject = Subject::event(client.name(), EventType::HostHeartbeat).to_string();
        let mut sub = client.nats().subscribe(subject).await?;
        let bytes = Arc::new(AtomicU64::new(0));
        let count = Arc::new(AtomicU64::new(0));
        let (b, c) = (bytes.clone(), count.clone());
        let task = tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let size = msg.subject.len() + msg.payload.len();
                b.fetch_add(u64::try_from(size).unwrap_or(u64::MAX), Ordering::Relaxed);
                c.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(Self { bytes, count, task })
    }

    fn read(&self) -> (u64, u64) {
        (
            self.bytes.load(Ordering::Relaxed),
            self.count.load(Ordering::Relaxed),
        )
    }
}

/// The `trellis ... wadm` child of this process serving `lattice`.
fn child_pid(lattice: &str) -> anyhow::Result<u32> {
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let parent = stat_fields(&stat).and_then(|f| f.get(1)?.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if parent == Some(me)
            && args.contains(&lattice.as_bytes())
            && args.contains(&b"wadm".as_slice())
        {
            return Ok(pid);
        }
    }
    anyhow::bail!("no child process runs `wadm` for lattice {lattice}")
}

/// The fields of `/proc/PID/stat` after the command name (which may hold
/// spaces): state is the first.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().collect())
}

/// utime + stime of `pid`, seconds. The kernel reports them in USER_HZ
/// ticks, 100 a second on Linux whatever the kernel's own HZ.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    const USER_HZ: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields = stat_fields(&stat).context("malformed /proc stat")?;
    // After the name: state(0) ppid(1) ... utime(11) stime(12).
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc stat")?
            .parse::<u64>()
            .context("bad /proc stat number")? as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / USER_HZ)
}

/// VmHWM of `pid`, MiB.
fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .context("no VmHWM in /proc status")?;
    Ok(kib / 1024.0)
}

/// Writes wadm's log where the docs say it is kept; returns the path.
fn keep_log(log: &str, settings: &ScaleSettings) -> anyhow::Result<std::path::PathBuf> {
    let kept = trellis_tests::target_dir().join(format!(
        "bench/scale-wadm-{}x{}.log",
        settings.hosts, settings.apps
    ));
    if let Some(dir) = kept.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&kept, log)?;
    Ok(kept)
}
