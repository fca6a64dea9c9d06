//! The benchmark harness starts and prints its table (a smoke run of a few
//! seconds; the numbers themselves are never asserted).

use std::path::PathBuf;
use std::process::{Command, Output};

/// The harness built beside `trellis`.
fn bench() -> PathBuf {
    trellis_tests::trellis_bin().with_file_name("trellis-bench")
}

/// Runs the harness with `args`: its exit, stdout and stderr.
fn run(args: &[&std::ffi::OsStr]) -> anyhow::Result<(Output, String, String)> {
    let out = Command::new(bench()).args(args).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok((out, stdout, stderr))
}

#[test]
fn the_benchmark_harness_runs_and_prints_a_table() -> anyhow::Result<()> {
    assert!(bench().is_file(), "{} not built", bench().display());
    let dir = tempfile::tempdir()?;
    let out_file = dir.path().join("results.json");
    let (out, stdout, stderr) = run(&["--smoke".as_ref(), "--out".as_ref(), out_file.as_ref()])?;
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for row in [
        "http trellis local",
        "http trellis remote (nats)",
        "cold start, warm cache",
        "cold start, empty cache",
        "compile alone (reference)",
    ] {
        assert!(stdout.contains(row), "missing {row}:\n{stdout}");
    }
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(&out_file)?)?;
    assert!(
        results["http"][0]["local"]["requests"].as_u64() > Some(0),
        "{results}"
    );
    assert!(
        results["http"][0]["remote"]["requests"].as_u64() > Some(0),
        "{results}"
    );
    assert_eq!(
        results["cold_start"].as_array().map(Vec::len),
        Some(3),
        "{results}"
    );
    Ok(())
}

#[test]
fn the_benchmark_harness_lists_its_flags_and_names_a_wrong_one() -> anyhow::Result<()> {
    let (help, stdout, _) = run(&["--help".as_ref()])?;
    assert!(help.status.success(), "{stdout}");
    for flag in [
        "--rows LIST",
        "--concurrency LIST",
        "mesh,messaging",
        "NATS_SERVER_BIN",
    ] {
        assert!(stdout.contains(flag), "missing {flag}:\n{stdout}");
    }
    let (wrong, _, stderr) = run(&["--rows".as_ref(), "mesh,nope".as_ref()])?;
    assert!(!wrong.status.success());
    assert!(stderr.contains("unknown row `nope`"), "{stderr}");
    Ok(())
}
