//! Lattice-wide state in JetStream: links and named config in KV buckets,
//! artifacts in an object store. Every host sees the same buckets, so a link
//! made through one host applies on all, and a restarted host recovers them.
//! They are created with the connection's replicas (`crate::buckets`).

use async_nats::jetstream::{kv, object_store};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use trellis_protocol::control::{ArtifactRef, ConfigValues};
use trellis_protocol::link::{Link, LinkKey};
use trellis_protocol::{ConfigName, Sha256Digest};

use crate::buckets;
use crate::connect::Lattice;
use crate::error::LatticeError;

/// Handles to the lattice's buckets.
#[derive(Clone)]
pub struct LatticeStore {
    links: kv::Store,
    config: kv::Store,
    artifacts: object_store::ObjectStore,
    artifacts_bucket: String,
    /// For the inboxes of snapshot reads.
    nats: async_nats::Client,
}

/// A change seen by [`LatticeStore::watch_links`].
#[allow(
    clippy::large_enum_variant,
    reason = "changes come one at a time off a watch; boxing the link would buy nothing"
)]
#[derive(Debug, Clone)]
pub enum LinkChange {
    /// A link was stored (new or replaced).
    Put(Link),
    /// The link stored under this key was deleted.
    Deleted(String),
}

/// A change seen by [`LatticeStore::watch_config`].
#[derive(Debug, Clone)]
pub enum ConfigChange {
    /// A config was stored.
    Put(ConfigName, ConfigValues),
    /// A config was deleted.
    Deleted(ConfigName),
}

/// A change with the bucket revision it was stored at. Revisions only grow,
/// so "applied up to revision N" says a reader has seen every change so far.
#[derive(Debug, Clone)]
pub struct Revised<T> {
    /// The change.
    pub change: T,
    /// Its revision in the bucket.
    pub revision: u64,
}

impl Lattice {
    /// Opens (creating when missing) the lattice's buckets.
    pub async fn store(&self) -> Result<LatticeStore, LatticeError> {
        let links = self
            .kv_bucket(format!("TRELLIS_LINKS_{}", self.lattice))
            .await?;
        let config = self
            .kv_bucket(format!("TRELLIS_CONFIG_{}", self.lattice))
            .await?;
        let artifacts_bucket = format!("TRELLIS_ARTIFACTS_{}", self.lattice);
        let artifacts = buckets::open_object_store(
            &self.js,
            &artifacts_bucket,
            "Trellis artifacts by sha256",
            self.js_replicas,
        )
        .await?;
        Ok(LatticeStore {
            links,
            config,
            artifacts,
            artifacts_bucket,
            nats: self.client.clone(),
        })
    }

    /// Opens (creating when missing) one of the lattice's KV buckets,
    /// with the connection's replicas.
    pub(crate) async fn kv_bucket(&self, bucket: String) -> Result<kv::Store, LatticeError> {
        buckets::open_kv(&self.js, &bucket, self.js_replicas).await
    }
}

impl LatticeStore {
    /// Stores a link under its key, replacing one with the same key;
    /// returns the revision it was stored at.
    pub async fn put_link(&self, link: &Link) -> Result<u64, LatticeError> {
        let value = serde_json::to_vec(link).map_err(|e| LatticeError::storage("link", e))?;
        self.links
            .put(link.key().storage_key(), value.into())
            .await
            .map_err(|e| LatticeError::storage("put link", e))
    }

    /// The link stored under `key`, if any.
    pub async fn get_link(&self, key: &LinkKey) -> Result<Option<Link>, LatticeError> {
        let raw = self
            .links
            .get(key.storage_key())
            .await
            .map_err(|e| LatticeError::storage("get link", e))?;
        raw.map(|bytes| decode_json("link", &bytes)).transpose()
    }

    /// Deletes the link under `key`; returns it and the revision of the
    /// deletion, or `None` when there was no such link.
    pub async fn del_link(&self, key: &LinkKey) -> Result<Option<(Link, u64)>, LatticeError> {
        let Some(existing) = self.get_link(key).await? else {
            return Ok(None);
        };
        let revision = delete_revision(&self.links, &key.storage_key(), "link").await?;
        Ok(Some((existing, revision)))
    }

    /// All links, in key order.
    pub async fn list_links(&self) -> Result<Vec<Link>, LatticeError> {
        Ok(self
            .list_links_revised()
            .await?
            .into_iter()
            .map(|r| r.change)
            .collect())
    }

