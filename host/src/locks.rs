//! One lock per workload id.
//!
//! Two verbs for the same component or provider id (scale and update, start
//! and stop) must not interleave, but a verb for one id must never wait on
//! another id's fetch, compile or provider start: a slow or stuck artifact
//! would otherwise stall every scale on the host. Components and providers
//! share one id space (a provider id may not name a running component), so
//! one map covers both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;
use trellis_protocol::ComponentId;

/// A lock per component/provider id; entries live only while someone holds
/// or waits for them, so the map stays as small as the verbs in flight.
#[derive(Debug, Default)]
pub struct WorkloadLocks {
    map: Mutex<HashMap<ComponentId, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while a verb works on one id; dropping it lets the next verb for
/// that id in.
#[derive(Debug)]
pub struct WorkloadGuard<'a> {
    locks: &'a WorkloadLocks,
    id: ComponentId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl WorkloadLocks {
    /// Waits for the lock of `id`.
    pub async fn lock(&self, id: &ComponentId) -> WorkloadGuard<'_> {
        let mutex = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.clone())
            .or_default()
            .clone();
        // If this future is dropped while waiting, `mutex` goes with it and
        // the entry is cleaned up by whoever holds the lock.
        let guard = mutex.lock_owned().await;
        WorkloadGuard {
            locks: self,
            id: id.clone(),
            guard: Some(guard),
        }
    }

    /// How many ids have a lock held or awaited (for tests).
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no lock is held or awaited.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for WorkloadGuard<'_> {
    fn drop(&mut self) {
        // The guard holds a clone of the mutex's Arc; release it first.
        drop(self.guard.take());
        let mut map = self
            .locks
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Clones are only made under the map lock, so a count of one means
        // nobody else holds or waits for this id.
        if map.get(&self.id).is_some_and(|m| Arc::strong_count(m) == 1) {
            map.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id(s: &str) -> ComponentId {
        ComponentId::new(s).unwrap()
    }

    #[tokio::test]
    async fn other_ids_do_not_wait() {
        let locks = WorkloadLocks::default();
        let _slow = locks.lock(&id("slow")).await;
        // Another id's lock is free at once, however long `slow` is held.
        let other = tokio::time::timeout(Duration::from_secs(5), locks.lock(&id("other"))).await;
        assert!(other.is_ok(), "a lock on `other` waited for `slow`");
        assert_eq!(locks.len(), 2);
    }

    #[tokio::test]
    async fn one_id_serializes_and_cleans_up() {
        let locks = Arc::new(WorkloadLocks::default());
        let first = locks.lock(&id("a")).await;
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _second = locks.lock(&id("a")).await;
                let _ = tx.send(());
            })
        };
        // The second locker cannot get in while the first holds the lock.
        tokio::task::yield_now().await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
            assert!(rx.try_recv().is_err(), "second lock of `a` got in early");
        }
        drop(first);
        waiter.await.unwrap();
        assert!(rx.try_recv().is_ok());
        assert!(locks.is_empty(), "entries must go once nobody holds them");
    }

    #[tokio::test]
    async fn a_cancelled_waiter_leaves_no_entry() {
        let locks = WorkloadLocks::default();
        let held = locks.lock(&id("a")).await;
        let waited = tokio::time::timeout(Duration::from_millis(20), locks.lock(&id("a"))).await;
        assert!(waited.is_err());
        drop(held);
        assert!(locks.is_empty());
    }
}
