//! A throwaway `nats-server` (with JetStream) per test.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::paths::{free_port, read_log, tail};

/// How long to wait for `nats-server` to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times to retry when the chosen port was taken in the meantime.
const PORT_ATTEMPTS: usize = 3;

/// A running `nats-server -js` on 127.0.0.1 with its own temp dir; killed
/// (and reaped) on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    port: u16,
    dir: TempDir,
    log_path: PathBuf,
}

/// Oldest `nats-server` the workspace's async-nats 0.45 (default features
/// `server_2_10..server_2_12`) can use for JetStream: Debian 12's 2.9.10
/// fails every KV/stream call with "data did not match any variant".
pub const NATS_SERVER_MIN_VERSION: (u32, u32, u32) = (2, 12, 0);

/// Locates the `nats-server` executable: `$NATS_SERVER_BIN` if set (used
/// as is), else the first of `$TRELLIS_TOOLS_DIR/nats-server/bin` (default
/// `~/.local/share/trellis/nats-server/bin`, where
/// `scripts/install-deps.sh` puts the PyPI build), `PATH`,
/// `/usr/local/bin`, `~/.local/bin` and `/usr/sbin` whose version is at
/// least [`NATS_SERVER_MIN_VERSION`]. The answer is computed once.
pub fn nats_server_bin() -> anyhow::Result<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(find_nats_server)
        .clone()
        .map_err(anyhow::Error::msg)
}

fn find_nats_server() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("NATS_SERVER_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        if bin.is_file() {
            return Ok(bin);
        }
        return Err(format!(
            "NATS_SERVER_BIN={} does not exist: run scripts/install-deps.sh",
            bin.display()
        ));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let tools = match std::env::var_os("TRELLIS_TOOLS_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => home.as_ref().map(|h| h.join(".local/share/trellis")),
    };
    let mut dirs: Vec<PathBuf> = tools
        .map(|t| t.join("nats-server/bin"))
        .into_iter()
        .collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.push("/usr/local/bin".into());
    if let Some(home) = &home {
        dirs.push(home.join(".local/bin"));
    }
    dirs.push("/usr/sbin".into());
    let mut too_old = Vec::new();
    let mut seen = Vec::new();
    for bin in dirs.into_iter().map(|d| d.join("nats-server")) {
        let Ok(real) = bin.canonicalize() else {
            continue;
        };
        if !real.is_file() || seen.contains(&real) {
            continue;
        }
        seen.push(real);
        match nats_server_version(&bin) {
            Some(v) if v >= NATS_SERVER_MIN_VERSION => return Ok(bin),
            v => too_old.push(format!("{} ({})", bin.display(), fmt_version(v))),
        }
    }
    let (a, b, c) = NATS_SERVER_MIN_VERSION;
    if too_old.is_empty() {
        Err("nats-server not found: run scripts/install-deps.sh".to_string())
    } else {
        Err(format!(
            "nats-server not found: need version >= {a}.{b}.{c}, found only {}: run scripts/install-deps.sh",
            too_old.join(", ")
        ))
    }
}

/// Runs `bin --version` and parses `nats-server: vX.Y.Z`.
fn nats_server_version(bin: &Path) -> Option<(u32, u32, u32)> {
    let out = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    parse_version(&text)
}

fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let start = text
        .match_indices('v')
        .map(|(i, _)| i + 1)
        .find(|&i| text[i..].starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

fn fmt_version(v: Option<(u32, u32, u32)>) -> String {
    v.map_or_else(
        || "unknown version".to_string(),
        |(a, b, c)| format!("v{a}.{b}.{c}"),
    )
}

impl NatsServer {
    /// Starts `nats-server -js -a 127.0.0.1 -p PORT -sd <tmp>/js` on a free
    /// port and waits (≤10 s) until it accepts TCP connections and has
    /// logged "Server is ready".
    pub fn start() -> anyhow::Result<NatsServer> {
        Self::start_with_args(&[])
    }

    /// Like [`NatsServer::start`], appending `extra` to the command line
    /// (e.g. `["-c", "auth.conf"]`).
    pub fn start_with_args(extra: &[&str]) -> anyhow::Result<NatsServer> {
        Self::start_inner(extra, true)
    }

    /// Starts `nats-server -c CONF -a 127.0.0.1 -p PORT` for a complete
    /// configuration with its own `jetstream` block (such as one `trellis
    /// nats-config` prints); the flags override its listen address.
    pub fn start_with_config(conf: &Path) -> anyhow::Result<NatsServer> {
        Self::start_inner(&["-c", &conf.display().to_string()], false)
    }

    fn start_inner(extra: &[&str], jetstream_flags: bool) -> anyhow::Result<NatsServer> {
        let bin = nats_server_bin()?;
        let mut last_err = None;
        for _ in 0..PORT_ATTEMPTS {
            match Self::try_start(&bin, extra, jetstream_flags)? {
                Ok(server) => return Ok(server),
                Err(port_in_use) => last_err = Some(port_in_use),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("nats-server failed to start")))
    }

    /// One start attempt. The outer error is fatal; the inner one means the
    /// port was taken and another attempt may succeed.
    fn try_start(
        bin: &Path,
        extra: &[&str],
        jetstream_flags: bool,
    ) -> anyhow::Result<Result<NatsServer, anyhow::Error>> {
        let dir = tempfile::Builder::new()
            .prefix("trellis-nats-")
            .tempdir()
            .context("creating nats temp dir")?;
        let log_path = dir.path().join("nats-server.log");
        let log = File::create(&log_path).context("creating nats log file")?;
        let port = free_port();
        let store = dir.path().join("js");
        let mut cmd = Command::new(bin);
        if jetstream_flags {
            cmd.arg("-js").arg("-sd").arg(&store);
        }
        cmd.args(["-a", "127.0.0.1"])
            .args(["-p", &port.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cloning log handle")?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let mut server = NatsServer {
            child,
            port,
            dir,
            log_path,
        };
        match server.wait_ready(READY_TIMEOUT) {
            Ok(()) => {
                tracing::debug!(port, "nats-server ready");
                Ok(Ok(server))
            }
            Err(err) => {
                let log = server.log();
                let retryable = log.contains("address already in use");
                // `server` is dropped here: killed and reaped.
                if retryable { Ok(Err(err)) } else { Err(err) }
            }
        }
    }

    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut connected = false;
        loop {
            if let Some(status) = self.child.try_wait().context("polling nats-server")? {
                bail!(
                    "nats-server exited early ({status}); log tail:\n{}",
                    tail(&self.log(), 30)
                );
            }
            if !connected {
                connected = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
            }
            if connected && self.log().contains("Server is ready") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "nats-server not ready after {timeout:?} (tcp connect ok: {connected}); log tail:\n{}",
                    tail(&self.log(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's temp dir (holds the log and the JetStream store).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL (a crash) and reaps it.
    pub fn sigkill(&mut self) -> anyhow::Result<()> {
        self.child.kill().context("killing nats-server")?;
        self.child.wait().context("reaping nats-server")?;
        Ok(())
    }

    /// The server log (stdout and stderr) so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- nats-server log tail (port {}) ---\n{}",
                self.port,
                tail(&self.log(), 20)
            );
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nats_server_versions() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15, 1)));
        assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9, 10)));
        assert_eq!(
            parse_version("nats-server: v2.12.0-beta.1"),
            Some((2, 12, 0))
        );
        assert_eq!(parse_version("garbage"), None);
        assert!(Some((2, 9, 10)) < Some(NATS_SERVER_MIN_VERSION));
    }
}
