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

use trellis_metrics::prometheus_client::collector::Collector;
use trellis_metrics::prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use trellis_metrics::prometheus_client::metrics::MetricType;

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
type Sample<'a, const N: usize, V> = ([(&'static str, &'a str); N], V);

fn counters<const N: usize>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: &[Sample<'_, N, u64>],
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        metric
            .encode_family(labels)?
            .encode_counter::<NoLabelSet, _, u64>(value, None)?;
    }
    Ok(())
}

fn gauges<const N: usize>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: &[Sample<'_, N, u64>],
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        metric.encode_family(labels)?.encode_gauge(value)?;
    }
    Ok(())
}

impl Collector for HostCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let Some(ctx) = self.ctx.upgrade() else {
            return Ok(());
        };
        let e = &mut encoder;
        let id = ctx.info.id.to_string();
        gauges(
            e,
            "trellis_host_info",
            "This host: its id, name and Trellis version (always 1).",
            &[(
                [
                    ("host_id", id.as_str()),
                    ("name", ctx.info.name.as_str()),
                    ("version", VERSION),
                ],
                1,
            )],
        )?;
        let components = ctx.components.all();
        let described: Vec<_> = components.iter().map(|c| c.description()).collect();
        let label = |i: usize| [("component", described[i].id.as_str())];
        let each = |value: &dyn Fn(usize) -> u64| -> Vec<Sample<'_, 1, u64>> {
            (0..components.len())
                .map(|i| (label(i), value(i)))
                .collect()
        };
        counters(
            e,
            "trellis_component_invocations",
            "Invocations (HTTP requests and calls) that got an answer or an error, \
             since the component's version started here.",
            &each(&|i| described[i].stats.invocations),
        )?;
        counters(
            e,
            "trellis_component_failures",
            "Invocations that failed: a trap, a timeout, no answer, or HTTP 5xx.",
            &each(&|i| described[i].stats.failures),
        )?;
        gauges(
            e,
            "trellis_component_in_flight",
            "Invocations started and not yet answered.",
            &each(&|i| components[i].in_flight()),
        )?;
        gauges(
            e,
            "trellis_component_max_instances",
            "The component's concurrency bound on this host.",
            &each(&|i| u64::from(described[i].max)),
        )?;
        let mut metric = e.encode_descriptor(
            "trellis_component_invocation_duration_seconds",
            "How long invocations took on this host, waiting for a free instance included; \
             kind is http or call.",
            None,
            MetricType::Histogram,
        )?;
        for (i, component) in components.iter().enumerate() {
            for (kind, histogram) in component.durations() {
                let labels = [("component", described[i].id.as_str()), ("kind", kind)];
                histogram.encode(metric.encode_family(&labels)?)?;
            }
        }
        let providers = ctx.providers.all();
        let healthy: Vec<Sample<'_, 1, u64>> = providers
            .iter()
            .map(|p| {
                let up = u64::from(p.provider.failure().is_none());
                ([("provider", p.description.id.as_str())], up)
            })
            .collect();
        gauges(
            e,
            "trellis_provider_healthy",
            "1 while the provider runs without a reported failure, else 0.",
            &healthy,
        )?;
        let routed: Vec<Sample<'_, 3, u64>> = ctx
            .routed
            .snapshot()
            .into_iter()
            .map(|(reached, route, outcome, n)| {
                (
                    [("reached", reached), ("route", route), ("outcome", outcome)],
                    n,
                )
            })
            .collect();
        counters(
            e,
            "trellis_host_routed_calls",
            "Calls components made through their imports: what they reached (keyvalue, \
             messaging, component), in process or across the lattice, ok or error.",
            &routed,
        )?;
        let counts = ctx.counters.snapshot();
        counters(
            e,
            "trellis_host_component_prepares",
            "Components prepared: compiled by wasmtime, or loaded from the compile cache.",
            &[
                ([("outcome", "compiled")], counts.compiled),
                ([("outcome", "cache")], counts.compile_cache_hits),
            ],
        )?;
        counters(
            e,
            "trellis_host_artifact_loads",
            "Artifacts loaded: fetched from the lattice, or read from this host's disk cache.",
            &[
                ([("source", "lattice")], counts.artifact_fetches),
                ([("source", "disk")], counts.artifact_cache_hits),
            ],
        )?;
        e.encode_descriptor(
            "trellis_host_artifact_fetched_bytes",
            "Bytes of artifacts fetched from the lattice.",
            None,
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, _, u64>(&counts.artifact_fetched_bytes, None)
    }
}
