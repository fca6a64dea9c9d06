//! Every current value under a key filter of a KV bucket, in one streamed
//! read: an ordered consumer delivering the last message per key. Listing
//! keys and then getting each one costs a round trip per key; at 10,000
//! apps wadm spent most of a reconcile round on those.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, ReplayPolicy, push};
use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::StreamExt;

use crate::error::LatticeError;

/// The whole read's bound: 10,000 values stream in well under a second.
pub(crate) const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30);

/// One current value.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    /// The key, without the bucket's subject prefix.
    pub key: String,
    /// The stored bytes.
    pub value: Bytes,
    /// The revision it was stored at.
    pub revision: u64,
}

/// Header JetStream KV marks deletions with.
const KV_OPERATION: &str = "KV-Operation";
/// Header the server marks removals by limits with.
const MARKER_REASON: &str = "Nats-Marker-Reason";

/// Every key under `filter` (a KV key pattern such as `app.>` or `>`) with
/// its current value, in revision order; deleted keys are left out. Fails
/// as a whole (never returns a shorter list) when the read breaks off or
/// takes longer than [`SNAPSHOT_TIMEOUT`]: a reader takes a missing key
/// for a deleted one.
pub(crate) async fn current_values(
    client: &async_nats::Client,
    kv: &kv::Store,
    filter: &str,
    what: &str,
) -> Result<Vec<Current>, LatticeError> {
    match tokio::time::timeout(SNAPSHOT_TIMEOUT, read(client, kv, filter, what)).await {
        Ok(read) => read,
        Err(_) => Err(LatticeError::storage(
            what,
            format!("the read did not finish within {SNAPSHOT_TIMEOUT:?}"),
        )),
    }
}

async fn read(
    client: &async_nats::Client,
    kv: &kv::Store,
    filter: &str,
    what: &str,
) -> Result<Vec<Current>, LatticeError> {
    // The bucket's own subject prefix (`$KV.<bucket>.`), as the client
    // library's listings build it: KV internals, not a lattice subject.
    let subject = format!("{}{filter}", kv.prefix);
    let consumer = kv
        .stream
        .create_consumer(push::OrderedConfig {
            deliver_subject: client.new_inbox(),
            description: Some("trellis snapshot read".into()),
            filter_subject: subject,
            replay_policy: ReplayPolicy::Instant,
            deliver_policy: DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await
        .map_err(|e| LatticeError::storage(what, e))?;
    let mut pending = consumer.cached_info().num_pending;
    let mut values = Vec::with_capacity(usize::try_from(pending).unwrap_or(0));
    if pending == 0 {
        return Ok(values);
    }
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| LatticeError::storage(what, e))?;
    // Bounded by the count the server gave when the read began: each
    // message says how many are left, and the read ends at zero.
    while pending > 0 {
        let Some(message) = messages.next().await else {
            return Err(LatticeError::storage(what, "the read ended early"));
        };
        let message = message.map_err(|e| LatticeError::storage(what, e))?;
        let info = message.info().map_err(|e| LatticeError::storage(what, e))?;
        pending = info.pending;
        let revision = info.stream_sequence;
        let removed = message.headers.as_ref().is_some_and(|h| {
            h.get(KV_OPERATION).is_some_and(|op| op.as_str() != "PUT")
                || h.get(MARKER_REASON).is_some()
        });
        if removed {
            continue;
        }
        let Some(key) = message.subject.strip_prefix(kv.prefix.as_str()) else {
            continue;
        };
        values.push(Current {
            key: key.to_owned(),
            value: message.payload.clone(),
            revision,
        });
    }
    Ok(values)
}
