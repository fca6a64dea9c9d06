//! The lattice's buckets as a host holds them: open from the start when
//! JetStream answers, or later, when a host that started offline (an edge
//! site rebooted during an uplink outage) reaches it again. Until then
//! every storage call fails at once with an error that says why, instead
//! of waiting on a hub that is not there.

use std::sync::OnceLock;
use std::time::Duration;

use trellis_lattice::store::LatticeStore;
use trellis_lattice::{Lattice, LatticeError};
use trellis_protocol::ConfigName;
use trellis_protocol::control::{ArtifactRef, ConfigValues};
use trellis_protocol::link::{Link, LinkKey};

/// The lattice's buckets, once this host could open them.
#[derive(Default)]
pub struct HostStore {
    open: OnceLock<LatticeStore>,
}

impl HostStore {
    /// Buckets that are open already.
    pub fn opened(store: LatticeStore) -> Self {
        Self {
            open: OnceLock::from(store),
        }
    }

    /// The buckets, if open.
    pub fn get(&self) -> Option<&LatticeStore> {
        self.open.get()
    }

    /// Records the buckets once opened; a second call changes nothing.
    pub fn set(&self, store: LatticeStore) {
        let _ = self.open.set(store);
    }

    fn ready(&self, what: &str) -> Result<&LatticeStore, LatticeError> {
        self.open.get().ok_or_else(|| LatticeError::Storage {
            what: what.to_owned(),
            reason: "the lattice's JetStream is not reachable from this host yet (it started \
                     offline, serving what it ran before); retry once the uplink is back, or \
                     send the request through a host in the cloud"
                .into(),
        })
    }

    /// See [`LatticeStore::put_link`].
    pub async fn put_link(&self, link: &Link) -> Result<u64, LatticeError> {
        self.ready("put link")?.put_link(link).await
    }

    /// See [`LatticeStore::get_link`].
    pub async fn get_link(&self, key: &LinkKey) -> Result<Option<Link>, LatticeError> {
        self.ready("get link")?.get_link(key).await
    }

    /// See [`LatticeStore::del_link`].
    pub async fn del_link(&self, key: &LinkKey) -> Result<Option<(Link, u64)>, LatticeError> {
        self.ready("delete link")?.del_link(key).await
    }

    /// See [`LatticeStore::list_links`].
    pub async fn list_links(&self) -> Result<Vec<Link>, LatticeError> {
        self.ready("list links")?.list_links().await
    }

    /// See [`LatticeStore::put_config`].
    pub async fn put_config(
        &self,
        name: &ConfigName,
        values: &ConfigValues,
    ) -> Result<u64, LatticeError> {
        self.ready("put config")?.put_config(name, values).await
    }

    /// See [`LatticeStore::get_config`].
    pub async fn get_config(
        &self,
        name: &ConfigName,
    ) -> Result<Option<ConfigValues>, LatticeError> {
        self.ready("get config")?.get_config(name).await
    }

    /// See [`LatticeStore::del_config`].
    pub async fn del_config(&self, name: &ConfigName) -> Result<Option<u64>, LatticeError> {
        self.ready("delete config")?.del_config(name).await
    }

    /// See [`LatticeStore::get_artifact`].
    pub async fn get_artifact(
        &self,
        artifact: &ArtifactRef,
        max_bytes: u64,
    ) -> Result<Vec<u8>, LatticeError> {
        self.ready("get artifact")?
            .get_artifact(artifact, max_bytes)
            .await
    }
}

/// Opens the buckets, retrying (a leaf node may still be joining its hub)
/// until `wait` has passed; each attempt is bounded by what is left.
pub async fn open_within(lattice: &Lattice, wait: Duration) -> Result<LatticeStore, LatticeError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(100);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let error = match tokio::time::timeout(left, lattice.store()).await {
            Ok(Ok(store)) => return Ok(store),
            Ok(Err(e)) => e,
            Err(_) => LatticeError::Storage {
                what: "open buckets".into(),
                reason: format!("JetStream did not answer within {wait:?}"),
            },
        };
        if tokio::time::Instant::now() + pause >= deadline {
            return Err(error);
        }
        tracing::debug!(%error, "lattice buckets not open yet; retrying");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// First and largest pause between attempts to reach the buckets from a
/// host that started offline.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(15);

/// Tries to open the buckets until it succeeds, each attempt bounded by
/// `attempt`, with exponential backoff between attempts.
pub async fn open_eventually(lattice: &Lattice, attempt: Duration) -> LatticeStore {
    let mut pause = RETRY_FIRST;
    loop {
        match open_within(lattice, attempt).await {
            Ok(store) => return store,
            Err(e) => tracing::info!(%e, retry_in = ?pause, "lattice buckets still unreachable"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn storage_calls_fail_at_once_and_say_why_until_the_buckets_open() {
        let store = HostStore::default();
        let name = ConfigName::new("web").unwrap();
        let e = store.get_config(&name).await.unwrap_err().to_string();
        assert!(
            e.contains("get config") && e.contains("started offline") && e.contains("uplink"),
            "{e}"
        );
        assert!(store.get().is_none());
    }
}
