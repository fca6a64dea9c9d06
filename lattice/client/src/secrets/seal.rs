//! The secrets key and the sealed form of a value (no IO but the key file).
//!
//! A stored record is `TSK1` | key id (8 bytes) | nonce (12) | ciphertext
//! with its 16-byte ChaCha20-Poly1305 tag. The associated data names the
//! lattice and the store key, so a record copied to another key or lattice
//! does not open. The key id (a hash of the key, which reveals nothing of
//! it) is what lets a wrong key be told apart from an altered record.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use super::SecretStoreError;

/// Prefix of the key file's one line; the version says how to read the rest.
pub const KEY_FILE_PREFIX: &str = "trellis-secrets-key-v1:";
/// Largest key file read (the real one is about 70 bytes).
const MAX_KEY_FILE_BYTES: u64 = 1024;
/// First bytes of every sealed record.
const MAGIC: &[u8; 4] = b"TSK1";
const KEY_ID_LEN: usize = 8;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + NONCE_LEN;

/// The 32-byte key that seals a lattice's secrets. Its `Debug` shows only
/// the key id.
#[derive(Clone)]
pub struct SecretsKey {
    bytes: [u8; 32],
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretsKey(id {})", self.id_hex())
    }
}

impl SecretsKey {
    /// A fresh key from the system's random source.
    pub fn generate() -> Result<Self, SecretStoreError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SecretStoreError::Random)?;
        Ok(Self { bytes })
    }

    /// The key file's text: [`KEY_FILE_PREFIX`] and the key in base64.
    pub fn to_text(&self) -> String {
        format!(
            "{KEY_FILE_PREFIX}{}\n",
            base64::engine::general_purpose::STANDARD.encode(self.bytes)
        )
    }

    /// Reads the key file's text (`what` names its origin in errors).
    pub fn parse(text: &str, what: &str) -> Result<Self, SecretStoreError> {
        let bad = |reason: &str| SecretStoreError::KeyFile {
            path: what.to_owned(),
            reason: reason.to_owned(),
        };
        let body = text.trim().strip_prefix(KEY_FILE_PREFIX).ok_or_else(|| {
            bad(&format!(
                "it does not start with `{KEY_FILE_PREFIX}`; make one with `trellis secrets keygen -o FILE`"
            ))
        })?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| bad("the key is not valid base64"))?;
        let bytes: [u8; 32] = decoded
            .try_into()
            .map_err(|_| bad("the key is not 32 bytes long"))?;
        Ok(Self { bytes })
    }

    /// Reads a key file, refusing one that others may read (the key
    /// opens every secret of the lattice).
    pub fn read_file(path: &Path) -> Result<Self, SecretStoreError> {
        let shown = path.display().to_string();
        let fail = |reason: String| SecretStoreError::KeyFile {
            path: shown.clone(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
        if !meta.is_file() {
            return Err(fail("it is not a regular file".into()));
        }
        if meta.len() > MAX_KEY_FILE_BYTES {
            return Err(fail(format!(
                "it is {} bytes, more than a key file's {MAX_KEY_FILE_BYTES}; is it the right file?",
                meta.len()
            )));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SecretStoreError::KeyFileOpen {
                    path: shown.clone(),
                    mode,
                });
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        Self::parse(&text, &shown)
    }

    /// Writes the key to a new file only its owner can read; an existing
    /// file is never overwritten (it may hold the only copy of a key).
    pub fn write_new_file(&self, path: &Path) -> Result<(), SecretStoreError> {
        use std::io::Write as _;
        let fail = |e: std::io::Error| SecretStoreError::KeyFile {
            path: path.display().to_string(),
            reason: if e.kind() == std::io::ErrorKind::AlreadyExists {
                "it already exists; a key file is never overwritten (move it away first)".into()
            } else {
                e.to_string()
            },
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(fail)?;
        file.write_all(self.to_text().as_bytes()).map_err(fail)?;
        file.sync_all().map_err(fail)
    }

    /// A short public fingerprint of the key (hex of 8 bytes of a hash).
    pub fn id_hex(&self) -> String {
        hex::encode(self.id())
    }

    fn id(&self) -> [u8; KEY_ID_LEN] {
        let digest = Sha256::new()
            .chain_update(b"trellis-secrets-key-id-v1\0")
            .chain_update(self.bytes)
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        id
    }

    fn aead(&self) -> LessSafeKey {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &self.bytes)
            .unwrap_or_else(|_| unreachable!("a ChaCha20-Poly1305 key is 32 bytes"));
        LessSafeKey::new(unbound)
    }
}

/// What binds a record to its place: the lattice and the store key.
fn aad(lattice: &str, key: &str) -> Vec<u8> {
    let mut aad = b"trellis-secret-v1\0".to_vec();
    aad.extend_from_slice(lattice.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key.as_bytes());
    aad
}

/// Seals `plain` for `key` of `lattice` with a fresh random nonce.
pub fn seal(
    secrets_key: &SecretsKey,
    lattice: &str,
    key: &str,
    plain: &[u8],
) -> Result<Vec<u8>, SecretStoreError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SecretStoreError::Random)?;
    let mut body = plain.to_vec();
    secrets_key
        .aead()
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(lattice, key)),
            &mut body,
        )
        .map_err(|_| SecretStoreError::Random)?;
    let mut record = Vec::with_capacity(HEADER_LEN + body.len());
    record.extend_from_slice(MAGIC);
    record.extend_from_slice(&secrets_key.id());
    record.extend_from_slice(&nonce);
    record.extend_from_slice(&body);
    Ok(record)
}

