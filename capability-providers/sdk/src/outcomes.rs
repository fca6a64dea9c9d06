//! What providers said about the links they were told about, and the
//! retries of the ones they refused.
//!
//! A provider may refuse a link for a reason that passes (its port is
//! taken) or one that needs a fix (its config is wrong). Either way the
//! refusal is kept with the provider's reason, reported (hosts put it in
//! their inventory, external processes in their health reply) and the link
//! is tried again with back-off, so a port that frees up gets its listener
//! without anyone asking. A new version of the link starts over.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use trellis_protocol::ComponentId;
use trellis_protocol::link::{LinkKey, LinkStatus};

use crate::links::LinkState;
use crate::{LinkContext, ProviderError};

/// First pause before a refused link is tried again.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Longest pause between two tries (the pause doubles up to this).
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// How often the retry loop looks for links that are due.
const RETRY_TICK: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
struct Entry {
    status: LinkStatus,
    /// When to try again (refused links only).
    retry_at: Option<Instant>,
    /// The pause after the next refusal.
    backoff: Duration,
}

/// Outcomes per (provider, link), and the lock that puts link changes and
/// retries in one order.
#[derive(Default)]
pub struct LinkOutcomes {
    entries: Mutex<BTreeMap<(ComponentId, LinkKey), Entry>>,
    applying: tokio::sync::Mutex<()>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl LinkOutcomes {
    /// Held while telling providers about a link, so that a retry never
    /// overtakes (and undoes) a newer change or a deletion.
    pub async fn serialize(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.applying.lock().await
    }

    /// Records how `provider` took a new version of the link `key`: the
    /// tries start over.
    pub fn put(&self, provider: &ComponentId, key: LinkKey, result: &Result<(), ProviderError>) {
        self.record(provider, key, result, true, Instant::now());
    }

    fn record(
        &self,
        provider: &ComponentId,
        key: LinkKey,
        result: &Result<(), ProviderError>,
        fresh: bool,
        now: Instant,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = entries.get(&(provider.clone(), key.clone()));
        let (attempts, backoff) = match previous {
            Some(e) if !fresh => (e.status.attempts.saturating_add(1), e.backoff),
            _ => (1, FIRST_RETRY),
        };
        let (error, retry_at, next_backoff) = match result {
            Ok(()) => (None, None, FIRST_RETRY),
            Err(e) => {
                let reason = LinkStatus::bounded_error(&e.to_string());
                tracing::warn!(provider = %provider, link = %key.storage_key(), attempts, retry_in = ?backoff, %reason, "provider refused link; will retry");
                (
                    Some(reason),
                    Some(now + backoff),
                    (backoff * 2).min(MAX_RETRY),
                )
            }
        };
        if result.is_ok() && attempts > 1 {
            tracing::info!(provider = %provider, link = %key.storage_key(), attempts, "provider applied link after retries");
        }
        let status = LinkStatus {
            link: key.clone(),
            provider_id: provider.clone(),
            applied: result.is_ok(),
            error,
            attempts,
            at_unix_ms: unix_ms(),
        };
        entries.insert(
            (provider.clone(), key),
            Entry {
                status,
                retry_at,
                backoff: next_backoff,
            },
        );
    }

    /// The link `key` was deleted and `provider` told.
    pub fn deleted(&self, provider: &ComponentId, key: &LinkKey) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(provider.clone(), key.clone()));
    }

    /// Forgets every outcome of `provider` (it stopped).
    pub fn forget_provider(&self, provider: &ComponentId) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(p, _), _| p != provider);
    }

    /// Every outcome, sorted by provider and link.
    pub fn statuses(&self) -> Vec<LinkStatus> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|e| e.status.clone())
            .collect()
    }

    /// Refused links whose next try is due at `now`.
    fn due(&self, now: Instant) -> Vec<(ComponentId, LinkKey)> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, e)| e.retry_at.is_some_and(|at| at <= now))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Tries the due refused links again, each with its current version.
    /// `apply` hands a link to a provider; `None` means that provider is
    /// not here any more (its outcomes are dropped).
    pub async fn retry_due<F, Fut>(&self, state: &LinkState, apply: &F)
    where
        F: Fn(ComponentId, LinkContext) -> Fut,
        Fut: Future<Output = Option<Result<(), ProviderError>>>,
    {
        self.retry_due_at(Instant::now(), state, apply).await;
    }

    /// [`Self::retry_due`] as of `now` (tests drive the clock).
    async fn retry_due_at<F, Fut>(&self, now: Instant, state: &LinkState, apply: &F)
    where
        F: Fn(ComponentId, LinkContext) -> Fut,
        Fut: Future<Output = Option<Result<(), ProviderError>>>,
    {
        for (provider, key) in self.due(now) {
            let _order = self.serialize().await;
            // Read under the lock: a deletion that got here first wins.
            let Some(link) = state.get(&key) else {
                self.deleted(&provider, &key);
                continue;
            };
            match apply(provider.clone(), state.context(&link)).await {
                Some(result) => self.record(&provider, key, &result, false, now),
                None => self.forget_provider(&provider),
            }
        }
    }
}

