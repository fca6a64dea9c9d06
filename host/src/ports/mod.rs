//! The host's lattice IO as ports: what the control verbs need from
//! NATS (the link and config buckets, artifacts, events, the other hosts,
//! the data plane a started component joins), as traits. [`nats`] adapts them to the lattice; [`memory`] (tests only)
//! holds them in memory, so the verbs' logic is tested without a
//! nats-server.

pub mod nats;

#[cfg(test)]
pub(crate) mod memory;

use std::time::Duration;

use futures::future::BoxFuture;
use trellis_lattice::{ControlError, LatticeError};
use trellis_protocol::control::{ArtifactRef, ConfigValues, PingReply};
use trellis_protocol::inventory::HostInventory;
use trellis_protocol::link::{Link, LinkKey};
use trellis_protocol::{ComponentId, ConfigName, EventType};

/// What a store call answers.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, LatticeError>>;

/// The lattice's links and named configs; writes answer the bucket
/// revision they made, which the barrier waits for hosts to reach.
pub trait LinkConfigStore: Send + Sync {
    /// Stores `link`.
    fn put_link<'a>(&'a self, link: &'a Link) -> StoreFuture<'a, u64>;
    /// The link stored under `key`.
    fn get_link<'a>(&'a self, key: &'a LinkKey) -> StoreFuture<'a, Option<Link>>;
    /// Deletes the link under `key`: what it was and the revision.
    fn del_link<'a>(&'a self, key: &'a LinkKey) -> StoreFuture<'a, Option<(Link, u64)>>;
    /// Every stored link.
    fn list_links(&self) -> StoreFuture<'_, Vec<Link>>;
    /// Stores config `name`.
    fn put_config<'a>(
        &'a self,
        name: &'a ConfigName,
        values: &'a ConfigValues,
    ) -> StoreFuture<'a, u64>;
    /// Config `name`.
    fn get_config<'a>(&'a self, name: &'a ConfigName) -> StoreFuture<'a, Option<ConfigValues>>;
    /// Deletes config `name`: the revision, if it existed.
    fn del_config<'a>(&'a self, name: &'a ConfigName) -> StoreFuture<'a, Option<u64>>;
}

/// Where this host's lattice events go. Failures are the sink's to log:
/// an event never fails the verb that caused it.
pub trait EventSink: Send + Sync {
    /// Sends `event` with `data` from this host.
    fn publish(&self, event: EventType, data: serde_json::Value) -> BoxFuture<'_, ()>;
}

/// Publishes `data` as `event` through `sink`; data that cannot be
/// encoded is logged, never a failure of what caused the event.
pub async fn publish<T: serde::Serialize>(sink: &dyn EventSink, event: EventType, data: T) {
    match serde_json::to_value(data) {
        Ok(value) => sink.publish(event, value).await,
        Err(e) => tracing::warn!(%e, %event, "cannot encode an event"),
    }
}

/// The lattice's hosts, as the control verbs ask after them.
pub trait Directory: Send + Sync {
    /// Every host that answers a ping within `window`.
    fn ping(&self, window: Duration) -> BoxFuture<'_, Result<Vec<PingReply>, ControlError>>;
    /// Every host's inventory (hosts found within the discovery window).
    fn inventories(&self) -> BoxFuture<'_, Result<Vec<HostInventory>, ControlError>>;
}

/// Where artifacts the CLI or wadm uploaded are fetched from.
pub trait ArtifactSource: Send + Sync {
    /// The bytes of `artifact`: at most `max_bytes`, and only if their
    /// sha256 is the one the reference names (anything else is an error).
    fn fetch<'a>(&'a self, artifact: &'a ArtifactRef, max_bytes: u64) -> StoreFuture<'a, Vec<u8>>;
}

/// Where a started component's invocations come from besides this host:
/// the lattice's queue group for it.
pub trait DataPlane: Send + Sync {
    /// Starts taking `id`'s invocations until the returned task is
    /// aborted (the running component aborts it when it stops).
    fn serve<'a>(
        &'a self,
        id: &'a ComponentId,
    ) -> BoxFuture<'a, Result<tokio::task::JoinHandle<()>, String>>;
}
