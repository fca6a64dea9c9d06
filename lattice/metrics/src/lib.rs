//! Trellis metrics: what hosts and wadm expose to Prometheus.
//!
//! - [`histogram`]: a lock-free latency histogram for hot paths, encoded
//!   at scrape time.
//! - [`family`]: counters and gauges written from state at scrape time.
//! - [`server`]: `GET /metrics` over HTTP/1, bounded and with timeouts.
//!
//! Metrics are registered on a [`Registry`] (the `prometheus-client`
//! crate's); most are read from state the process keeps anyway by a
//! [`prometheus_client::collector::Collector`] at scrape time, so a
//! request pays for nothing it did not already do.

pub mod family;
pub mod histogram;
pub mod server;

pub use family::{family, single};
pub use histogram::Histogram;
pub use prometheus_client;
pub use prometheus_client::metrics::MetricType;
pub use prometheus_client::registry::Registry;
pub use server::{MetricsError, MetricsServer, encode};
