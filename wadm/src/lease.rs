//! The leader lease: one key in wadm's bucket naming the leader and when
//! its claim runs out. The leader renews it well before that; a follower
//! takes it over only once it ran out, through compare-and-set, so two
//! followers racing for it cannot both win.
//!
//! Expiry is wall-clock time written by the leader and read by followers,
//! so wadm instances need clocks within a fraction of the lease's length
//! of each other (NTP gives far better).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use trellis_lattice::LatticeError;
use trellis_lattice::wadm::WadmStore;

const LEASE_KEY: &str = "leader";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseRecord {
    holder: String,
    expires_unix_ms: u64,
}

/// What the reconciler sees of the lease another task holds.
#[derive(Clone)]
pub struct LeaseView {
    state: watch::Receiver<Option<Instant>>,
    ttl: Duration,
}

impl LeaseView {
    /// A view of the claim end published by [`Lease::hold`].
    pub fn new(state: watch::Receiver<Option<Instant>>, ttl: Duration) -> Self {
        Self { state, ttl }
    }

    /// Whether the claim is good for acting on. It stops a quarter-lease
    /// before the claim runs out, so a command sent now cannot overlap a
    /// successor's.
    pub fn is_held(&self) -> bool {
        Self::holds(*self.state.borrow(), self.ttl)
    }

    fn holds(valid_until: Option<Instant>, ttl: Duration) -> bool {
        valid_until.is_some_and(|until| Instant::now() + ttl / 4 < until)
    }

    /// Waits until the claim changes (renewed, won or lost).
    pub async fn changed(&mut self) {
        if self.state.changed().await.is_err() {
            // The lease task ended: nothing will change any more.
            std::future::pending::<()>().await;
        }
    }
}

/// This instance's view of the lease.
pub struct Lease {
    store: WadmStore,
    me: String,
    ttl: Duration,
    /// Revision of our claim, while we hold it.
    revision: Option<u64>,
    /// Until when our claim is safe to act on, by our own clock.
    valid_until: Option<Instant>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Lease {
    /// A lease handle for instance `me`, claims lasting `ttl`.
    pub fn new(store: WadmStore, me: String, ttl: Duration) -> Self {
        Self {
            store,
            me,
            ttl,
            revision: None,
            valid_until: None,
        }
    }

    /// Renews (or seeks) the lease every third of its length until `stop`
    /// says so, publishing the claim's end to `state`; then releases it.
    pub async fn hold(
        mut self,
        state: watch::Sender<Option<Instant>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(self.ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.tick().await {
                tracing::warn!(%e, "wadm lease renewal failed");
            }
            state.send_replace(self.valid_until);
        }
        state.send_replace(None);
        self.release().await;
    }

    /// Renews our claim, or claims the lease when it is free or ran out.
    /// Returns whether we lead now.
    pub async fn tick(&mut self) -> Result<bool, LatticeError> {
        let started = Instant::now();
        let record = LeaseRecord {
            holder: self.me.clone(),
            expires_unix_ms: unix_ms() + u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX),
        };
        let claimed = match self.revision {
            Some(rev) => self.store.update(LEASE_KEY, &record, rev).await?,
            None => match self.store.get::<LeaseRecord>(LEASE_KEY).await? {
                None => self.store.create(LEASE_KEY, &record).await?,
                Some(current)
                    if current.value.holder == self.me
                        || current.value.expires_unix_ms < unix_ms() =>
                {
                    self.store
                        .update(LEASE_KEY, &record, current.revision)
                        .await?
                }
                Some(_) => None,
            },
        };
        self.revision = claimed;
        self.valid_until = claimed.map(|_| started + self.ttl);
        Ok(claimed.is_some())
    }

    /// Gives the lease up so a follower takes over at once.
    pub async fn release(&mut self) {
        if self.revision.take().is_some() {
            self.valid_until = None;
            if let Err(e) = self.store.delete(LEASE_KEY).await {
                tracing::warn!(%e, "could not release the wadm lease; it runs out on its own");
            }
        }
    }
}
