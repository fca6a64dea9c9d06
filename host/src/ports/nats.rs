//! The ports over NATS: the buckets and artifacts as [`HostStore`] holds
//! them, events, the directory and the data plane through the host's
//! lattice connection.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use trellis_lattice::{ControlError, Lattice};
use trellis_protocol::control::{ArtifactRef, ConfigValues, PingReply};
use trellis_protocol::inventory::HostInventory;
use trellis_protocol::link::{Link, LinkKey};
use trellis_protocol::{ComponentId, ConfigName, EventType, HostId};

use super::{ArtifactSource, DataPlane, Directory, EventSink, LinkConfigStore, StoreFuture};
use crate::components::Components;
use crate::store::HostStore;

impl LinkConfigStore for HostStore {
    fn put_link<'a>(&'a self, link: &'a Link) -> StoreFuture<'a, u64> {
        HostStore::put_link(self, link).boxed()
    }

    fn get_link<'a>(&'a self, key: &'a LinkKey) -> StoreFuture<'a, Option<Link>> {
        HostStore::get_link(self, key).boxed()
    }

    fn del_link<'a>(&'a self, key: &'a LinkKey) -> StoreFuture<'a, Option<(Link, u64)>> {
        HostStore::del_link(self, key).boxed()
    }

    fn list_links(&self) -> StoreFuture<'_, Vec<Link>> {
        HostStore::list_links(self).boxed()
    }

    fn put_config<'a>(
        &'a self,
        name: &'a ConfigName,
        values: &'a ConfigValues,
    ) -> StoreFuture<'a, u64> {
        HostStore::put_config(self, name, values).boxed()
    }

    fn get_config<'a>(&'a self, name: &'a ConfigName) -> StoreFuture<'a, Option<ConfigValues>> {
        HostStore::get_config(self, name).boxed()
    }

    fn del_config<'a>(&'a self, name: &'a ConfigName) -> StoreFuture<'a, Option<u64>> {
        HostStore::del_config(self, name).boxed()
    }
}

/// Events and the directory through the host's connection.
pub struct LatticePorts {
    lattice: Lattice,
    host: HostId,
    discovery_window: Duration,
}

impl LatticePorts {
    /// Ports for host `host` on `lattice`; inventories gather hosts for
    /// `discovery_window`.
    pub fn new(lattice: Lattice, host: HostId, discovery_window: Duration) -> Self {
        Self {
            lattice,
            host,
            discovery_window,
        }
    }
}

impl EventSink for LatticePorts {
    fn publish(&self, event: EventType, data: serde_json::Value) -> BoxFuture<'_, ()> {
        async move {
            if let Err(e) = self
                .lattice
                .publish_event(event, self.host.as_str(), data)
                .await
            {
                tracing::warn!(%e, %event, "could not publish event");
            }
        }
        .boxed()
    }
}

impl Directory for LatticePorts {
    fn ping(&self, window: Duration) -> BoxFuture<'_, Result<Vec<PingReply>, ControlError>> {
        self.lattice.ping_hosts(window).boxed()
    }

    fn inventories(&self) -> BoxFuture<'_, Result<Vec<HostInventory>, ControlError>> {
        self.lattice.inventories(self.discovery_window).boxed()
    }
}

impl ArtifactSource for HostStore {
    fn fetch<'a>(&'a self, artifact: &'a ArtifactRef, max_bytes: u64) -> StoreFuture<'a, Vec<u8>> {
        self.get_artifact(artifact, max_bytes).boxed()
    }
}

/// Components' invocations from the lattice, one queue group each.
pub struct LatticeDataPlane {
    lattice: Lattice,
    components: Arc<Components>,
}

impl LatticeDataPlane {
    /// Serves what `components` runs on `lattice`.
    pub fn new(lattice: Lattice, components: Arc<Components>) -> Self {
        Self {
            lattice,
            components,
        }
    }
}

impl DataPlane for LatticeDataPlane {
    fn serve<'a>(
        &'a self,
        id: &'a ComponentId,
    ) -> BoxFuture<'a, Result<tokio::task::JoinHandle<()>, String>> {
        crate::serving::serve(&self.lattice, &self.components, id).boxed()
    }
}
