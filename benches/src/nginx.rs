//! nginx answering `return 200` on 127.0.0.1: the HTTP-stack reference.
//! A wasm request also pays for an HTTP server; nginx shows what the
//! server part alone costs on this machine, so "local / nginx" says how
//! much of Trellis' cost is the wasm around it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;
use trellis_tests::free_port;

/// The `nginx` executable: `$NGINX_BIN`, `PATH`, or Debian's /usr/sbin.
pub(crate) fn find() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("NGINX_BIN") {
        return Some(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|bin| bin.is_file())
}

/// A private nginx (own prefix, config and pid file), killed on drop.
pub(crate) struct Nginx {
    child: Child,
    dir: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Nginx {
    /// Starts nginx with as many workers as cores, access log off, and
    /// one location that answers 200 with a hello body; waits until it
    /// answers. Keep-alive connections are not recycled (nginx closes one
    /// after 1000 requests by default, which the load generator would
    /// count as an error).
    pub(crate) async fn start(bin: &Path, scratch: &Path) -> anyhow::Result<Self> {
        let port = free_port();
        let dir = scratch.join("nginx");
        std::fs::create_dir_all(&dir)?;
        let d = dir.display();
        let conf = format!(
            "daemon off;\nworker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 1000000;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             server {{\n    listen 127.0.0.1:{port};\n    \
             location / {{ return 200 \"Hello from nginx!\"; }}\n  }}\n}}\n"
        );
        let conf_file = dir.join("nginx.conf");
        std::fs::write(&conf_file, conf)?;
        let child = Command::new(bin)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let nginx = Self {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        crate::setup::wait_ready(nginx.addr).await?;
        Ok(nginx)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master forwards SIGTERM to its workers; kill() alone would
        // leave the workers listening.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
