//! The claims and their compact JWS encoding: `base64url(header)` `.`
//! `base64url(payload)` `.` `base64url(signature)`, unpadded, with an
//! Ed25519 signature (`alg: EdDSA`) by the issuer's nkey.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyKind, kind_name};
use crate::{ClaimsError, MAX_JWT_LEN, Refusal};

/// The only accepted `alg`.
const ALG: &str = "EdDSA";

/// What a signature says about a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// `iss`: the `A...` public key of the account that signed.
    #[serde(rename = "iss")]
    pub issuer: String,
    /// `sub`: the component's own `M...` public key, kept across re-signing.
    #[serde(rename = "sub")]
    pub subject: String,
    /// `iat`: when it was signed, Unix seconds.
    #[serde(rename = "iat")]
    pub issued_at: u64,
    /// `exp`: not valid at or after this time, Unix seconds.
    #[serde(rename = "exp", default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// `nbf`: not valid before this time, Unix seconds.
    #[serde(rename = "nbf", default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<u64>,
    /// Human-readable component name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Component version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Unique id of this signature.
    pub jti: String,
    /// Lowercase hex sha256 of the component without its `trellis-claims`
    /// section.
    pub hash: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

/// Encodes and signs `claims` with `issuer` (which must hold its seed).
pub(crate) fn encode(claims: &Claims, issuer: &nkeys::KeyPair) -> Result<String, ClaimsError> {
    let header = Header {
        alg: ALG.into(),
        typ: Some("JWT".into()),
    };
    let mut jwt = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?));
    let signature = issuer
        .sign(jwt.as_bytes())
        .map_err(|e| ClaimsError::Signing(e.to_string()))?;
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
    if jwt.len() > MAX_JWT_LEN {
        return Err(ClaimsError::TooLarge { len: jwt.len() });
    }
    Ok(jwt)
}

/// A parsed but not yet verified JWT.
struct Parsed<'a> {
    signed: &'a str,
    signature: Vec<u8>,
    claims: Claims,
}

fn parse(jwt: &str) -> Result<Parsed<'_>, Refusal> {
    if jwt.len() > MAX_JWT_LEN {
        return Err(Refusal::malformed(
            "the claims are larger than the 16 KiB limit",
        ));
    }
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::malformed(
            "not a compact JWT (expected three dot-separated parts)",
        ));
    };
    let signed = jwt
        .get(..header.len() + 1 + payload.len())
        .unwrap_or_default();
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| Refusal::malformed(format!("JWT {what} is not unpadded base64url: {e}")))
    };
    let header: Header = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|e| Refusal::malformed(format!("JWT header: {e}")))?;
    if header.alg != ALG {
        return Err(Refusal::malformed(format!(
            "unsupported JWT alg `{}` (expected {ALG})",
            header.alg
        )));
    }
    let claims: Claims = serde_json::from_slice(&decode(payload, "payload")?)
        .map_err(|e| Refusal::malformed(format!("JWT payload: {e}")))?;
    check_key(&claims.issuer, KeyKind::Account, "iss")?;
    // Components carry their claims inside; providers beside the executable.
    if KeyKind::of_public_key(&claims.subject) != Some(KeyKind::Provider) {
        check_key(&claims.subject, KeyKind::Component, "sub")?;
    } else {
        check_key(&claims.subject, KeyKind::Provider, "sub")?;
    }
    if claims.hash.len() != 64
        || !claims
            .hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Refusal::malformed("`hash` is not a lowercase hex sha256"));
    }
    let signature = decode(signature, "signature")?;
    Ok(Parsed {
        signed,
        signature,
        claims,
    })
}

fn check_key(key: &str, kind: KeyKind, field: &str) -> Result<(), Refusal> {
    let parsed = nkeys::KeyPair::from_public_key(key)
        .map_err(|e| Refusal::malformed(format!("`{field}` is not an nkeys public key: {e}")))?;
    // nkeys maps unknown prefixes to some type; check the letter itself.
    if KeyKind::of_public_key(&parsed.public_key()) != Some(kind) || parsed.public_key() != key {
        return Err(Refusal::malformed(format!(
            "`{field}` must be a {} key ({}...), got a {} key",
            kind.name(),
            kind.prefix(),
            kind_name(key)
        )));
    }
    Ok(())
}

