//! The lattice's secret store: a JetStream KV bucket
//! (`TRELLIS_SECRETS_{lattice}`) of values sealed with ChaCha20-Poly1305
//! under a key only operators and hosts hold ([`SecretsKey`], a file).
//! NATS and anyone reading the bucket see ciphertext; the CLI seals on
//! `put`, a host opens what its components and providers were given.

pub mod seal;

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::TryStreamExt;
use trellis_protocol::secret::{SecretKey, SecretRef};

use crate::buckets;
use crate::connect::Lattice;
use crate::error::LatticeError;

pub use seal::SecretsKey;

/// Largest secret value, in bytes.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
/// Bound on one read or write of the bucket.
pub const SECRET_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong with secrets. No variant carries a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    /// Reading or parsing the key file failed.
    #[error("secrets key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The key file can be read by others.
    #[error(
        "secrets key file {path} can be read by others (mode {mode:o}); it opens every secret of the lattice: run `chmod 600 {path}`"
    )]
    KeyFileOpen {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The operation needs the key and none was given.
    #[error(
        "no secrets key: pass --secrets-key FILE (or set TRELLIS_SECRETS_KEY); make one with `trellis secrets keygen -o FILE`"
    )]
    NoKey,
    /// The record was sealed with another key.
    #[error(
        "secret {key}: the secrets key does not match the one it was stored with (key id {have}, stored with {stored}); use the lattice's key file"
    )]
    KeyMismatch {
        /// The store key.
        key: String,
        /// Id of the key the record names.
        stored: String,
        /// Id of the key at hand.
        have: String,
    },
    /// The record does not open with its own key: altered, or moved from
    /// another key or lattice.
    #[error(
        "secret {key} does not decrypt: the stored record was altered or copied from another key or lattice; put it again"
    )]
    Tampered {
        /// The store key.
        key: String,
    },
    /// The record is not a sealed secret.
    #[error("secret {key} is corrupt: {reason}")]
    Corrupt {
        /// The store key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Nothing stored under the key.
    #[error("no secret stored under {key}; store one with `trellis secrets put {key}`")]
    NotFound {
        /// The store key.
        key: String,
    },
    /// A value over [`MAX_SECRET_BYTES`].
    #[error(
        "the secret value is {len} bytes, more than the limit of {max}; store a reference (a path or URL) instead"
    )]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `field` could not be picked from the value.
    #[error("secret {key}: cannot pick field `{field}`: {reason}")]
    Field {
        /// The store key.
        key: String,
        /// The field asked for.
        field: String,
        /// Why not.
        reason: String,
    },
    /// The system's random source (or the cipher) failed.
    #[error("the system's random source or the cipher failed; nothing was sealed")]
    Random,
    /// The bucket could not be reached.
    #[error(transparent)]
    Storage(#[from] LatticeError),
}

/// A secret's value. `Debug` shows only its length, so a value never ends
/// up in a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Vec<u8>);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue(<redacted, {} bytes>)", self.0.len())
    }
}

impl SecretValue {
    /// Wraps bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as text, when it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The member `field` of a JSON object value: a string member as its
    /// text, any other as its JSON.
    pub fn field(&self, key: &SecretKey, field: &str) -> Result<SecretValue, SecretStoreError> {
        let fail = |reason: &str| SecretStoreError::Field {
            key: key.to_string(),
            field: field.to_owned(),
            reason: reason.to_owned(),
        };
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&self.0).map_err(|_| fail("the value is not a JSON object"))?;
        match object.get(field) {
            Some(serde_json::Value::String(s)) => Ok(SecretValue(s.clone().into_bytes())),
            Some(other) => Ok(SecretValue(other.to_string().into_bytes())),
            None => Err(fail("the JSON object has no such member")),
        }
    }
}

/// What `get` shows without the value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecretInfo {
    /// The store key.
    pub key: String,
    /// Bucket revision of the stored record.
    pub revision: u64,
    /// When it was stored, RFC 3339.
    pub stored_at: String,
    /// Bytes of the sealed record (value + 40).
    pub sealed_bytes: usize,
    /// Id of the key it was sealed with.
    pub key_id: String,
}

/// What [`SecretStore::rekey`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rekeyed {
    /// Keys whose records were sealed again with the current key.
    pub rekeyed: Vec<String>,
    /// Records that were sealed with the current key already.
    pub current: usize,
    /// Keys left as they were, and why (no key here opens them, ...).
    pub failed: Vec<(String, String)>,
}

