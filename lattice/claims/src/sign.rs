//! Signing a component: claims for its code, signed by an account key,
//! embedded in its `trellis-claims` section.

use crate::ClaimsError;
use crate::jwt::{self, Claims};
use crate::keys::{KeyKind, kind_name};
use crate::section::{append_section, extract, hash_hex, strip_checked};

/// What to put in the claims besides issuer, subject, hash and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// `iat`, Unix seconds (usually [`crate::now_unix`]).
    pub issued_at: u64,
    /// `exp`, Unix seconds; `None` never expires.
    pub expires: Option<u64>,
    /// `nbf`, Unix seconds; `None` is valid at once.
    pub not_before: Option<u64>,
    /// Component name; `None` keeps the name of claims already present.
    pub name: Option<String>,
    /// Component version; `None` keeps the version of claims already
    /// present.
    pub version: Option<String>,
}

impl SignOptions {
    /// Options issued at `issued_at`, without expiry, name or version.
    pub fn new(issued_at: u64) -> Self {
        Self {
            issued_at,
            expires: None,
            not_before: None,
            name: None,
            version: None,
        }
    }
}

/// Checks that `issuer` is an account key and the validity window is not
/// empty; returns the issuer's public key.
pub(crate) fn check_signing(
    issuer: &nkeys::KeyPair,
    options: &SignOptions,
) -> Result<String, ClaimsError> {
    let issuer_key = issuer.public_key();
    if KeyKind::of_public_key(&issuer_key) != Some(KeyKind::Account) {
        return Err(ClaimsError::NotAnAccount {
            kind: kind_name(&issuer_key),
            public_key: issuer_key,
        });
    }
    if let (Some(nbf), Some(exp)) = (options.not_before, options.expires)
        && nbf >= exp
    {
        return Err(ClaimsError::Validity(format!(
            "not-before ({}) is not before expiry ({})",
            crate::format_rfc3339(nbf),
            crate::format_rfc3339(exp)
        )));
    }
    Ok(issuer_key)
}

/// Signs `wasm` (a core module or component) with `issuer`, which must be
/// an account key pair holding its seed, and returns the signed binary.
///
/// Claims already present are replaced, keeping their subject (the
/// component's identity) and, unless given, their name and version. Without
/// claims a fresh component key is generated as subject; its seed is not
/// kept. The `hash` covers `wasm` without any `trellis-claims` section.
pub fn sign(
    wasm: &[u8],
    issuer: &nkeys::KeyPair,
    options: SignOptions,
) -> Result<Vec<u8>, ClaimsError> {
    let issuer_key = check_signing(issuer, &options)?;
    let stripped = strip_checked(wasm).map_err(ClaimsError::NotWasm)?;
    // The walk succeeded, so an error here is about the claims themselves.
    let previous = match extract(wasm).map_err(ClaimsError::ExistingClaims)? {
        Some(token) => Some(jwt::decode_unverified(&token).map_err(ClaimsError::ExistingClaims)?),
        None => None,
    };
    let (subject, name, version) = match previous {
        Some(old) => (
            old.subject,
            options.name.or(old.name),
            options.version.or(old.version),
        ),
        None => (
            crate::generate(KeyKind::Component).public_key(),
            options.name,
            options.version,
        ),
    };
    let claims = Claims {
        issuer: issuer_key,
        subject,
        issued_at: options.issued_at,
        expires: options.expires,
        not_before: options.not_before,
        name,
        version,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        hash: hash_hex(&stripped),
    };
    let token = jwt::encode(&claims, issuer)?;
    Ok(append_section(stripped, &token))
}
