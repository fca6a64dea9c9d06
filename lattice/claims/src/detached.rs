//! Claims for files that cannot carry a custom section (provider
//! executables): the JWT travels beside the file (`FILE.jwt`) and its
//! `hash` is the sha256 of the whole file. The subject is a provider key.

use crate::jwt::{self, Claims};
use crate::keys::KeyKind;
use crate::section::hash_hex;
use crate::sign::{SignOptions, check_signing};
use crate::verify::{TrustPolicy, Verified, judge};
use crate::{ClaimsError, Refusal};

/// Signs `bytes` as a provider; returns the JWT to ship beside them.
pub fn sign_detached(
    bytes: &[u8],
    issuer: &nkeys::KeyPair,
    options: SignOptions,
) -> Result<String, ClaimsError> {
    let issuer_key = check_signing(issuer, &options)?;
    let claims = Claims {
        issuer: issuer_key,
        subject: crate::generate(KeyKind::Provider).public_key(),
        issued_at: options.issued_at,
        expires: options.expires,
        not_before: options.not_before,
        name: options.name,
        version: options.version,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        hash: hash_hex(bytes),
    };
    jwt::encode(&claims, issuer)
}

/// Checks `bytes` and the JWT that came with them (if any) against
/// `policy`, with the same checks and reasons as [`crate::verify`].
pub fn verify_detached(
    bytes: &[u8],
    token: Option<&str>,
    policy: &TrustPolicy,
    now_unix: u64,
) -> Result<Verified, Refusal> {
    let Some(token) = token else {
        return if policy.allow_unsigned {
            Ok(Verified { claims: None })
        } else {
            Err(Refusal::Unsigned)
        };
    };
    let claims = jwt::decode(token.trim())?;
    judge(claims, &hash_hex(bytes), policy, now_unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(issuer: &nkeys::KeyPair) -> TrustPolicy {
        TrustPolicy {
            trusted_issuers: vec![issuer.public_key()],
            allow_unsigned: false,
        }
    }

    #[test]
    fn detached_claims_bind_the_whole_file() {
        let issuer = crate::generate(KeyKind::Account);
        let exe = b"#!/bin/sh\necho provider\n".to_vec();
        let jwt = sign_detached(&exe, &issuer, SignOptions::new(crate::now_unix())).unwrap();
        let ok = verify_detached(&exe, Some(&jwt), &policy(&issuer), crate::now_unix()).unwrap();
        let subject = ok.claims.unwrap().subject;
        assert_eq!(KeyKind::of_public_key(&subject), Some(KeyKind::Provider));

        let mut changed = exe.clone();
        changed[0] ^= 1;
        let err = verify_detached(&changed, Some(&jwt), &policy(&issuer), crate::now_unix());
        assert_eq!(err.unwrap_err().to_string(), "hash mismatch");
        let err = verify_detached(&exe, None, &policy(&issuer), crate::now_unix());
        assert_eq!(err.unwrap_err().to_string(), "unsigned");
        let other = crate::generate(KeyKind::Account);
        let err = verify_detached(&exe, Some(&jwt), &policy(&other), crate::now_unix());
        assert_eq!(
            err.unwrap_err().to_string(),
            format!("untrusted issuer {}", issuer.public_key())
        );
        let host = crate::generate(KeyKind::Host);
        assert!(sign_detached(&exe, &host, SignOptions::new(0)).is_err());
    }
}