/// The lattice's secrets bucket, with the key when there is one.
#[derive(Clone)]
pub struct SecretStore {
    kv: kv::Store,
    lattice: String,
    key: Option<SecretsKey>,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("lattice", &self.lattice)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The bucket name of a lattice's secrets.
pub fn bucket_name(lattice: &str) -> String {
    format!("TRELLIS_SECRETS_{lattice}")
}

async fn bounded<T, E: fmt::Display>(
    what: String,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, SecretStoreError> {
    match tokio::time::timeout(SECRET_TIMEOUT, work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(LatticeError::storage(what, e).into()),
        Err(_) => {
            Err(LatticeError::storage(what, format!("no answer within {SECRET_TIMEOUT:?}")).into())
        }
    }
}

impl Lattice {
    /// Opens (creating when missing) the secrets bucket; `key` seals and
    /// opens values (listing and deleting need none).
    pub async fn secret_store(
        &self,
        key: Option<SecretsKey>,
    ) -> Result<SecretStore, SecretStoreError> {
        let bucket = bucket_name(self.lattice.as_str());
        let kv = tokio::time::timeout(
            SECRET_TIMEOUT,
            buckets::open_kv(&self.js, &bucket, self.js_replicas),
        )
        .await
        .map_err(|_| {
            LatticeError::storage(
                bucket.clone(),
                format!("no answer within {SECRET_TIMEOUT:?}"),
            )
        })??;
        Ok(SecretStore {
            kv,
            lattice: self.lattice.to_string(),
            key,
        })
    }
}

impl SecretStore {
    fn key(&self) -> Result<&SecretsKey, SecretStoreError> {
        self.key.as_ref().ok_or(SecretStoreError::NoKey)
    }

    /// Whether this store holds a key.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Seals and stores `value` under `key`; returns the revision.
    pub async fn put(&self, key: &SecretKey, value: &[u8]) -> Result<u64, SecretStoreError> {
        if value.len() > MAX_SECRET_BYTES {
            return Err(SecretStoreError::TooLarge {
                len: value.len(),
                max: MAX_SECRET_BYTES,
            });
        }
        let record = seal::seal(self.key()?, &self.lattice, key.as_str(), value)?;
        bounded(
            format!("store secret {key}"),
            self.kv.put(key.as_str(), record.into()),
        )
        .await
    }

    /// The sealed record under `key`, as stored.
    async fn record(&self, key: &SecretKey) -> Result<Option<kv::Entry>, SecretStoreError> {
        let entry = bounded(format!("read secret {key}"), self.kv.entry(key.as_str())).await?;
        Ok(entry.filter(|e| e.operation == kv::Operation::Put))
    }

    /// The value under `key`, opened with the store's key.
    pub async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>, SecretStoreError> {
        let secrets_key = self.key()?;
        let Some(entry) = self.record(key).await? else {
            return Ok(None);
        };
        check_size(key, entry.value.len())?;
        let plain = seal::open(secrets_key, &self.lattice, key.as_str(), &entry.value)?;
        Ok(Some(SecretValue(plain)))
    }

    /// What is stored under `key`, without opening it.
    pub async fn info(&self, key: &SecretKey) -> Result<Option<SecretInfo>, SecretStoreError> {
        let Some(entry) = self.record(key).await? else {
            return Ok(None);
        };
        let stored_at = entry
            .created
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Ok(Some(SecretInfo {
            key: key.to_string(),
            revision: entry.revision,
            stored_at,
            sealed_bytes: entry.value.len(),
            key_id: seal::record_key_id(key.as_str(), &entry.value)?,
        }))
    }

    /// The value a reference names: its key's value, or the reference's
    /// `field` of it.
    pub async fn resolve(&self, r: &SecretRef) -> Result<SecretValue, SecretStoreError> {
        let value = self
            .get(&r.key)
            .await?
            .ok_or_else(|| SecretStoreError::NotFound {
                key: r.key.to_string(),
            })?;
        match &r.field {
            Some(field) => value.field(&r.key, field),
            None => Ok(value),
        }
    }

    /// Removes `key` and its history; whether there was a value.
    pub async fn del(&self, key: &SecretKey) -> Result<bool, SecretStoreError> {
        let existed = self.record(key).await?.is_some();
        bounded(format!("delete secret {key}"), self.kv.purge(key.as_str())).await?;
        Ok(existed)
    }

    /// The id of the key the lattice's secrets are sealed with, from the
    /// record under `key` or else the first stored one; `None` when the
    /// store is empty.
    pub async fn sealing_key_id(
        &self,
        key: &SecretKey,
    ) -> Result<Option<String>, SecretStoreError> {
        if let Some(info) = self.info(key).await? {
            return Ok(Some(info.key_id));
        }
        for other in self.list().await? {
            if let Ok(other) = SecretKey::new(other)
                && let Some(info) = self.info(&other).await?
            {
                return Ok(Some(info.key_id));
            }
        }
        Ok(None)
    }

    /// Every stored key, sorted.
    pub async fn list(&self) -> Result<Vec<String>, SecretStoreError> {
        let keys = bounded("list secrets".into(), async {
            match self.kv.keys().await {
                Ok(keys) => keys
                    .try_collect::<Vec<String>>()
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await?;
        let mut keys = keys;
        keys.sort();
        Ok(keys)
    }

    /// Seals every record again with the store's current key: the middle
    /// step of a key rotation. A record sealed with an earlier key the
    /// store's key file still holds is opened and written back under a
    /// compare-and-set of its revision, so a `put` racing it is never
    /// overwritten (the record is read again and, sealed by that put,
    /// counted as current). Records no key here opens are listed, not
    /// touched; nothing is deleted.
    pub async fn rekey(&self) -> Result<Rekeyed, SecretStoreError> {
        let current = self.key()?.id_hex();
        let mut report = Rekeyed::default();
        for name in self.list().await? {
            let Ok(key) = SecretKey::new(name.clone()) else {
                report.failed.push((name, "not a valid store key".into()));
                continue;
            };
            match self.rekey_one(&key, &current).await {
                Ok(Some(true)) => report.rekeyed.push(name),
                Ok(Some(false)) => report.current += 1,
                Ok(None) => {}
                Err(e) => report.failed.push((name, e.to_string())),
            }
        }
        Ok(report)
    }

    /// `Some(true)` when `key` was sealed again, `Some(false)` when it is
    /// sealed with `current` already, `None` when it is gone.
    async fn rekey_one(
        &self,
        key: &SecretKey,
        current: &str,
    ) -> Result<Option<bool>, SecretStoreError> {
        // Two tries: a put between the read and the write wins, and the
        // second read sees it.
        for _ in 0..2 {
            let Some(entry) = self.record(key).await? else {
                return Ok(None);
            };
            check_size(key, entry.value.len())?;
            if seal::record_key_id(key.as_str(), &entry.value)? == current {
                return Ok(Some(false));
            }
            let secrets_key = self.key()?;
            let plain = seal::open(secrets_key, &self.lattice, key.as_str(), &entry.value)?;
            let record = seal::seal(secrets_key, &self.lattice, key.as_str(), &plain)?;
            // `false`: a put got in between; read again.
            let written = bounded(format!("store secret {key}"), async {
                match self
                    .kv
                    .update(key.as_str(), record.into(), entry.revision)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .await?;
            if written {
                return Ok(Some(true));
            }
        }
        Err(SecretStoreError::Corrupt {
            key: key.to_string(),
            reason: "it changed twice while being sealed again; run `trellis secrets rekey` again"
                .into(),
        })
    }

    /// The stored keys whose records are not sealed with the store's
    /// current key (or are not records), with the key id each has.
    pub async fn sealed_with_other_keys(&self) -> Result<Vec<(String, String)>, SecretStoreError> {
        let current = self.key()?.id_hex();
        let mut others = Vec::new();
        for name in self.list().await? {
            let Ok(key) = SecretKey::new(name.clone()) else {
                others.push((name, "-".into()));
                continue;
            };
            match self.info(&key).await {
                Ok(Some(info)) if info.key_id != current => others.push((name, info.key_id)),
                Ok(_) => {}
                // Unreadable: it does not count as sealed with this key.
                Err(SecretStoreError::Corrupt { .. }) => others.push((name, "unreadable".into())),
                Err(e) => return Err(e),
            }
        }
        Ok(others)
    }

    /// The raw sealed bytes under `key`, for tests and audits that check
    /// what rests in the bucket.
    pub async fn sealed_record(
        &self,
        key: &SecretKey,
    ) -> Result<Option<Vec<u8>>, SecretStoreError> {
        Ok(self.record(key).await?.map(|e| e.value.to_vec()))
    }
}

/// A peer may have stored anything: a record larger than any sealed
/// value is refused before it is decrypted.
fn check_size(key: &SecretKey, len: usize) -> Result<(), SecretStoreError> {
    if len > MAX_SECRET_BYTES + 64 {
        return Err(SecretStoreError::Corrupt {
            key: key.to_string(),
            reason: format!("the record is {len} bytes, larger than any sealed value"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_never_show_in_debug_and_fields_pick_members() {
        let v = SecretValue::new(br#"{"user":"admin","password":"s3cr3t","port":5432}"#.to_vec());
        assert!(!format!("{v:?}").contains("s3cr3t"));
        let key = SecretKey::new("db").unwrap();
        assert_eq!(v.field(&key, "password").unwrap().as_str(), Some("s3cr3t"));
        assert_eq!(v.field(&key, "port").unwrap().as_str(), Some("5432"));
        let err = v.field(&key, "nope").unwrap_err().to_string();
        assert!(err.contains("nope") && !err.contains("s3cr3t"), "{err}");
        let plain = SecretValue::new(b"s3cr3t".to_vec());
        let err = plain.field(&key, "password").unwrap_err().to_string();
        assert!(
            err.contains("not a JSON object") && !err.contains("s3cr3t"),
            "{err}"
        );
    }
}
