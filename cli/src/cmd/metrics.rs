//! Serving what a `trellis` process runs (host, wadm) as Prometheus
//! metrics on one address.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use trellis_metrics::prometheus_client::collector::Collector;
use trellis_metrics::{MetricsServer, Registry};

/// The address `trellis up` serves metrics on unless told otherwise.
pub(crate) const UP_DEFAULT: &str = "127.0.0.1:9464";

/// Serves `collectors` at `http://{addr}/metrics` until the server is
/// dropped; says where on stderr.
pub(super) async fn serve(
    addr: SocketAddr,
    collectors: Vec<Box<dyn Collector>>,
) -> anyhow::Result<MetricsServer> {
    let mut registry = Registry::default();
    for collector in collectors {
        registry.register_collector(collector);
    }
    let server = MetricsServer::start(addr, Arc::new(registry))
        .await
        .context("metrics endpoint")?;
    eprintln!("Prometheus metrics on http://{}/metrics", server.addr());
    Ok(server)
}
