//! Artifacts on this host's disk, by sha256, so a restart or another scale
//! of the same bytes needs no fetch.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use trellis_protocol::Sha256Digest;
use trellis_protocol::control::ArtifactRef;

use crate::context::HostContext;

/// The folder of cached artifacts; under the cache dir, or a temp folder
/// when caching is off.
pub fn dir(ctx: &HostContext) -> PathBuf {
    ctx.config
        .runtime
        .cache_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("trellis"))
        .join("artifacts")
}

/// Where the cached copy of `digest` lives. The digest type admits only
/// 64 lowercase hex characters, so this never leaves [`dir`].
pub fn path(ctx: &HostContext, digest: &Sha256Digest) -> PathBuf {
    dir(ctx).join(digest.as_str())
}

/// The artifact's bytes and whether they had to be fetched. A cached copy
/// is used only if its digest still matches; a fetched one is stored.
pub async fn load(ctx: &HostContext, artifact: &ArtifactRef) -> Result<(Vec<u8>, bool), String> {
    let path = path(ctx, &artifact.sha256);
    match read_cached(&path, ctx.config.max_artifact_bytes).await {
        Ok(Some(bytes)) => {
            if Sha256Digest::from_bytes(&Sha256::digest(&bytes).into()) == artifact.sha256 {
                ctx.counters.artifact(None);
                return Ok((bytes, false));
            }
            tracing::warn!(path = %path.display(), "cached artifact is corrupt; fetching again");
        }
        Ok(None) => {}
        Err(reason) => {
            tracing::warn!(path = %path.display(), %reason, "cached artifact unusable; fetching again");
        }
    }
    let bytes = ctx
        .artifacts
        .fetch(artifact, ctx.config.max_artifact_bytes)
        .await
        .map_err(|e| e.to_string())?;
    ctx.counters.artifact(Some(bytes.len()));
    if let Err(e) = store(&path, &bytes) {
        tracing::warn!(path = %path.display(), %e, "could not cache artifact");
    }
    Ok((bytes, true))
}

/// Reads a cached artifact: `None` when there is none, an error when the
/// entry is not a regular file or is over `max_bytes`. The size comes from
/// metadata before any read, and only regular files are opened (a FIFO
/// would block the read forever, a symlink could point anywhere).
async fn read_cached(path: &Path, max_bytes: u64) -> Result<Option<Vec<u8>>, String> {
    let meta = match tokio::fs::symlink_metadata(path).await {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    check_entry(&meta, max_bytes)?;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| e.to_string())?;
    // Check the opened file too: the entry may have changed since.
    check_entry(
        &file.metadata().await.map_err(|e| e.to_string())?,
        max_bytes,
    )?;
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!(
            "grew over the limit of {max_bytes} bytes while read"
        ));
    }
    Ok(Some(bytes))
}

fn check_entry(meta: &std::fs::Metadata, max_bytes: u64) -> Result<(), String> {
    if !meta.file_type().is_file() {
        return Err(format!("not a regular file ({:?})", meta.file_type()));
    }
    if meta.len() > max_bytes {
        return Err(format!(
            "{} bytes, over the limit of {max_bytes} bytes",
            meta.len()
        ));
    }
    Ok(())
}

/// Writes atomically (temp file, then rename), so a crash never leaves a
/// half-written artifact under its digest.
pub fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
