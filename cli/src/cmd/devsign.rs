//! The local dev issuer of `trellis up`: an account key under `~/.trellis/`
//! that the host `up` runs trusts. The CLI signs a local unsigned component
//! with it, and says so, when the host it deploys to trusts that key, so the
//! dev loop needs no signing step and production hosts are not affected.

use std::path::{Path, PathBuf};

use anyhow::Context;
use trellis_claims::{KeyKind, SignOptions};

use super::host::trellis_home;

/// Where the dev issuer's seed lives.
pub(super) fn issuer_path() -> Option<PathBuf> {
    trellis_home().map(|home| home.join("dev-issuer.nk"))
}

/// The dev issuer's public key, creating the seed (mode 0600) when missing.
pub(super) fn ensure_issuer() -> anyhow::Result<String> {
    let path = issuer_path().context("no home directory for the dev issuer")?;
    if path.exists() {
        return Ok(trellis_claims::read_seed_file(&path)?.public_key());
    }
    let key = trellis_claims::generate(KeyKind::Account);
    let seed = key
        .seed()
        .map_err(|e| anyhow::anyhow!("cannot encode the dev issuer: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    trellis_claims::write_seed_file(&path, &seed, false)?;
    eprintln!(
        "Created the local dev issuer {} ({}); hosts started by `trellis up` trust it.",
        key.public_key(),
        path.display()
    );
    Ok(key.public_key())
}

/// Signs `bytes` with the dev issuer when they carry no claims and
/// `trusted` (the target hosts' trusted issuers) includes it.
pub(super) fn sign_if_trusted(
    bytes: Vec<u8>,
    image: &str,
    trusted: &[String],
) -> anyhow::Result<Vec<u8>> {
    let Some(path) = issuer_path().filter(|p| p.exists()) else {
        return Ok(bytes);
    };
    if trellis_claims::extract(&bytes).ok().flatten().is_some() {
        return Ok(bytes);
    }
    let key = trellis_claims::read_seed_file(&path)?;
    if !trusted.contains(&key.public_key()) {
        return Ok(bytes);
    }
    let mut options = SignOptions::new(trellis_claims::now_unix());
    options.name = Path::new(image.trim_start_matches("file://"))
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned());
    let signed = trellis_claims::sign(&bytes, &key, options)
        .with_context(|| format!("signing {image} with the dev issuer"))?;
    eprintln!(
        "note: {image} is unsigned; signed it with the local dev issuer {} ({})",
        key.public_key(),
        path.display()
    );
    Ok(signed)
}
