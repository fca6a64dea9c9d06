//! Trellis wadm: keeps a lattice in the shape application manifests ask for.
//!
//! - [`manifest`]: the manifest model, parsing and validation (no IO).
//! - [`file`]: reading a manifest file and checking its `file://` images.
//! - [`model`]: deployed apps, the observed lattice, commands (no IO).
//! - [`observer`]: which hosts live and what they run.
//! - [`scaler`]: the pure reconciler: observed + desired in, commands and
//!   status out.
//! - [`rollout`]: staged rollouts: stages, health, moves (no IO).
//! - [`store`]: manifests, versions and status in JetStream KV.
//! - [`lease`]: the leader lease that lets one of several wadms act.
//! - [`api`]: the `trellis.{lattice}.wadm.app.*` API.
//! - [`executor`]: runs commands as control requests.
//! - `types`: function types of linked components, fetched once per digest.
//! - [`service`]: the orchestrator tying these together ([`start`]).

pub mod api;
pub mod executor;
pub mod file;
pub mod lease;
pub mod manifest;
pub mod model;
pub mod observer;
pub mod rollout;
pub mod scaler;
pub mod service;
mod stager;
pub mod store;
mod types;

pub use file::{manifest_dir, resolve_file_image, validate_file};
pub use service::{WadmConfig, WadmError, WadmHandle, start};
