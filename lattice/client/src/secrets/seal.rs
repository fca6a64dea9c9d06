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

/// Prefix of each line of the key file; the version says how to read the rest.
pub const KEY_FILE_PREFIX: &str = "trellis-secrets-key-v1:";
/// Largest key file read (one key is about 70 bytes).
const MAX_KEY_FILE_BYTES: u64 = 1024;
/// First bytes of every sealed record.
const MAGIC: &[u8; 4] = b"TSK1";
const KEY_ID_LEN: usize = 8;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + NONCE_LEN;

/// Most earlier keys a key file may carry next to the current one.
pub const MAX_PREVIOUS_KEYS: usize = 8;

/// The 32-byte key that seals a lattice's secrets, with the keys it
/// replaced while a rotation is under way: those still open records sealed
/// with them, and seal nothing. Its `Debug` shows only key ids.
#[derive(Clone)]
pub struct SecretsKey {
    bytes: [u8; 32],
    /// Earlier keys, newest first (the key file's later lines).
    previous: Vec<[u8; 32]>,
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretsKey(id {}", self.id_hex())?;
        for old in &self.previous {
            write!(f, ", previous {}", hex::encode(key_id(old)))?;
        }
        f.write_str(")")
    }
}

/// The public fingerprint of key bytes.
fn key_id(bytes: &[u8; 32]) -> [u8; KEY_ID_LEN] {
    let digest = Sha256::new()
        .chain_update(b"trellis-secrets-key-id-v1\0")
        .chain_update(bytes)
        .finalize();
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&digest[..KEY_ID_LEN]);
    id
}

fn aead_of(bytes: &[u8; 32]) -> LessSafeKey {
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes)
        .unwrap_or_else(|_| unreachable!("a ChaCha20-Poly1305 key is 32 bytes"));
    LessSafeKey::new(unbound)
}

