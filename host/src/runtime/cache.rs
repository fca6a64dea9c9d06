//! Compiled components on disk, keyed by the component's sha256 and the
//! engine's compatibility hash, so a restart or a second scale skips the
//! compile and an engine upgrade never loads stale machine code.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Whether a component came from the cache or was compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded precompiled code from disk.
    Hit,
    /// Compiled now (and stored, when a cache dir is set).
    Compiled,
}

/// The on-disk cache; `None` dir disables it.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    /// A cache under `root`, in a subfolder per engine configuration.
    pub fn new(engine: &Engine, root: Option<&Path>) -> Self {
        let dir = root.map(|root| {
            let mut hasher = DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut hasher);
            root.join(format!("engine-{:016x}", hasher.finish()))
        });
        Self { dir }
    }

    /// Loads the compiled component for `sha256`, compiling on a miss.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, bytes)?, CacheOutcome::Compiled));
        };
        let path = dir.join(format!("{sha256}.cwasm"));
        if path.exists() {
            match load(engine, &path) {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), %e, "discarding unusable cache entry");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = store(dir, &path, &component) {
            tracing::warn!(path = %path.display(), %e, "could not write compile cache");
        }
        Ok((component, CacheOutcome::Compiled))
    }
}

#[allow(
    unsafe_code,
    reason = "deserializing a compiled component; see the SAFETY note"
)]
fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: deserializing runs native code compiled earlier. Only this
    // cache writes into its directory (atomically, via rename), it names
    // files by the source's sha256 and the directory by the engine's
    // compatibility hash, and wasmtime checks the header and engine
    // settings before loading.
    unsafe { Component::deserialize_file(engine, path) }
}

fn store(dir: &Path, path: &Path, component: &Component) -> wasmtime::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize()?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
