//! Running the `trellis` CLI against a lattice.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::nats::NatsServer;
use crate::paths::trellis_bin;

/// Default time limit for one CLI invocation.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for the output pipes to close after the process exited
/// (a grandchild could keep them open).
const PIPE_GRACE: Duration = Duration::from_secs(5);

/// Runs `trellis --nats-url URL --lattice L --output json ...`.
#[derive(Debug, Clone)]
pub struct Cli {
    /// NATS URL passed as `--nats-url`.
    pub nats_url: String,
    /// Lattice passed as `--lattice`.
    pub lattice: String,
}

/// The outcome of one CLI invocation.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// The process exit status.
    pub status: ExitStatus,
    /// Everything written to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything written to stderr (lossy UTF-8).
    pub stderr: String,
}

impl Cli {
    /// A CLI bound to `nats`'s URL and `lattice`.
    pub fn new(nats: &NatsServer, lattice: &str) -> Cli {
        Cli {
            nats_url: nats.url(),
            lattice: lattice.to_string(),
        }
    }

    /// The full argument list for `args`.
    fn full_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut full = vec![
            "--nats-url",
            self.nats_url.as_str(),
            "--lattice",
            self.lattice.as_str(),
            "--output",
            "json",
        ];
        full.extend_from_slice(args);
        full
    }

    /// Runs `trellis --nats-url URL --lattice L --output json <args...>`,
    /// killing it after 60 s. A non-zero exit is *not* an error here: use
    /// [`CliOutput::ok`].
    pub fn run(&self, args: &[&str]) -> anyhow::Result<CliOutput> {
        self.run_with_timeout(args, CLI_TIMEOUT)
    }

    /// Like [`Cli::run`] with a custom time limit.
    pub fn run_with_timeout(&self, args: &[&str], timeout: Duration) -> anyhow::Result<CliOutput> {
        let full = self.full_args(args);
        let mut child = Command::new(trellis_bin())
            .args(&full)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Own process group, so a timeout kills any grandchildren too
            // (they would otherwise hold the output pipes open).
            .process_group(0)
            .spawn()
            .context("spawning trellis")?;
        let stdout = reader(child.stdout.take().context("stdout pipe")?);
        let stderr = reader(child.stderr.take().context("stderr pipe")?);
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().context("polling trellis")? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let grace = Instant::now() + PIPE_GRACE;
        let stdout = collect(stdout, grace);
        let stderr = collect(stderr, grace);
        match status {
            Some(status) => Ok(CliOutput {
                status,
                stdout,
                stderr,
            }),
            None => bail!(
                "`trellis {}` timed out after {timeout:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                full.join(" ")
            ),
        }
    }

    /// Starts `trellis --nats-url URL --lattice L --output FORMAT <args...>`
    /// for a command that keeps running (`events --follow`, `app status
    /// --watch`), with stdout and stderr piped; killed when dropped.
    pub fn spawn(&self, format: &str, args: &[&str]) -> anyhow::Result<tokio::process::Child> {
        let mut full = self.full_args(&[]);
        if let Some(last) = full.last_mut() {
            *last = format;
        }
        full.extend_from_slice(args);
        tokio::process::Command::new(trellis_bin())
            .args(&full)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawning trellis")
    }

    /// Async variant of [`Cli::run`] (does not block the runtime thread).
    pub async fn run_async(&self, args: &[&str]) -> anyhow::Result<CliOutput> {
        let full = self.full_args(args);
        let mut cmd = tokio::process::Command::new(trellis_bin());
        cmd.args(&full)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(CLI_TIMEOUT, cmd.output())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "`trellis {}` timed out after {CLI_TIMEOUT:?}",
                    full.join(" ")
                )
            })?
            .context("running trellis")?;
        Ok(CliOutput {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

impl CliOutput {
    /// Whether the process exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// `Ok(self)` if the exit status is 0, else an error carrying stdout and
    /// stderr.
    pub fn ok(&self) -> anyhow::Result<&Self> {
        if self.status.success() {
            Ok(self)
        } else {
            bail!(
                "trellis failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.status,
                self.stdout,
                self.stderr
            )
        }
    }

    /// Parses stdout as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(self.stdout.trim()).with_context(|| {
            format!(
                "trellis stdout is not JSON ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.status, self.stdout, self.stderr
            )
        })
    }
}

/// Reads a pipe to the end on a thread; the result arrives on the channel.
fn reader(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

fn collect(rx: mpsc::Receiver<Vec<u8>>, deadline: Instant) -> String {
    rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|_| "<output not collected: pipe still open>".to_string())
}
