//! Trellis wadm: keeps a lattice in the shape application manifests ask for.
//!
//! The IO-free half lives in `trellis-manifest` and is re-exported here
//! under its old paths:
//!
//! - [`manifest`]: the manifest model, parsing and validation (no IO).
//! - [`file`]: reading a manifest file and checking its `file://` images.
//! - [`model`]: deployed apps, the observed lattice, commands (no IO).
//! - [`scaler`]: the pure reconciler: observed + desired in, commands and
//!   status out.
//! - [`rollout`]: staged rollouts: stages, health, moves (no IO).
//!
//! The IO half, bottom up:
//!
//! - [`observer`]: which hosts live and what they run.
//! - [`store`]: manifests, versions and status in JetStream KV.
//! - [`lease`]: the leader lease that lets one of several wadms act.
//! - [`api`]: the `trellis.{lattice}.wadm.app.*` API.
//! - [`executor`]: runs commands as control requests.
//! - [`metrics`]: what wadm counts for Prometheus (passes, commands, apps
//!   by state, leadership), read by a collector at scrape time.
//! - `types`: function types of linked components, fetched once per digest.
//! - [`service`]: the orchestrator tying these together ([`start`]).

pub mod api;
pub mod executor;
pub mod lease;
pub mod metrics;
pub mod observer;
pub mod service;
mod stager;
pub mod store;
mod types;

pub use service::{WadmConfig, WadmError, WadmHandle, start};
pub use trellis_manifest::{file, manifest, model, rollout, scaler};
pub use trellis_manifest::{manifest_dir, resolve_file_image, validate_file};
