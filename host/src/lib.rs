//! Trellis host: runs WebAssembly components and builtin capability
//! providers as a member of a NATS lattice.
//!
//! Bottom up (each uses only what is listed before it):
//! - [`identity`]: the host's Ed25519 key and `N...` id.
//! - [`locks`]: one lock per workload id, so verbs for one id never wait on another.
//! - [`store`]: the lattice's buckets, open now or once reachable.
//! - [`counters`]: host-wide counts (compiles, artifact fetches) for the metrics.
//! - [`spans`]: the trace an invocation runs under, for its component's calls out.
//! - [`deferred`]: work an invocation leaves for after its reply (spare instances).
//! - [`log_format`]: log lines logged inside an invocation name its component.
//! - [`providers`]: providers running in the host.
//! - [`external`]: supervised external provider processes.
//! - [`calls`]: components' calls of imported interfaces, routed by link, local first.
//! - [`capabilities`]: the capability interfaces guests import, one file each.
//! - [`runtime`]: wasmtime engine, compile cache, per-request instances.
//! - [`config`]: settings (data only; the runtime's are its own).
//! - [`components`]: scaled components and their concurrency bounds.
//! - [`invoker`]: local-first invocation for providers.
//! - [`serving`]: a component's invocations arriving over NATS (the data plane).
//! - [`ports`]: the lattice IO control verbs need, as traits (NATS adapters, test fakes).
//! - [`context`]: what every part of a running host shares ([`context::HostContext`]).
//! - [`artifacts`]: fetched artifacts cached on disk by sha256.
//! - [`link_watch`]: links and named config from the lattice, pushed to providers.
//! - [`control`]: the control interface, one file per command group.
//! - [`resume`]: the on-disk record an edge host resumes from offline.
//! - [`heartbeat`]: periodic inventory events.
//! - [`metrics`]: the host's Prometheus metrics, read at scrape time.
//! - [`orchestrator`]: starts the rest, serves, stops ([`run`]).

pub mod artifacts;
pub mod calls;
pub mod capabilities;
pub mod components;
pub mod config;
pub mod context;
mod control;
pub mod counters;
mod deferred;
pub mod external;
mod heartbeat;
pub mod identity;
pub mod invoker;
mod link_watch;
pub mod locks;
pub mod log_format;
pub mod metrics;
pub mod orchestrator;
pub mod ports;
pub mod providers;
pub mod resume;
pub mod runtime;
mod serving;
mod spans;
pub mod store;

pub use config::HostConfig;
pub use orchestrator::{HostError, RunningHost, run, start};
