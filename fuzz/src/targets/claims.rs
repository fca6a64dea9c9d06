//! Claims: the custom section walk over a component's bytes, the embedded
//! JWT, and a provider's detached JWT.

use std::sync::OnceLock;

use trellis_claims::{KeyKind, KeyPair, SignOptions, TrustPolicy};

use crate::Target;

/// A component preamble (layer 1) and a core module preamble.
const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";
const MODULE: &[u8] = b"\0asm\x01\0\0\0";
/// Verification time of every run (claims are issued at 1000).
const NOW: u64 = 2000;

/// One issuer per process, trusted by the policy the targets verify with.
fn issuer() -> &'static KeyPair {
    static ISSUER: OnceLock<KeyPair> = OnceLock::new();
    ISSUER.get_or_init(|| trellis_claims::generate(KeyKind::Account))
}

fn policy() -> TrustPolicy {
    TrustPolicy {
        trusted_issuers: vec![issuer().public_key()],
        allow_unsigned: false,
    }
}

fn signed(wasm: &[u8]) -> Vec<u8> {
    let mut options = SignOptions::new(1000);
    options.expires = Some(3000);
    options.name = Some("fuzz".into());
    trellis_claims::sign(wasm, issuer(), options).expect("signing a valid preamble works")
}

/// `claims-section`.
pub(super) const SECTION: Target = Target {
    name: "claims-section",
    about: "component bytes: section walk, claims extraction, verify, inspect",
    seeds: || {
        // A module with one ordinary custom section before the claims.
        let mut with_custom = MODULE.to_vec();
        with_custom.extend_from_slice(&[0, 6, 4, b'n', b'a', b'm', b'e', 0xAA]);
        vec![
            signed(COMPONENT),
            signed(MODULE),
            signed(&with_custom),
            COMPONENT.to_vec(),
            with_custom,
        ]
    },
    dict: &["trellis-claims", "eyJ", "."],
    max_len: 32 * 1024,
    run: |bytes| {
        let _ = trellis_claims::strip(bytes);
        let _ = trellis_claims::component_hash(bytes);
        if let Ok(Some(jwt)) = trellis_claims::extract(bytes) {
            assert!(
                jwt.len() <= trellis_claims::MAX_JWT_LEN,
                "oversized claims extracted"
            );
        }
        let _ = trellis_claims::inspect(bytes);
        let _ = trellis_claims::verify(bytes, &policy(), NOW);
    },
};

/// `claims-jwt`.
pub(super) const JWT: Target = Target {
    name: "claims-jwt",
    about: "detached provider JWTs: decode, decode_unverified, verify_detached",
    seeds: || {
        let mut options = SignOptions::new(1000);
        options.version = Some("1.0.0".into());
        let token = trellis_claims::sign_detached(b"#!/bin/sh\n", issuer(), options)
            .expect("signing works");
        vec![token.into_bytes(), b"e30.e30.".to_vec()]
    },
    dict: &[".", "eyJ", "=", "-", "_", "AAAA"],
    max_len: 32 * 1024,
    run: |bytes| {
        let Ok(token) = std::str::from_utf8(bytes) else {
            return;
        };
        let _ = trellis_claims::decode(token);
        let _ = trellis_claims::decode_unverified(token);
        let _ = trellis_claims::verify_detached(b"#!/bin/sh\n", Some(token), &policy(), NOW);
    },
};
