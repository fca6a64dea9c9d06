//! `builtin://blobstore-nats`: `wasi:blobstore` on the lattice's JetStream
//! object stores. Each container is the object store bucket
//! `blob_{container}` (the prefix keeps components away from the lattice's
//! own buckets), each object an object in it; JetStream splits values into
//! chunks, so they stream both ways with bounded memory and are replicated
//! as the lattice's JetStream is.
//!
//! Config: `replicas` (default: the connection's `--js-replicas`).

use std::sync::{Mutex, PoisonError};

use async_nats::jetstream::{self, object_store};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use trellis_protocol::ComponentId;
use trellis_provider_sdk::blobstore::{
    BlobReader, BlobResult, Blobstore, ContainerInfo, ObjectInfo, ObjectRef, check_container_name,
    check_object_name,
};
use trellis_provider_sdk::{Health, Provider, ProviderContext, ProviderError};

/// The image name hosts know this provider by.
pub const BUILTIN_NAME: &str = "blobstore-nats";

/// Prefix of the buckets that hold containers.
const BUCKET_PREFIX: &str = "blob_";

/// Most objects `list` returns for one container.
const MAX_LISTED: usize = 1_000_000;

/// A started provider's JetStream and replica count.
struct Started {
    js: jetstream::Context,
    replicas: usize,
}

/// The JetStream object store provider.
#[derive(Default)]
pub struct NatsBlobProvider {
    started: Mutex<Option<(jetstream::Context, usize)>>,
}

impl NatsBlobProvider {
    /// A provider not yet started.
    pub fn new() -> Self {
        Self::default()
    }

    fn started(&self) -> BlobResult<Started> {
        let started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        let (js, replicas) = started
            .clone()
            .ok_or_else(|| "blobstore-nats is not started".to_owned())?;
        Ok(Started { js, replicas })
    }
}

/// The bucket of container `name`: JetStream allows letters, digits, `-`
/// and `_` only, so other container names are refused here.
fn bucket(name: &str) -> BlobResult<String> {
    check_container_name(name)?;
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        || name.len() > 200
    {
        return Err(format!(
            "container name `{name}` is not a JetStream bucket name: use letters, digits, `-` and \
             `_` (at most 200) with blobstore-nats"
        ));
    }
    Ok(format!("{BUCKET_PREFIX}{name}"))
}

async fn open(js: &jetstream::Context, container: &str) -> BlobResult<object_store::ObjectStore> {
    let name = bucket(container)?;
    js.get_object_store(&name)
        .await
        .map_err(|e| format!("container {container} does not exist ({e})"))
}

fn seconds(t: Option<time::OffsetDateTime>) -> u64 {
    t.map_or(0, |t| u64::try_from(t.unix_timestamp()).unwrap_or(0))
}

async fn container_info(js: &jetstream::Context, container: &str) -> BlobResult<ContainerInfo> {
    let name = bucket(container)?;
    let mut stream = js
        .get_stream(format!("OBJ_{name}"))
        .await
        .map_err(|e| format!("container {container} does not exist ({e})"))?;
    let info = stream
        .info()
        .await
        .map_err(|e| format!("container {container}: {e}"))?;
    Ok(ContainerInfo {
        name: container.to_owned(),
        created_at: u64::try_from(info.created.unix_timestamp()).unwrap_or(0),
    })
}

/// Chunks the reader may run ahead of the component by.
const CHUNKS_AHEAD: usize = 4;

