//! `trellis keys gen|inspect`: nkeys seed files (no lattice needed).

use anyhow::Context;
use serde_json::json;
use trellis_claims::{KeyError, KeyKind};

use crate::args::{GlobalArgs, OutputFormat};
use crate::security_args::{KeysCommand, KeysGenArgs, KeysInspectArgs};

/// Runs a `trellis keys` command.
pub(super) fn run(global: &GlobalArgs, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Gen(args) => generate(global, args),
        KeysCommand::Inspect(args) => inspect(global, args),
    }
}

fn generate(global: &GlobalArgs, args: KeysGenArgs) -> anyhow::Result<()> {
    let kind = KeyKind::from(args.kind);
    let key = trellis_claims::generate(kind);
    let public_key = key.public_key();
    let seed = key
        .seed()
        .map_err(|e| anyhow::anyhow!("cannot encode the new seed: {e}"))?;
    match &args.out {
        Some(path) => {
            trellis_claims::write_seed_file(path, &seed, args.force).map_err(|e| match e {
                KeyError::Exists { .. } => {
                    anyhow::anyhow!("{e}; pass --force to overwrite it")
                }
                other => anyhow::Error::new(other).context("cannot write the seed file"),
            })?;
            match global.output {
                OutputFormat::Json => print_json(&json!({
                    "kind": kind.name(),
                    "public_key": public_key,
                    "seed_file": path.display().to_string(),
                }))?,
                OutputFormat::Table => println!("{public_key}"),
            }
        }
        None => match global.output {
            // Without a file the seed must be printed, or it is lost.
            OutputFormat::Json => print_json(&json!({
                "kind": kind.name(),
                "public_key": public_key,
                "seed_file": null,
                "seed": seed,
            }))?,
            OutputFormat::Table => {
                println!("{seed}");
                eprintln!("public key: {public_key}");
            }
        },
    }
    Ok(())
}

fn inspect(global: &GlobalArgs, args: KeysInspectArgs) -> anyhow::Result<()> {
    let key = trellis_claims::read_seed_file(&args.file).context("cannot read the seed file")?;
    let public_key = key.public_key();
    match global.output {
        OutputFormat::Json => print_json(&json!({
            "kind": trellis_claims::kind_name(&public_key),
            "public_key": public_key,
            "seed_file": args.file.display().to_string(),
        })),
        OutputFormat::Table => {
            println!("{public_key}");
            Ok(())
        }
    }
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
