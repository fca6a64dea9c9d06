//! Command-line grammar of `trellis keys` and `trellis claims`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// `trellis keys ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate a key pair. With `-o` the seed goes to FILE (mode 0600) and
    /// the public key to stdout; without, the seed goes to stdout and the
    /// public key to stderr.
    Gen(KeysGenArgs),
    /// Print the public key of a seed file.
    Inspect(KeysInspectArgs),
}

/// `trellis keys gen`.
#[derive(Debug, Args)]
pub(crate) struct KeysGenArgs {
    /// Kind of key: account (`A...`, signs components), component (`M...`),
    /// provider (`V...`) or host (`N...`).
    #[arg(value_enum)]
    pub kind: KeyKindArg,
    /// Write the seed to this file (mode 0600) instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long, requires = "out")]
    pub force: bool,
}

/// `trellis keys inspect`.
#[derive(Debug, Args)]
pub(crate) struct KeysInspectArgs {
    /// Seed file.
    pub file: PathBuf,
}

/// Kinds of key `trellis keys gen` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyKindArg {
    /// Issuer that signs components (`A...`).
    Account,
    /// A component's identity (`M...`).
    Component,
    /// A provider's identity (`V...`).
    Provider,
    /// A host's identity (`N...`).
    Host,
}

impl From<KeyKindArg> for trellis_claims::KeyKind {
    fn from(kind: KeyKindArg) -> Self {
        match kind {
            KeyKindArg::Account => Self::Account,
            KeyKindArg::Component => Self::Component,
            KeyKindArg::Provider => Self::Provider,
            KeyKindArg::Host => Self::Host,
        }
    }
}

/// `trellis claims ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ClaimsCommand {
    /// Sign a component: embed claims signed by an account key in its
    /// `trellis-claims` section, replacing any claims it had (re-signing
    /// keeps the component's subject key).
    Sign(ClaimsSignArgs),
    /// Show the claims embedded in a component and whether its hash and
    /// signature hold.
    Inspect(ClaimsInspectArgs),
}

/// `trellis claims sign`.
#[derive(Debug, Args)]
pub(crate) struct ClaimsSignArgs {
    /// The component (or core module) to sign.
    pub wasm: PathBuf,
    /// Seed file of the issuing account (`SA...`), e.g. from `trellis keys
    /// gen account -o FILE`.
    #[arg(long, value_name = "SEED_FILE")]
    pub issuer: PathBuf,
    /// Component name [default: kept from existing claims].
    #[arg(long)]
    pub name: Option<String>,
    /// Component version [default: kept from existing claims].
    #[arg(long)]
    pub version: Option<String>,
    /// Validity from now: a number followed by s, m, h or d (`30d`)
    /// [default: never expires].
    #[arg(long, value_name = "DURATION")]
    pub expires_in: Option<String>,
    /// Not valid before this RFC 3339 time (`2030-01-31T12:00:00Z`).
    #[arg(long, value_name = "TIME")]
    pub not_before: Option<String>,
    /// Where to write the signed component (may be WASM itself); with
    /// --detached, where to write the JWT (put it beside the executable as
    /// `EXE.jwt`, where `trellis start provider` looks for it).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: PathBuf,
    /// Sign a provider executable: write the claims as a detached JWT
    /// instead of embedding them.
    #[arg(long)]
    pub detached: bool,
}

/// `trellis claims inspect`.
#[derive(Debug, Args)]
pub(crate) struct ClaimsInspectArgs {
    /// The component to inspect.
    pub wasm: PathBuf,
}
