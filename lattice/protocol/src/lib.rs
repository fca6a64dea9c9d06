//! The Trellis lattice protocol.
//!
//! Everything two parties of a lattice must agree on lives here, with no IO:
//! hosts, providers, wadm and the CLI all build and parse the same types.
//!
//! - [`digest`]: the validated sha256 digest that names artifacts.
//! - [`id`]: validated identifier newtypes (lattice, host, component, link, config).
//! - [`subject`]: every NATS subject as a type that builds and parses.
//! - [`reply`]: the `{ok, error?, kind?, data?}` reply envelope and typed failures.
//! - [`control`]: control requests, each tied to its reply data.
//! - [`annotations`]: the free-form markers on workloads and links.
//! - [`inventory`]: what a host runs; the heartbeat carries the same shape.
//! - [`limits`]: bounds on every user-supplied string and list, checked at the edge.
//! - [`page`]: pages of listings that must each fit in one message.
//! - [`link`]: links between components/providers and their WIT interfaces.
//! - [`event`]: CloudEvents 1.0 lattice events.
//! - [`invocation`]: the versioned binary encoding of calls between hosts.
//! - [`context`]: who calls and until when (source, link, trace id, deadline).
//! - [`trace`]: W3C `traceparent` values, parsed strictly.
//! - [`value`]: component-model values (arguments, results) on the wire.
//! - [`call`]: calls of any exported function (arguments, results, bounds).
//! - [`signature`]: function types of components' interfaces, and the link check.
//! - [`keyvalue`]: `wasi:keyvalue` calls as messages.
//! - [`messaging`]: `wasmcloud:messaging` calls and messages.
//! - [`secret`]: references to stored secrets (never their values).
//! - [`wadm`]: the wadm API, app versions and app status.

pub mod annotations;
pub mod call;
pub mod context;
pub mod control;
pub mod digest;
pub mod event;
pub mod id;
pub mod inventory;
pub mod invocation;
pub mod keyvalue;
pub mod limits;
pub mod link;
pub mod messaging;
pub mod page;
pub mod reply;
pub mod secret;
pub mod signature;
pub mod subject;
pub mod trace;
pub mod value;
pub mod wadm;

pub use digest::Sha256Digest;
pub use id::{AppName, ComponentId, ConfigName, HostId, IdError, LatticeName, LinkName, StreamId};
pub use subject::{ControlVerb, EventType, Subject, SubjectError};