    /// Every link with the revision it was stored at, sorted by key, in
    /// one streamed read: a big lattice has thousands of links, and a
    /// round trip each cost wadm most of a second per round at 10,000.
    pub async fn list_links_revised(&self) -> Result<Vec<Revised<Link>>, LatticeError> {
        let current =
            crate::snapshot::current_values(&self.nats, &self.links, ">", "list links").await?;
        let mut links = current
            .into_iter()
            .map(|c| {
                Ok((
                    c.key,
                    Revised {
                        change: decode_json("link", &c.value)?,
                        revision: c.revision,
                    },
                ))
            })
            .collect::<Result<Vec<(String, Revised<Link>)>, LatticeError>>()?;
        links.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(links.into_iter().map(|(_, link)| link).collect())
    }

    /// Every named config, in one streamed read (see
    /// [`Self::list_links_revised`]).
    pub async fn list_configs(&self) -> Result<Vec<(ConfigName, ConfigValues)>, LatticeError> {
        let current =
            crate::snapshot::current_values(&self.nats, &self.config, ">", "list configs").await?;
        let mut configs = Vec::with_capacity(current.len());
        for c in current {
            let Ok(name) = ConfigName::new(c.key) else {
                // Not a name a writer could have used: not ours to read.
                continue;
            };
            configs.push((name, decode_json("config", &c.value)?));
        }
        configs.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(configs)
    }

    /// Every link change from now on, after replaying the current links.
    pub async fn watch_links(
        &self,
    ) -> Result<impl Stream<Item = Revised<LinkChange>> + Send + use<>, LatticeError> {
        let watch = self
            .links
            .watch_with_history(">")
            .await
            .map_err(|e| LatticeError::storage("watch links", e))?;
        Ok(watch.filter_map(|entry| async move {
            let entry = entry.ok()?;
            let revision = entry.revision;
            let change = match entry.operation {
                kv::Operation::Put => match serde_json::from_slice::<Link>(&entry.value) {
                    Ok(link) => LinkChange::Put(link),
                    Err(e) => {
                        tracing::warn!(key = %entry.key, %e, "ignoring corrupt link record");
                        return None;
                    }
                },
                kv::Operation::Delete | kv::Operation::Purge => LinkChange::Deleted(entry.key),
            };
            Some(Revised { change, revision })
        }))
    }

    /// Stores a named config; returns the revision it was stored at.
    pub async fn put_config(
        &self,
        name: &ConfigName,
        values: &ConfigValues,
    ) -> Result<u64, LatticeError> {
        let value = serde_json::to_vec(values).map_err(|e| LatticeError::storage("config", e))?;
        self.config
            .put(name.as_str(), value.into())
            .await
            .map_err(|e| LatticeError::storage("put config", e))
    }

    /// A named config, if stored.
    pub async fn get_config(
        &self,
        name: &ConfigName,
    ) -> Result<Option<ConfigValues>, LatticeError> {
        let raw = self
            .config
            .get(name.as_str())
            .await
            .map_err(|e| LatticeError::storage("get config", e))?;
        raw.map(|bytes| decode_json("config", &bytes)).transpose()
    }

