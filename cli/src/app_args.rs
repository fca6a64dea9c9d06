//! Command-line grammar of `trellis app` and `trellis wadm`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `trellis app ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum AppCommand {
    /// Check an application manifest offline and list every problem.
    Validate(ValidateArgs),
    /// Store a manifest version (uploading its file:// images) without deploying it.
    Put(PutArgs),
    /// Deploy a manifest FILE (stored first), or a stored app NAME.
    Deploy(DeployArgs),
    /// List stored apps with their deployed version and state.
    List,
    /// Show an app's status per component and trait.
    Status(StatusArgs),
    /// List an app's stored versions.
    History(NameArgs),
    /// Print a stored manifest (the latest version unless --version).
    Get(VersionArgs),
    /// Deploy the version before the deployed one (or --version).
    Rollback(RollbackArgs),
    /// Stop everything the app runs; its versions stay stored.
    Undeploy(NameArgs),
    /// Undeploy the app and delete all its versions.
    Delete(NameArgs),
    /// Steer a staged rollout (`spec.rollout`) by hand.
    Rollout(RolloutArgs),
}

/// `trellis app rollout NAME pause|resume|abort`.
#[derive(Debug, Args)]
pub(crate) struct RolloutArgs {
    /// App name (`metadata.name`).
    pub name: String,
    /// `pause` holds at the current stage, `resume` goes on (the stage
    /// bakes again), `abort` puts the old version back everywhere.
    #[arg(value_enum)]
    pub action: RolloutActionArg,
}

/// What `trellis app rollout` does.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum RolloutActionArg {
    /// Hold at the current stage.
    Pause,
    /// Go on from a pause.
    Resume,
    /// Put the old version back everywhere.
    Abort,
}

/// `trellis app validate FILE`.
#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The manifest (YAML); relative `file://` images start at its folder.
    pub file: PathBuf,
}

/// `trellis app put FILE`.
#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// The manifest (YAML); relative `file://` images start at its folder.
    pub file: PathBuf,
    /// Registry settings, for OCI images.
    #[command(flatten)]
    pub registry: crate::oci_args::RegistryArgs,
}

/// Waiting for an app to be deployed.
#[derive(Debug, Clone, Args)]
pub(crate) struct WaitArgs {
    /// Show progress and return only when the app is deployed (exit 0) or
    /// failed or timed out (exit 1, with the reason).
    #[arg(long)]
    pub wait: bool,
    /// Seconds `--wait` waits at most.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

/// `trellis app deploy FILE|NAME`.
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// A manifest file, or the name of a stored app.
    pub target: String,
    /// With an app NAME: the stored version to deploy (default: the latest).
    #[arg(long)]
    pub version: Option<String>,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Registry settings, for OCI images.
    #[command(flatten)]
    pub registry: crate::oci_args::RegistryArgs,
}

/// Commands naming one app.
#[derive(Debug, Args)]
pub(crate) struct NameArgs {
    /// App name (`metadata.name`).
    pub name: String,
}

/// `trellis app status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// App name (`metadata.name`).
    pub name: String,
    /// Print the status again each time wadm reports a change, until
    /// interrupted (Ctrl-C).
    #[arg(long, short)]
    pub watch: bool,
}

/// Commands naming one app and maybe a version.
#[derive(Debug, Args)]
pub(crate) struct VersionArgs {
    /// App name (`metadata.name`).
    pub name: String,
    /// A stored version.
    #[arg(long)]
    pub version: Option<String>,
}

/// `trellis app rollback NAME`.
#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// App name (`metadata.name`).
    pub name: String,
    /// The version to go back to (default: the one stored before the deployed one).
    #[arg(long)]
    pub version: Option<String>,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `trellis wadm`: run a wadm instance.
#[derive(Debug, Args)]
pub(crate) struct WadmArgs {
    /// Seconds a leader's lease lasts; a follower takes over about this
    /// long after the leader dies.
    #[arg(long, default_value_t = 3)]
    pub lease_seconds: u64,
    /// Seconds between full re-lists of the lattice.
    #[arg(long, default_value_t = 30)]
    pub resync_seconds: u64,
    /// Pause between two commands, to pace rollouts (0: none).
    #[arg(long, default_value_t = 0)]
    pub command_interval_ms: u64,
    /// Seconds a quiet host at an edge site (`--site`) counts as
    /// unreachable, keeping its share, before wadm takes it for gone.
    #[arg(long, default_value_t = 600)]
    pub partition_grace_seconds: u64,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9465) at /metrics [default: off]
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}
