//! The host's Ed25519 identity, in nkeys form (`N...` public key).

use std::io::Write;
use std::path::Path;

use trellis_protocol::HostId;

/// Why an identity could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The seed file could not be read or written.
    #[error("seed file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold a server seed.
    #[error(
        "seed file {path} does not hold a host seed (`SN...`): {reason}. Remove it to generate a new identity"
    )]
    BadSeed {
        /// The file.
        path: String,
        /// The key library's reason.
        reason: String,
    },
}

/// A host key pair and its id.
pub struct Identity {
    /// The public key as host id.
    pub id: HostId,
    _key: nkeys::KeyPair,
}

impl Identity {
    /// Loads the seed from `path`, creating it (mode 0600) when missing;
    /// without a path, a fresh identity.
    pub fn load_or_create(path: Option<&Path>) -> Result<Self, IdentityError> {
        let Some(path) = path else {
            return Ok(Self::from_key(nkeys::KeyPair::new_server()));
        };
        let shown = path.display().to_string();
        let io = |source| IdentityError::Io {
            path: shown.clone(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let key =
                    nkeys::KeyPair::from_seed(text.trim()).map_err(|e| IdentityError::BadSeed {
                        path: shown.clone(),
                        reason: e.to_string(),
                    })?;
                if !key.public_key().starts_with('N') {
                    return Err(IdentityError::BadSeed {
                        path: shown,
                        reason: "it is not a server (host) key".into(),
                    });
                }
                Ok(Self::from_key(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = nkeys::KeyPair::new_server();
                let seed = key.seed().map_err(|e| IdentityError::BadSeed {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                write_private(path, seed.as_bytes()).map_err(io)?;
                Ok(Self::from_key(key))
            }
            Err(e) => Err(io(e)),
        }
    }

    fn from_key(key: nkeys::KeyPair) -> Self {
        let id = HostId::new(key.public_key())
            .unwrap_or_else(|e| unreachable!("nkeys server keys are host ids: {e}"));
        Self { id, _key: key }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_file_keeps_identity() {
        let dir = std::env::temp_dir().join(format!("trellis-id-{}", std::process::id()));
        let path = dir.join("host.seed");
        let first = Identity::load_or_create(Some(&path)).unwrap();
        let second = Identity::load_or_create(Some(&path)).unwrap();
        assert_eq!(first.id, second.id);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        let err = Identity::load_or_create(Some(&path))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not hold a host seed"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
