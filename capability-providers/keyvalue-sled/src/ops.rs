//! The key-value operations on sled, synchronous (run on a blocking thread).

use trellis_protocol::keyvalue::{KvError, KvReply, KvRequest, KvResponse};

/// Keys per `list-keys` page.
const PAGE: usize = 1000;

/// Bound on compare-and-swap retries of one increment under contention.
const MAX_CAS_ATTEMPTS: usize = 100_000;

fn storage(e: sled::Error) -> KvError {
    KvError::Other(format!("storage error: {e}"))
}

fn tree(db: &sled::Db, bucket: &str) -> Result<sled::Tree, KvError> {
    if bucket.is_empty() {
        // The default bucket is the database's default tree.
        Ok((**db).clone())
    } else {
        db.open_tree(bucket).map_err(storage)
    }
}

/// Makes writes durable before they are acknowledged.
fn flushed(db: &sled::Db, response: KvResponse) -> KvReply {
    db.flush().map_err(storage)?;
    Ok(response)
}

/// Parses a stored counter (decimal ASCII).
fn counter(key: &str, value: Option<&[u8]>) -> Result<u64, KvError> {
    let Some(bytes) = value else { return Ok(0) };
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| KvError::Other(format!("value of `{key}` is not a counter (decimal text)")))
}

/// Whether `request` is a single-key read (or opening a bucket), which
/// sled answers from its page cache without waiting on the disk in the
/// common case. Those run on the caller's thread: the hop to tokio's
/// blocking pool and back cost more than the read (the benchmark's kv get
/// went from +96 us to +32 us over hello). Writes flush to disk and scans
/// may be long, so they go to the blocking pool.
pub(crate) fn answers_from_memory(request: &KvRequest) -> bool {
    matches!(
        request,
        KvRequest::Open { .. } | KvRequest::Get { .. } | KvRequest::Exists { .. }
    )
}

/// Applies one request.
pub(crate) fn apply(db: &sled::Db, request: KvRequest) -> KvReply {
    match request {
        KvRequest::Open { bucket } => tree(db, &bucket).map(|_| KvResponse::Done),
        KvRequest::Get { bucket, key } => {
            let value = tree(db, &bucket)?.get(key).map_err(storage)?;
            Ok(KvResponse::Value(value.map(|v| v.to_vec())))
        }
        KvRequest::Set { bucket, key, value } => {
            tree(db, &bucket)?.insert(key, value).map_err(storage)?;
            flushed(db, KvResponse::Done)
        }
        KvRequest::Delete { bucket, key } => {
            tree(db, &bucket)?.remove(key).map_err(storage)?;
            flushed(db, KvResponse::Done)
        }
        KvRequest::Exists { bucket, key } => Ok(KvResponse::Exists(
            tree(db, &bucket)?.contains_key(key).map_err(storage)?,
        )),
        KvRequest::ListKeys { bucket, cursor } => {
            let skip = cursor.unwrap_or(0) as usize;
            // One key past the page tells whether another page follows.
            let mut keys = tree(db, &bucket)?
                .iter()
                .keys()
                .skip(skip)
                .take(PAGE + 1)
                .map(|k| {
                    k.map(|k| String::from_utf8_lossy(&k).into_owned())
                        .map_err(storage)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let cursor = (keys.len() > PAGE).then(|| {
                keys.truncate(PAGE);
                (skip + PAGE) as u64
            });
            Ok(KvResponse::Keys { keys, cursor })
        }
        KvRequest::Increment { bucket, key, delta } => {
            let tree = tree(db, &bucket)?;
            for _ in 0..MAX_CAS_ATTEMPTS {
                let old = tree.get(&key).map_err(storage)?;
                let next = counter(&key, old.as_deref())?
                    .checked_add(delta)
                    .ok_or_else(|| KvError::Other(format!("counter `{key}` would overflow")))?;
                let swapped = tree
                    .compare_and_swap(&key, old, Some(next.to_string().into_bytes()))
                    .map_err(storage)?;
                if swapped.is_ok() {
                    return flushed(db, KvResponse::Count(next));
                }
            }
            Err(KvError::Other(format!(
                "counter `{key}` is too contended; try again"
            )))
        }
        KvRequest::GetMany { bucket, keys } => {
            let tree = tree(db, &bucket)?;
            let mut values = Vec::with_capacity(keys.len());
            for key in keys {
                let value = tree.get(&key).map_err(storage)?;
                values.push(value.map(|v| (key, v.to_vec())));
            }
            Ok(KvResponse::Values(values))
        }
        KvRequest::SetMany { bucket, items } => {
            let mut batch = sled::Batch::default();
            for (key, value) in items {
                batch.insert(key.as_bytes(), value);
            }
            tree(db, &bucket)?.apply_batch(batch).map_err(storage)?;
            flushed(db, KvResponse::Done)
        }
        KvRequest::DeleteMany { bucket, keys } => {
            let mut batch = sled::Batch::default();
            for key in keys {
                batch.remove(key.as_bytes());
            }
            tree(db, &bucket)?.apply_batch(batch).map_err(storage)?;
            flushed(db, KvResponse::Done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, sled::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        (dir, db)
    }

    fn incr(db: &sled::Db, bucket: &str) -> KvReply {
        apply(
            db,
            KvRequest::Increment {
                bucket: bucket.into(),
                key: "c".into(),
                delta: 1,
            },
        )
    }

    #[test]
    fn buckets_are_separate_and_default_bucket_works() {
        let (_dir, db) = db();
        assert_eq!(incr(&db, ""), Ok(KvResponse::Count(1)));
        assert_eq!(incr(&db, ""), Ok(KvResponse::Count(2)));
        assert_eq!(incr(&db, "other"), Ok(KvResponse::Count(1)));
        let get = apply(
            &db,
            KvRequest::Get {
                bucket: String::new(),
                key: "c".into(),
            },
        );
        assert_eq!(get, Ok(KvResponse::Value(Some(b"2".to_vec()))));
    }

    #[test]
    fn concurrent_increments_are_atomic() {
        let (_dir, db) = db();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        incr(&db, "b").unwrap();
                    }
                });
            }
        });
        assert_eq!(incr(&db, "b"), Ok(KvResponse::Count(401)));
    }

    #[test]
    fn non_counters_and_pages() {
        let (_dir, db) = db();
        apply(
            &db,
            KvRequest::Set {
                bucket: "b".into(),
                key: "c".into(),
                value: b"x".to_vec(),
            },
        )
        .unwrap();
        let err = incr(&db, "b").unwrap_err().to_string();
        assert!(err.contains("not a counter"), "{err}");
        let items = (0..1500).map(|i| (format!("k{i:04}"), vec![1])).collect();
        apply(
            &db,
            KvRequest::SetMany {
                bucket: "p".into(),
                items,
            },
        )
        .unwrap();
        let Ok(KvResponse::Keys { keys, cursor }) = apply(
            &db,
            KvRequest::ListKeys {
                bucket: "p".into(),
                cursor: None,
            },
        ) else {
            panic!("no keys");
        };
        assert_eq!((keys.len(), cursor), (1000, Some(1000)));
        let Ok(KvResponse::Keys { keys, cursor }) = apply(
            &db,
            KvRequest::ListKeys {
                bucket: "p".into(),
                cursor,
            },
        ) else {
            panic!("no keys");
        };
        assert_eq!((keys.len(), cursor), (500, None));
    }
}
