//! `trellis claims sign|inspect`: claims embedded in a component's
//! `trellis-claims` section (no lattice needed).

use std::path::Path;

use anyhow::Context;
use serde_json::json;
use trellis_claims::{Inspection, SignOptions};

use crate::args::{GlobalArgs, OutputFormat};
use crate::security_args::{ClaimsCommand, ClaimsInspectArgs, ClaimsSignArgs};

/// Runs a `trellis claims` command.
pub(super) fn run(global: &GlobalArgs, cmd: ClaimsCommand) -> anyhow::Result<()> {
    match cmd {
        ClaimsCommand::Sign(args) => sign(global, args),
        ClaimsCommand::Inspect(args) => inspect(global, args),
    }
}

fn sign(global: &GlobalArgs, args: ClaimsSignArgs) -> anyhow::Result<()> {
    // Check the cheap arguments before reading anything.
    let now = trellis_claims::now_unix();
    let expires = args
        .expires_in
        .as_deref()
        .map(trellis_claims::parse_duration)
        .transpose()
        .context("--expires-in")?
        .map(|secs| {
            now.checked_add(secs)
                .ok_or_else(|| anyhow::anyhow!("--expires-in: too far in the future"))
        })
        .transpose()?;
    let not_before = args
        .not_before
        .as_deref()
        .map(trellis_claims::parse_rfc3339)
        .transpose()
        .context("--not-before")?;

    let issuer = trellis_claims::read_seed_file(&args.issuer).context("--issuer")?;
    let wasm = read(&args.wasm)?;
    let options = SignOptions {
        issued_at: now,
        expires,
        not_before,
        name: args.name,
        version: args.version,
    };
    if args.detached {
        let jwt = trellis_claims::sign_detached(&wasm, &issuer, options)
            .with_context(|| format!("cannot sign {}", args.wasm.display()))?;
        std::fs::write(&args.out, &jwt)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        eprintln!(
            "Signed {} (detached claims in {}, issuer {}).",
            args.wasm.display(),
            args.out.display(),
            issuer.public_key()
        );
        return Ok(());
    }
    let signed = trellis_claims::sign(&wasm, &issuer, options)
        .with_context(|| format!("cannot sign {}", args.wasm.display()))?;
    std::fs::write(&args.out, &signed)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let inspection = trellis_claims::inspect(&signed)?
        .ok_or_else(|| anyhow::anyhow!("the signed component carries no claims"))?;
    match global.output {
        OutputFormat::Json => print_json(&describe(&args.out, &inspection)),
        OutputFormat::Table => {
            println!(
                "signed {} as {} (issuer {})",
                args.out.display(),
                inspection.claims.subject,
                inspection.claims.issuer
            );
            Ok(())
        }
    }
}

fn inspect(global: &GlobalArgs, args: ClaimsInspectArgs) -> anyhow::Result<()> {
    let wasm = read(&args.wasm)?;
    let inspection = trellis_claims::inspect(&wasm)
        .with_context(|| format!("cannot read the claims of {}", args.wasm.display()))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} is unsigned (it has no `{}` section); sign it with `trellis claims sign`",
                args.wasm.display(),
                trellis_claims::SECTION_NAME
            )
        })?;
    let value = describe(&args.wasm, &inspection);
    match global.output {
        OutputFormat::Json => print_json(&value),
        OutputFormat::Table => {
            let fields = [
                "file",
                "issuer",
                "subject",
                "name",
                "version",
                "issued_at",
                "not_before",
                "expires",
                "hash",
                "hash_valid",
                "signature_valid",
                "jti",
            ];
            for field in fields {
                let shown = match &value[field] {
                    serde_json::Value::Null => "-".to_owned(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                println!("{field:<16}{shown}");
            }
            Ok(())
        }
    }
}

/// The claims as shown by `inspect` (and by `sign --output json`).
fn describe(file: &Path, inspection: &Inspection) -> serde_json::Value {
    let claims = &inspection.claims;
    json!({
        "file": file.display().to_string(),
        "issuer": claims.issuer,
        "subject": claims.subject,
        "name": claims.name,
        "version": claims.version,
        "issued_at": trellis_claims::format_rfc3339(claims.issued_at),
        "not_before": claims.not_before.map(trellis_claims::format_rfc3339),
        "expires": claims.expires.map(trellis_claims::format_rfc3339),
        "hash": claims.hash,
        "hash_valid": inspection.hash_valid,
        "signature_valid": inspection.signature_valid,
        "jti": claims.jti,
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
