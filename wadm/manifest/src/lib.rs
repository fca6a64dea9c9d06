//! Trellis app manifests and the pure reconciler: everything wadm decides
//! that needs no runtime, NATS client or clock, so the CLI can check a
//! manifest offline and the planner can be tested without a lattice.
//!
//! - [`manifest`]: the manifest model, parsing, validation and warnings.
//! - [`file`]: reading a manifest file and checking its `file://` images
//!   (the one place that touches disk).
//! - [`rollout`]: staged rollouts: stages, health, moves.
//! - [`model`]: deployed apps, the observed lattice, commands.
//! - [`scaler`]: the planner: observed + desired in, commands and status out.

pub mod file;
pub mod manifest;
pub mod model;
pub mod rollout;
pub mod scaler;

pub use file::{manifest_dir, resolve_file_image, validate_file};
