//! A cloud hub and an edge site on one machine: the hub's nats-server
//! (JetStream domain `hub`, accepting leaf connections) and the site's
//! nats-server (its own domain, a leaf of the hub) joined through a
//! [`Proxy`] that can cut, slow down and restore the uplink. No root and
//! no network namespaces needed.

use std::net::SocketAddr;

use crate::{HostOpts, NatsServer, Proxy, free_port};

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
        // The hub tells leaf nodes where to reconnect; it must name the
        // proxy, or the first reconnect would go around it for good.
        let hub_conf = dir.path().join("hub.conf");
        std::fs::write(
            &hub_conf,
            format!(
                "jetstream {{ domain: hub }}\nleafnodes {{ listen: \"127.0.0.1:{leaf_port}\", advertise: \"127.0.0.1:{}\" }}\n",
                uplink.port()
            ),
        )?;
        let hub = NatsServer::start_with_args(&["-c", &hub_conf.display().to_string()])?;
        let leaf_conf = dir.path().join("leaf.conf");
        std::fs::write(
            &leaf_conf,
            format!(
                "jetstream {{ domain: edge-{site} }}\nleafnodes {{ remotes: [ {{ url: \"nats-leaf://127.0.0.1:{}\" }} ] }}\n",
                uplink.port()
            ),
        )?;
        let leaf = NatsServer::start_with_args(&["-c", &leaf_conf.display().to_string()])?;
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
