//! Link and config changes reply only once every host has applied them, so
//! the request after `trellis link put` already sees the new link (and an
//! HTTP listener it opens is already listening).

use std::time::Duration;

use tokio::time::Instant;
use trellis_protocol::control::PingReply;

use super::wide::Wide;

/// How long each round listens for hosts; it also paces the rounds.
const ROUND: Duration = Duration::from_millis(150);

/// Which bucket a revision belongs to.
#[derive(Clone, Copy)]
pub(super) enum Bucket {
    /// The links bucket.
    Links,
    /// The named config bucket.
    Config,
}

/// Waits until every host that answers a ping has applied `revision`;
/// returns whether that happened within the view's barrier timeout
/// ([`super::wide::BARRIER_TIMEOUT`] on a running host).
pub(super) async fn await_applied(wide: &Wide<'_>, bucket: Bucket, revision: u64) -> bool {
    let applied = |h: &PingReply| match bucket {
        Bucket::Links => h.links_revision,
        Bucket::Config => h.config_revision,
    };
    let deadline = Instant::now() + wide.barrier_timeout;
    loop {
        match wide.directory.ping(ROUND).await {
            Ok(hosts) if hosts.iter().all(|h| applied(h) >= revision) => return true,
            Ok(hosts) => {
                if Instant::now() >= deadline {
                    let behind: Vec<String> = hosts
                        .iter()
                        .filter(|h| applied(h) < revision)
                        .map(|h| h.name.clone())
                        .collect();
                    tracing::warn!(revision, ?behind, "change not applied everywhere in time");
                    return false;
                }
            }
            Err(e) => {
                tracing::warn!(%e, "cannot check that a change applied");
                return false;
            }
        }
    }
}
