//! What the host counts besides each component's own counters: how
//! components were prepared and what artifact fetches cost. Atomics only;
//! [`crate::metrics`] reads them at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use trellis_metrics::Histogram;

/// Host-wide counters.
#[derive(Debug, Default)]
pub struct HostCounters {
    compiled: AtomicU64,
    compile_cache_hits: AtomicU64,
    artifact_fetches: AtomicU64,
    artifact_cache_hits: AtomicU64,
    artifact_fetched_bytes: AtomicU64,
}

/// A snapshot of [`HostCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Components compiled by wasmtime.
    pub compiled: u64,
    /// Components whose compiled code came from the on-disk cache.
    pub compile_cache_hits: u64,
    /// Artifacts fetched from the lattice.
    pub artifact_fetches: u64,
    /// Artifacts read from this host's disk cache instead.
    pub artifact_cache_hits: u64,
    /// Bytes of the fetched artifacts.
    pub artifact_fetched_bytes: u64,
}

impl HostCounters {
    /// Counts one prepared component: compiled, or loaded from the cache.
    pub fn prepared(&self, compiled: bool) {
        let counter = if compiled {
            &self.compiled
        } else {
            &self.compile_cache_hits
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one artifact load: `Some(bytes)` fetched, `None` from disk.
    pub fn artifact(&self, fetched: Option<usize>) {
        match fetched {
            Some(bytes) => {
                self.artifact_fetches.fetch_add(1, Ordering::Relaxed);
                self.artifact_fetched_bytes
                    .fetch_add(bytes as u64, Ordering::Relaxed);
            }
            None => {
                self.artifact_cache_hits.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The counts now.
    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            compiled: self.compiled.load(Ordering::Relaxed),
            compile_cache_hits: self.compile_cache_hits.load(Ordering::Relaxed),
            artifact_fetches: self.artifact_fetches.load(Ordering::Relaxed),
            artifact_cache_hits: self.artifact_cache_hits.load(Ordering::Relaxed),
            artifact_fetched_bytes: self.artifact_fetched_bytes.load(Ordering::Relaxed),
        }
    }
}

/// What a routed call reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// A key-value provider (`wasi:keyvalue`).
    Keyvalue = 0,
    /// A messaging provider (`wasmcloud:messaging`).
    Messaging = 1,
    /// Another component's export (a linked custom interface).
    Component = 2,
}

impl Reached {
    /// Every kind, in label order.
    pub const ALL: [Reached; 3] = [Reached::Keyvalue, Reached::Messaging, Reached::Component];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reached::Keyvalue => "keyvalue",
            Reached::Messaging => "messaging",
            Reached::Component => "component",
        }
    }
}

/// Calls the host routed for its components' imports: what they reached,
/// whether in process or across the lattice, whether they succeeded, and
/// how long they took.
#[derive(Debug, Default)]
pub struct RoutedCalls {
    /// By reached (3) x remote (2) x failed (2).
    counts: [AtomicU64; 12],
    /// By reached (3) x remote (2): the caller's wait, so a call that
    /// crosses the lattice shows what crossing costs next to local ones.
    durations: [Histogram; 6],
}

/// One row of [`RoutedCalls::snapshot`]: reached, route, outcome, count.
pub type RoutedRow = (&'static str, &'static str, &'static str, u64);

fn route_label(remote: bool) -> &'static str {
    if remote { "lattice" } else { "local" }
}

impl RoutedCalls {
    fn index(reached: Reached, remote: bool, ok: bool) -> usize {
        Self::route_index(reached, remote) * 2 + usize::from(!ok)
    }

    fn route_index(reached: Reached, remote: bool) -> usize {
        reached as usize * 2 + usize::from(remote)
    }

    /// Counts one call that started at `started` and has just ended.
    pub fn record(&self, reached: Reached, remote: bool, ok: bool, started: Instant) {
        self.counts[Self::index(reached, remote, ok)].fetch_add(1, Ordering::Relaxed);
        self.durations[Self::route_index(reached, remote)].observe(started.elapsed());
    }

    /// The latency histogram of each reached kind and route.
    pub fn durations(&self) -> Vec<(&'static str, &'static str, &Histogram)> {
        let mut rows = Vec::with_capacity(self.durations.len());
        for reached in Reached::ALL {
            for remote in [false, true] {
                let histogram = &self.durations[Self::route_index(reached, remote)];
                rows.push((reached.label(), route_label(remote), histogram));
            }
        }
        rows
    }

    /// Every combination with its count (zeros included).
    pub fn snapshot(&self) -> Vec<RoutedRow> {
        let mut rows = Vec::with_capacity(self.counts.len());
        for reached in Reached::ALL {
            for remote in [false, true] {
                for ok in [true, false] {
                    let count =
                        self.counts[Self::index(reached, remote, ok)].load(Ordering::Relaxed);
                    let outcome = if ok { "ok" } else { "error" };
                    rows.push((reached.label(), route_label(remote), outcome, count));
                }
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routed_calls_are_timed_under_their_kind_and_route() {
        let routed = RoutedCalls::default();
        let started = Instant::now();
        routed.record(Reached::Component, true, true, started);
        routed.record(Reached::Component, true, false, started);
        routed.record(Reached::Keyvalue, false, true, started);
        let counts: Vec<_> = routed
            .durations()
            .into_iter()
            .map(|(reached, route, h)| (reached, route, h.count()))
            .collect();
        assert_eq!(
            counts,
            [
                ("keyvalue", "local", 1),
                ("keyvalue", "lattice", 0),
                ("messaging", "local", 0),
                ("messaging", "lattice", 0),
                ("component", "local", 0),
                ("component", "lattice", 2),
            ]
        );
        let failed = routed
            .snapshot()
            .into_iter()
            .find(|r| r.0 == "component" && r.1 == "lattice" && r.2 == "error");
        assert_eq!(failed.map(|r| r.3), Some(1));
    }
}