/// The key id a record was sealed with, or why it is not a record.
pub fn record_key_id(key: &str, record: &[u8]) -> Result<String, SecretStoreError> {
    if record.len() < HEADER_LEN + TAG_LEN || &record[..MAGIC.len()] != MAGIC {
        return Err(SecretStoreError::Corrupt {
            key: key.to_owned(),
            reason: "not a sealed Trellis secret (wrong header or too short)".into(),
        });
    }
    Ok(hex::encode(&record[MAGIC.len()..MAGIC.len() + KEY_ID_LEN]))
}

/// Opens a record sealed by [`seal`] for the same lattice and key.
pub fn open(
    secrets_key: &SecretsKey,
    lattice: &str,
    key: &str,
    record: &[u8],
) -> Result<Vec<u8>, SecretStoreError> {
    let stored_id = record_key_id(key, record)?;
    if stored_id != secrets_key.id_hex() {
        return Err(SecretStoreError::KeyMismatch {
            key: key.to_owned(),
            stored: stored_id,
            have: secrets_key.id_hex(),
        });
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&record[MAGIC.len() + KEY_ID_LEN..HEADER_LEN]);
    let mut body = record[HEADER_LEN..].to_vec();
    let plain_len = secrets_key
        .aead()
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(lattice, key)),
            &mut body,
        )
        .map_err(|_| SecretStoreError::Tampered {
            key: key.to_owned(),
        })?
        .len();
    body.truncate(plain_len);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_place() {
        let key = SecretsKey::generate().unwrap();
        let record = seal(&key, "default", "db.password", b"hunter2").unwrap();
        assert!(
            !record.windows(7).any(|w| w == b"hunter2"),
            "sealed in clear"
        );
        assert_eq!(
            open(&key, "default", "db.password", &record).unwrap(),
            b"hunter2"
        );
        // A fresh nonce per write: the same value seals differently.
        assert_ne!(
            record,
            seal(&key, "default", "db.password", b"hunter2").unwrap()
        );

        let other = SecretsKey::generate().unwrap();
        let err = open(&other, "default", "db.password", &record).unwrap_err();
        assert!(matches!(err, SecretStoreError::KeyMismatch { .. }), "{err}");
        assert!(err.to_string().contains("does not match"), "{err}");

        let mut tampered = record.clone();
        *tampered.last_mut().unwrap() ^= 1;
        let err = open(&key, "default", "db.password", &tampered).unwrap_err();
        assert!(matches!(err, SecretStoreError::Tampered { .. }), "{err}");
        let mut flipped = record.clone();
        flipped[HEADER_LEN] ^= 0x80;
        assert!(matches!(
            open(&key, "default", "db.password", &flipped),
            Err(SecretStoreError::Tampered { .. })
        ));

        // Moved to another key or lattice: refused.
        assert!(open(&key, "default", "api.password", &record).is_err());
        assert!(open(&key, "other", "db.password", &record).is_err());
        assert!(matches!(
            open(&key, "default", "x", b"TSK1short"),
            Err(SecretStoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn key_text_round_trips_and_debug_hides_the_key() {
        let key = SecretsKey::generate().unwrap();
        let text = key.to_text();
        assert!(text.starts_with(KEY_FILE_PREFIX));
        let again = SecretsKey::parse(&text, "test").unwrap();
        assert_eq!(again.id_hex(), key.id_hex());
        let shown = format!("{key:?}");
        let b64 = text.trim().trim_start_matches(KEY_FILE_PREFIX);
        assert!(!shown.contains(b64), "{shown}");
        for bad in ["", "trellis-secrets-key-v1:abc", "ssh-rsa AAAA"] {
            let err = SecretStoreError::to_string(&SecretsKey::parse(bad, "f").unwrap_err());
            assert!(err.contains("key file f"), "{err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("trellis-seal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secrets.key");
        let _ = std::fs::remove_file(&path);
        let key = SecretsKey::generate().unwrap();
        key.write_new_file(&path).unwrap();
        assert_eq!(SecretsKey::read_file(&path).unwrap().id_hex(), key.id_hex());
        let err = key.write_new_file(&path).unwrap_err().to_string();
        assert!(err.contains("never overwritten"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SecretsKey::read_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
