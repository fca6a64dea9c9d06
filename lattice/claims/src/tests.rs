//! Behaviour of sign + verify on small binaries built with wasm-encoder,
//! and property tests of the section parser.

use proptest::prelude::*;
use wasm_encoder::{
    CodeSection, Component, CustomSection, ExportKind, ExportSection, Function, FunctionSection,
    Module, ModuleSection, TypeSection, ValType,
};

use crate::*;

const NOW: u64 = 1_750_000_000;

/// A core module exporting `answer() -> i32` returning `value`.
fn module(value: i32) -> Module {
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    let mut functions = FunctionSection::new();
    functions.function(0);
    let mut exports = ExportSection::new();
    exports.export("answer", ExportKind::Func, 0);
    let mut code = CodeSection::new();
    let mut body = Function::new([]);
    body.instructions().i32_const(value).end();
    code.function(&body);
    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&exports)
        .section(&code);
    module
}

/// A component wrapping `module(value)`.
fn component(value: i32) -> Vec<u8> {
    let inner = module(value);
    let mut component = Component::new();
    component.section(&ModuleSection(&inner));
    component.finish()
}

fn policy(issuer: &KeyPair) -> TrustPolicy {
    TrustPolicy {
        trusted_issuers: vec![issuer.public_key()],
        allow_unsigned: false,
    }
}

fn options() -> SignOptions {
    SignOptions {
        name: Some("hello".into()),
        version: Some("1.0.0".into()),
        expires: Some(NOW + 3600),
        ..SignOptions::new(NOW)
    }
}

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn signed_component_verifies() -> TestResult {
    let issuer = generate(KeyKind::Account);
    let wasm = component(42);
    let signed = sign(&wasm, &issuer, options())?;
    let claims = verify(&signed, &policy(&issuer), NOW)?
        .claims
        .ok_or("no claims")?;
    assert_eq!(claims.issuer, issuer.public_key());
    assert!(claims.subject.starts_with('M'));
    assert_eq!(claims.name.as_deref(), Some("hello"));
    assert_eq!(claims.version.as_deref(), Some("1.0.0"));
    assert_eq!(claims.issued_at, NOW);
    assert_eq!(claims.expires, Some(NOW + 3600));
    assert_eq!(claims.hash, component_hash(&wasm)?);
    assert_eq!(claims.hash.len(), 64);
    assert_eq!(strip(&signed), wasm);
    Ok(())
}

#[test]
fn core_modules_can_be_signed_too() -> TestResult {
    let issuer = generate(KeyKind::Account);
    let signed = sign(&module(1).finish(), &issuer, options())?;
    assert!(verify(&signed, &policy(&issuer), NOW).is_ok());
    Ok(())
}

#[test]
fn changed_code_is_a_hash_mismatch() -> TestResult {
    let issuer = generate(KeyKind::Account);
    let signed = sign(&component(42), &issuer, options())?;
    // Same length, one byte of code differs: 42 -> 43 in `i32.const`.
    let pos = signed
        .windows(2)
        .position(|w| w == [0x41, 42])
        .ok_or("i32.const 42 not found")?;
    let mut tampered = signed.clone();
    tampered[pos + 1] = 43;
    assert_eq!(
        verify(&tampered, &policy(&issuer), NOW),
        Err(Refusal::HashMismatch)
    );
    // So is another section appended after signing.
    let mut appended = signed;
    appended.push(0);
    let extra = CustomSection {
        name: "extra".into(),
        data: b"x".into(),
    };
    wasm_encoder::Encode::encode(&extra, &mut appended);
    assert_eq!(
        verify(&appended, &policy(&issuer), NOW).map_err(|e| e.to_string()),
        Err("hash mismatch".into())
    );
    Ok(())
}

#[test]
fn unsigned_is_refused_unless_allowed() {
    let wasm = component(1);
    let strict = TrustPolicy::default();
    assert_eq!(verify(&wasm, &strict, NOW), Err(Refusal::Unsigned));
    assert_eq!(Refusal::Unsigned.to_string(), "unsigned");
    let lax = TrustPolicy {
        allow_unsigned: true,
        ..TrustPolicy::default()
    };
    assert_eq!(verify(&wasm, &lax, NOW), Ok(Verified { claims: None }));
}

