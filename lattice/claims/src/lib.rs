//! Trellis signing: who vouches for a component, and whether a host should
//! run it.
//!
//! - **Keys** ([`KeyKind`], [`generate`], seed files): Ed25519 in nkeys
//!   text form; `A...` accounts sign, `M...` components are signed,
//!   `V...` providers and `N...` hosts have identities.
//! - **Claims** ([`Claims`], [`sign`]): a compact JWS (`alg: EdDSA`) in a
//!   custom section named [`SECTION_NAME`] at the top level of the binary,
//!   naming issuer, subject, validity, name, version and the sha256 of the
//!   binary without that section.
//! - **Verification** ([`verify`], [`TrustPolicy`]): what a host checks
//!   before it starts anything; a [`Refusal`] says why not.
//!
//! No async, NATS or wasmtime here: the host and the CLI both use it.

mod detached;
mod error;
mod jwt;
mod keys;
mod section;
mod sign;
mod timefmt;
mod verify;

#[cfg(test)]
mod tests;

pub use detached::{sign_detached, verify_detached};
pub use error::{ClaimsError, KeyError, Refusal, TimeError};
pub use jwt::{Claims, decode, decode_unverified};
pub use keys::{KeyKind, generate, kind_name, read_seed_file, write_seed_file};
pub use section::{component_hash, embed, extract, strip};
pub use sign::{SignOptions, sign};
pub use timefmt::{format_rfc3339, now_unix, parse_duration, parse_rfc3339};
pub use verify::{Inspection, TrustPolicy, Verified, inspect, verify};

/// Re-exported so users name the same key type.
pub use nkeys::KeyPair;

/// Name of the custom section holding the claims.
pub const SECTION_NAME: &str = "trellis-claims";

/// Largest JWT accepted or produced, in bytes (16 KiB).
pub const MAX_JWT_LEN: usize = 16 * 1024;
