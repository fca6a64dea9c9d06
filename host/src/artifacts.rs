//! Artifacts on this host's disk, by sha256, so a restart or another scale
//! of the same bytes needs no fetch.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use trellis_protocol::control::ArtifactRef;

use crate::host::HostContext;

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

/// The artifact's bytes and whether they had to be fetched. A cached copy
/// is used only if its digest still matches; a fetched one is stored.
pub async fn load(ctx: &HostContext, artifact: &ArtifactRef) -> Result<(Vec<u8>, bool), String> {
    let path = dir(ctx).join(&artifact.sha256);
    if let Ok(bytes) = tokio::fs::read(&path).await {
        if hex::encode(Sha256::digest(&bytes)) == artifact.sha256 {
            return Ok((bytes, false));
        }
        tracing::warn!(path = %path.display(), "cached artifact is corrupt; fetching again");
    }
    let bytes = ctx
        .store
        .get_artifact(artifact, ctx.config.max_artifact_bytes)
        .await
        .map_err(|e| e.to_string())?;
    if let Err(e) = store(&path, &bytes) {
        tracing::warn!(path = %path.display(), %e, "could not cache artifact");
    }
    Ok((bytes, true))
}

/// Writes atomically (temp file, then rename), so a crash never leaves a
/// half-written artifact under its digest.
pub fn store(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
