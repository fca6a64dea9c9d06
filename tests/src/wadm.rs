//! A `trellis wadm` child process.

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::nats::NatsServer;
use crate::paths::trellis_bin;
use crate::process::Process;

/// How long to wait for wadm to say it runs.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `trellis wadm`.
#[derive(Debug)]
pub struct Wadm {
    process: Process,
}

impl Wadm {
    /// Spawns `trellis wadm --nats-url URL --lattice L [extra...]` and waits
    /// (≤30 s) until it serves its API.
    pub fn spawn(nats: &NatsServer, lattice: &str, extra: &[&str]) -> anyhow::Result<Wadm> {
        Self::spawn_url(&nats.url(), lattice, extra)
    }

    /// Like [`Wadm::spawn`] with an explicit NATS URL (e.g. every server of
    /// a cluster, comma separated).
    pub fn spawn_url(nats_url: &str, lattice: &str, extra: &[&str]) -> anyhow::Result<Wadm> {
        let mut cmd = Command::new(trellis_bin());
        cmd.args(["--nats-url", nats_url, "--lattice", lattice, "wadm"])
            .args(extra);
        let mut process = Process::spawn(cmd, "wadm")?;
        process.wait_for("`wadm started`", READY_TIMEOUT, |log| {
            log.contains("wadm started").then_some(())
        })?;
        Ok(Wadm { process })
    }

    /// Whether it has said it leads (it says so each time it takes the lease).
    pub fn leads(&self) -> bool {
        self.process.log().contains("wadm leads this lattice")
    }

    /// Waits (≤`timeout`) until it leads.
    pub fn wait_leading(&mut self, timeout: Duration) -> anyhow::Result<()> {
        self.process
            .wait_for("`wadm leads this lattice`", timeout, |log| {
                log.contains("wadm leads this lattice").then_some(())
            })
    }

    /// How many commands it has executed so far.
    pub fn commands_executed(&self) -> usize {
        self.process.log().matches("wadm executes").count()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// SIGKILL (a crash).
    pub fn sigkill(&mut self) -> anyhow::Result<()> {
        self.process.signal(Signal::SIGKILL)?;
        self.process.wait_exit(Duration::from_secs(10)).map(|_| ())
    }

    /// SIGTERM and wait (≤`timeout`) for a clean exit.
    pub fn stop(&mut self, timeout: Duration) -> anyhow::Result<()> {
        self.process.signal(Signal::SIGTERM)?;
        self.process.wait_exit(timeout).map(|_| ())
    }
}
