//! `builtin://blobstore-fs`: `wasi:blobstore` on a directory of the host
//! that runs the provider. Each container is a folder under the root, each
//! object a file (an object name's `/` makes subfolders). Names are checked
//! before any path is built, so no name reaches outside its container;
//! writes go to a temporary file in the container and are renamed into
//! place, so a reader sees the old object or the new one, never half.
//!
//! Config: `root` (the provider's, or per link in its config, as
//! wasmCloud's blobstore-fs reads it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::UNIX_EPOCH;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use trellis_protocol::ComponentId;
use trellis_protocol::link::Link;
use trellis_provider_sdk::blobstore::{
    BlobReader, BlobResult, Blobstore, ContainerInfo, ObjectInfo, ObjectRef, check_container_name,
    check_object_name,
};
use trellis_provider_sdk::{Health, LinkContext, Provider, ProviderContext, ProviderError};

/// The image name hosts know this provider by.
pub const BUILTIN_NAME: &str = "blobstore-fs";

/// Where temporary files of writes in progress live, inside a container;
/// `list` hides it and object names may not start with it.
const PARTIAL_DIR: &str = ".trellis-partial";

/// The directory provider.
#[derive(Default)]
pub struct FsBlobProvider {
    /// The provider's `root`.
    root: Mutex<Option<PathBuf>>,
    /// Per-component roots from link config.
    roots: Mutex<HashMap<ComponentId, PathBuf>>,
}

impl FsBlobProvider {
    /// A provider not yet started.
    pub fn new() -> Self {
        Self::default()
    }

    fn root_for(&self, source: &ComponentId) -> BlobResult<PathBuf> {
        if let Some(root) = self
            .roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(source)
        {
            return Ok(root.clone());
        }
        self.root
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                "blobstore-fs has no root: give the provider or the link a `root` config".into()
            })
    }

    fn container_dir(&self, source: &ComponentId, name: &str) -> BlobResult<PathBuf> {
        check_container_name(name)?;
        Ok(self.root_for(source)?.join(name))
    }

    fn object_path(
        &self,
        source: &ComponentId,
        object: &ObjectRef,
    ) -> BlobResult<(PathBuf, PathBuf)> {
        check_object_name(&object.object)?;
        if object.object == PARTIAL_DIR || object.object.starts_with(&format!("{PARTIAL_DIR}/")) {
            return Err(format!("object name `{}` is reserved", object.object));
        }
        let dir = self.container_dir(source, &object.container)?;
        let path = dir.join(&object.object);
        Ok((dir, path))
    }
}

fn io_error(what: &str, e: std::io::Error) -> String {
    format!("{what}: {e}")
}

fn seconds(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

async fn existing_dir(dir: &Path, name: &str) -> BlobResult<std::fs::Metadata> {
    match tokio::fs::metadata(dir).await {
        Ok(meta) if meta.is_dir() => Ok(meta),
        Ok(_) => Err(format!("container {name} does not exist")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("container {name} does not exist"))
        }
        Err(e) => Err(io_error(&format!("container {name}"), e)),
    }
}

/// Every file under `dir` as a `/`-joined name, skipping the partial
/// folder; bounded by the walk itself (a directory tree on disk).
fn walk(dir: &Path, prefix: &str, names: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if prefix.is_empty() && name == PARTIAL_DIR {
            continue;
        }
        let full = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), &full, names)?;
        } else if kind.is_file() {
            names.push(full);
        }
    }
    Ok(())
}

/// Writes `data` to a new temporary file in `dir`'s partial folder and
/// renames it to `path`.
async fn write_atomically(dir: &Path, path: &Path, mut data: BlobReader) -> BlobResult<u64> {
    let partial = dir.join(PARTIAL_DIR);
    tokio::fs::create_dir_all(&partial)
        .await
        .map_err(|e| io_error("creating the partial folder", e))?;
    let temp = partial.join(uuid::Uuid::new_v4().to_string());
    let written = async {
        let mut file = tokio::fs::File::create(&temp).await?;
        let n = tokio::io::copy(&mut data, &mut file).await?;
        file.sync_all().await?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(&temp, path).await?;
        Ok::<u64, std::io::Error>(n)
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&temp).await;
    }
    written.map_err(|e| io_error("writing the object", e))
}

