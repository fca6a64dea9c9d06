//! A child process of the harness (a host, a wadm) with its log in a temp
//! dir. It runs in its own process group; on drop the group is killed with
//! SIGKILL and the child reaped.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::paths::{read_log, tail};

/// A running child with a log file.
#[derive(Debug)]
pub struct Process {
    child: Child,
    label: String,
    dir: TempDir,
    log_path: PathBuf,
}

impl Process {
    /// Spawns `cmd` with output appended to `<label>.log` in a fresh temp
    /// dir, `RUST_LOG=info,trellis=debug` and no colours.
    pub fn spawn(mut cmd: Command, label: &str) -> anyhow::Result<Process> {
        let dir = tempfile::Builder::new()
            .prefix("trellis-proc-")
            .tempdir()
            .context("creating temp dir")?;
        let log_path = dir.path().join(format!("{label}.log"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        // TRELLIS_CHILD_LOG lets the benchmark keep children at `info`.
        let filter =
            std::env::var("TRELLIS_CHILD_LOG").unwrap_or_else(|_| "info,trellis=debug".into());
        cmd.env("RUST_LOG", filter)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cloning log handle")?)
            .stderr(log)
            // Own process group: drop kills anything it started too.
            .process_group(0);
        let child = cmd.spawn().with_context(|| format!("spawning {label}"))?;
        Ok(Process {
            child,
            label: label.to_owned(),
            dir,
            log_path,
        })
    }

    /// The temp dir (holds the log; free for the test to use).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The log (stdout and stderr) so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// Polls (≤`timeout`) until `found` returns something for the log;
    /// fails early, with the log tail, if the process exits first.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        found: impl Fn(&str) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if let Some(value) = found(&log) {
                return Ok(value);
            }
            if let Some(status) = self.child.try_wait().context("polling child")? {
                bail!(
                    "{} exited ({status}) before its log showed {what}; log tail:\n{}",
                    self.label,
                    tail(&log, 40)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} log did not show {what} within {timeout:?}; log tail:\n{}",
                    self.label,
                    tail(&log, 40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: Signal) -> anyhow::Result<()> {
        let pid = i32::try_from(self.child.id()).context("pid out of range")?;
        kill(Pid::from_raw(pid), sig).with_context(|| format!("sending {sig} to {}", self.label))
    }

    /// Waits (≤`timeout`) for the process to exit and returns its status;
    /// errors (with the log tail) if it is still running at the deadline.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().context("polling child")? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} still running after {timeout:?}; log tail:\n{}",
                    self.label,
                    tail(&self.log(), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} log tail ---\n{}", self.label, tail(&self.log(), 40));
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // The whole group (a no-op error if it is already gone).
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
