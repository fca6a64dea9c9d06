//! An external provider process's Prometheus metrics: who it is, whether
//! it serves, the calls it answered and the requests it sent, read at
//! scrape time from counters its lattice connection keeps anyway.

use std::fmt;
use std::sync::Arc;

use trellis_lattice::Lattice;
use trellis_lattice::stats::{RpcOutcome, ServedInterface};
use trellis_metrics::prometheus_client::collector::Collector;
use trellis_metrics::prometheus_client::encoding::DescriptorEncoder;
use trellis_metrics::{MetricType, family, single};
use trellis_protocol::{ComponentId, HostId};

use crate::Provider;

/// The config key that turns an external provider's metrics on: an
/// address (`127.0.0.1:9471`) to serve `/metrics` on.
pub const METRICS_ADDR_KEY: &str = "metrics_addr";

/// The metrics of one external provider process.
pub struct ProviderCollector {
    /// The provider's id.
    pub provider_id: ComponentId,
    /// The host that started it.
    pub host_id: HostId,
    /// Its lattice connection (the counters).
    pub lattice: Lattice,
    /// The provider (its health as last seen).
    pub provider: Arc<dyn Provider>,
}

impl fmt::Debug for ProviderCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderCollector")
            .field("provider_id", &self.provider_id)
            .finish_non_exhaustive()
    }
}

impl Collector for ProviderCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let e = &mut encoder;
        family(
            e,
            "trellis_provider_info",
            "Which provider process this is, and the host that started it.",
            MetricType::Gauge,
            [(
                [
                    ("provider", self.provider_id.as_str()),
                    ("host_id", self.host_id.as_str()),
                    ("version", env!("CARGO_PKG_VERSION")),
                ],
                1,
            )],
        )?;
        single(
            e,
            "trellis_provider_healthy",
            "1 while the provider runs without a reported failure, else 0.",
            MetricType::Gauge,
            u64::from(self.provider.failure().is_none()),
        )?;
        let served = self.lattice.served_stats();
        family(
            e,
            "trellis_provider_served_calls",
            "Calls from components on any host this provider answered, by interface \
             (keyvalue, messaging) and outcome (ok, error).",
            MetricType::Counter,
            ServedInterface::ALL.iter().flat_map(|i| {
                [(true, "ok"), (false, "error")].map(|(ok, outcome)| {
                    (
                        [("interface", i.label()), ("outcome", outcome)],
                        served.count(*i, ok),
                    )
                })
            }),
        )?;
        let sent = self.lattice.rpc_stats();
        family(
            e,
            "trellis_provider_lattice_requests",
            "Invocations this provider sent across NATS (e.g. HTTP requests to components), by \
             how each ended: answered, timed_out, no_responders, failed.",
            MetricType::Counter,
            RpcOutcome::ALL
                .iter()
                .map(|o| ([("outcome", o.label())], sent.count(*o))),
        )
    }
}
