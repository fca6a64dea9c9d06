//! `builtin://keyvalue-sled`: `wasi:keyvalue` on a sled database on disk.
//!
//! Config: `path`, the database directory. Every bucket is a sled tree (the
//! default bucket `""` is the database's default tree); `open` accepts any
//! name. A write is acknowledged only after sled flushed it to disk, so an
//! acknowledged write survives `kill -9` of the process. `increment` is a
//! compare-and-swap loop on one tree, atomic for every caller of this
//! provider, whichever host they run on.

mod ops;

use std::sync::{Mutex, PoisonError};

use futures::FutureExt;
use futures::future::BoxFuture;
use trellis_protocol::ComponentId;
use trellis_protocol::keyvalue::{KvError, KvReply, KvRequest};
use trellis_provider_sdk::{Health, Provider, ProviderContext, ProviderError};

/// The image name hosts know this provider by.
pub const BUILTIN_NAME: &str = "keyvalue-sled";

/// The sled key-value provider.
#[derive(Default)]
pub struct SledProvider {
    db: Mutex<Option<sled::Db>>,
}

impl SledProvider {
    /// A provider with no database; [`Provider::start`] opens it.
    pub fn new() -> Self {
        Self::default()
    }

    fn db(&self) -> Option<sled::Db> {
        self.db
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Provider for SledProvider {
    fn start(&self, ctx: ProviderContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        async move {
            let path = ctx.config.get("path").cloned().ok_or_else(|| {
                ProviderError::Config(format!(
                    "keyvalue-sled provider {} needs a `path` (its data directory) in its config, \
                     e.g. `trellis config put kv-data path=/var/lib/trellis/kv` and --config kv-data",
                    ctx.provider_id
                ))
            })?;
            let db = tokio::task::spawn_blocking(move || {
                sled::open(&path).map_err(|e| {
                    ProviderError::Unavailable(format!("cannot open sled database at {path}: {e}"))
                })
            })
            .await
            .map_err(|e| ProviderError::Unavailable(format!("opening sled failed: {e}")))??;
            *self.db.lock().unwrap_or_else(PoisonError::into_inner) = Some(db);
            Ok(())
        }
        .boxed()
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        let health = match self.db() {
            Some(_) => Health::Healthy,
            None => Health::Unhealthy("database not open".into()),
        };
        futures::future::ready(health).boxed()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        let db = self
            .db
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        async move {
            if let Some(db) = db {
                let _ = tokio::task::spawn_blocking(move || db.flush()).await;
            }
        }
        .boxed()
    }

    fn keyvalue(&self, _source: Option<ComponentId>, request: KvRequest) -> BoxFuture<'_, KvReply> {
        let db = self.db();
        async move {
            let db = db.ok_or_else(|| KvError::Other("keyvalue-sled is not started".into()))?;
            if ops::answers_from_memory(&request) {
                return ops::apply(&db, request);
            }
            tokio::task::spawn_blocking(move || ops::apply(&db, request))
                .await
                .map_err(|e| KvError::Other(format!("keyvalue-sled task failed: {e}")))?
        }
        .boxed()
    }
}
