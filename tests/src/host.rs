//! A `trellis host` child process.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::nats::NatsServer;
use crate::paths::trellis_bin;
use crate::process::Process;

/// How long to wait for a host to log `host started ... id=N...`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Length of an nkey public key (prefix letter + 55 base32 characters).
const NKEY_LEN: usize = 56;

/// Options for [`Host::spawn`].
#[derive(Debug, Clone)]
pub struct HostOpts {
    /// Lattice to join (`--lattice`); tests should use [`crate::unique_lattice`].
    pub lattice: String,
    /// Host name (`--name`); also names the log file `host-<name>.log`.
    pub name: String,
    /// Labels, each passed as `--label k=v`.
    pub labels: Vec<(String, String)>,
    /// Heartbeat interval (`--heartbeat-ms`), if set.
    pub heartbeat_ms: Option<u64>,
    /// Host seed file (`--seed-file`), if set.
    pub seed_file: Option<PathBuf>,
    /// Compile cache directory (`--cache-dir`), if set.
    pub cache_dir: Option<PathBuf>,
    /// Extra arguments appended after `--allow-unsigned`.
    pub extra_args: Vec<String>,
    /// Leave out `--allow-unsigned` (hosts that must refuse unsigned code).
    pub require_signed: bool,
    /// Environment variables set for the host process only.
    pub env: Vec<(String, String)>,
}

impl Default for HostOpts {
    fn default() -> Self {
        HostOpts {
            lattice: "default".to_string(),
            name: "host".to_string(),
            labels: Vec::new(),
            heartbeat_ms: None,
            seed_file: None,
            cache_dir: None,
            extra_args: Vec::new(),
            require_signed: false,
            env: Vec::new(),
        }
    }
}

/// A running `trellis host` process, ready (it logged `host started` with
/// its id). Runs in its own process group; on drop the group is killed with
/// SIGKILL and the host reaped.
#[derive(Debug)]
pub struct Host {
    process: Process,
    id: String,
    opts: HostOpts,
    nats_url: String,
}

impl Host {
    /// Spawns `trellis host --nats-url URL --lattice L --name N [--label k=v]...
    /// [--heartbeat-ms MS] [--seed-file F] [--data-dir D] --allow-unsigned
    /// [extra...]` with `RUST_LOG=info,trellis=debug`, output appended to
    /// `host-<name>.log` in the host's temp dir, and waits (≤30 s) for it to
    /// log `host started` with `id=N...`.
    pub fn spawn(nats: &NatsServer, opts: HostOpts) -> anyhow::Result<Host> {
        Self::spawn_url(&nats.url(), opts)
    }

    /// Like [`Host::spawn`] with an explicit NATS URL (e.g. one with
    /// credentials, or a server the harness did not start).
    pub fn spawn_url(nats_url: &str, opts: HostOpts) -> anyhow::Result<Host> {
        let mut cmd = Command::new(trellis_bin());
        cmd.arg("host")
            .args(["--nats-url", nats_url])
            .args(["--lattice", &opts.lattice])
            .args(["--name", &opts.name]);
        for (k, v) in &opts.labels {
            cmd.arg("--label").arg(format!("{k}={v}"));
        }
        if let Some(ms) = opts.heartbeat_ms {
            cmd.arg("--heartbeat-ms").arg(ms.to_string());
        }
        if let Some(seed) = &opts.seed_file {
            cmd.arg("--seed-file").arg(seed);
        }
        if let Some(cache) = &opts.cache_dir {
            cmd.arg("--cache-dir").arg(cache);
        }
        if !opts.require_signed {
            cmd.arg("--allow-unsigned");
        }
        cmd.args(&opts.extra_args);
        cmd.envs(opts.env.iter().map(|(k, v)| (k, v)));
        let mut process = Process::spawn(cmd, &format!("host-{}", opts.name))?;
        let id = process.wait_for("`host started ... id=N...`", READY_TIMEOUT, find_started_id)?;
        tracing::debug!(name = %opts.name, %id, "host ready");
        Ok(Host {
            process,
            id,
            opts,
            nats_url: nats_url.to_string(),
        })
    }

