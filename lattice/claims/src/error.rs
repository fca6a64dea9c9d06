//! The three error types: why a host refuses a component ([`Refusal`]), why
//! signing failed ([`ClaimsError`]) and why a key could not be read or
//! written ([`KeyError`]).

use std::path::PathBuf;

/// Why a component is refused (or its claims could not be read).
///
/// The `Display` texts are stable: hosts put them in
/// `component_scale_failed` events and CLI errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The component carries no `trellis-claims` section and the policy
    /// does not allow unsigned components.
    #[error("unsigned")]
    Unsigned,
    /// The claims are signed by an issuer the policy does not trust.
    #[error("untrusted issuer {0}")]
    UntrustedIssuer(String),
    /// The component's code differs from what was signed.
    #[error("hash mismatch")]
    HashMismatch,
    /// The claims' `exp` has passed.
    #[error("expired")]
    Expired,
    /// The claims' `nbf` has not been reached yet.
    #[error("not yet valid")]
    NotYetValid,
    /// The JWT signature does not verify against its `iss` key.
    #[error("bad signature")]
    BadSignature,
    /// The binary or the embedded JWT could not be parsed.
    #[error("malformed claims: {0}")]
    Malformed(String),
}

impl Refusal {
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self::Malformed(reason.into())
    }
}

/// Why [`crate::sign`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimsError {
    /// The issuer key is not an account key.
    #[error(
        "the issuer must be an account key (seed `SA...`, public key `A...`), but this is a {kind} key ({public_key}); create one with `trellis keys gen account`"
    )]
    NotAnAccount {
        /// What kind of key was given (`host`, `component`, ...).
        kind: &'static str,
        /// Its public key.
        public_key: String,
    },
    /// The input is not a WebAssembly binary whose sections can be walked.
    #[error("cannot sign: not a valid WebAssembly binary ({0})")]
    NotWasm(Refusal),
    /// The input already carries claims that cannot be decoded, so its
    /// subject cannot be kept.
    #[error("the component already carries unreadable claims ({0}); its identity cannot be kept")]
    ExistingClaims(Refusal),
    /// `nbf` is not before `exp`, or a time does not fit.
    #[error("invalid validity period: {0}")]
    Validity(String),
    /// The encoded JWT is larger than [`crate::MAX_JWT_LEN`].
    #[error("the claims are {len} bytes once encoded, more than the 16 KiB limit")]
    TooLarge {
        /// The encoded length.
        len: usize,
    },
    /// The key library failed to sign (e.g. a public key without its seed).
    #[error("signing failed: {0}")]
    Signing(String),
    /// The claims could not be encoded as JSON.
    #[error("encoding claims: {0}")]
    Encoding(#[from] serde_json::Error),
}

/// Why a seed file could not be read or written, or a time or duration
/// could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists and overwriting was not asked for.
    #[error("{path} already exists")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file does not hold an nkeys seed.
    #[error("{path} does not hold an nkeys seed (`S...`): {reason}")]
    BadSeed {
        /// The file.
        path: PathBuf,
        /// The key library's reason.
        reason: String,
    },
    /// The key library failed.
    #[error("key error: {0}")]
    Nkeys(String),
}

/// A duration or time given on the command line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not `<number><s|m|h|d>`.
    #[error(
        "invalid duration `{0}`: expected a positive number followed by s, m, h or d (e.g. 30s, 15m, 12h, 30d)"
    )]
    Duration(String),
    /// Not an RFC 3339 time at or after 1970.
    #[error("invalid time `{input}`: {reason} (expected RFC 3339, e.g. 2030-01-31T12:00:00Z)")]
    Time {
        /// What was given.
        input: String,
        /// Why it does not parse.
        reason: String,
    },
}
