//! A latency histogram of atomics: observing takes no lock and allocates
//! nothing (an invocation's hot path records into it), and a scrape reads
//! it into OpenMetrics text.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{MetricEncoder, NoLabelSet};

/// Upper bounds in seconds: 50 µs (a warm local call) to 10 s (the
/// default execution bound), roughly 2.5x apart.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    10.0,
];

/// Observations per bucket of [`LATENCY_BUCKETS`] (plus one above the
/// last), their count and their sum.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Counts one observation of `elapsed`.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let index = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// How many observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Writes it as a histogram metric (bucket counts per upper bound,
    /// the last `+Inf`).
    pub fn encode(&self, mut encoder: MetricEncoder<'_>) -> fmt::Result {
        let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .copied()
            // The encoder writes `+Inf` for `f64::MAX` (and `inf` for infinity).
            .chain(std::iter::once(f64::MAX))
            .zip(self.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect();
        // Count from the buckets, so a scrape racing an observation never
        // shows a count the buckets do not add up to.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    /// Forgets every observation (a component's new version starts over).
    pub fn reset(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Ordering::Relaxed);
        }
        self.count.store(0, Ordering::Relaxed);
        self.sum_nanos.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::DescriptorEncoder;
    use prometheus_client::metrics::MetricType;
    use prometheus_client::registry::Registry;

    use super::*;

    #[derive(Debug)]
    struct One(std::sync::Arc<Histogram>);

    impl Collector for One {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
            let metric = encoder.encode_descriptor(
                "call_duration_seconds",
                "How long calls took.",
                None,
                MetricType::Histogram,
            )?;
            self.0.encode(metric)
        }
    }

    #[test]
    fn buckets_are_cumulative_and_the_slow_end_is_inf() {
        let histogram = std::sync::Arc::new(Histogram::default());
        histogram.observe(Duration::from_micros(30));
        histogram.observe(Duration::from_micros(700));
        histogram.observe(Duration::from_secs(60));
        assert_eq!(histogram.count(), 3);
        let mut registry = Registry::default();
        registry.register_collector(Box::new(One(histogram.clone())));
        let text = crate::encode(&registry).unwrap();
        assert!(
            text.contains("call_duration_seconds_bucket{le=\"0.00005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("call_duration_seconds_bucket{le=\"0.001\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("call_duration_seconds_bucket{le=\"10.0\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("call_duration_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("call_duration_seconds_count 3\n"), "{text}");
        assert!(
            text.contains("call_duration_seconds_sum 60.00073"),
            "{text}"
        );
        histogram.reset();
        let text = crate::encode(&registry).unwrap();
        assert!(text.contains("call_duration_seconds_count 0\n"), "{text}");
    }
}