    /// The host id (nkey public key, `N...`) parsed from the ready line.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host name it was started with.
    pub fn name(&self) -> &str {
        &self.opts.name
    }

    /// The lattice it was started in.
    pub fn lattice(&self) -> &str {
        &self.opts.lattice
    }

    /// The NATS URL it was started with.
    pub fn nats_url(&self) -> &str {
        &self.nats_url
    }

    /// The options it was started with.
    pub fn opts(&self) -> &HostOpts {
        &self.opts
    }

    /// The host's temp dir (holds its log; free for the test to use).
    pub fn dir(&self) -> &Path {
        self.process.dir()
    }

    /// Path of the host's log file.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// The host log (stdout and stderr) so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Polls the log (≤`timeout`) until it contains `needle`; the error
    /// includes the log tail.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        self.process
            .wait_for(&format!("{needle:?}"), timeout, |log| {
                log.contains(needle).then_some(())
            })
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Sends SIGTERM (graceful shutdown) to the host process.
    pub fn sigterm(&self) -> anyhow::Result<()> {
        self.process.signal(Signal::SIGTERM)
    }

    /// Sends SIGKILL to the host process (simulates a crash).
    pub fn sigkill(&self) -> anyhow::Result<()> {
        self.process.signal(Signal::SIGKILL)
    }

    /// Waits (≤`timeout`) for the process to exit and returns its status;
    /// errors (with the log tail) if it is still running at the deadline.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        self.process.wait_exit(timeout)
    }
}

/// Finds the host id on the first line containing `host started`: the value
/// of an `id=` field (optionally quoted) that is an nkey public key, i.e.
/// `N` followed by 55 characters of `[A-Z2-7]`. ANSI escapes are ignored.
pub fn find_started_id(log: &str) -> Option<String> {
    log.lines()
        .map(strip_ansi)
        .filter(|line| line.contains("host started"))
        .find_map(|line| {
            line.match_indices("id=").find_map(|(i, _)| {
                let rest = line[i + 3..].trim_start_matches('"');
                let candidate = rest.get(..NKEY_LEN)?;
                let valid = candidate.starts_with('N')
                    && candidate
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
                let ends = rest[NKEY_LEN..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_ascii_alphanumeric());
                (valid && ends).then(|| candidate.to_string())
            })
        })
}

/// Removes ANSI CSI escape sequences (`ESC [ ... final-byte`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "NBQHKPMKH2W6QXBCTTS5IJXPBJDQDLPCBUXGEHSNP6UZ5BBUQAVE5NPK";

    #[test]
    fn finds_id_in_plain_and_ansi_lines() {
        assert_eq!(ID.len(), NKEY_LEN);
        let plain = format!("2025 INFO trellis_host: host started name=a id={ID} lattice=x\n");
        assert_eq!(find_started_id(&plain).as_deref(), Some(ID));
        let quoted = format!("INFO host started host_id=\"{ID}\"\n");
        assert_eq!(find_started_id(&quoted).as_deref(), Some(ID));
        let ansi = format!(
            "\u{1b}[32mINFO\u{1b}[0m host started \u{1b}[3mid\u{1b}[0m\u{1b}[2m=\u{1b}[0m{ID}"
        );
        assert_eq!(find_started_id(&ansi).as_deref(), Some(ID));
    }

    #[test]
    fn ignores_other_lines_and_bad_ids() {
        assert_eq!(find_started_id(&format!("connecting id={ID}")), None);
        assert_eq!(find_started_id("host started id=N123"), None);
        assert_eq!(find_started_id(&format!("host started id={ID}X")), None);
        let lower = ID.to_lowercase();
        assert_eq!(find_started_id(&format!("host started id={lower}")), None);
    }
}
