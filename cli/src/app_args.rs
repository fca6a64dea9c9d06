//! Command-line grammar of `trellis app`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `trellis app ...`.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Check an application manifest offline and list every problem.
    Validate(ValidateArgs),
}

/// `trellis app validate FILE`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The manifest (YAML); relative `file://` images start at its folder.
    pub file: PathBuf,
}
