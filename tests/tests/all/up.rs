//! `trellis up --detach` / `trellis down`, and the missing nats-server message.

use std::process::Command;

use trellis_tests::{free_port, nats_server_bin, trellis_bin};

#[test]
fn up_detach_serves_a_lattice_and_down_stops_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let port = free_port().to_string();
    let nats = nats_server_bin()?;
    let up = Command::new(trellis_bin())
        .args([
            "up",
            "--detach",
            "--name",
            "dev",
            "--label",
            "zone=laptop",
            "--nats-port",
            &port,
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--nats-server-bin")
        .arg(&nats)
        .env_remove("TRELLIS_NATS_URL")
        .output()?;
    assert!(
        up.status.success(),
        "up failed: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let ready = String::from_utf8_lossy(&up.stdout);
    assert!(ready.contains("host_id=N"), "{ready}");

    let url = format!("nats://127.0.0.1:{port}");
    let hosts = Command::new(trellis_bin())
        .args(["get", "hosts", "--output", "json", "--nats-url", &url])
        .output()?;
    let hosts: serde_json::Value = serde_json::from_slice(&hosts.stdout)?;
    assert_eq!(hosts[0]["name"], "dev");
    assert_eq!(hosts[0]["labels"]["zone"], "laptop");

    // A second `up` on the same data dir is refused, naming the fix.
    let again = Command::new(trellis_bin())
        .args(["up", "--nats-port", &port])
        .arg("--data-dir")
        .arg(&data)
        .output()?;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("trellis down"));

    let down = Command::new(trellis_bin())
        .args(["down", "--data-dir"])
        .arg(&data)
        .output()?;
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let after = Command::new(trellis_bin())
        .args(["get", "hosts", "--nats-url", &url])
        .output()?;
    assert!(
        !after.status.success(),
        "lattice still reachable after down"
    );
    assert!(String::from_utf8_lossy(&after.stderr).contains("cannot connect to NATS"));
    Ok(())
}

#[test]
fn up_without_nats_server_says_how_to_get_one() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let out = Command::new(trellis_bin())
        .args(["up", "--nats-port", &free_port().to_string(), "--data-dir"])
        .arg(dir.path())
        .env("PATH", "")
        .env("TRELLIS_TOOLS_DIR", dir.path())
        .env_remove("TRELLIS_NATS_URL")
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nats-server not found") && stderr.contains("--nats-url"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn up_refuses_a_nats_server_too_old_for_jetstream() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let fake = dir.path().join("nats-server");
    std::fs::write(&fake, "#!/bin/sh\necho 'nats-server: v2.9.10'\n")?;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
    let out = Command::new(trellis_bin())
        .args(["up", "--nats-port", &free_port().to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .env("PATH", dir.path())
        .env("TRELLIS_TOOLS_DIR", dir.path().join("none"))
        .env_remove("TRELLIS_NATS_URL")
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("(2.9)") && stderr.contains("2.10 or newer"),
        "{stderr}"
    );
    Ok(())
}
