//! The key-value operations on a JetStream KV bucket.

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::TryStreamExt;
use trellis_protocol::keyvalue::{KvError, KvReply, KvRequest, KvResponse};

/// Keys per `list-keys` page.
const PAGE: usize = 1000;

/// Bound on compare-and-swap retries of one increment under contention.
const MAX_CAS_ATTEMPTS: usize = 10_000;

/// Bound on retries of one increment whose write got no answer, and the
/// pause before each (a cluster elects a new stream leader in seconds).
const MAX_UNAVAILABLE_ATTEMPTS: usize = 20;
const UNAVAILABLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

fn failed(what: &str, e: impl std::fmt::Display) -> KvError {
    KvError::Other(format!("{what} failed: {e}"))
}

/// Parses a stored counter (decimal ASCII).
fn counter(key: &str, value: &[u8]) -> Result<u64, KvError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| KvError::Other(format!("value of `{key}` is not a counter (decimal text)")))
}

async fn get(store: &kv::Store, key: &str) -> Result<Option<Vec<u8>>, KvError> {
    Ok(store
        .get(key)
        .await
        .map_err(|e| failed("get", e))?
        .map(|b| b.to_vec()))
}

async fn increment(store: &kv::Store, key: &str, delta: u64) -> KvReply {
    let mut unavailable = 0;
    for _ in 0..MAX_CAS_ATTEMPTS {
        let entry = store.entry(key).await.map_err(|e| failed("increment", e))?;
        let live = entry.filter(|e| e.operation == kv::Operation::Put);
        let current = match &live {
            Some(e) => counter(key, &e.value)?,
            None => 0,
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| KvError::Other(format!("counter `{key}` would overflow")))?;
        let value = Bytes::from(next.to_string());
        // Both calls fail when someone else wrote first; then read again.
        let written = match &live {
            Some(e) => store.update(key, value, e.revision).await.map_err(|e| {
                (
                    e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                    e.to_string(),
                )
            }),
            None => store.create(key, value).await.map_err(|e| {
                (
                    e.kind() == kv::CreateErrorKind::AlreadyExists,
                    e.to_string(),
                )
            }),
        };
        match written {
            Ok(_) => return Ok(KvResponse::Count(next)),
            Err((true, _)) => {}
            // No ack (JetStream electing a stream leader, a server gone):
            // the write may or may not have landed, so read again and
            // compare-and-swap on what is there, pausing rather than
            // spinning, a bounded number of times.
            Err((false, e)) => {
                unavailable += 1;
                if unavailable >= MAX_UNAVAILABLE_ATTEMPTS {
                    return Err(failed("increment", e));
                }
                tokio::time::sleep(UNAVAILABLE_PAUSE).await;
            }
        }
    }
    Err(KvError::Other(format!(
        "counter `{key}` is too contended; try again"
    )))
}

/// Applies one request.
pub(crate) async fn apply(store: &kv::Store, request: KvRequest) -> KvReply {
    match request {
        KvRequest::Open { .. } => Ok(KvResponse::Done),
        KvRequest::Get { key, .. } => Ok(KvResponse::Value(get(store, &key).await?)),
        KvRequest::Set { key, value, .. } => {
            store
                .put(&key, value.into())
                .await
                .map_err(|e| failed("set", e))?;
            Ok(KvResponse::Done)
        }
        KvRequest::Delete { key, .. } => {
            store.delete(&key).await.map_err(|e| failed("delete", e))?;
            Ok(KvResponse::Done)
        }
        KvRequest::Exists { key, .. } => Ok(KvResponse::Exists(get(store, &key).await?.is_some())),
        KvRequest::ListKeys { cursor, .. } => {
            let mut keys: Vec<String> = match store.keys().await {
                // Listing an empty bucket is not an error.
                Ok(keys) => keys
                    .try_collect()
                    .await
                    .map_err(|e| failed("list-keys", e))?,
                Err(e) => return Err(failed("list-keys", e)),
            };
            keys.sort();
            let skip = cursor.unwrap_or(0) as usize;
            let page: Vec<String> = keys.iter().skip(skip).take(PAGE).cloned().collect();
            let next = (skip + page.len() < keys.len()).then_some((skip + page.len()) as u64);
            Ok(KvResponse::Keys {
                keys: page,
                cursor: next,
            })
        }
        KvRequest::Increment { key, delta, .. } => increment(store, &key, delta).await,
        KvRequest::GetMany { keys, .. } => {
            let mut values = Vec::with_capacity(keys.len());
            for key in keys {
                let value = get(store, &key).await?;
                values.push(value.map(|v| (key, v)));
            }
            Ok(KvResponse::Values(values))
        }
        KvRequest::SetMany { items, .. } => {
            for (key, value) in items {
                store
                    .put(&key, value.into())
                    .await
                    .map_err(|e| failed("set-many", e))?;
            }
            Ok(KvResponse::Done)
        }
        KvRequest::DeleteMany { keys, .. } => {
            for key in keys {
                store
                    .delete(&key)
                    .await
                    .map_err(|e| failed("delete-many", e))?;
            }
            Ok(KvResponse::Done)
        }
    }
}
