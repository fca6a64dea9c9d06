//! Trellis lattice client: everything that talks NATS for hosts, providers
//! and the CLI.
//!
//! - [`connect`]: connection settings and the [`Lattice`] handle.
//! - [`control`]: control requests, including scatter-gather `host.ping`.
//! - [`events`]: publishing CloudEvents.
//! - [`body`]: large bodies moved as pulled chunks.
//! - [`rpc`]: invocations across hosts with deadlines.
//! - [`keyvalue`]: `wasi:keyvalue` calls across hosts.
//! - [`messaging`]: `wasmcloud:messaging` calls across hosts; a provider's rpc server.
//! - [`store`]: links and named config in JetStream KV, artifacts in the
//!   object store.
//! - [`wadm`]: wadm's KV bucket and requests to the wadm API.
//! - `pages`: reading a paged listing (links, apps) to its end.
//! - `snapshot`: every current value of a bucket in one streamed read.
//! - [`buckets`]: get-or-create of every bucket with its replica count.
//! - [`secrets`]: the secret store, values sealed under an operator's key.
//! - [`stats`]: how the invocations a connection sent ended and the provider
//!   calls it answered, for metrics.

pub mod body;
pub mod buckets;
pub mod call;
pub mod connect;
pub mod control;
pub mod error;
pub mod events;
pub mod keyvalue;
pub mod messaging;
mod pages;
pub mod rpc;
pub mod secrets;
mod snapshot;
pub mod stats;
pub mod store;
pub mod wadm;

pub use connect::{Lattice, LatticeConfig, NatsAuth};
pub use error::{ControlError, LatticeError};
