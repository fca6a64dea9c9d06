//! The benchmark harness starts and prints its table (a smoke run of a few
//! seconds; the numbers themselves are never asserted).

use std::process::Command;

#[test]
fn the_benchmark_harness_runs_and_prints_a_table() -> anyhow::Result<()> {
    let bench = trellis_tests::trellis_bin().with_file_name("trellis-bench");
    assert!(bench.is_file(), "{} not built", bench.display());
    let dir = tempfile::tempdir()?;
    let out_file = dir.path().join("results.json");
    let out = Command::new(&bench)
        .arg("--smoke")
        .arg("--out")
        .arg(&out_file)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
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
    let bench = trellis_tests::trellis_bin().with_file_name("trellis-bench");
    let help = Command::new(&bench).arg("--help").output()?;
    let stdout = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "{stdout}");
    for flag in [
        "--rows LIST",
        "--concurrency LIST",
        "mesh,messaging",
        "NATS_SERVER_BIN",
    ] {
        assert!(stdout.contains(flag), "missing {flag}:\n{stdout}");
    }
    let wrong = Command::new(&bench)
        .arg("--rows")
        .arg("mesh,nope")
        .output()?;
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success());
    assert!(stderr.contains("unknown row `nope`"), "{stderr}");
    Ok(())
}
