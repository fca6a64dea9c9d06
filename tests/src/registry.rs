//! A throwaway OCI registry: CNCF Distribution (`docker-registry`, from
//! Debian's package of that name) on a free loopback port, optionally
//! behind htpasswd basic auth. Killed and its storage removed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::paths::free_port;
use crate::process::Process;

/// How long the registry may take to answer `/v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running registry.
#[derive(Debug)]
pub struct OciRegistry {
    process: Process,
    port: u16,
    _dir: TempDir,
}

/// The `docker-registry` binary: `$DOCKER_REGISTRY_BIN`, else on `PATH`,
/// else `/usr/bin/docker-registry`. Missing is an error that says how to
/// install it, so a test that needs it fails instead of passing.
pub fn docker_registry_bin() -> anyhow::Result<PathBuf> {
    crate::paths::system_bin("DOCKER_REGISTRY_BIN", "docker-registry").with_context(|| {
        "docker-registry (CNCF Distribution) is not installed: run `apt-get install docker-registry` \
         (or scripts/install-deps.sh), or set DOCKER_REGISTRY_BIN"
    })
}

impl OciRegistry {
    /// Starts a registry that anyone may pull from and push to.
    pub fn start() -> anyhow::Result<OciRegistry> {
        Self::spawn(None)
    }

    /// Starts a registry that only `user`/`password` may use (htpasswd,
    /// bcrypt hashed with apache2-utils' `htpasswd`).
    pub fn start_with_auth(user: &str, password: &str) -> anyhow::Result<OciRegistry> {
        Self::spawn(Some((user, password)))
    }

    fn spawn(auth: Option<(&str, &str)>) -> anyhow::Result<OciRegistry> {
        let bin = docker_registry_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("trellis-registry-")
            .tempdir()
            .context("creating registry dir")?;
        let port = free_port();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage)?;
        let auth_yaml = match auth {
            Some((user, password)) => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .context(
                        "running htpasswd: install it with `apt-get install apache2-utils` \
                         (or scripts/install-deps.sh)",
                    )?;
                if !out.status.success() {
                    bail!("htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
                }
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, &out.stdout)?;
                format!(
                    "auth:\n  htpasswd:\n    realm: trellis-test\n    path: {}\n",
                    file.display()
                )
            }
            None => String::new(),
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: trellis-test-secret\n{auth_yaml}",
                storage.display()
            ),
        )?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg(&config);
        let mut process = Process::spawn(cmd, "docker-registry")?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = v2_status(port) {
                // 200 open, 401 behind auth: either way it serves.
                if status == 200 || status == 401 {
                    break;
                }
            }
            if !process.is_running() {
                bail!(
                    "docker-registry exited before serving; log:\n{}",
                    process.log()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "docker-registry did not answer /v2/ on port {port} within {READY_TIMEOUT:?}; log:\n{}",
                    process.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(OciRegistry {
            process,
            port,
            _dir: dir,
        })
    }

    /// `127.0.0.1:PORT`, the registry part of references.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Whether `/v2/` answers now (a stopped registry does not).
    pub fn answers(&self) -> bool {
        v2_status(self.port).is_some()
    }
}

/// The HTTP status of `GET /v2/`, or `None` when nothing answers.
fn v2_status(port: u16) -> Option<u16> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(
            format!("GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace().nth(1)?.parse().ok()
}