impl SecretsKey {
    /// A fresh key from the system's random source.
    pub fn generate() -> Result<Self, SecretStoreError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SecretStoreError::Random)?;
        Ok(Self {
            bytes,
            previous: Vec::new(),
        })
    }

    /// This key, sealing from now on, with `old` (and the keys `old`
    /// still opens) kept for opening: the first step of a rotation.
    pub fn rotated_from(self, old: &SecretsKey) -> Result<Self, SecretStoreError> {
        let mut previous: Vec<[u8; 32]> = std::iter::once(old.bytes)
            .chain(old.previous.iter().copied())
            .filter(|b| *b != self.bytes)
            .collect();
        previous.dedup();
        if previous.len() > MAX_PREVIOUS_KEYS {
            return Err(SecretStoreError::KeyFile {
                path: "the rotated key".into(),
                reason: format!(
                    "it would keep {} earlier keys, more than {MAX_PREVIOUS_KEYS}; finish the \
                     last rotation first (`trellis secrets rekey`, then drop the old keys)",
                    previous.len()
                ),
            });
        }
        Ok(Self { previous, ..self })
    }

    /// The current key alone, without the earlier ones: the last step of
    /// a rotation, once every record is sealed with it.
    pub fn without_previous(&self) -> Self {
        Self {
            bytes: self.bytes,
            previous: Vec::new(),
        }
    }

    /// Ids of the earlier keys this one still opens records of.
    pub fn previous_ids(&self) -> Vec<String> {
        self.previous
            .iter()
            .map(|b| hex::encode(key_id(b)))
            .collect()
    }

    /// The key file's text: one line of [`KEY_FILE_PREFIX`] and the key in
    /// base64, then one such line per earlier key.
    pub fn to_text(&self) -> String {
        std::iter::once(&self.bytes)
            .chain(&self.previous)
            .map(|bytes| {
                format!(
                    "{KEY_FILE_PREFIX}{}\n",
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                )
            })
            .collect()
    }

    /// Reads the key file's text (`what` names its origin in errors): the
    /// current key's line, then any earlier keys' lines.
    pub fn parse(text: &str, what: &str) -> Result<Self, SecretStoreError> {
        let bad = |reason: &str| SecretStoreError::KeyFile {
            path: what.to_owned(),
            reason: reason.to_owned(),
        };
        let mut keys = Vec::new();
        for (i, line) in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let n = i + 1;
            let body = line.strip_prefix(KEY_FILE_PREFIX).ok_or_else(|| {
                bad(&format!(
                    "key {n} does not start with `{KEY_FILE_PREFIX}`; make one with `trellis secrets keygen -o FILE`"
                ))
            })?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|_| bad(&format!("key {n} is not valid base64")))?;
            let bytes: [u8; 32] = decoded
                .try_into()
                .map_err(|_| bad(&format!("key {n} is not 32 bytes long")))?;
            keys.push(bytes);
        }
        let Some((&bytes, previous)) = keys.split_first() else {
            return Err(bad(&format!(
                "it holds no key (a line starting `{KEY_FILE_PREFIX}`); make one with `trellis secrets keygen -o FILE`"
            )));
        };
        if previous.len() > MAX_PREVIOUS_KEYS {
            return Err(bad(&format!(
                "it holds {} earlier keys, more than {MAX_PREVIOUS_KEYS}",
                previous.len()
            )));
        }
        Ok(Self {
            bytes,
            previous: previous.to_vec(),
        })
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
        key_id(&self.bytes)
    }

    fn aead(&self) -> LessSafeKey {
        aead_of(&self.bytes)
    }

    /// The key (current or earlier) whose id is `id`.
    fn opener(&self, id: &str) -> Option<LessSafeKey> {
        std::iter::once(&self.bytes)
            .chain(&self.previous)
            .find(|bytes| hex::encode(key_id(bytes)) == id)
            .map(aead_of)
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
    let Some(opener) = secrets_key.opener(&stored_id) else {
        return Err(SecretStoreError::KeyMismatch {
            key: key.to_owned(),
            stored: stored_id,
            have: secrets_key.id_hex(),
        });
    };
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&record[MAGIC.len() + KEY_ID_LEN..HEADER_LEN]);
    let mut body = record[HEADER_LEN..].to_vec();
    let plain_len = opener
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

    #[test]
    fn a_rotated_key_opens_what_its_predecessors_sealed_and_seals_with_itself() {
        let first = SecretsKey::generate().unwrap();
        let second = SecretsKey::generate()
            .unwrap()
            .rotated_from(&first)
            .unwrap();
        let third = SecretsKey::generate()
            .unwrap()
            .rotated_from(&second)
            .unwrap();
        assert_eq!(third.previous_ids(), [second.id_hex(), first.id_hex()]);
        let old = seal(&first, "l", "k", b"v1").unwrap();
        assert_eq!(open(&third, "l", "k", &old).unwrap(), b"v1");
        let new = seal(&third, "l", "k", b"v3").unwrap();
        assert_eq!(record_key_id("k", &new).unwrap(), third.id_hex());
        // The old key alone cannot open what the new one sealed, and the
        // new one alone no longer opens the old records.
        assert!(matches!(
            open(&first, "l", "k", &new),
            Err(SecretStoreError::KeyMismatch { .. })
        ));
        assert!(open(&third.without_previous(), "l", "k", &old).is_err());

        // The file holds every key, current first, and reads back the same.
        let text = third.to_text();
        assert_eq!(text.lines().count(), 3);
        let again = SecretsKey::parse(&format!("\n{text}\n\n"), "f").unwrap();
        assert_eq!(again.id_hex(), third.id_hex());
        assert_eq!(again.previous_ids(), third.previous_ids());
        assert!(!format!("{third:?}").contains(text.lines().nth(1).unwrap()));

        // Bounded: a rotation that never finishes stops at the limit.
        let mut ring = first;
        for _ in 0..MAX_PREVIOUS_KEYS {
            ring = SecretsKey::generate().unwrap().rotated_from(&ring).unwrap();
        }
        let err = SecretsKey::generate()
            .unwrap()
            .rotated_from(&ring)
            .unwrap_err();
        assert!(
            err.to_string().contains("finish the last rotation"),
            "{err}"
        );
        let too_many = format!(
            "{}{}",
            SecretsKey::generate().unwrap().to_text(),
            ring.to_text()
        );
        let err = SecretsKey::parse(&too_many, "f").unwrap_err().to_string();
        assert!(err.contains("earlier keys, more than"), "{err}");
        let err = SecretsKey::parse(&format!("{}junk\n", ring.to_text()), "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("key 10 does not start with"), "{err}");
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
