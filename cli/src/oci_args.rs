//! Command-line grammar of the OCI registry commands: `trellis push`
//! (lattice or registry), `trellis pull`, `trellis registry login`, and
//! the registry flags other commands share.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// How to reach registries (shared by every command that may pull).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct RegistryArgs {
    /// Speak plain HTTP to this registry (`host:port` as in the reference);
    /// repeatable. Every other registry is spoken to over HTTPS.
    #[arg(long = "allow-insecure", value_name = "REGISTRY")]
    pub allow_insecure: Vec<String>,
    /// Seconds one registry exchange may take.
    #[arg(long = "registry-timeout", value_name = "SECS", default_value_t = 60)]
    pub registry_timeout: u64,
}

/// `trellis push FILE` or `trellis push oci://REGISTRY/REPO:TAG FILE`.
#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// `FILE` stores the file in the lattice and prints its nats://
    /// reference; `REFERENCE FILE` pushes the component to an OCI registry
    /// and prints the manifest digest.
    #[arg(value_name = "[REFERENCE] FILE", num_args = 1..=2, required = true)]
    pub args: Vec<String>,
    /// Registry settings.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `trellis pull REFERENCE [-o FILE]`.
#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// The OCI reference (REGISTRY/REPO:TAG, @sha256:..., optional oci://).
    pub reference: String,
    /// Where to write the component [default: REPO's last part + .wasm].
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// Registry settings.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `trellis registry ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCommand {
    /// Check credentials against a registry and keep them in the docker
    /// config.json ($DOCKER_CONFIG or ~/.docker), where pulls and pushes
    /// read them.
    Login(LoginArgs),
}

/// `trellis registry login REGISTRY --username U --password-stdin`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The registry, `host[:port]` as in references.
    pub registry: String,
    /// User name.
    #[arg(long, short = 'u')]
    pub username: String,
    /// Read the password (or token) from standard input, so it stays out
    /// of the process list and shell history.
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// Registry settings.
    #[command(flatten)]
    pub registry_args: RegistryArgs,
}
