//! What a host checks before it starts a component, and what `trellis
//! claims inspect` shows.

use crate::Refusal;
use crate::jwt::{self, Claims};
use crate::section::{extract, hash_hex, strip_checked};

/// Which components a host accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Account public keys (`A...`) whose signatures are accepted.
    pub trusted_issuers: Vec<String>,
    /// Accept components without a `trellis-claims` section.
    pub allow_unsigned: bool,
}

/// A component that passed [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Its claims; `None` when it is unsigned and the policy allows that.
    pub claims: Option<Claims>,
}

/// Checks `wasm` against `policy` at `now_unix` (Unix seconds).
///
/// In order: the claims section and JWT parse ([`Refusal::Malformed`]), the
/// signature verifies against `iss` ([`Refusal::BadSignature`]), `iss` is a
/// trusted issuer ([`Refusal::UntrustedIssuer`]), `hash` matches the
/// component without its claims section ([`Refusal::HashMismatch`]), then
/// `exp` ([`Refusal::Expired`] at or after it) and `nbf`
/// ([`Refusal::NotYetValid`] before it). Without claims:
/// [`Refusal::Unsigned`] unless `policy.allow_unsigned`.
pub fn verify(wasm: &[u8], policy: &TrustPolicy, now_unix: u64) -> Result<Verified, Refusal> {
    let Some(token) = extract(wasm)? else {
        return if policy.allow_unsigned {
            Ok(Verified { claims: None })
        } else {
            Err(Refusal::Unsigned)
        };
    };
    let claims = jwt::decode(&token)?;
    judge(claims, &hash_hex(&strip_checked(wasm)?), policy, now_unix)
}

/// The checks after the signature: trusted issuer, then the hash of what
/// was signed, then the validity window.
pub(crate) fn judge(
    claims: Claims,
    actual_hash: &str,
    policy: &TrustPolicy,
    now_unix: u64,
) -> Result<Verified, Refusal> {
    if !policy.trusted_issuers.contains(&claims.issuer) {
        return Err(Refusal::UntrustedIssuer(claims.issuer));
    }
    if actual_hash != claims.hash {
        return Err(Refusal::HashMismatch);
    }
    if claims.expires.is_some_and(|exp| now_unix >= exp) {
        return Err(Refusal::Expired);
    }
    if claims.not_before.is_some_and(|nbf| now_unix < nbf) {
        return Err(Refusal::NotYetValid);
    }
    Ok(Verified {
        claims: Some(claims),
    })
}

/// The claims of a component as found, with what holds without a trust
/// policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The decoded claims (even when the signature does not verify).
    pub claims: Claims,
    /// The JWT signature verifies against `iss`.
    pub signature_valid: bool,
    /// `hash` matches the component without its claims section.
    pub hash_valid: bool,
    /// The JWT as embedded.
    pub jwt: String,
}

/// Reads the claims of `wasm` without a trust policy: `None` when unsigned,
/// [`Refusal::Malformed`] when the binary or JWT does not parse.
pub fn inspect(wasm: &[u8]) -> Result<Option<Inspection>, Refusal> {
    let Some(token) = extract(wasm)? else {
        return Ok(None);
    };
    let claims = jwt::decode_unverified(&token)?;
    let signature_valid = match jwt::decode(&token) {
        Ok(_) => true,
        Err(Refusal::BadSignature) => false,
        Err(other) => return Err(other),
    };
    let hash_valid = hash_hex(&strip_checked(wasm)?) == claims.hash;
    Ok(Some(Inspection {
        claims,
        signature_valid,
        hash_valid,
        jwt: token,
    }))
}