/// Bytes `start..start + len` of an object as a reader that pulls its
/// chunks a few at a time: the object store's own reader takes a push
/// consumer, which the server fills as fast as it can (90 MiB of a 1 GiB
/// object sat in the host's memory in a test). A task pulls chunks from a
/// pull consumer on the object's chunk subject and writes them into a
/// small in-memory pipe; the pipe's capacity holds it back.
async fn chunks(
    js: &jetstream::Context,
    info: &object_store::ObjectInfo,
    start: u64,
    len: u64,
) -> BlobResult<BlobReader> {
    let stream = js
        .get_stream(format!("OBJ_{}", info.bucket))
        .await
        .map_err(|e| format!("object store {}: {e}", info.bucket))?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            filter_subject: format!("$O.{}.C.{}", info.bucket, info.nuid),
            ack_policy: jetstream::consumer::AckPolicy::None,
            inactive_threshold: std::time::Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("reading {}: {e}", info.name))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(CHUNKS_AHEAD)
        .messages()
        .await
        .map_err(|e| format!("reading {}: {e}", info.name))?;
    let (reader, mut writer) = tokio::io::duplex(256 << 10);
    let name = info.name.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let (mut skip, mut left) = (start, len);
        while left > 0 {
            let chunk = match messages.next().await {
                Some(Ok(msg)) => msg.payload.clone(),
                Some(Err(e)) => {
                    tracing::warn!(object = %name, %e, "reading a chunk failed");
                    return;
                }
                None => return,
            };
            let mut piece = &chunk[..];
            let skipped = skip.min(piece.len() as u64);
            piece = &piece[skipped as usize..];
            skip -= skipped;
            let take = left.min(piece.len() as u64) as usize;
            // The reader went away (the guest dropped its stream): stop.
            if writer.write_all(&piece[..take]).await.is_err() {
                return;
            }
            left -= take as u64;
        }
        let _ = writer.shutdown().await;
    });
    Ok(Box::new(reader))
}

/// Object metadata, with JetStream's deleted markers counting as absent.
async fn object_info(
    store: &object_store::ObjectStore,
    object: &ObjectRef,
) -> BlobResult<ObjectInfo> {
    check_object_name(&object.object)?;
    let info = store
        .info(&object.object)
        .await
        .map_err(|e| format!("object {} in {}: {e}", object.object, object.container))?;
    if info.deleted {
        return Err(format!(
            "object {} in {} does not exist",
            object.object, object.container
        ));
    }
    Ok(ObjectInfo {
        name: object.object.clone(),
        container: object.container.clone(),
        created_at: seconds(info.modified),
        size: info.size as u64,
    })
}

impl Blobstore for NatsBlobProvider {
    fn create_container(
        &self,
        _source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<ContainerInfo>> {
        let (started, name) = (self.started(), name.to_owned());
        async move {
            let started = started?;
            let bucket = bucket(&name)?;
            if started.js.get_object_store(&bucket).await.is_ok() {
                return Err(format!("container {name} already exists"));
            }
            started
                .js
                .create_object_store(object_store::Config {
                    bucket,
                    num_replicas: started.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("creating container {name}: {e}"))?;
            container_info(&started.js, &name).await
        }
        .boxed()
    }

    fn container_info(
        &self,
        _source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<ContainerInfo>> {
        let (started, name) = (self.started(), name.to_owned());
        async move { container_info(&started?.js, &name).await }.boxed()
    }

    fn delete_container(
        &self,
        _source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<()>> {
        let (started, name) = (self.started(), name.to_owned());
        async move {
            let started = started?;
            let bucket = bucket(&name)?;
            if started.js.get_object_store(&bucket).await.is_err() {
                return Ok(());
            }
            started
                .js
                .delete_object_store(&bucket)
                .await
                .map_err(|e| format!("deleting container {name}: {e}"))
        }
        .boxed()
    }

    fn container_exists(
        &self,
        _source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<bool>> {
        let (started, name) = (self.started(), name.to_owned());
        async move {
            let bucket = bucket(&name)?;
            Ok(started?.js.get_object_store(&bucket).await.is_ok())
        }
        .boxed()
    }

    fn get(
        &self,
        _source: &ComponentId,
        object: ObjectRef,
        start: u64,
        end: u64,
    ) -> BoxFuture<'static, BlobResult<(u64, BlobReader)>> {
        let started = self.started();
        async move {
            let started = started.map(|s| s.js);
            let store = open(started.as_ref().map_err(Clone::clone)?, &object.container).await?;
            let size = object_info(&store, &object).await?.size;
            if size == 0 || start >= size || end < start {
                return Ok((0, Box::new(tokio::io::empty()) as BlobReader));
            }
            let last = end.min(size - 1);
            let info = store
                .info(&object.object)
                .await
                .map_err(|e| format!("object {} in {}: {e}", object.object, object.container))?;
            let reader = chunks(&started?, &info, start, last - start + 1).await?;
            Ok((last - start + 1, reader))
        }
        .boxed()
    }

    fn put(
        &self,
        _source: &ComponentId,
        object: ObjectRef,
        mut data: BlobReader,
    ) -> BoxFuture<'static, BlobResult<u64>> {
        let started = self.started();
        async move {
            check_object_name(&object.object)?;
            let store = open(&started?.js, &object.container).await?;
            let info = store
                .put(object.object.as_str(), &mut data)
                .await
                .map_err(|e| format!("writing object {}: {e}", object.object))?;
            Ok(info.size as u64)
        }
        .boxed()
    }

    fn list(
        &self,
        _source: &ComponentId,
        container: &str,
    ) -> BoxFuture<'static, BlobResult<Vec<String>>> {
        let (started, container) = (self.started(), container.to_owned());
        async move {
            let store = open(&started?.js, &container).await?;
            let listed = store
                .list()
                .await
                .map_err(|e| format!("listing {container}: {e}"))?;
            let mut names: Vec<String> = listed
                .take(MAX_LISTED)
                .map_ok(|info| (!info.deleted).then_some(info.name))
                .try_filter_map(|name| futures::future::ready(Ok(name)))
                .try_collect()
                .await
                .map_err(|e| format!("listing {container}: {e}"))?;
            names.sort();
            Ok(names)
        }
        .boxed()
    }

    fn delete(
        &self,
        _source: &ComponentId,
        container: &str,
        objects: Vec<String>,
    ) -> BoxFuture<'static, BlobResult<()>> {
        let (started, container) = (self.started(), container.to_owned());
        async move {
            let store = open(&started?.js, &container).await?;
            for name in objects {
                check_object_name(&name)?;
                match store.delete(&name).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == object_store::DeleteErrorKind::NotFound => {}
                    Err(e) => return Err(format!("deleting object {name}: {e}")),
                }
            }
            Ok(())
        }
        .boxed()
    }

