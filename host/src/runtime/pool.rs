//! Admission to the host's instance pool, shared fairly between components.
//!
//! The pooling allocator holds `--max-instances` component instances for
//! the whole host. Without admission, one component with a large `max` and
//! slow requests fills the pool and every other component's instantiation
//! fails. So every request takes a [`PoolSlot`] before it instantiates:
//!
//! - each component (up to half the pool's worth of components) keeps one
//!   slot **reserved**: its first concurrent request always fits, whatever
//!   its neighbours do;
//! - the rest of the pool is **shared**, first come first served; a request
//!   that finds it full waits until its deadline and then gets 503 busy.
//!
//! Invariant: `in_use + idle_reserved <= capacity`, where `idle_reserved`
//! counts reserved slots whose component runs nothing right now. Shared
//! admission keeps it; the reserved slot was already counted.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;

/// The host-wide count of pool slots.
#[derive(Debug)]
pub struct InstancePool {
    capacity: u32,
    state: Mutex<PoolState>,
    freed: Notify,
}

#[derive(Debug, Default)]
struct PoolState {
    /// Slots taken by running instances.
    in_use: u32,
    /// Reserved slots whose component runs nothing.
    idle_reserved: u32,
    /// Components holding a reservation.
    reservations: u32,
}

/// The pool had no slot for this component before the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("all {capacity} instance slots of this host are in use")]
pub struct PoolFull {
    /// The pool's size (`--max-instances`).
    pub capacity: u32,
}