#[test]
fn other_issuer_is_untrusted() -> TestResult {
    let trusted = generate(KeyKind::Account);
    let other = generate(KeyKind::Account);
    let signed = sign(&component(1), &other, options())?;
    let err = verify(&signed, &policy(&trusted), NOW)
        .err()
        .ok_or("accepted")?;
    assert_eq!(err, Refusal::UntrustedIssuer(other.public_key()));
    assert_eq!(
        err.to_string(),
        format!("untrusted issuer {}", other.public_key())
    );
    // allow_unsigned does not let untrusted signatures through.
    let lax = TrustPolicy {
        allow_unsigned: true,
        ..policy(&trusted)
    };
    assert!(verify(&signed, &lax, NOW).is_err());
    Ok(())
}

#[test]
fn validity_period_is_enforced() -> TestResult {
    let issuer = generate(KeyKind::Account);
    let signed = sign(&component(1), &issuer, options())?;
    assert!(verify(&signed, &policy(&issuer), NOW + 3599).is_ok());
    assert_eq!(
        verify(&signed, &policy(&issuer), NOW + 3600),
        Err(Refusal::Expired)
    );
    assert_eq!(Refusal::Expired.to_string(), "expired");

    let later = SignOptions {
        not_before: Some(NOW + 60),
        ..options()
    };
    let signed = sign(&component(1), &issuer, later)?;
    let err = verify(&signed, &policy(&issuer), NOW)
        .err()
        .ok_or("accepted")?;
    assert_eq!(err.to_string(), "not yet valid");
    assert!(verify(&signed, &policy(&issuer), NOW + 60).is_ok());

    let backwards = SignOptions {
        not_before: Some(NOW + 3600),
        ..options()
    };
    assert!(matches!(
        sign(&component(1), &issuer, backwards),
        Err(ClaimsError::Validity(_))
    ));
    Ok(())
}

#[test]
fn forged_claims_are_a_bad_signature() -> TestResult {
    let issuer = generate(KeyKind::Account);
    let mallory = generate(KeyKind::Account);
    let signed = sign(&component(1), &mallory, options())?;
    let token = extract(&signed)?.ok_or("no claims")?;
    // Claim the trusted issuer but keep mallory's signature.
    let mut claims = decode(&token)?;
    claims.issuer = issuer.public_key();
    let forged = embed(&signed, &crate::jwt::encode(&claims, &mallory)?);
    assert_eq!(
        verify(&forged, &policy(&issuer), NOW),
        Err(Refusal::BadSignature)
    );
    assert_eq!(Refusal::BadSignature.to_string(), "bad signature");
    let inspection = inspect(&forged)?.ok_or("no claims")?;
    assert!(!inspection.signature_valid);
    assert!(inspection.hash_valid);
    Ok(())
}

#[test]
fn malformed_claims_come_first() {
    let wasm = embed(&component(1), "not a jwt");
    let err = verify(&wasm, &TrustPolicy::default(), NOW).err();
    assert!(
        matches!(&err, Some(Refusal::Malformed(m)) if m.contains("three")),
        "{err:?}"
    );
    assert!(
        err.map(|e| e.to_string())
            .unwrap_or_default()
            .starts_with("malformed claims: ")
    );
}

#[test]
fn resigning_keeps_one_section_and_the_subject() -> TestResult {
    let first = generate(KeyKind::Account);
    let second = generate(KeyKind::Account);
    let once = sign(&component(1), &first, options())?;
    let subject = decode(&extract(&once)?.ok_or("no claims")?)?.subject;
    let twice = sign(
        &once,
        &second,
        SignOptions {
            version: Some("2.0.0".into()),
            ..SignOptions::new(NOW + 10)
        },
    )?;
    let count = twice
        .windows(SECTION_NAME.len())
        .filter(|w| *w == SECTION_NAME.as_bytes())
        .count();
    assert_eq!(count, 1);
    let claims = verify(&twice, &policy(&second), NOW + 10)?
        .claims
        .ok_or("no claims")?;
    assert_eq!(claims.subject, subject);
    assert_eq!(claims.issuer, second.public_key());
    assert_eq!(claims.name.as_deref(), Some("hello"), "name kept");
    assert_eq!(claims.version.as_deref(), Some("2.0.0"), "version replaced");
    assert_eq!(claims.expires, None, "expiry is not carried over");
    assert_eq!(
        verify(&twice, &policy(&first), NOW).err(),
        Some(Refusal::UntrustedIssuer(second.public_key()))
    );
    // A fresh signing gets a fresh subject.
    let fresh = sign(&component(1), &first, options())?;
    assert_ne!(
        decode(&extract(&fresh)?.ok_or("no claims")?)?.subject,
        subject
    );
    Ok(())
}

