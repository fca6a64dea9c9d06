//! The host's Prometheus metrics, read at scrape time from what the host
//! keeps anyway (each component's counters and latency histograms, the
//! providers' health, [`crate::counters`]), so an invocation pays for no
//! more than its counters.
//!
//! Labels are ids of what runs here (`component`, `provider`) and small
//! fixed sets (`kind`, `outcome`, `source`); nothing a peer sends becomes
//! a label value.

use std::fmt;
use std::sync::{Arc, Weak};

use trellis_lattice::stats::RpcOutcome;
use trellis_metrics::prometheus_client::collector::Collector;
use trellis_metrics::prometheus_client::encoding::DescriptorEncoder;
use trellis_metrics::{MetricType, family, single};

use crate::context::{HostContext, VERSION};

/// The host's metrics; register it with a [`trellis_metrics::Registry`].
/// It holds the host weakly: a stopped host's scrape is empty.
#[derive(Clone)]
pub struct HostCollector {
    ctx: Weak<HostContext>,
}

impl fmt::Debug for HostCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostCollector")
    }
}

impl HostCollector {
    /// The metrics of the host `ctx` belongs to.
    pub fn new(ctx: &Arc<HostContext>) -> Self {
        Self {
            ctx: Arc::downgrade(ctx),
        }
    }
}

/// One labelled sample of a family.
type Sample<'a, const N: usize> = ([(&'static str, &'a str); N], u64);

impl Collector for HostCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let Some(ctx) = self.ctx.upgrade() else {
            return Ok(());
        };
        let e = &mut encoder;
        let (counter, gauge) = (MetricType::Counter, MetricType::Gauge);
        let id = ctx.info.id.to_string();
        let info = [
            ("host_id", id.as_str()),
            ("name", ctx.info.name.as_str()),
            ("version", VERSION),
        ];
        family(
            e,
            "trellis_host_info",
            "This host: its id, name and Trellis version (always 1).",
            gauge,
            [(info, 1)],
        )?;
        let components = ctx.components.all();
        let described: Vec<_> = components.iter().map(|c| c.description()).collect();
        let each = |value: &dyn Fn(usize) -> u64| -> Vec<Sample<'_, 1>> {
            described
                .iter()
                .enumerate()
                .map(|(i, d)| ([("component", d.id.as_str())], value(i)))
                .collect()
        };
        family(
            e,
            "trellis_component_invocations",
            "Invocations (HTTP requests and calls) that got an answer or an error, \
             since the component's version started here.",
            counter,
            each(&|i| described[i].stats.invocations),
        )?;
        family(
            e,
            "trellis_component_failures",
            "Invocations that failed: a trap, a timeout, no answer, or HTTP 5xx.",
            counter,
            each(&|i| described[i].stats.failures),
        )?;
        family(
            e,
            "trellis_component_in_flight",
            "Invocations started and not yet answered.",
            gauge,
            each(&|i| components[i].in_flight()),
        )?;
        family(
            e,
            "trellis_component_max_instances",
            "The component's concurrency bound on this host.",
            gauge,
            each(&|i| u64::from(described[i].max)),
        )?;
        let mut metric = e.encode_descriptor(
            "trellis_component_invocation_duration_seconds",
            "How long invocations took on this host, waiting for a free instance included; \
             kind is http or call.",
            None,
            MetricType::Histogram,
        )?;
        for (component, description) in components.iter().zip(&described) {
            for (kind, histogram) in component.durations() {
                let labels = [("component", description.id.as_str()), ("kind", kind)];
                histogram.encode(metric.encode_family(&labels)?)?;
            }
        }
        let providers = ctx.providers.all();
        family(
            e,
            "trellis_provider_healthy",
            "1 while the provider runs without a reported failure, else 0.",
            gauge,
            providers.iter().map(|p| {
                let up = u64::from(p.provider.failure().is_none());
                ([("provider", p.description.id.as_str())], up)
            }),
        )?;
        family(
            e,
            "trellis_provider_restarts",
            "Times the provider's process was restarted after it ended (external providers).",
            counter,
            providers.iter().map(|p| {
                let restarts = p.provider.restarts();
                ([("provider", p.description.id.as_str())], restarts)
            }),
        )?;
        family(
            e,
            "trellis_host_routed_calls",
            "Calls components made through their imports: what they reached (keyvalue, \
             messaging, component), in process or across the lattice, ok or error.",
            counter,
            ctx.routed
                .snapshot()
                .into_iter()
                .map(|(reached, route, outcome, n)| {
                    let labels = [("reached", reached), ("route", route), ("outcome", outcome)];
                    (labels, n)
                }),
        )?;
        let mut metric = e.encode_descriptor(
            "trellis_host_routed_call_duration_seconds",
            "How long components waited for the calls they made through their imports, by \
             what they reached and whether in process or across the lattice.",
            None,
            MetricType::Histogram,
        )?;
        for (reached, route, histogram) in ctx.routed.durations() {
            let labels = [("reached", reached), ("route", route)];
            histogram.encode(metric.encode_family(&labels)?)?;
        }
        let rpc = ctx.lattice.rpc_stats();
        family(
            e,
            "trellis_host_lattice_requests",
            "Invocations this host sent across NATS (HTTP and calls to components on other \
             hosts, key-value and messaging calls to remote providers), by how each ended: \
             answered, timed_out, no_responders, failed.",
            counter,
            RpcOutcome::ALL
                .iter()
                .map(|o| ([("outcome", o.label())], rpc.count(*o))),
        )?;
        let counts = ctx.counters.snapshot();
        family(
            e,
            "trellis_host_component_prepares",
            "Components prepared: compiled by wasmtime, or loaded from the compile cache.",
            counter,
            [
                ([("outcome", "compiled")], counts.compiled),
                ([("outcome", "cache")], counts.compile_cache_hits),
            ],
        )?;
        let (prepared, used) = ctx.runtime.spares().counts();
        family(
            e,
            "trellis_host_spare_instances",
            "Instances made ahead of a component's next call or HTTP request (spares), and \
             spares one ran in.",
            counter,
            [
                ([("outcome", "prepared")], prepared),
                ([("outcome", "used")], used),
            ],
        )?;
        family(
            e,
            "trellis_host_artifact_loads",
            "Artifacts loaded: fetched from the lattice, or read from this host's disk cache.",
            counter,
            [
                ([("source", "lattice")], counts.artifact_fetches),
                ([("source", "disk")], counts.artifact_cache_hits),
            ],
        )?;
        single(
            e,
            "trellis_host_artifact_fetched_bytes",
            "Bytes of artifacts fetched from the lattice.",
            counter,
            counts.artifact_fetched_bytes,
        )
    }
}
