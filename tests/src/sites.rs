//! A cloud hub and an edge site on one machine: the hub's nats-server
//! (JetStream domain `hub`, accepting leaf connections) and the site's
//! nats-server (its own domain, a leaf of the hub) joined through a
//! [`Proxy`] that can cut, slow down and restore the uplink. No root and
//! no network namespaces needed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::{HostOpts, NatsServer, Process, Proxy, free_port, nats_server_bin, trellis_bin};

/// A hub, one edge site, and the proxied uplink between them.
pub struct EdgeSite {
    /// The cloud's nats-server.
    pub hub: NatsServer,
    /// The site's nats-server, a leaf node of the hub.
    pub leaf: NatsServer,
    /// The uplink.
    pub uplink: Proxy,
    site: String,
    _dir: tempfile::TempDir,
}

impl EdgeSite {
    /// Starts both servers; the site's JetStream domain is `edge-{site}`.
    /// Hosts at the site reach the hub's buckets with `--js-domain hub`.
    pub async fn start(site: &str) -> anyhow::Result<EdgeSite> {
        let dir = tempfile::tempdir()?;
        let (hub, uplink, key) = start_hub(dir.path()).await?;
        let leaf_conf = dir.path().join("leaf.conf");
        std::fs::write(
            &leaf_conf,
            nats_config(&[
                "leaf",
                "--remote",
                &format!("nats-leaf://127.0.0.1:{}", uplink.port()),
                "--name",
                site,
                "--creds",
                &key.display().to_string(),
                "--store-dir",
                &dir.path().join("leaf-js").display().to_string(),
            ])?,
        )?;
        let leaf = NatsServer::start_with_config(&leaf_conf)?;
        Ok(EdgeSite {
            hub,
            leaf,
            uplink,
            site: site.to_owned(),
            _dir: dir,
        })
    }

    /// Options for a host on `lattice` with `labels`, heartbeating every
    /// 500 ms; `at_edge` makes it a host of the site (hub's JetStream
    /// domain, `--site`), to be spawned on [`EdgeSite::leaf`].
    pub fn host_opts(
        &self,
        lattice: &str,
        name: &str,
        labels: &[(&str, &str)],
        at_edge: bool,
    ) -> HostOpts {
        let extra: &[&str] = if at_edge {
            &["--js-domain", "hub", "--site", &self.site]
        } else {
            &[]
        };
        HostOpts {
            lattice: lattice.to_owned(),
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            heartbeat_ms: Some(500),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            ..HostOpts::default()
        }
    }
}

/// The configuration `trellis nats-config ARGS...` prints.
pub fn nats_config(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(trellis_bin())
        .arg("nats-config")
        .args(args)
        .output()
        .context("running trellis nats-config")?;
    if !out.status.success() {
        bail!(
            "trellis nats-config {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The hub's nats-server (JetStream domain `hub`, configured as `trellis
/// nats-config hub` prints it, so leaf connections need the hub's leaf
/// nkey as in production), the proxy in front of its leafnode port, and
/// the path of that key.
async fn start_hub(dir: &Path) -> anyhow::Result<(NatsServer, Proxy, PathBuf)> {
    let leaf_port = free_port();
    let uplink = Proxy::start(SocketAddr::from(([127, 0, 0, 1], leaf_port))).await?;
    let key = dir.join("leaf.nk");
    let hub_text = nats_config(&[
        "hub",
        "--leafnode-port",
        &leaf_port.to_string(),
        "--leaf-key",
        &key.display().to_string(),
        "--store-dir",
        &dir.join("hub-js").display().to_string(),
    ])?;
    // The hub tells leaf nodes where to reconnect; it must name the
    // proxy, or the first reconnect would go around it for good.
    let hub_text = hub_text.replacen(
        "leafnodes {",
        &format!("leafnodes {{ advertise: \"127.0.0.1:{}\",", uplink.port()),
        1,
    );
    let hub_conf = dir.join("hub.conf");
    std::fs::write(&hub_conf, hub_text)?;
    let hub = NatsServer::start_with_config(&hub_conf)?;
    Ok((hub, uplink, key))
}

/// A hub and an edge site run the way a site runs in production: one
/// `trellis up --leaf-remote` that starts the site's nats-server (a leaf of
/// the hub through [`Proxy`]) and its host, with a data dir that outlives
/// the process so a killed `up` can be started again on it.
pub struct UpSite {
    /// The cloud's nats-server.
    pub hub: NatsServer,
    /// The uplink.
    pub uplink: Proxy,
    /// The edge `up`'s data dir (its nats-server store, seed, host record).
    pub data_dir: PathBuf,
    /// The client port of the site's nats-server.
    pub nats_port: u16,
    leaf_key: PathBuf,
    site: String,
    _dir: tempfile::TempDir,
}

/// How long an edge `up` may take to say it is ready.
const UP_READY: Duration = Duration::from_secs(60);

impl UpSite {
    /// Starts the hub and picks the site's ports and data dir; the site
    /// itself starts with [`UpSite::spawn_up`].
    pub async fn start(site: &str) -> anyhow::Result<UpSite> {
        let dir = tempfile::tempdir()?;
        let (hub, uplink, leaf_key) = start_hub(dir.path()).await?;
        Ok(UpSite {
            hub,
            uplink,
            data_dir: dir.path().join("edge"),
            nats_port: free_port(),
            leaf_key,
            site: site.to_owned(),
            _dir: dir,
        })
    }

    /// The site's nats-server URL.
    pub fn edge_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.nats_port)
    }

    /// Runs `trellis --lattice L up --leaf-remote nats-leaf://PROXY --name
    /// SITE --label ... --heartbeat-ms 500 --allow-unsigned` on the site's
    /// data dir (its own process group: dropping it kills the `up` and its
    /// nats-server together, like a power cut) and waits until it wrote
    /// `up.ready`; returns the process and the host id it reported.
    pub fn spawn_up(
        &self,
        lattice: &str,
        labels: &[(&str, &str)],
    ) -> anyhow::Result<(Process, String)> {
        let ready = self.data_dir.join("up.ready");
        let _ = std::fs::remove_file(&ready);
        let mut cmd = Command::new(trellis_bin());
        cmd.args(["--lattice", lattice, "up"])
            .args([
                "--leaf-remote",
                &format!("nats-leaf://127.0.0.1:{}", self.uplink.port()),
            ])
            .arg("--leaf-creds")
            .arg(&self.leaf_key)
            .args(["--name", &self.site])
            .args(["--nats-port", &self.nats_port.to_string()])
            .args(["--heartbeat-ms", "500", "--allow-unsigned"])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--cache-dir")
            .arg(self.data_dir.join("cache"))
            .arg("--nats-server-bin")
            .arg(nats_server_bin()?)
            .env_remove("TRELLIS_NATS_URL");
        for (k, v) in labels {
            cmd.arg("--label").arg(format!("{k}={v}"));
        }
        let mut process = Process::spawn(cmd, &format!("up-{}", self.site))?;
        let id = process.wait_for("`up.ready`", UP_READY, |_| {
            let text = std::fs::read_to_string(&ready).ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("host_id="))
                .map(str::to_owned)
        })?;
        Ok((process, id))
    }
}