/// Parses `jwt` and checks its signature against its own `iss` key.
///
/// Fails with [`Refusal::Malformed`] when it does not parse (wrong shape,
/// `alg` other than EdDSA, missing or ill-typed claims, `iss` not an
/// account key, `sub` not a component key) and with
/// [`Refusal::BadSignature`] when the signature does not verify. Trust,
/// hash and validity period are not checked here.
pub fn decode(jwt: &str) -> Result<Claims, Refusal> {
    let parsed = parse(jwt)?;
    let issuer = nkeys::KeyPair::from_public_key(&parsed.claims.issuer)
        .map_err(|e| Refusal::malformed(format!("`iss`: {e}")))?;
    issuer
        .verify(parsed.signed.as_bytes(), &parsed.signature)
        .map_err(|_| Refusal::BadSignature)?;
    Ok(parsed.claims)
}

/// Parses `jwt` without checking its signature (for display, and to keep
/// the subject when re-signing).
pub fn decode_unverified(jwt: &str) -> Result<Claims, Refusal> {
    parse(jwt).map(|parsed| parsed.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(issuer: &nkeys::KeyPair) -> Claims {
        Claims {
            issuer: issuer.public_key(),
            subject: nkeys::KeyPair::new_module().public_key(),
            issued_at: 1_700_000_000,
            expires: Some(1_800_000_000),
            not_before: None,
            name: Some("hello".into()),
            version: None,
            jti: "j".into(),
            hash: "0".repeat(64),
        }
    }

    #[test]
    fn round_trip_and_header() -> Result<(), Box<dyn std::error::Error>> {
        let issuer = nkeys::KeyPair::new_account();
        let c = claims(&issuer);
        let jwt = encode(&c, &issuer)?;
        assert_eq!(decode(&jwt)?, c);
        let header = jwt.split('.').next().unwrap_or_default();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(header)?,
            br#"{"alg":"EdDSA","typ":"JWT"}"#
        );
        assert!(!jwt.contains('='));
        Ok(())
    }

    #[test]
    fn tampered_payload_is_a_bad_signature() -> Result<(), Box<dyn std::error::Error>> {
        let issuer = nkeys::KeyPair::new_account();
        let mut c = claims(&issuer);
        let jwt = encode(&c, &issuer)?;
        c.name = Some("evil".into());
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c)?);
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(decode(&forged), Err(Refusal::BadSignature));
        assert_eq!(decode_unverified(&forged)?.name.as_deref(), Some("evil"));
        // A signature of the wrong length is bad too, not a panic.
        let short = format!("{}.{}.AAAA", parts[0], parts[1]);
        assert_eq!(decode(&short), Err(Refusal::BadSignature));
        Ok(())
    }

    #[test]
    fn other_algs_and_shapes_are_malformed() -> Result<(), Box<dyn std::error::Error>> {
        let issuer = nkeys::KeyPair::new_account();
        let jwt = encode(&claims(&issuer), &issuer)?;
        let parts: Vec<&str> = jwt.split('.').collect();
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let with_none = format!("{none}.{}.{}", parts[1], parts[2]);
        assert!(matches!(decode(&with_none), Err(Refusal::Malformed(m)) if m.contains("alg")));
        for bad in ["", "a.b", "a.b.c.d", "!!.??.**"] {
            assert!(matches!(decode(bad), Err(Refusal::Malformed(_))), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn issuer_must_be_an_account_key() -> Result<(), Box<dyn std::error::Error>> {
        let host = nkeys::KeyPair::new_server();
        let jwt = encode(&claims(&host), &host)?;
        assert!(matches!(decode(&jwt), Err(Refusal::Malformed(m)) if m.contains("`iss`")));
        Ok(())
    }
}