impl InstancePool {
    /// A pool of `capacity` slots (at least one).
    pub fn new(capacity: u32) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.max(1),
            state: Mutex::new(PoolState::default()),
            freed: Notify::new(),
        })
    }

    /// The pool's size.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Registers a component: it gets a reserved slot while fewer than half
    /// the pool's slots are reserved (so at least half stays shared).
    pub fn member(self: &Arc<Self>) -> PoolMember {
        let mut state = self.lock();
        let reserved = state.reservations < self.capacity / 2;
        if reserved {
            state.reservations += 1;
            state.idle_reserved += 1;
        }
        PoolMember {
            pool: self.clone(),
            shared: Arc::new(MemberState {
                reserved: AtomicBool::new(reserved),
                running: AtomicU32::new(0),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One component's membership in the pool; dropping it gives its
/// reservation back.
#[derive(Debug)]
pub struct PoolMember {
    pool: Arc<InstancePool>,
    shared: Arc<MemberState>,
}

/// What a member shares with its slots. Atomics only so that it is `Sync`:
/// both fields are read and written under the pool's lock.
#[derive(Debug)]
struct MemberState {
    /// Holds a reservation (cleared when the member leaves).
    reserved: AtomicBool,
    /// Slots in use by this component.
    running: AtomicU32,
}

impl PoolMember {
    /// Whether it holds a reserved slot: an instance it keeps idle then
    /// takes nothing from the shared part of the pool.
    pub fn reserved(&self) -> bool {
        self.shared.reserved.load(Ordering::Relaxed)
    }

    /// Takes a slot, waiting for one until `deadline`.
    pub async fn admit(&self, deadline: Instant) -> Result<PoolSlot, PoolFull> {
        loop {
            // Registered before the check, so a slot freed in between
            // still wakes this waiter.
            let freed = self.pool.freed.notified();
            let mut freed = std::pin::pin!(freed);
            freed.as_mut().enable();
            if let Some(slot) = self.try_admit() {
                return Ok(slot);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(PoolFull {
                    capacity: self.pool.capacity,
                });
            }
        }
    }

    /// The component's reserved slot, if it holds one and nothing of the
    /// component runs: what an instance made ahead of a call may take
    /// (see `warm`), so that it never holds a slot other components share.
    pub fn try_idle_reserved(&self) -> Option<PoolSlot> {
        self.take(true)
    }

    fn try_admit(&self) -> Option<PoolSlot> {
        self.take(false)
    }

    /// A slot if one fits (only the idle reserved one if `reserved_only`).
    fn take(&self, reserved_only: bool) -> Option<PoolSlot> {
        let pool = &self.pool;
        let mut state = pool.lock();
        let running = self.shared.running.load(Ordering::Relaxed);
        let own_reserved = self.shared.reserved.load(Ordering::Relaxed) && running == 0;
        if reserved_only && !own_reserved {
            return None;
        }
        let fits = if own_reserved {
            // Already counted in `idle_reserved`; the check only matters
            // right after registering into a pool that was full.
            state.in_use < pool.capacity
        } else {
            state.in_use + state.idle_reserved < pool.capacity
        };
        if !fits {
            return None;
        }
        if own_reserved {
            state.idle_reserved -= 1;
        }
        state.in_use += 1;
        self.shared.running.store(running + 1, Ordering::Relaxed);
        Some(PoolSlot {
            pool: pool.clone(),
            member: self.shared.clone(),
        })
    }
}

impl Drop for PoolMember {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        if !self.shared.reserved.swap(false, Ordering::Relaxed) {
            return;
        }
        state.reservations -= 1;
        // In-flight slots still count as in use until they are dropped;
        // an idle reservation is given back now.
        if self.shared.running.load(Ordering::Relaxed) == 0 {
            state.idle_reserved -= 1;
        }
        drop(state);
        self.pool.freed.notify_waiters();
    }
}

/// One instance's place in the pool; drop it only once the instance (its
/// `Store`) is gone.
#[derive(Debug)]
pub struct PoolSlot {
    pool: Arc<InstancePool>,
    member: Arc<MemberState>,
}

impl Drop for PoolSlot {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        state.in_use -= 1;
        let running = self.member.running.load(Ordering::Relaxed) - 1;
        self.member.running.store(running, Ordering::Relaxed);
        // The last instance of a component that still holds its reservation
        // hands the slot back to that reservation; once the member left,
        // the slot is simply freed.
        if running == 0 && self.member.reserved.load(Ordering::Relaxed) {
            state.idle_reserved += 1;
        }
        drop(state);
        self.pool.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(20)
    }

    #[tokio::test]
    async fn a_greedy_member_leaves_each_neighbour_its_reserved_slot() {
        let pool = InstancePool::new(8);
        let greedy = pool.member();
        let quiet = pool.member();
        let late = pool.member();
        // Three reservations: the greedy one gets its own slot plus the
        // five shared ones, and no more.
        let mut held = Vec::new();
        for _ in 0..6 {
            held.push(greedy.admit(soon()).await.unwrap());
        }
        assert_eq!(greedy.admit(soon()).await.unwrap_err().capacity, 8);
        // Each neighbour still gets one instance, but not two.
        let q = quiet.admit(soon()).await.unwrap();
        let l = late.admit(soon()).await.unwrap();
        assert!(quiet.admit(soon()).await.is_err());
        // A freed shared slot goes to whoever asks next.
        held.pop();
        let q2 = quiet.admit(soon()).await.unwrap();
        assert!(greedy.admit(soon()).await.is_err());
        drop((q, q2, l));
        let again = greedy.admit(soon()).await.unwrap();
        assert!(greedy.admit(soon()).await.is_err(), "reservations are back");
        drop(again);
    }

    #[tokio::test]
    async fn a_waiter_gets_the_slot_when_it_frees() {
        let pool = InstancePool::new(2);
        let member = pool.member();
        let a = member.admit(soon()).await.unwrap();
        let b = member.admit(soon()).await.unwrap();
        let waiter = tokio::spawn({
            let pool = pool.clone();
            async move {
                let again = pool.member();
                // One reservation at most (half of 2): this one shares.
                again.admit(Instant::now() + Duration::from_secs(30)).await
            }
        });
        tokio::task::yield_now().await;
        drop(a);
        assert!(waiter.await.unwrap().is_ok());
        drop(b);
    }

    #[tokio::test]
    async fn only_an_idle_reserved_slot_is_taken_for_later() {
        let pool = InstancePool::new(4);
        let member = pool.member();
        let spare = member
            .try_idle_reserved()
            .expect("the reserved slot is idle");
        assert!(member.try_idle_reserved().is_none(), "taken already");
        drop(spare);
        let running = member.admit(soon()).await.unwrap();
        assert!(member.try_idle_reserved().is_none(), "a call holds it");
        drop(running);
        assert!(member.try_idle_reserved().is_some());
        // Over the reservations (half of 4): no reserved slot to take.
        let (_a, _b) = (pool.member(), pool.member());
        let shared = pool.member();
        assert!(shared.try_idle_reserved().is_none());
        assert!(shared.try_admit().is_some());
    }

    #[tokio::test]
    async fn leaving_gives_the_reservation_back_even_with_calls_in_flight() {
        let pool = InstancePool::new(4);
        let first = pool.member();
        let in_flight = first.admit(soon()).await.unwrap();
        drop(first);
        let other = pool.member();
        // `other` reserves one; three are left: the one in flight and two.
        let slots: Vec<_> = [(); 3]
            .iter()
            .map(|()| other.try_admit())
            .collect::<Option<_>>()
            .unwrap();
        assert!(other.try_admit().is_none());
        drop(in_flight);
        assert!(other.try_admit().is_some());
        drop(slots);
        let state = pool.lock();
        assert_eq!((state.in_use, state.idle_reserved), (0, 1));
    }
}
