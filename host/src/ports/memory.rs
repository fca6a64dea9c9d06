//! The ports in memory, for unit tests of the control verbs: a store
//! with one revision counter for both buckets, an event log, a directory
//! whose hosts catch up with the store after a number of pings (each ping
//! takes its window, in tokio's paused test time), artifacts by name, and
//! a data plane that notes what it serves.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use trellis_lattice::ControlError;
use trellis_lattice::LatticeError;
use trellis_protocol::control::{ArtifactRef, ConfigValues, PingReply};
use trellis_protocol::inventory::HostInventory;
use trellis_protocol::link::{Link, LinkKey};
use trellis_protocol::{ComponentId, ConfigName, EventType, HostId, Sha256Digest};

use super::{ArtifactSource, DataPlane, Directory, EventSink, LinkConfigStore, StoreFuture};

#[derive(Default)]
struct Buckets {
    links: BTreeMap<LinkKey, Link>,
    configs: BTreeMap<String, ConfigValues>,
    revision: u64,
}

/// Links and configs in memory.
#[derive(Default)]
pub(crate) struct MemoryStore {
    buckets: Mutex<Buckets>,
}

impl MemoryStore {
    fn with<T>(&self, f: impl FnOnce(&mut Buckets) -> T) -> T {
        f(&mut self.buckets.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The last revision written.
    pub(crate) fn revision(&self) -> u64 {
        self.with(|b| b.revision)
    }

    /// Every stored link.
    pub(crate) fn links(&self) -> Vec<Link> {
        self.with(|b| b.links.values().cloned().collect())
    }
}

fn ready<T: Send + 'static>(value: T) -> StoreFuture<'static, T> {
    futures::future::ready(Ok(value)).boxed()
}

impl LinkConfigStore for MemoryStore {
    fn put_link<'a>(&'a self, link: &'a Link) -> StoreFuture<'a, u64> {
        ready(self.with(|b| {
            b.revision += 1;
            b.links.insert(link.key(), link.clone());
            b.revision
        }))
    }

    fn get_link<'a>(&'a self, key: &'a LinkKey) -> StoreFuture<'a, Option<Link>> {
        ready(self.with(|b| b.links.get(key).cloned()))
    }

    fn del_link<'a>(&'a self, key: &'a LinkKey) -> StoreFuture<'a, Option<(Link, u64)>> {
        ready(self.with(|b| {
            let link = b.links.remove(key)?;
            b.revision += 1;
            Some((link, b.revision))
        }))
    }

    fn list_links(&self) -> StoreFuture<'_, Vec<Link>> {
        ready(self.links())
    }

    fn put_config<'a>(
        &'a self,
        name: &'a ConfigName,
        values: &'a ConfigValues,
    ) -> StoreFuture<'a, u64> {
        ready(self.with(|b| {
            b.revision += 1;
            b.configs.insert(name.to_string(), values.clone());
            b.revision
        }))
    }

    fn get_config<'a>(&'a self, name: &'a ConfigName) -> StoreFuture<'a, Option<ConfigValues>> {
        ready(self.with(|b| b.configs.get(name.as_str()).cloned()))
    }

    fn del_config<'a>(&'a self, name: &'a ConfigName) -> StoreFuture<'a, Option<u64>> {
        ready(self.with(|b| {
            b.configs.remove(name.as_str())?;
            b.revision += 1;
            Some(b.revision)
        }))
    }
}

/// Every event published, in order.
#[derive(Default)]
pub(crate) struct MemoryEvents {
    seen: Mutex<Vec<(EventType, serde_json::Value)>>,
}

impl MemoryEvents {
    /// The events so far.
    pub(crate) fn seen(&self) -> Vec<(EventType, serde_json::Value)> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl EventSink for MemoryEvents {
    fn publish(&self, event: EventType, data: serde_json::Value) -> BoxFuture<'_, ()> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((event, data));
        futures::future::ready(()).boxed()
    }
}

/// Hosts that apply what `store` holds once `catch_up_after` pings have
/// gone out (never, if `u32::MAX`); until then they report revision 0.
pub(crate) struct MemoryDirectory {
    /// The host names answering.
    pub(crate) hosts: Vec<String>,
    /// The store whose revision the hosts reach.
    pub(crate) store: Arc<MemoryStore>,
    /// Pings before the hosts have caught up.
    pub(crate) catch_up_after: u32,
    /// What `inventories` answers.
    pub(crate) inventories: Vec<HostInventory>,
    pings: AtomicU32,
}

