//! The host's spare instances (see `warm`): whether they are made, what
//! was made and used, and the count of running invocations that decides
//! when (see the host's `deferred`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Whether hosts make spare instances, and how many they made and used
/// (host-wide, for the metrics).
#[derive(Debug)]
pub struct Spares {
    enabled: bool,
    /// Also for components with an HTTP handler (0.2).
    http: bool,
    prepared: AtomicU64,
    used: AtomicU64,
    /// Invocations running on the host: spares are made only when none do.
    running: AtomicU64,
}

impl Spares {
    /// Counts from zero; `enabled` and `http` are the runtime's
    /// `spare_instances` and `http_spare_instances`.
    pub(super) fn new(enabled: bool, http: bool) -> Arc<Self> {
        Arc::new(Self {
            enabled,
            http: enabled && http,
            prepared: AtomicU64::new(0),
            used: AtomicU64::new(0),
            running: AtomicU64::new(0),
        })
    }

    /// Whether spares are made at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether components with an HTTP handler get them too.
    pub fn for_http(&self) -> bool {
        self.http
    }

    /// The count of invocations running on the host, which an
    /// invocation keeps while it runs (see `deferred`).
    pub fn running(&self) -> &AtomicU64 {
        &self.running
    }

    /// Counts one spare made.
    pub(super) fn prepared_one(&self) {
        self.prepared.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one spare a call ran in.
    pub(super) fn used_one(&self) {
        self.used.fetch_add(1, Ordering::Relaxed);
    }

    /// Spares made, and spares a call ran in.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.prepared.load(Ordering::Relaxed),
            self.used.load(Ordering::Relaxed),
        )
    }
}
