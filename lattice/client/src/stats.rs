//! How the invocations a connection sent across NATS ended, and the
//! provider calls it answered, counted for a process's metrics: the
//! lattice's own health as one host or provider sees it.

use std::sync::atomic::{AtomicU64, Ordering};

use async_nats::{RequestErrorKind, client::RequestError};

/// How one request-reply across NATS ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcOutcome {
    /// A reply came (whatever it says).
    Answered,
    /// No reply before the caller's deadline.
    TimedOut,
    /// Nobody subscribed to the subject.
    NoResponders,
    /// The connection failed the request.
    Failed,
}

impl RpcOutcome {
    /// Every outcome, in label order.
    pub const ALL: [RpcOutcome; 4] = [
        RpcOutcome::Answered,
        RpcOutcome::TimedOut,
        RpcOutcome::NoResponders,
        RpcOutcome::Failed,
    ];

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            RpcOutcome::Answered => "answered",
            RpcOutcome::TimedOut => "timed_out",
            RpcOutcome::NoResponders => "no_responders",
            RpcOutcome::Failed => "failed",
        }
    }
}

/// Counts per [`RpcOutcome`], shared by every clone of one connection.
#[derive(Debug, Default)]
pub struct RpcStats {
    counts: [AtomicU64; 4],
}

impl RpcStats {
    /// Counts how a request ended.
    pub(crate) fn record<T>(&self, result: &Result<T, RequestError>) {
        let outcome = match result {
            Ok(_) => RpcOutcome::Answered,
            Err(e) => match e.kind() {
                RequestErrorKind::TimedOut => RpcOutcome::TimedOut,
                RequestErrorKind::NoResponders => RpcOutcome::NoResponders,
                RequestErrorKind::Other => RpcOutcome::Failed,
            },
        };
        self.counts[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests that ended with `outcome` since the connection was made.
    pub fn count(&self, outcome: RpcOutcome) -> u64 {
        self.counts[outcome as usize].load(Ordering::Relaxed)
    }
}

/// Which provider interface a served call was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedInterface {
    /// `wasi:keyvalue`.
    Keyvalue,
    /// `wasmcloud:messaging`.
    Messaging,
}

impl ServedInterface {
    /// Both, in label order.
    pub const ALL: [ServedInterface; 2] = [ServedInterface::Keyvalue, ServedInterface::Messaging];

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            ServedInterface::Keyvalue => "keyvalue",
            ServedInterface::Messaging => "messaging",
        }
    }
}

/// Provider calls this connection answered, by interface and whether
/// the answer was an error.
#[derive(Debug, Default)]
pub struct ServedStats {
    counts: [[AtomicU64; 2]; 2],
}

impl ServedStats {
    /// Counts one answered call.
    pub(crate) fn record(&self, interface: ServedInterface, ok: bool) {
        self.counts[interface as usize][usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// Calls of `interface` answered `ok` (or with an error).
    pub fn count(&self, interface: ServedInterface, ok: bool) -> u64 {
        self.counts[interface as usize][usize::from(!ok)].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_counts_under_its_own_label() {
        let stats = RpcStats::default();
        stats.record::<()>(&Ok(()));
        stats.record::<()>(&Ok(()));
        stats.record::<()>(&Err(RequestError::from(RequestErrorKind::TimedOut)));
        stats.record::<()>(&Err(RequestError::from(RequestErrorKind::NoResponders)));
        let counts: Vec<_> = RpcOutcome::ALL
            .iter()
            .map(|o| (o.label(), stats.count(*o)))
            .collect();
        assert_eq!(
            counts,
            [
                ("answered", 2),
                ("timed_out", 1),
                ("no_responders", 1),
                ("failed", 0)
            ]
        );
    }

    #[test]
    fn served_calls_count_by_interface_and_outcome() {
        let stats = ServedStats::default();
        stats.record(ServedInterface::Keyvalue, true);
        stats.record(ServedInterface::Keyvalue, false);
        stats.record(ServedInterface::Messaging, true);
        stats.record(ServedInterface::Messaging, true);
        assert_eq!(stats.count(ServedInterface::Keyvalue, true), 1);
        assert_eq!(stats.count(ServedInterface::Keyvalue, false), 1);
        assert_eq!(stats.count(ServedInterface::Messaging, true), 2);
        assert_eq!(stats.count(ServedInterface::Messaging, false), 0);
    }
}
