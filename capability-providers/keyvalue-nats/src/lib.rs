//! `builtin://keyvalue-nats`: `wasi:keyvalue` on JetStream KV buckets, for
//! data a whole lattice shares.
//!
//! Config: `bucket` names the JetStream bucket behind the default bucket
//! `""` (default `TRELLIS_KV_{lattice}`); any other identifier is used as
//! the bucket name itself (letters, digits, `-`, `_`). Buckets are created
//! on first use with `replicas` replicas (default: the connection's
//! `--js-replicas`, 1 unless set; an existing bucket with fewer is scaled
//! up, see `trellis_lattice::buckets`). JetStream acknowledges a write once it is stored, and
//! `increment` is a compare-and-swap on the key's revision, so it is atomic
//! for every caller on every host.

mod ops;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_nats::jetstream::{self, kv};
use futures::FutureExt;
use futures::future::BoxFuture;
use trellis_lattice::buckets;
use trellis_lattice::connect::MAX_REPLICAS;
use trellis_protocol::ComponentId;
use trellis_protocol::keyvalue::{KvError, KvReply, KvRequest};
use trellis_provider_sdk::{Health, Provider, ProviderContext, ProviderError};

/// The image name hosts know this provider by.
pub const BUILTIN_NAME: &str = "keyvalue-nats";

struct Started {
    js: jetstream::Context,
    default_bucket: String,
    replicas: usize,
}

/// The JetStream KV provider.
#[derive(Default)]
pub struct NatsKvProvider {
    started: Mutex<Option<Started>>,
    buckets: Mutex<HashMap<String, kv::Store>>,
}

impl NatsKvProvider {
    /// A provider not yet started.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store behind a wasi bucket identifier, created when missing.
    async fn store(&self, identifier: &str) -> Result<kv::Store, KvError> {
        let (js, name, replicas) = {
            let started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
            let started = started
                .as_ref()
                .ok_or_else(|| KvError::Other("keyvalue-nats is not started".into()))?;
            let name = if identifier.is_empty() {
                started.default_bucket.clone()
            } else {
                identifier.to_owned()
            };
            (started.js.clone(), name, started.replicas)
        };
        if let Some(store) = self
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
        {
            return Ok(store.clone());
        }
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(KvError::Other(format!(
                "bucket `{name}` is not a valid JetStream bucket name (letters, digits, `-`, `_`)"
            )));
        }
        let store = buckets::open_kv(&js, &name, replicas)
            .await
            .map_err(|e| KvError::Other(format!("cannot open bucket {name}: {e}")))?;
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, store.clone());
        Ok(store)
    }
}

/// The `replicas` config key, or the connection's default.
fn replicas(ctx: &ProviderContext) -> Result<usize, ProviderError> {
    let Some(text) = ctx.config.get("replicas") else {
        return Ok(ctx.connection.js_replicas());
    };
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_REPLICAS).contains(n))
        .ok_or_else(|| {
            ProviderError::Config(format!(
                "replicas `{text}` is not a number from 1 to {MAX_REPLICAS} (JetStream's range)"
            ))
        })
}

impl Provider for NatsKvProvider {
    fn start(&self, ctx: ProviderContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        let default_bucket = ctx
            .config
            .get("bucket")
            .cloned()
            .unwrap_or_else(|| format!("TRELLIS_KV_{}", ctx.lattice));
        let replicas = match replicas(&ctx) {
            Ok(n) => n,
            Err(e) => return futures::future::ready(Err(e)).boxed(),
        };
        *self.started.lock().unwrap_or_else(PoisonError::into_inner) = Some(Started {
            js: jetstream::new(ctx.connection.nats().clone()),
            default_bucket,
            replicas,
        });
        futures::future::ready(Ok(())).boxed()
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        let started = self
            .started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        futures::future::ready(if started {
            Health::Healthy
        } else {
            Health::Unhealthy("not started".into())
        })
        .boxed()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        *self.started.lock().unwrap_or_else(PoisonError::into_inner) = None;
        futures::future::ready(()).boxed()
    }

    fn keyvalue(&self, _source: Option<ComponentId>, request: KvRequest) -> BoxFuture<'_, KvReply> {
        async move {
            let bucket = match &request {
                KvRequest::Open { bucket }
                | KvRequest::Get { bucket, .. }
                | KvRequest::Set { bucket, .. }
                | KvRequest::Delete { bucket, .. }
                | KvRequest::Exists { bucket, .. }
                | KvRequest::ListKeys { bucket, .. }
                | KvRequest::Increment { bucket, .. }
                | KvRequest::GetMany { bucket, .. }
                | KvRequest::SetMany { bucket, .. }
                | KvRequest::DeleteMany { bucket, .. } => bucket.clone(),
            };
            let store = self.store(&bucket).await?;
            ops::apply(&store, request).await
        }
        .boxed()
    }
}