impl Blobstore for FsBlobProvider {
    fn create_container(
        &self,
        source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<ContainerInfo>> {
        let (dir, name) = (self.container_dir(source, name), name.to_owned());
        async move {
            let dir = dir?;
            if let Some(parent) = dir.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| io_error("creating the root", e))?;
            }
            match tokio::fs::create_dir(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(format!("container {name} already exists"));
                }
                Err(e) => return Err(io_error(&format!("creating container {name}"), e)),
            }
            let meta = existing_dir(&dir, &name).await?;
            Ok(ContainerInfo {
                name,
                created_at: seconds(&meta),
            })
        }
        .boxed()
    }

    fn container_info(
        &self,
        source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<ContainerInfo>> {
        let (dir, name) = (self.container_dir(source, name), name.to_owned());
        async move {
            let meta = existing_dir(&dir?, &name).await?;
            Ok(ContainerInfo {
                name,
                created_at: seconds(&meta),
            })
        }
        .boxed()
    }

    fn delete_container(
        &self,
        source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<()>> {
        let (dir, name) = (self.container_dir(source, name), name.to_owned());
        async move {
            match tokio::fs::remove_dir_all(dir?).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_error(&format!("deleting container {name}"), e)),
            }
        }
        .boxed()
    }

    fn container_exists(
        &self,
        source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<bool>> {
        let (dir, name) = (self.container_dir(source, name), name.to_owned());
        async move { Ok(existing_dir(&dir?, &name).await.is_ok()) }.boxed()
    }

    fn get(
        &self,
        source: &ComponentId,
        object: ObjectRef,
        start: u64,
        end: u64,
    ) -> BoxFuture<'static, BlobResult<(u64, BlobReader)>> {
        let paths = self.object_path(source, &object);
        async move {
            let (dir, path) = paths?;
            existing_dir(&dir, &object.container).await?;
            let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
                io_error(
                    &format!("object {} in {}", object.object, object.container),
                    e,
                )
            })?;
            let size = file
                .metadata()
                .await
                .map_err(|e| io_error("reading metadata", e))?
                .len();
            if size == 0 || start >= size {
                return Ok((0, Box::new(tokio::io::empty()) as BlobReader));
            }
            let last = end.min(size - 1);
            if last < start {
                return Ok((0, Box::new(tokio::io::empty()) as BlobReader));
            }
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| io_error("seeking", e))?;
            let len = last - start + 1;
            Ok((len, Box::new(file.take(len)) as BlobReader))
        }
        .boxed()
    }

    fn put(
        &self,
        source: &ComponentId,
        object: ObjectRef,
        data: BlobReader,
    ) -> BoxFuture<'static, BlobResult<u64>> {
        let paths = self.object_path(source, &object);
        async move {
            let (dir, path) = paths?;
            existing_dir(&dir, &object.container).await?;
            write_atomically(&dir, &path, data).await
        }
        .boxed()
    }

    fn list(
        &self,
        source: &ComponentId,
        container: &str,
    ) -> BoxFuture<'static, BlobResult<Vec<String>>> {
        let (dir, name) = (self.container_dir(source, container), container.to_owned());
        async move {
            let dir = dir?;
            existing_dir(&dir, &name).await?;
            let mut names = tokio::task::spawn_blocking(move || {
                let mut names = Vec::new();
                walk(&dir, "", &mut names).map(|()| names)
            })
            .await
            .map_err(|e| format!("listing {name}: {e}"))?
            .map_err(|e| io_error(&format!("listing {name}"), e))?;
            names.sort();
            Ok(names)
        }
        .boxed()
    }

    fn delete(
        &self,
        source: &ComponentId,
        container: &str,
        objects: Vec<String>,
    ) -> BoxFuture<'static, BlobResult<()>> {
        let paths: BlobResult<Vec<PathBuf>> = objects
            .iter()
            .map(|o| {
                self.object_path(
                    source,
                    &ObjectRef {
                        container: container.to_owned(),
                        object: o.clone(),
                    },
                )
                .map(|(_, path)| path)
            })
            .collect();
        async move {
            for path in paths? {
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error("deleting an object", e)),
                }
            }
            Ok(())
        }
        .boxed()
    }

    fn info(
        &self,
        source: &ComponentId,
        object: ObjectRef,
    ) -> BoxFuture<'static, BlobResult<ObjectInfo>> {
        let paths = self.object_path(source, &object);
        async move {
            let (_, path) = paths?;
            let meta = tokio::fs::metadata(&path).await.map_err(|e| {
                io_error(
                    &format!("object {} in {}", object.object, object.container),
                    e,
                )
            })?;
            if !meta.is_file() {
                return Err(format!(
                    "object {} in {} does not exist",
                    object.object, object.container
                ));
            }
            Ok(ObjectInfo {
                name: object.object,
                container: object.container,
                created_at: seconds(&meta),
                size: meta.len(),
            })
        }
        .boxed()
    }

    fn copy(
        &self,
        source: &ComponentId,
        from: ObjectRef,
        to: ObjectRef,
    ) -> BoxFuture<'static, BlobResult<()>> {
        let (src, dst) = (
            self.object_path(source, &from),
            self.object_path(source, &to),
        );
        async move {
            let ((_, src), (dst_dir, dst)) = (src?, dst?);
            existing_dir(&dst_dir, &to.container).await?;
            let file = tokio::fs::File::open(&src).await.map_err(|e| {
                io_error(&format!("object {} in {}", from.object, from.container), e)
            })?;
            write_atomically(&dst_dir, &dst, Box::new(file))
                .await
                .map(|_| ())
        }
        .boxed()
    }

    fn rename(
        &self,
        source: &ComponentId,
        from: ObjectRef,
        to: ObjectRef,
    ) -> BoxFuture<'static, BlobResult<()>> {
        let (src, dst) = (
            self.object_path(source, &from),
            self.object_path(source, &to),
        );
        async move {
            let ((_, src), (dst_dir, dst)) = (src?, dst?);
            existing_dir(&dst_dir, &to.container).await?;
            if let Some(parent) = dst.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| io_error("creating folders", e))?;
            }
            tokio::fs::rename(&src, &dst)
                .await
                .map_err(|e| io_error(&format!("moving {} in {}", from.object, from.container), e))
        }
        .boxed()
    }
}

impl Provider for FsBlobProvider {
    fn start(&self, ctx: ProviderContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        *self.root.lock().unwrap_or_else(PoisonError::into_inner) =
            ctx.config.get("root").map(PathBuf::from);
        futures::future::ready(Ok(())).boxed()
    }

    fn link_put(&self, link: LinkContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        let root = link
            .target_config
            .get("root")
            .or_else(|| link.source_config.get("root"))
            .map(PathBuf::from);
        let mut roots = self.roots.lock().unwrap_or_else(PoisonError::into_inner);
        match root {
            Some(root) => {
                roots.insert(link.link.source_id, root);
            }
            None => {
                roots.remove(&link.link.source_id);
            }
        }
        futures::future::ready(Ok(())).boxed()
    }

    fn link_del(&self, link: Link) -> BoxFuture<'_, Result<(), ProviderError>> {
        self.roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&link.source_id);
        futures::future::ready(Ok(())).boxed()
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        futures::future::ready(Health::Healthy).boxed()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        futures::future::ready(()).boxed()
    }

    fn blobstore(&self) -> Option<&dyn Blobstore> {
        Some(self)
    }
}
