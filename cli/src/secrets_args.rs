//! `trellis secrets ...`: flags of the secret store commands.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Where the lattice's secrets key file is.
#[derive(Debug, Args, Clone)]
pub(crate) struct SecretsKeyArg {
    /// The lattice's secrets key file [default: the one of a running
    /// `trellis up`].
    #[arg(long = "secrets-key", env = "TRELLIS_SECRETS_KEY", value_name = "FILE")]
    pub secrets_key: Option<PathBuf>,
}

/// `trellis secrets`.
#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Make a new secrets key file (readable by its owner only; never
    /// overwrites). Give it to every host (`trellis host --secrets-key`)
    /// and to whoever stores secrets.
    Keygen {
        /// The file to write.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        file: PathBuf,
    },
    /// Store a secret, sealed with the key. The value is read from stdin or
    /// a file, never from the command line, where it would end up in shell
    /// history and in the process list.
    Put(SecretsPutArgs),
    /// Show what is stored under a key (size, revision, time, key id);
    /// the value only with --reveal.
    Get {
        /// The store key.
        key: String,
        /// Print the value itself to stdout.
        #[arg(long)]
        reveal: bool,
        /// Key file.
        #[command(flatten)]
        key_file: SecretsKeyArg,
    },
    /// Delete a secret and its history.
    Del {
        /// The store key.
        key: String,
    },
    /// List the stored keys (never values).
    List,
    /// Start a key rotation: write a new key file holding a fresh key,
    /// which seals from now on, and the current one (--secrets-key), which
    /// still opens what it sealed. With --finish: write the current key
    /// alone, once `rekey` has sealed every secret with it.
    Rotate {
        /// The new key file (never overwritten).
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        file: PathBuf,
        /// End the rotation: keep only the current key, refused while a
        /// secret is still sealed with an earlier one.
        #[arg(long)]
        finish: bool,
        /// The key file to rotate from.
        #[command(flatten)]
        key_file: SecretsKeyArg,
    },
    /// Seal every stored secret again with the current key of the key
    /// file (its earlier keys open them): the middle step of a rotation.
    Rekey {
        /// The key file, as `rotate` wrote it.
        #[command(flatten)]
        key_file: SecretsKeyArg,
    },
}

/// `trellis secrets put`.
#[derive(Debug, Args)]
#[group(id = "value", required = true, multiple = false, args = ["value_stdin", "from_file"])]
pub(crate) struct SecretsPutArgs {
    /// The store key (letters, digits, `-`, `_`, `.`).
    pub key: String,
    /// Read the value from stdin (one trailing newline is dropped, so
    /// `echo` works).
    #[arg(long)]
    pub value_stdin: bool,
    /// Read the value from this file, byte for byte.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Key file.
    #[command(flatten)]
    pub key_file: SecretsKeyArg,
}