    /// Deletes a named config; returns the revision of the deletion, or
    /// `None` when there was no such config.
    pub async fn del_config(&self, name: &ConfigName) -> Result<Option<u64>, LatticeError> {
        if self.get_config(name).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(
            delete_revision(&self.config, name.as_str(), "config").await?,
        ))
    }

    /// Every config change from now on, after replaying current values.
    pub async fn watch_config(
        &self,
    ) -> Result<impl Stream<Item = Revised<ConfigChange>> + Send + use<>, LatticeError> {
        let watch = self
            .config
            .watch_with_history(">")
            .await
            .map_err(|e| LatticeError::storage("watch config", e))?;
        Ok(watch.filter_map(|entry| async move {
            let entry = entry.ok()?;
            let name = ConfigName::new(entry.key.clone()).ok()?;
            let change = match entry.operation {
                kv::Operation::Put => {
                    ConfigChange::Put(name, serde_json::from_slice(&entry.value).ok()?)
                }
                kv::Operation::Delete | kv::Operation::Purge => ConfigChange::Deleted(name),
            };
            Some(Revised {
                change,
                revision: entry.revision,
            })
        }))
    }

    /// Stores artifact bytes under their sha256 (idempotent), within
    /// [`ARTIFACT_TIMEOUT`].
    pub async fn put_artifact(&self, bytes: &[u8]) -> Result<ArtifactRef, LatticeError> {
        bounded("put artifact", self.put_artifact_unbounded(bytes)).await
    }

    async fn put_artifact_unbounded(&self, bytes: &[u8]) -> Result<ArtifactRef, LatticeError> {
        let sha256 = Sha256Digest::from_bytes(&Sha256::digest(bytes).into());
        let name = format!("sha256-{sha256}");
        let already = self
            .artifacts
            .info(&name)
            .await
            .is_ok_and(|info| !info.deleted && info.size == bytes.len());
        if !already {
            self.put_object(&name, bytes).await?;
        }
        Ok(ArtifactRef {
            bucket: self.artifacts_bucket.clone(),
            name,
            sha256,
        })
    }

    /// Writes one object, again when a publish found no stream: right
    /// after a bucket is created or scaled to more replicas, the stream may
    /// not yet answer on every server of a cluster (a put replaces what a
    /// failed one left). A few tries, then the error.
    async fn put_object(&self, name: &str, bytes: &[u8]) -> Result<(), LatticeError> {
        use async_nats::jetstream::object_store::PutErrorKind;
        const TRIES: u32 = 5;
        let mut pause = std::time::Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            let mut reader = bytes;
            let error = match self.artifacts.put(name, &mut reader).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let transient = matches!(
                error.kind(),
                PutErrorKind::PublishChunks | PutErrorKind::PublishMetadata
            );
            if !transient || attempt == TRIES {
                return Err(LatticeError::storage(format!("put artifact {name}"), error));
            }
            tracing::warn!(%error, attempt, "artifact upload failed; trying again");
            tokio::time::sleep(pause).await;
            pause *= 2;
            attempt += 1;
        }
    }

    /// Fetches an artifact within [`ARTIFACT_TIMEOUT`], refusing ones over
    /// `max_bytes` and verifying the digest.
    pub async fn get_artifact(
        &self,
        artifact: &ArtifactRef,
        max_bytes: u64,
    ) -> Result<Vec<u8>, LatticeError> {
        bounded(
            "get artifact",
            self.get_artifact_unbounded(artifact, max_bytes),
        )
        .await
    }

    async fn get_artifact_unbounded(
        &self,
        artifact: &ArtifactRef,
        max_bytes: u64,
    ) -> Result<Vec<u8>, LatticeError> {
        let what = || format!("artifact {}", artifact.name);
        let info = self
            .artifacts
            .info(&artifact.name)
            .await
            .map_err(|e| LatticeError::storage(what(), e))?;
        if info.size as u64 > max_bytes {
            return Err(LatticeError::TooLarge {
                name: artifact.name.clone(),
                size: info.size as u64,
                limit: max_bytes,
            });
        }
        let object = self
            .artifacts
            .get(&artifact.name)
            .await
            .map_err(|e| LatticeError::storage(what(), e))?;
        // The stored size is metadata; read no more than the limit allows
        // even if the chunks say otherwise.
        let mut bytes = Vec::with_capacity(info.size);
        object
            .take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| LatticeError::storage(what(), e))?;
        if bytes.len() as u64 > max_bytes {
            return Err(LatticeError::TooLarge {
                name: artifact.name.clone(),
                size: bytes.len() as u64,
                limit: max_bytes,
            });
        }
        let actual = Sha256Digest::from_bytes(&Sha256::digest(&bytes).into());
        if actual != artifact.sha256 {
            return Err(LatticeError::DigestMismatch {
                name: artifact.name.clone(),
                expected: artifact.sha256.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }
}

/// Deletes `key` and returns the revision of the delete marker (the KV
/// client's delete does not report it).
async fn delete_revision(store: &kv::Store, key: &str, what: &str) -> Result<u64, LatticeError> {
    store
        .delete(key)
        .await
        .map_err(|e| LatticeError::storage(format!("delete {what}"), e))?;
    let marker = store
        .entry(key)
        .await
        .map_err(|e| LatticeError::storage(format!("delete {what}"), e))?;
    Ok(marker.map_or(0, |entry| entry.revision))
}

/// Bound on moving one artifact in or out of the object store (64 MiB at a
/// slow link's pace still fits).
pub const ARTIFACT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

async fn bounded<T>(
    what: &str,
    work: impl std::future::Future<Output = Result<T, LatticeError>>,
) -> Result<T, LatticeError> {
    tokio::time::timeout(ARTIFACT_TIMEOUT, work)
        .await
        .map_err(|_| LatticeError::storage(what, format!("timed out after {ARTIFACT_TIMEOUT:?}")))?
}

pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    what: &str,
    bytes: &[u8],
) -> Result<T, LatticeError> {
    serde_json::from_slice(bytes).map_err(|e| LatticeError::Corrupt {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}
