//! `trellis keys` and `trellis claims` against the real binary and a real
//! component (no lattice needed).

use std::path::Path;
use std::process::{Command, Output};

use trellis_tests::{actor, trellis_bin};

fn trellis(args: &[&str], dir: &Path) -> anyhow::Result<Output> {
    Ok(Command::new(trellis_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("TRELLIS_NATS_URL")
        .output()?)
}

fn ok(args: &[&str], dir: &Path) -> anyhow::Result<String> {
    let out = trellis(args, dir)?;
    anyhow::ensure!(
        out.status.success(),
        "trellis {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// Runs a command that must fail and returns its stderr.
fn fails(args: &[&str], dir: &Path) -> anyhow::Result<String> {
    let out = trellis(args, dir)?;
    anyhow::ensure!(
        !out.status.success(),
        "trellis {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

#[test]
fn keys_gen_writes_a_private_seed_and_inspect_reads_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let public = ok(&["keys", "gen", "account", "-o", "issuer.nk"], dir.path())?;
    let public = public.trim();
    assert!(public.starts_with('A') && public.len() == 56, "{public}");
    let seed = std::fs::read_to_string(dir.path().join("issuer.nk"))?;
    assert!(seed.starts_with("SA"), "{seed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("issuer.nk"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        ok(&["keys", "inspect", "issuer.nk"], dir.path())?.trim(),
        public
    );

    // No silent overwrite.
    let err = fails(&["keys", "gen", "account", "-o", "issuer.nk"], dir.path())?;
    assert!(err.contains("--force"), "{err}");
    let json: serde_json::Value = serde_json::from_str(&ok(
        &[
            "keys",
            "gen",
            "host",
            "-o",
            "issuer.nk",
            "--force",
            "--output",
            "json",
        ],
        dir.path(),
    )?)?;
    assert!(
        json["public_key"]
            .as_str()
            .is_some_and(|k| k.starts_with('N'))
    );
    assert_eq!(json["seed_file"], "issuer.nk");

    // Without -o: the seed on stdout, the public key on stderr.
    let out = trellis(&["keys", "gen", "component"], dir.path())?;
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)?.starts_with("SM"));
    assert!(String::from_utf8(out.stderr)?.contains(" M"));
    Ok(())
}

#[test]
fn claims_sign_inspect_and_resign() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let component = actor("hello_http");
    let component = component.to_str().ok_or_else(|| anyhow::anyhow!("path"))?;
    let first = ok(&["keys", "gen", "account", "-o", "first.nk"], d)?;
    let second = ok(&["keys", "gen", "account", "-o", "second.nk"], d)?;

    ok(
        &[
            "claims",
            "sign",
            component,
            "--issuer",
            "first.nk",
            "--name",
            "hello",
            "--version",
            "1.0.0",
            "--expires-in",
            "1h",
            "-o",
            "signed.wasm",
        ],
        d,
    )?;
    let shown: serde_json::Value = serde_json::from_str(&ok(
        &["claims", "inspect", "signed.wasm", "--output", "json"],
        d,
    )?)?;
    assert_eq!(shown["issuer"], first.trim());
    assert!(
        shown["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with('M'))
    );
    assert_eq!(shown["name"], "hello");
    assert_eq!(shown["version"], "1.0.0");
    assert_eq!(shown["hash_valid"], true);
    assert_eq!(shown["signature_valid"], true);
    assert_eq!(shown["not_before"], serde_json::Value::Null);
    let hash = shown["hash"].as_str().unwrap_or_default();
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hash}"
    );
    let expires = shown["expires"].as_str().unwrap_or_default();
    let issued = shown["issued_at"].as_str().unwrap_or_default();
    assert!(expires.ends_with('Z') && issued.ends_with('Z'), "{shown}");
    assert!(expires > issued, "{shown}");

    // Re-signing in place with another issuer keeps the subject and one
    // claims section.
    ok(
        &[
            "claims",
            "sign",
            "signed.wasm",
            "--issuer",
            "second.nk",
            "-o",
            "signed.wasm",
        ],
        d,
    )?;
    let again: serde_json::Value = serde_json::from_str(&ok(
        &["claims", "inspect", "signed.wasm", "--output", "json"],
        d,
    )?)?;
    assert_eq!(again["issuer"], second.trim());
    assert_eq!(again["subject"], shown["subject"]);
    assert_eq!(again["hash"], shown["hash"]);
    assert_eq!(again["hash_valid"], true);
    assert_eq!(again["name"], "hello");
    let bytes = std::fs::read(d.join("signed.wasm"))?;
    assert_eq!(occurrences(&bytes, b"trellis-claims"), 1);

    // The table form names the fields too.
    let table = ok(&["claims", "inspect", "signed.wasm"], d)?;
    assert!(
        table.contains("hash_valid") && table.contains(second.trim()),
        "{table}"
    );
    Ok(())
}

#[test]
fn claims_bad_input_fails_clearly() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let component = actor("hello_http");
    let component = component.to_str().ok_or_else(|| anyhow::anyhow!("path"))?;
    ok(&["keys", "gen", "host", "-o", "host.nk"], d)?;
    ok(&["keys", "gen", "account", "-o", "issuer.nk"], d)?;

    let err = fails(
        &[
            "claims", "sign", component, "--issuer", "host.nk", "-o", "out.wasm",
        ],
        d,
    )?;
    assert!(
        err.contains("must be an account key") && err.contains("host key"),
        "{err}"
    );
    assert!(!d.join("out.wasm").exists());

    std::fs::write(d.join("notes.txt"), "not wasm at all")?;
    let err = fails(&["claims", "inspect", "notes.txt"], d)?;
    assert!(err.contains("not a WebAssembly binary"), "{err}");

    let err = fails(
        &[
            "claims",
            "sign",
            component,
            "--issuer",
            "issuer.nk",
            "--expires-in",
            "5x",
            "-o",
            "out.wasm",
        ],
        d,
    )?;
    assert!(
        err.contains("--expires-in") && err.contains("invalid duration `5x`"),
        "{err}"
    );

    let err = fails(&["claims", "inspect", component], d)?;
    assert!(err.contains("unsigned"), "{err}");
    Ok(())
}
