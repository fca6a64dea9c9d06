//! The host's Ed25519 identity, in nkeys form (`N...` public key). Seed
//! files are read and written by `trellis-claims`, as for every other key.

use std::path::Path;

use trellis_claims::{KeyError, KeyKind};
use trellis_protocol::HostId;

/// Why an identity could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The seed file could not be read or written, or holds no key.
    #[error("host seed file: {0}. Remove it to generate a new identity")]
    Seed(#[from] KeyError),
    /// The file holds a key of another kind.
    #[error(
        "seed file {path} holds a {kind} key, not a host key (`trellis keys gen host` makes one)"
    )]
    NotHost {
        /// The file.
        path: String,
        /// The kind it holds.
        kind: &'static str,
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
            return Ok(Self::from_key(trellis_claims::generate(KeyKind::Host)));
        };
        if !path.exists() {
            let key = trellis_claims::generate(KeyKind::Host);
            let seed = key.seed().map_err(|e| KeyError::Nkeys(e.to_string()))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            trellis_claims::write_seed_file(path, &seed, false)?;
            return Ok(Self::from_key(key));
        }
        let key = trellis_claims::read_seed_file(path)?;
        if KeyKind::of(&key) != Some(KeyKind::Host) {
            return Err(IdentityError::NotHost {
                path: path.display().to_string(),
                kind: trellis_claims::kind_name(&key.public_key()),
            });
        }
        Ok(Self::from_key(key))
    }

    fn from_key(key: nkeys::KeyPair) -> Self {
        let id = HostId::new(key.public_key())
            .unwrap_or_else(|e| unreachable!("nkeys server keys are host ids: {e}"));
        Self { id, _key: key }
    }
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
        assert!(
            err.contains("host seed file") && err.contains("Remove it"),
            "{err}"
        );
        let account = trellis_claims::generate(KeyKind::Account).seed().unwrap();
        std::fs::write(&path, account).unwrap();
        let err = Identity::load_or_create(Some(&path))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a host key"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
