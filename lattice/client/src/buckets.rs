//! Get-or-create of JetStream buckets with a replica count. Every bucket
//! of a lattice (links, config, wadm, artifacts, keyvalue-nats data) is
//! opened here, so `--js-replicas` means the same for all of them.
//!
//! A bucket is created with the requested replicas. An existing one with
//! fewer is scaled up in place (JetStream moves a stream from R1 to R3
//! online on a cluster); when JetStream refuses (a single server, too few
//! peers), the bucket keeps working with what it has and a warning says
//! how to scale it by hand. One with more replicas is left alone: it is
//! never scaled down behind an operator's back.

use async_nats::jetstream::{self, kv, object_store};

use crate::connect::MAX_REPLICAS;
use crate::error::LatticeError;

/// What kind of bucket, for its backing stream's name.
#[derive(Debug, Clone, Copy)]
enum Kind {
    KeyValue,
    Object,
}

impl Kind {
    /// The stream JetStream keeps the bucket in.
    fn stream(self, bucket: &str) -> String {
        match self {
            Kind::KeyValue => format!("KV_{bucket}"),
            Kind::Object => format!("OBJ_{bucket}"),
        }
    }
}

/// Opens KV bucket `bucket` (history 1), creating it with `replicas`
/// replicas when missing and scaling an existing one up to them.
pub async fn open_kv(
    js: &jetstream::Context,
    bucket: &str,
    replicas: usize,
) -> Result<kv::Store, LatticeError> {
    check_replicas(bucket, replicas)?;
    if scale_up(js, Kind::KeyValue, bucket, replicas).await
        && let Ok(store) = js.get_key_value(bucket).await
    {
        return Ok(store);
    }
    let created = js
        .create_key_value(kv::Config {
            bucket: bucket.to_owned(),
            history: 1,
            num_replicas: replicas,
            ..Default::default()
        })
        .await;
    match created {
        Ok(store) => Ok(store),
        // Another process created it first (perhaps with other settings).
        Err(e) => js
            .get_key_value(bucket)
            .await
            .map_err(|_| LatticeError::storage(bucket, create_failed(e, replicas))),
    }
}

/// Opens object store `bucket`, creating it with `replicas` replicas when
/// missing and scaling an existing one up to them.
pub async fn open_object_store(
    js: &jetstream::Context,
    bucket: &str,
    description: &str,
    replicas: usize,
) -> Result<object_store::ObjectStore, LatticeError> {
    check_replicas(bucket, replicas)?;
    if scale_up(js, Kind::Object, bucket, replicas).await
        && let Ok(store) = js.get_object_store(bucket).await
    {
        return Ok(store);
    }
    let created = js
        .create_object_store(object_store::Config {
            bucket: bucket.to_owned(),
            description: Some(description.to_owned()),
            num_replicas: replicas,
            ..Default::default()
        })
        .await;
    match created {
        Ok(store) => Ok(store),
        Err(e) => js
            .get_object_store(bucket)
            .await
            .map_err(|_| LatticeError::storage(bucket, create_failed(e, replicas))),
    }
}

fn check_replicas(bucket: &str, replicas: usize) -> Result<(), LatticeError> {
    if (1..=MAX_REPLICAS).contains(&replicas) {
        Ok(())
    } else {
        Err(LatticeError::storage(
            bucket,
            format!("{replicas} replicas is out of range: JetStream keeps 1 to {MAX_REPLICAS}"),
        ))
    }
}

/// Why creating failed, with what to do when replicas were asked for.
fn create_failed(e: impl std::fmt::Display, replicas: usize) -> String {
    if replicas > 1 {
        format!(
            "{e}; {replicas} replicas need a JetStream cluster of at least {replicas} servers \
             with a meta leader: use --js-replicas 1 (or `replicas: 1`) on a single nats-server"
        )
    } else {
        e.to_string()
    }
}

/// Whether the bucket's stream exists; scales it up to `replicas` first
/// when it has fewer (a failure to scale is a warning, not an error: the
/// bucket still works with the replicas it has).
async fn scale_up(js: &jetstream::Context, kind: Kind, bucket: &str, replicas: usize) -> bool {
    let name = kind.stream(bucket);
    let Ok(mut stream) = js.get_stream(&name).await else {
        return false;
    };
    let config = match stream.info().await {
        Ok(info) => info.config.clone(),
        Err(e) => {
            tracing::warn!(bucket, %e, "cannot read the bucket's replicas; leaving them as they are");
            return true;
        }
    };
    let had = config.num_replicas.max(1);
    if had >= replicas {
        return true;
    }
    let scaled = jetstream::stream::Config {
        num_replicas: replicas,
        ..config
    };
    match js.update_stream(scaled).await {
        Ok(_) => tracing::info!(
            bucket,
            from = had,
            to = replicas,
            "scaled up bucket replicas"
        ),
        Err(e) => tracing::warn!(
            bucket,
            %e,
            "bucket {bucket} keeps {had} replica(s): JetStream refused {replicas}. It needs a \
             cluster of at least {replicas} servers; once it runs, restart with --js-replicas \
             {replicas} or run `nats stream edit {name} --replicas {replicas}`"
        ),
    }
    true
}
