//! The on-disk record of what a host runs: the requests that would start
//! its workloads again, and the links and named config they use. JSON,
//! written atomically (temp file, fsync, rename) so a power cut leaves
//! either the old record or the new one, never half of one.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use trellis_protocol::ConfigName;
use trellis_protocol::control::{ConfigValues, ScaleComponentRequest, StartProviderRequest};
use trellis_protocol::link::Link;

/// Format version; a record of another version is ignored, not guessed at.
pub const VERSION: u32 = 1;

/// Largest record a host reads back (the file is local, but a runaway or
/// foreign file must not be read whole into memory).
pub const MAX_BYTES: u64 = 16 << 20;

/// What a host needs to resume its workloads without the lattice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// [`VERSION`].
    pub version: u32,
    /// The host id the record belongs to.
    pub host_id: String,
    /// Providers, as the `provider.start` requests that started them.
    pub providers: Vec<StartProviderRequest>,
    /// Components, as `component.scale` requests (image, artifact, max,
    /// config and annotations as they run now).
    pub components: Vec<ScaleComponentRequest>,
    /// Links that name one of the workloads.
    pub links: Vec<Link>,
    /// Named configs those links and workloads use.
    pub configs: Vec<(ConfigName, ConfigValues)>,
}

/// Why a record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read or written.
    #[error("host state {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not a record this host can use.
    #[error("host state {path} is unusable ({reason}); delete it to start without it")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the record at `path` if there is one.
pub fn load(path: &Path) -> Result<Option<HostState>, StateError> {
    let invalid = |reason: String| StateError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let size = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    if size > MAX_BYTES {
        return Err(invalid(format!(
            "{size} bytes, over the limit of {MAX_BYTES}"
        )));
    }
    let bytes = std::fs::read(path).map_err(io(path))?;
    let state: HostState = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if state.version != VERSION {
        return Err(invalid(format!(
            "format version {}, this host writes {VERSION}",
            state.version
        )));
    }
    Ok(Some(state))
}

/// Replaces the record at `path` atomically.
pub fn save(path: &Path, state: &HostState) -> Result<(), StateError> {
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| StateError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(path))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    // The record holds named config values (credentials, keys): owner only.
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?
    };
    file.write_all(&bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HostState {
        let component: ScaleComponentRequest = serde_json::from_str(
            r#"{"component_id":"shop-hello","image":"file://hello.wasm","max":2,
                "artifact":{"bucket":"B","name":"sha256-abababababababababababababababababababababababababababababababab","sha256":"abababababababababababababababababababababababababababababababab"},
                "annotations":{"trellis.app":"shop"}}"#,
        )
        .unwrap();
        let provider: StartProviderRequest =
            serde_json::from_str(r#"{"provider_id":"shop-http","image":"builtin://http-server"}"#)
                .unwrap();
        let link: Link = serde_json::from_str(
            r#"{"source_id":"shop-http","target_id":"shop-hello","wit_namespace":"wasi",
                "wit_package":"http","interfaces":["incoming-handler"],"source_config":["addr"]}"#,
        )
        .unwrap();
        HostState {
            version: VERSION,
            host_id: "NABC".into(),
            providers: vec![provider],
            components: vec![component],
            links: vec![link],
            configs: vec![(
                ConfigName::new("addr").unwrap(),
                [("address".to_owned(), "127.0.0.1:1".to_owned())].into(),
            )],
        }
    }

    #[test]
    fn a_saved_record_reads_back_equal_and_replaces_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/host.json");
        assert_eq!(load(&path).unwrap(), None);
        save(&path, &HostState::default()).unwrap();
        let state = sample();
        save(&path, &state).unwrap();
        assert_eq!(load(&path).unwrap(), Some(state));
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["host.json"], "no temp file left behind");
    }

    #[test]
    fn foreign_oversized_or_other_version_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.json");
        std::fs::write(&path, "not json").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("host.json") && e.contains("delete it"), "{e}");
        let mut old = sample();
        old.version = 99;
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("version 99"));
        let big = std::fs::File::create(&path).unwrap();
        big.set_len(MAX_BYTES + 1).unwrap();
        assert!(
            load(&path)
                .unwrap_err()
                .to_string()
                .contains("over the limit")
        );
    }
}
