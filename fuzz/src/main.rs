//! `trellis-fuzz`: runs the fuzz targets for a time or a number of inputs
//! and prints, per target, how many inputs it tried and whether any failed.
//!
//! ```text
//! trellis-fuzz [--seconds N | --cases N] [--target NAME]... [--seed S] [--list]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use trellis_fuzz::{Budget, alloc::LimitAlloc, targets};

#[global_allocator]
static ALLOC: LimitAlloc = LimitAlloc;

struct Args {
    budget: Budget,
    names: Vec<String>,
    seed: u64,
    list: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        budget: Budget::Time(Duration::from_secs(600)),
        names: Vec::new(),
        seed: 0x7e11_1115,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| it.next().with_context(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--seconds" => {
                let s: u64 = value("--seconds")?.parse().context("--seconds")?;
                args.budget = Budget::Time(Duration::from_secs(s));
            }
            "--cases" => {
                args.budget = Budget::Cases(value("--cases")?.parse().context("--cases")?);
            }
            "--target" => args.names.push(value("--target")?),
            "--seed" => args.seed = value("--seed")?.parse().context("--seed")?,
            "--list" => args.list = true,
            other => bail!(
                "unknown argument `{other}`; usage: trellis-fuzz [--seconds N | --cases N] \
                 [--target NAME]... [--seed S] [--list]"
            ),
        }
    }
    Ok(args)
}

fn main() -> anyhow::Result<ExitCode> {
    let args = parse_args()?;
    let all = targets::all();
    if args.list {
        for t in &all {
            println!("{:<22} {}", t.name, t.about);
        }
        return Ok(ExitCode::SUCCESS);
    }
    for name in &args.names {
        if !all.iter().any(|t| t.name == name) {
            bail!("no target named `{name}`; `trellis-fuzz --list` shows them");
        }
    }
    trellis_fuzz::capture_panics();
    let mut failed = false;
    println!(
        "{:<22} {:>12} {:>10} {:>9} result",
        "target", "inputs", "inputs/s", "seconds"
    );
    for target in all
        .iter()
        .filter(|t| args.names.is_empty() || args.names.iter().any(|n| n == t.name))
    {
        let report = trellis_fuzz::run(target, args.budget, args.seed);
        let secs = report.elapsed.as_secs_f64();
        let result = if report.failed == 0 {
            "ok".to_owned()
        } else {
            failed = true;
            format!("FAILED on {} inputs", report.failed)
        };
        println!(
            "{:<22} {:>12} {:>10.0} {:>9.1} {result}",
            report.name,
            report.inputs,
            report.inputs as f64 / secs.max(1e-9),
            secs
        );
        for f in &report.failures {
            println!("    panic: {} (input saved to {})", f.message, f.saved);
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