impl MemoryDirectory {
    /// `hosts` that catch up with `store` after `catch_up_after` pings.
    pub(crate) fn new(hosts: &[&str], store: Arc<MemoryStore>, catch_up_after: u32) -> Self {
        Self {
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            store,
            catch_up_after,
            inventories: Vec::new(),
            pings: AtomicU32::new(0),
        }
    }

    /// How many pings went out.
    pub(crate) fn pings(&self) -> u32 {
        self.pings.load(Ordering::SeqCst)
    }
}

impl Directory for MemoryDirectory {
    fn ping(&self, window: Duration) -> BoxFuture<'_, Result<Vec<PingReply>, ControlError>> {
        async move {
            tokio::time::sleep(window).await;
            let n = self.pings.fetch_add(1, Ordering::SeqCst) + 1;
            let revision = if n >= self.catch_up_after {
                self.store.revision()
            } else {
                0
            };
            let id = HostId::new(format!("N{}", "A".repeat(55))).map_err(|e| {
                ControlError::BadReply {
                    subject: "ping".into(),
                    reason: e.to_string(),
                }
            })?;
            Ok(self
                .hosts
                .iter()
                .map(|name| PingReply {
                    id: id.clone(),
                    name: name.clone(),
                    labels: Default::default(),
                    uptime_seconds: 0,
                    version: String::new(),
                    components: 0,
                    providers: 0,
                    links_revision: revision,
                    config_revision: revision,
                    trusted_issuers: Vec::new(),
                    allow_unsigned: false,
                })
                .collect())
        }
        .boxed()
    }

    fn inventories(&self) -> BoxFuture<'_, Result<Vec<HostInventory>, ControlError>> {
        futures::future::ready(Ok(self.inventories.clone())).boxed()
    }
}

/// Uploaded artifacts by object name; counts fetches.
#[derive(Default)]
pub(crate) struct MemoryArtifacts {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    fetches: AtomicU32,
}

impl MemoryArtifacts {
    /// Uploads `bytes` as `name`: the reference a scale request names.
    pub(crate) fn upload(&self, name: &str, bytes: &[u8]) -> ArtifactRef {
        self.objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), bytes.to_vec());
        ArtifactRef {
            bucket: "artifacts".into(),
            name: name.to_owned(),
            sha256: Sha256Digest::from_bytes(&Sha256::digest(bytes).into()),
        }
    }

    /// How many fetches reached the store.
    pub(crate) fn fetches(&self) -> u32 {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl ArtifactSource for MemoryArtifacts {
    fn fetch<'a>(&'a self, artifact: &'a ArtifactRef, max_bytes: u64) -> StoreFuture<'a, Vec<u8>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let found = self
            .objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&artifact.name)
            .cloned();
        let storage = |reason: String| LatticeError::Storage {
            what: format!("artifact {}", artifact.name),
            reason,
        };
        let result = match found {
            None => Err(storage("no such object".into())),
            Some(bytes) if bytes.len() as u64 > max_bytes => Err(storage("too large".into())),
            Some(bytes)
                if Sha256Digest::from_bytes(&Sha256::digest(&bytes).into()) != artifact.sha256 =>
            {
                Err(storage("digest mismatch".into()))
            }
            Some(bytes) => Ok(bytes),
        };
        futures::future::ready(result).boxed()
    }
}

/// Notes which components joined the data plane; each one's task runs
/// until aborted.
#[derive(Default)]
pub(crate) struct MemoryDataPlane {
    served: Mutex<Vec<(ComponentId, tokio::task::AbortHandle)>>,
}

impl MemoryDataPlane {
    /// The ids served, in order, with whether each task still runs.
    pub(crate) fn served(&self) -> Vec<(ComponentId, bool)> {
        self.served
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, task)| (id.clone(), !task.is_finished()))
            .collect()
    }
}

impl DataPlane for MemoryDataPlane {
    fn serve<'a>(
        &'a self,
        id: &'a ComponentId,
    ) -> BoxFuture<'a, Result<tokio::task::JoinHandle<()>, String>> {
        let task = tokio::spawn(futures::future::pending::<()>());
        self.served
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id.clone(), task.abort_handle()));
        futures::future::ready(Ok(task)).boxed()
    }
}
