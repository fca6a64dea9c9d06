//! wadm's JetStream KV bucket (manifests, status, the leader lease) and
//! requests to the wadm API.
//!
//! The bucket is a plain revisioned map; what the keys mean is wadm's
//! business. Compare-and-set ([`WadmStore::create`], [`WadmStore::update`])
//! is what makes the lease and concurrent `put`s safe.

use std::time::Duration;

use async_nats::jetstream::kv;
use futures::{Stream, StreamExt, TryStreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use trellis_protocol::subject::{WadmOp, pattern};
use trellis_protocol::wadm::{AppListRequest, AppPage, AppSummary};
use trellis_protocol::{Subject, SubjectError};

use crate::connect::Lattice;
use crate::error::{ControlError, LatticeError};
use crate::store::decode_json;

/// wadm's bucket of the lattice.
#[derive(Clone)]
pub struct WadmStore {
    kv: kv::Store,
    /// For the inboxes of snapshot reads.
    nats: async_nats::Client,
}

/// A value with the revision it was stored at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its revision; pass it to [`WadmStore::update`].
    pub revision: u64,
}

impl Lattice {
    /// Opens (creating when missing) wadm's bucket.
    pub async fn wadm_store(&self) -> Result<WadmStore, LatticeError> {
        let kv = self
            .kv_bucket(format!("TRELLIS_WADM_{}", self.lattice))
            .await?;
        Ok(WadmStore {
            kv,
            nats: self.client.clone(),
        })
    }

    /// Sends a wadm API request and unwraps the reply envelope.
    pub async fn wadm_request<Req, Resp>(
        &self,
        op: WadmOp,
        request: &Req,
        timeout: Duration,
    ) -> Result<Option<Resp>, ControlError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let subject = Subject::Wadm {
            lattice: self.lattice.clone(),
            op,
        }
        .to_string();
        self.request_json(subject, request, timeout).await
    }

    /// Every stored app, read page by page (`page_bytes` asks for smaller
    /// pages than wadm's default); each request gets `timeout`.
    pub async fn apps(
        &self,
        page_bytes: Option<usize>,
        timeout: Duration,
    ) -> Result<Vec<AppSummary>, ControlError> {
        let subject = || {
            Subject::Wadm {
                lattice: self.lattice.clone(),
                op: WadmOp::List,
            }
            .to_string()
        };
        crate::pages::read_all(subject, "app", |after| {
            let request = AppListRequest {
                after: after.cloned(),
                page_bytes,
            };
            async move {
                let page: AppPage = self
                    .wadm_request(WadmOp::List, &request, timeout)
                    .await?
                    .unwrap_or_default();
                Ok((page.apps, page.next))
            }
        })
        .await
    }

    /// Subscribes to every wadm API subject of this lattice, in a queue
    /// group so each request reaches one wadm instance.
    pub async fn serve_wadm_api(&self) -> Result<async_nats::Subscriber, LatticeError> {
        let lattice = &self.lattice;
        let subject = pattern::all_wadm(lattice);
        self.client
            .queue_subscribe(subject, pattern::wadm_queue_group(lattice))
            .await
            .map_err(|e| LatticeError::nats("subscribe", e))
    }

    /// The wadm operation a request arrived on.
    pub fn wadm_op(&self, subject: &str) -> Result<WadmOp, SubjectError> {
        match subject.parse::<Subject>()? {
            Subject::Wadm { op, .. } => Ok(op),
            _ => Err(SubjectError::Unknown {
                subject: subject.to_owned(),
                hint: "expected a wadm API subject".into(),
            }),
        }
    }
}

impl WadmStore {
    /// The value under `key`, if there is one.
    pub async fn get<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<Versioned<T>>, LatticeError> {
        let entry = self
            .kv
            .entry(key)
            .await
            .map_err(|e| LatticeError::storage(format!("read {key}"), e))?;
        match entry {
            Some(entry) if entry.operation == kv::Operation::Put => Ok(Some(Versioned {
                value: decode_json(key, &entry.value)?,
                revision: entry.revision,
            })),
            _ => Ok(None),
        }
    }

    /// Stores `value` only if `key` holds nothing; `None` when it does.
    pub async fn create<T: Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<Option<u64>, LatticeError> {
        match self.kv.create(key, encode(key, value)?.into()).await {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(LatticeError::storage(format!("create {key}"), e)),
        }
    }

    /// Stores `value` only if `key` is still at `revision`; `None` when
    /// somebody changed it in between.
    pub async fn update<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        revision: u64,
    ) -> Result<Option<u64>, LatticeError> {
        match self
            .kv
            .update(key, encode(key, value)?.into(), revision)
            .await
        {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(e) => Err(LatticeError::storage(format!("update {key}"), e)),
        }
    }

    /// Stores `value` whatever was there.
    pub async fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<u64, LatticeError> {
        self.kv
            .put(key, encode(key, value)?.into())
            .await
            .map_err(|e| LatticeError::storage(format!("write {key}"), e))
    }

    /// Deletes `key` (nothing happens when it holds nothing).
    pub async fn delete(&self, key: &str) -> Result<(), LatticeError> {
        self.kv
            .delete(key)
            .await
            .map_err(|e| LatticeError::storage(format!("delete {key}"), e))
    }

    /// Every value under `filter` (a key pattern such as `app.>`) with
    /// its key and revision, sorted by key: one streamed read, not a
    /// round trip per key. Fails rather than return a shorter list.
    pub async fn values<T: DeserializeOwned>(
        &self,
        filter: &str,
    ) -> Result<Vec<(String, Versioned<T>)>, LatticeError> {
        let what = format!("read wadm values {filter}");
        let current = crate::snapshot::current_values(&self.nats, &self.kv, filter, &what).await?;
        let mut values = current
            .into_iter()
            .map(|c| {
                let value = decode_json(&c.key, &c.value)?;
                Ok((
                    c.key,
                    Versioned {
                        value,
                        revision: c.revision,
                    },
                ))
            })
            .collect::<Result<Vec<_>, LatticeError>>()?;
        values.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(values)
    }

    /// Every key starting with `prefix`, sorted.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, LatticeError> {
        // A listing that broke off part way must fail, not look shorter:
        // the reconciler reads a missing app as one to tear down.
        let mut keys: Vec<String> = match self.kv.keys().await {
            Ok(keys) => keys
                .try_collect()
                .await
                .map_err(|e| LatticeError::storage("list wadm keys", e))?,
            Err(e) => return Err(LatticeError::storage("list wadm keys", e)),
        };
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        Ok(keys)
    }

    /// Yields the key of every change under `pattern` (a KV key pattern such
    /// as `app.>`) from now on.
    pub async fn watch(
        &self,
        pattern: &str,
    ) -> Result<impl Stream<Item = String> + Send + use<>, LatticeError> {
        let watch = self
            .kv
            .watch(pattern)
            .await
            .map_err(|e| LatticeError::storage(format!("watch {pattern}"), e))?;
        Ok(watch.filter_map(|entry| async move { entry.ok().map(|e| e.key) }))
    }
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, LatticeError> {
    serde_json::to_vec(value).map_err(|e| LatticeError::storage(format!("encode {key}"), e))
}
