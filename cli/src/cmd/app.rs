//! `trellis app validate`: checking a manifest offline. The commands that
//! talk to wadm are in [`super::app_deploy`].

use serde::Serialize;
use trellis_manifest::manifest::{ManifestError, Problem};

use crate::app_args::ValidateArgs;
use crate::args::OutputFormat;

/// The JSON form of a validation result.
#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    app: Option<&'a str>,
    version: Option<&'a str>,
    problems: &'a [Problem],
    /// What is read but not acted on as written; never makes it invalid.
    warnings: &'a [Problem],
}

/// `trellis app validate FILE`.
pub(super) fn validate(format: OutputFormat, args: &ValidateArgs) -> anyhow::Result<()> {
    let file = args.file.display();
    let (manifest, problems) = match trellis_manifest::validate_file(&args.file) {
        Ok(result) => result,
        Err(e) => {
            if let (OutputFormat::Json, ManifestError::Syntax { line, column, .. }) = (format, &e) {
                let path = match (line, column) {
                    (Some(l), Some(c)) => format!("line {l} column {c}"),
                    _ => String::new(),
                };
                let problems = [Problem::new(path, e.to_string())];
                print_json(&Report {
                    valid: false,
                    app: None,
                    version: None,
                    problems: &problems,
                    warnings: &[],
                })?;
            }
            if matches!(e, ManifestError::Read { .. }) {
                return Err(e.into());
            }
            anyhow::bail!("{file} is not a valid manifest: {e}");
        }
    };
    let warnings = trellis_manifest::manifest::warnings(&manifest);
    match format {
        OutputFormat::Json => print_json(&Report {
            valid: problems.is_empty(),
            app: Some(manifest.name()),
            version: manifest.version(),
            problems: &problems,
            warnings: &warnings,
        })?,
        OutputFormat::Table if problems.is_empty() => {
            print_warnings(&warnings);
            let version = manifest
                .version()
                .unwrap_or("none (one is generated on deploy)");
            println!(
                "{file}: valid (app {}, version {version}, {} components)",
                manifest.name(),
                manifest.spec.components.len()
            );
        }
        OutputFormat::Table => {
            for problem in &problems {
                println!("{problem}");
            }
            print_warnings(&warnings);
        }
    }
    match problems.len() {
        0 => Ok(()),
        1 => anyhow::bail!("1 problem in {file}"),
        n => anyhow::bail!("{n} problems in {file}"),
    }
}

/// Warnings go to stderr: they explain, they are not the result.
pub(super) fn print_warnings(warnings: &[Problem]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

fn print_json(report: &Report<'_>) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(report)?);
    Ok(())
}
