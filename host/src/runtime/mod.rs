//! The WebAssembly runtime: one engine per host, components compiled once
//! (and cached on disk), a fresh pooled instance per invocation.
//!
//! - [`config`]: the runtime's settings (data only).
//! - [`engine`]: the engine (pooling, epochs, memory cap) and the ticker.
//! - [`cache`]: compiled components on disk, keyed by sha256 and engine.
//! - [`state`]: per-instance store data (WASI, wasi:http, limits).
//! - [`instance`]: the limits and store every guest call runs under.
//! - [`component`]: a prepared component of any kind.
//! - [`interfaces`]: what a component exports and imports, read from its type.
//! - [`signature`]: function types as WIT-like text, for link checks.
//! - [`call`]: calling any exported function (arguments as wire values or WAVE).
//! - [`imports`]: imports of custom interfaces, bound at run time through links.
//! - [`fast`]: typed binding and calling for common shapes (large byte lists).
//! - [`http`]: running one request through `wasi:http/incoming-handler@0.2`.
//! - [`http_p3`]: the same through `wasi:http/handler@0.3` (component-model async).
//! - [`reply`]: how a guest's run ended, as the reply or error callers see.
//! - [`pool`]: admission to the instance pool, fair between components.
//! - [`spares`]: whether spare instances are made, and their counts.
//! - [`warm`]: instances kept between calls (opt-in) or made ahead of them (spares).

pub mod cache;
mod call;
mod component;
mod config;
pub mod engine;
mod fast;
mod http;
mod http_p3;
mod imports;
mod instance;
pub mod interfaces;
pub mod pool;
mod reply;
mod signature;
mod spares;
mod state;
pub(crate) mod values;
mod warm;

pub use component::PreparedComponent;
pub use config::RuntimeConfig;
pub use engine::{Runtime, RuntimeError, check_component_header};
pub use http::PreparedHttp;
pub use pool::{InstancePool, PoolFull, PoolMember, PoolSlot};
pub use spares::Spares;
pub use warm::{Admitted, Reuse, Warm};