/// Retries refused links until aborted (see [`LinkOutcomes::retry_due`]).
pub fn spawn_retries<F, Fut>(
    outcomes: Arc<LinkOutcomes>,
    state: Arc<LinkState>,
    apply: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(ComponentId, LinkContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<Result<(), ProviderError>>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RETRY_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            outcomes.retry_due(&state, &apply).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use trellis_protocol::link::Link;

    use super::*;

    fn link() -> Link {
        serde_json::from_str(
            r#"{"source_id":"http","target_id":"app","wit_namespace":"wasi",
                "wit_package":"http","interfaces":["incoming-handler"]}"#,
        )
        .unwrap()
    }

    fn id() -> ComponentId {
        ComponentId::new("http").unwrap()
    }

    #[tokio::test]
    async fn a_refused_link_is_retried_with_backoff_until_applied() {
        let outcomes = LinkOutcomes::default();
        let state = LinkState::default();
        state.put_link(link());
        let start = Instant::now();
        let refused = Err(ProviderError::Unavailable("address in use".into()));
        outcomes.record(&id(), link().key(), &refused, true, start);
        let status = &outcomes.statuses()[0];
        assert!(!status.applied);
        assert_eq!(status.error.as_deref(), Some("address in use"));
        assert_eq!(status.attempts, 1);

        // Refuses twice more, then applies.
        let tries = AtomicU32::new(0);
        let apply = |_: ComponentId, _: LinkContext| {
            let n = tries.fetch_add(1, Ordering::SeqCst);
            async move {
                Some(if n < 2 {
                    Err(ProviderError::Unavailable("address in use".into()))
                } else {
                    Ok(())
                })
            }
        };
        // Step a clock by 100 ms and note when each try happens.
        let mut now = start;
        let mut tried_at = Vec::new();
        while !outcomes.statuses()[0].applied {
            assert!(now < start + Duration::from_secs(60), "never applied");
            now += Duration::from_millis(100);
            let before = tries.load(Ordering::SeqCst);
            outcomes.retry_due_at(now, &state, &apply).await;
            if tries.load(Ordering::SeqCst) > before {
                tried_at.push(now.duration_since(start));
            }
        }
        // Pauses of 1 s, 2 s, 4 s: the back-off doubles.
        let ms: Vec<u128> = tried_at.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![1000, 3000, 7000]);
        let status = &outcomes.statuses()[0];
        assert_eq!((status.applied, status.attempts), (true, 4));
        assert!(status.error.is_none());
    }

    #[tokio::test]
    async fn a_deleted_link_is_not_retried_and_a_new_version_starts_over() {
        let outcomes = LinkOutcomes::default();
        let state = LinkState::default();
        let refused = Err(ProviderError::Config("no address".into()));
        let start = Instant::now();
        outcomes.record(&id(), link().key(), &refused, true, start);
        // Not in the state (deleted): dropped without a try.
        let apply = |_: ComponentId, _: LinkContext| async { panic!("tried a deleted link") };
        outcomes
            .retry_due_at(start + MAX_RETRY, &state, &apply)
            .await;
        assert!(outcomes.statuses().is_empty());

        outcomes.put(&id(), link().key(), &refused);
        outcomes.put(&id(), link().key(), &refused);
        assert_eq!(
            outcomes.statuses()[0].attempts,
            1,
            "a new version starts over"
        );
        outcomes.forget_provider(&id());
        assert!(outcomes.statuses().is_empty());
    }

    #[test]
    fn the_backoff_stops_growing_at_the_cap() {
        let outcomes = LinkOutcomes::default();
        let refused = Err(ProviderError::Unavailable("in use".into()));
        let now = Instant::now();
        outcomes.record(&id(), link().key(), &refused, true, now);
        for _ in 0..10 {
            outcomes.record(&id(), link().key(), &refused, false, now);
        }
        let entries = outcomes.entries.lock().unwrap();
        let entry = entries.values().next().unwrap();
        assert_eq!(entry.retry_at, Some(now + MAX_RETRY));
        assert_eq!(entry.status.attempts, 11);
    }
}
