//! Trellis host: runs WebAssembly components and builtin capability
//! providers as a member of a NATS lattice.
//!
//! - [`config`]: settings (data only).
//! - [`identity`]: the host's Ed25519 key and `N...` id.
//! - [`runtime`]: wasmtime engine, compile cache, per-request instances.
//! - [`components`]: scaled components and their concurrency bounds.
//! - [`artifacts`]: fetched artifacts cached on disk by sha256.
//! - [`providers`]: providers running in the host.
//! - [`external`]: supervised external provider processes.
//! - [`links`]: links and named config from the lattice, pushed to providers.
//! - [`locks`]: one lock per workload id, so verbs for one id never wait on another.
//! - [`invoker`]: local-first invocation for providers.
//! - [`calls`]: components' calls of imported interfaces, routed by link, local first.
//! - [`serving`]: a component's invocations arriving over NATS (the data plane).
//! - [`control`]: the control interface, one file per command group.
//! - [`resume`]: the on-disk record an edge host resumes from offline.
//! - [`heartbeat`]: periodic inventory events.
//! - [`host`]: the orchestrator ([`run`]).

pub mod artifacts;
pub mod bindings;
pub mod calls;
pub mod capabilities;
pub mod components;
pub mod config;
mod control;
pub mod external;
mod heartbeat;
pub mod host;
pub mod identity;
pub mod invoker;
pub mod links;
pub mod locks;
pub mod providers;
pub mod resume;
pub mod runtime;
mod serving;

pub use config::HostConfig;
pub use host::{HostError, RunningHost, run, start};
