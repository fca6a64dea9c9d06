//! What `trellis up` leaves in its data dir to be found again: `up.pid`
//! (the `up` process) and `nats.pid` (the nats-server it started).
//!
//! A pid file may outlive its process (kill -9, a power cut) and the pid
//! may since belong to something else, so a pid counts only while the
//! process lives and its command line is what the file claims: `trellis
//! up` for `up.pid`, a process started with `-c` and this data dir's
//! configuration for `nats.pid`. A nats-server whose `up` died (an orphan) holds the port
//! and the JetStream store; [`stop_orphan_nats`] ends it so the next `up`
//! can start and `down` can clean up.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The `up` process.
pub(super) const UP_PID_FILE: &str = "up.pid";
/// The nats-server `up` started.
pub(super) const NATS_PID_FILE: &str = "nats.pid";
/// The nats-server configuration `up` writes (its path names the data dir
/// on the nats-server command line).
pub(super) const NATS_CONF_FILE: &str = "nats-server.conf";
/// How long a nats-server gets to stop on SIGTERM before SIGKILL.
const NATS_STOP_GRACE: Duration = Duration::from_secs(10);

/// The pid in `dir/file`, if the file holds one.
fn read_pid(dir: &Path, file: &str) -> Option<i32> {
    std::fs::read_to_string(dir.join(file))
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|pid| *pid > 0)
}

/// Whether `pid` runs (a zombie does not count).
pub(super) fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie still "exists", so also look at
    // its state in /proc.
    kill(Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.split_whitespace().nth(2) == Some("Z"))
}

/// The arguments `pid` was started with, when it lives and can be read.
fn cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// The `trellis up` running with data dir `dir`, if any.
pub(super) fn running_up(dir: &Path) -> Option<i32> {
    let pid = read_pid(dir, UP_PID_FILE)?;
    let is_up = cmdline(pid).is_some_and(|args| args.iter().skip(1).any(|a| a == "up"));
    (alive(pid) && is_up).then_some(pid)
}

/// The nats-server `up` started for `dir`, if it still runs.
pub(super) fn running_nats(dir: &Path) -> Option<i32> {
    let pid = read_pid(dir, NATS_PID_FILE)?;
    let conf = conf_path(dir);
    // `-c DIR/nats-server.conf` is what makes it ours, whatever the
    // binary is called (--nats-server-bin).
    let ours = cmdline(pid).is_some_and(|args| {
        args.windows(2)
            .any(|pair| pair[0] == "-c" && Path::new(&pair[1]) == conf)
    });
    (alive(pid) && ours).then_some(pid)
}

/// Where `up` writes the nats-server configuration for `dir`.
pub(super) fn conf_path(dir: &Path) -> PathBuf {
    dir.join(NATS_CONF_FILE)
}

/// Records the pid of `file`'s process.
pub(super) fn write_pid(dir: &Path, file: &str, pid: u32) -> std::io::Result<()> {
    std::fs::write(dir.join(file), pid.to_string())
}

/// Removes a pid file (missing is fine).
pub(super) fn remove_pid(dir: &Path, file: &str) {
    let _ = std::fs::remove_file(dir.join(file));
}

/// Stops the nats-server a previous `up` on `dir` left running (SIGTERM,
/// then SIGKILL after a grace); returns its pid when there was one.
pub(super) fn stop_orphan_nats(dir: &Path) -> Option<i32> {
    let pid = running_nats(dir)?;
    terminate(pid, NATS_STOP_GRACE);
    remove_pid(dir, NATS_PID_FILE);
    Some(pid)
}

/// SIGTERM, and SIGKILL if `pid` still runs after `grace`; returns once it
/// is gone (or after the SIGKILL had a moment to land).
pub(super) fn terminate(pid: i32, grace: Duration) {
    let target = Pid::from_raw(pid);
    let _ = kill(target, Signal::SIGTERM);
    if wait_gone(pid, grace) {
        return;
    }
    let _ = kill(target, Signal::SIGKILL);
    wait_gone(pid, Duration::from_secs(5));
}

/// Waits up to `limit` for `pid` to exit; whether it did.
pub(super) fn wait_gone(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_file_naming_another_program_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        // This test process lives but is neither `trellis up` nor nats-server.
        write_pid(dir.path(), UP_PID_FILE, std::process::id()).unwrap();
        write_pid(dir.path(), NATS_PID_FILE, std::process::id()).unwrap();
        assert_eq!(running_up(dir.path()), None);
        assert_eq!(running_nats(dir.path()), None);
        std::fs::write(dir.path().join(NATS_PID_FILE), "garbage").unwrap();
        assert_eq!(running_nats(dir.path()), None);
        assert_eq!(stop_orphan_nats(dir.path()), None);
    }
}
