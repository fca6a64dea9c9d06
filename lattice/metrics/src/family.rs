//! Writing counters and gauges read from state at scrape time: one
//! metric with a sample per label set, or one unlabelled sample. The
//! collectors of hosts and wadm share these.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// Writes metric `name` of `kind` (a counter or a gauge) with one sample
/// per `(labels, value)`.
pub fn family<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        sample(metric.encode_family(&labels)?, kind, value)?;
    }
    Ok(())
}

/// Writes metric `name` of `kind` (a counter or a gauge) with one
/// unlabelled sample.
pub fn single(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    value: u64,
) -> fmt::Result {
    sample(
        encoder.encode_descriptor(name, help, None, kind)?,
        kind,
        value,
    )
}

fn sample(mut encoder: MetricEncoder<'_>, kind: MetricType, value: u64) -> fmt::Result {
    match kind {
        MetricType::Counter => encoder.encode_counter::<NoLabelSet, _, u64>(&value, None),
        _ => encoder.encode_gauge(&value),
    }
}
