//! A cloud hub and an edge site on one machine: the hub's nats-server
//! (JetStream domain `hub`, accepting leaf connections) and the site's
//! nats-server (its own domain, a leaf of the hub) joined through a
//! [`Proxy`] that can cut, slow down and restore the uplink. No root and
//! no network namespaces needed.

use std::net::SocketAddr;

use std::process::Command;

use anyhow::{Context, bail};

use crate::{HostOpts, NatsServer, Proxy, free_port, trellis_bin};

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
        let leaf_port = free_port();
        let uplink = Proxy::start(SocketAddr::from(([127, 0, 0, 1], leaf_port))).await?;
        // Both configurations are the ones `trellis nats-config` prints,
        // so the leaf connection is authenticated with the hub's leaf nkey
        // as in production (a leaf without it is refused).
        let key = dir.path().join("leaf.nk");
        let hub_text = nats_config(&[
            "hub",
            "--leafnode-port",
            &leaf_port.to_string(),
            "--leaf-key",
            &key.display().to_string(),
            "--store-dir",
            &dir.path().join("hub-js").display().to_string(),
        ])?;
        // The hub tells leaf nodes where to reconnect; it must name the
        // proxy, or the first reconnect would go around it for good.
        let hub_text = hub_text.replacen(
            "leafnodes {",
            &format!("leafnodes {{ advertise: \"127.0.0.1:{}\",", uplink.port()),
            1,
        );
        let hub_conf = dir.path().join("hub.conf");
        std::fs::write(&hub_conf, hub_text)?;
        let hub = NatsServer::start_with_config(&hub_conf)?;
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