    fn info(
        &self,
        _source: &ComponentId,
        object: ObjectRef,
    ) -> BoxFuture<'static, BlobResult<ObjectInfo>> {
        let started = self.started();
        async move {
            let store = open(&started?.js, &object.container).await?;
            object_info(&store, &object).await
        }
        .boxed()
    }

    fn copy(
        &self,
        source: &ComponentId,
        from: ObjectRef,
        to: ObjectRef,
    ) -> BoxFuture<'static, BlobResult<()>> {
        let started = self.started();
        let source = source.clone();
        let this = (self.get(&source, from.clone(), 0, u64::MAX), started);
        async move {
            let (reader, started) = this;
            let (_, data) = reader.await?;
            check_object_name(&to.object)?;
            let store = open(&started?.js, &to.container).await?;
            let mut data = data;
            store
                .put(to.object.as_str(), &mut data)
                .await
                .map_err(|e| format!("copying {} to {}: {e}", from.object, to.object))?;
            Ok(())
        }
        .boxed()
    }

    fn rename(
        &self,
        source: &ComponentId,
        from: ObjectRef,
        to: ObjectRef,
    ) -> BoxFuture<'static, BlobResult<()>> {
        let copy = self.copy(source, from.clone(), to);
        let delete = self.delete(source, &from.container, vec![from.object.clone()]);
        async move {
            copy.await?;
            delete.await
        }
        .boxed()
    }
}

impl Provider for NatsBlobProvider {
    fn start(&self, ctx: ProviderContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        let replicas = match ctx.config.get("replicas") {
            None => ctx.connection.js_replicas(),
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if (1..=5).contains(&n) => n,
                _ => {
                    return futures::future::ready(Err(ProviderError::Config(format!(
                        "replicas `{text}` is not a number from 1 to 5"
                    ))))
                    .boxed();
                }
            },
        };
        *self.started.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((ctx.connection.jetstream().clone(), replicas));
        futures::future::ready(Ok(())).boxed()
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        let health = match self.started() {
            Ok(_) => Health::Healthy,
            Err(e) => Health::Unhealthy(e),
        };
        futures::future::ready(health).boxed()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        futures::future::ready(()).boxed()
    }

    fn blobstore(&self) -> Option<&dyn Blobstore> {
        Some(self)
    }
}