#[test]
fn only_account_keys_sign() -> TestResult {
    for kind in [KeyKind::Host, KeyKind::Component, KeyKind::Provider] {
        let err = sign(&component(1), &generate(kind), options())
            .err()
            .ok_or("signed")?;
        assert!(matches!(err, ClaimsError::NotAnAccount { .. }), "{kind}");
        assert!(err.to_string().contains(kind.name()), "{err}");
    }
    let public_only = KeyPair::from_public_key(&generate(KeyKind::Account).public_key())?;
    assert!(matches!(
        sign(&component(1), &public_only, options()),
        Err(ClaimsError::Signing(_))
    ));
    assert!(matches!(
        sign(b"not wasm", &generate(KeyKind::Account), options()),
        Err(ClaimsError::NotWasm(_))
    ));
    Ok(())
}

#[test]
fn nested_modules_are_not_searched() -> TestResult {
    // A claims section inside a nested module is opaque payload, not the
    // component's claims.
    let mut inner = module(1);
    inner.section(&CustomSection {
        name: SECTION_NAME.into(),
        data: b"nested".into(),
    });
    let mut outer = Component::new();
    outer.section(&ModuleSection(&inner));
    let wasm = outer.finish();
    assert_eq!(extract(&wasm)?, None);
    assert_eq!(strip(&wasm), wasm);
    let issuer = generate(KeyKind::Account);
    let signed = sign(&wasm, &issuer, options())?;
    assert!(verify(&signed, &policy(&issuer), NOW).is_ok());
    Ok(())
}

#[test]
fn strip_of_embed_is_strip() -> TestResult {
    let wasm = component(7);
    let signed = sign(&wasm, &generate(KeyKind::Account), options())?;
    for x in [&wasm, &signed] {
        assert_eq!(strip(&embed(x, "a.b.c")), strip(x));
    }
    Ok(())
}

fn signed_fixture() -> Vec<u8> {
    sign(&component(3), &generate(KeyKind::Account), options()).unwrap_or_default()
}

fn only_ok_or_malformed(wasm: &[u8]) -> Result<(), TestCaseError> {
    match extract(wasm) {
        Ok(_) | Err(Refusal::Malformed(_)) => {}
        Err(other) => return Err(TestCaseError::fail(format!("extract: {other:?}"))),
    }
    let _ = strip(wasm);
    let _ = inspect(wasm);
    let _ = verify(wasm, &TrustPolicy::default(), NOW);
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        only_ok_or_malformed(&bytes)?;
    }

    #[test]
    fn arbitrary_sections_after_a_header_never_panic(
        component in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut wasm = if component { b"\0asm\x0d\0\x01\0".to_vec() } else { b"\0asm\x01\0\0\0".to_vec() };
        wasm.extend(body);
        only_ok_or_malformed(&wasm)?;
    }

    #[test]
    fn garbage_appended_sections_never_panic(
        id in any::<u8>(),
        declared in any::<u32>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut wasm = signed_fixture();
        wasm.push(id);
        let mut size = Vec::new();
        wasm_encoder::Encode::encode(&declared, &mut size);
        wasm.extend(size);
        wasm.extend(payload);
        only_ok_or_malformed(&wasm)?;
    }

    #[test]
    fn huge_declared_sizes_are_malformed(declared in 1_000u32.., name_len in any::<u32>()) {
        let mut wasm = b"\0asm\x0d\0\x01\0".to_vec();
        wasm.push(0);
        wasm_encoder::Encode::encode(&declared, &mut wasm);
        wasm_encoder::Encode::encode(&name_len, &mut wasm);
        wasm.extend(b"trellis-claims");
        prop_assert!(matches!(extract(&wasm), Err(Refusal::Malformed(_))));
    }
}

#[test]
fn every_truncation_of_a_signed_component_is_ok_or_malformed() -> TestResult {
    let signed = signed_fixture();
    assert!(!signed.is_empty());
    for len in 0..signed.len() {
        only_ok_or_malformed(&signed[..len]).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn a_real_component_if_built() -> TestResult {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm/hello_http.wasm");
    let Ok(wasm) = std::fs::read(&path) else {
        return Ok(()); // scripts/build-actors.sh has not run.
    };
    let issuer = generate(KeyKind::Account);
    let signed = sign(&wasm, &issuer, options())?;
    assert!(verify(&signed, &policy(&issuer), NOW).is_ok());
    assert_eq!(strip(&signed), strip(&wasm));
    Ok(())
}
