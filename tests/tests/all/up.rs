//! `trellis up --detach` / `trellis down`, the missing nats-server
//! message, recovery from a crashed `up`, and a hub's leaf authentication.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use trellis_tests::{NatsServer, free_port, nats_config, nats_server_bin, trellis_bin};

#[test]
fn up_detach_serves_a_lattice_and_down_stops_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let port = free_port().to_string();
    let metrics = format!("127.0.0.1:{}", free_port());
    let ui = format!("127.0.0.1:{}", free_port());
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
            "--metrics-addr",
            &metrics,
            "--ui",
            &ui,
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
    // The host's and wadm's metrics on the one address.
    assert!(
        ready.contains(&format!("metrics=http://{metrics}/metrics")),
        "{ready}"
    );
    let page = scrape(&metrics)?;
    assert!(
        page.starts_with("HTTP/1.1 200")
            && page.contains("trellis_host_info{")
            && page.contains("trellis_wadm_leader "),
        "{page}"
    );
    // The dashboard (`--ui`) next to the lattice, showing its host.
    assert!(ready.contains(&format!("ui=http://{ui}/")), "{ready}");
    let hosts = get(&ui, "/api/hosts")?;
    assert!(
        hosts.starts_with("HTTP/1.1 200") && hosts.contains("\"name\":\"dev\""),
        "{hosts}"
    );

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

/// Runs `trellis up --detach` on `data` with `args`; its stdout (up.ready).
fn up_detached(data: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(trellis_bin())
        .args(["up", "--detach", "--data-dir"])
        .arg(data)
        .arg("--nats-server-bin")
        .arg(nats_server_bin()?)
        .args(args)
        .env_remove("TRELLIS_NATS_URL")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

fn down(data: &Path) -> anyhow::Result<std::process::Output> {
    Ok(Command::new(trellis_bin())
        .args(["down", "--data-dir"])
        .arg(data)
        .output()?)
}

fn pid_in(data: &Path, file: &str) -> anyhow::Result<i32> {
    Ok(std::fs::read_to_string(data.join(file))
        .with_context(|| format!("reading {file}"))?
        .trim()
        .parse()?)
}

/// Whether `pid` runs (a zombie, which no one may reap in a container, does
/// not count).
fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.split_whitespace().nth(2) == Some("Z"))
}

/// Waits (≤10 s) for `pid` to be gone.
fn gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn host_names(port: &str) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(trellis_bin())
        .args(["get", "hosts", "--output", "json", "--nats-url"])
        .arg(format!("nats://127.0.0.1:{port}"))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "get hosts: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[test]
fn a_crashed_up_leaves_no_nats_server_behind_for_the_next_up_or_down() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let port = free_port().to_string();
    let args = ["--name", "dev", "--nats-port", port.as_str()];
    up_detached(&data, &args)?;
    let (up, orphan) = (pid_in(&data, "up.pid")?, pid_in(&data, "nats.pid")?);
    kill(Pid::from_raw(up), Signal::SIGKILL)?;
    assert!(gone(up), "trellis up survived SIGKILL");
    assert!(alive(orphan), "the crash should leave nats-server running");

    // The next `up` on the data dir stops the orphan and serves.
    up_detached(&data, &args)?;
    assert!(gone(orphan), "the orphan nats-server {orphan} still runs");
    let nats = pid_in(&data, "nats.pid")?;
    assert_ne!(nats, orphan);
    assert_eq!(host_names(&port)?[0]["name"], "dev");

    // And `down` leaves no nats-server, even after another crash.
    let up = pid_in(&data, "up.pid")?;
    kill(Pid::from_raw(up), Signal::SIGKILL)?;
    assert!(gone(up));
    assert!(alive(nats));
    let out = down(&data)?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("pid {nats}")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(gone(nats), "down left nats-server {nats} running");

    // A clean up/down cycle on the same dir leaves nothing either.
    up_detached(&data, &args)?;
    let nats = pid_in(&data, "nats.pid")?;
    assert!(down(&data)?.status.success());
    assert!(gone(nats), "down left nats-server {nats} running");
    assert!(!down(&data)?.status.success(), "nothing left to stop");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hub_refuses_leaf_nodes_without_its_leaf_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub_data = dir.path().join("hub");
    let (port, leaf_port) = (free_port().to_string(), free_port());
    let ready = up_detached(
        &hub_data,
        &[
            "--name",
            "cloud",
            "--nats-port",
            &port,
            "--leafnode-port",
            &leaf_port.to_string(),
        ],
    )?;
    // Local only unless --leafnode-host says otherwise, and it says where
    // the key is.
    assert!(
        ready.contains(&format!("leafnode=127.0.0.1:{leaf_port}")),
        "{ready}"
    );
    let key = hub_data.join("leaf.nk");
    assert!(
        ready.contains(&format!("leaf_creds={}", key.display())),
        "{ready}"
    );
    let hub = async_nats::connect(format!("nats://127.0.0.1:{port}")).await?;
    let remote = format!("nats-leaf://127.0.0.1:{leaf_port}");

    let leaf_server = |name: &str, creds: Option<&Path>| -> anyhow::Result<NatsServer> {
        let mut args = vec!["leaf", "--remote", remote.as_str(), "--name", name];
        let creds = creds.map(|c| c.display().to_string());
        if let Some(creds) = &creds {
            args.extend(["--creds", creds.as_str()]);
        }
        let store = dir.path().join(format!("{name}-js")).display().to_string();
        args.extend(["--store-dir", store.as_str()]);
        let conf = dir.path().join(format!("{name}.conf"));
        std::fs::write(&conf, nats_config(&args)?)?;
        NatsServer::start_with_config(&conf)
    };

    // Without the key: refused, so nothing it publishes reaches the hub.
    let stranger = leaf_server("stranger", None)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !stranger
        .log()
        .to_lowercase()
        .contains("authorization violation")
    {
        assert!(Instant::now() < deadline, "no refusal:\n{}", stranger.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut from_stranger = hub.subscribe("probe.stranger").await?;
    hub.flush().await?;
    let outsider = async_nats::connect(stranger.url()).await?;
    for _ in 0..10 {
        outsider.publish("probe.stranger", "hi".into()).await?;
    }
    outsider.flush().await?;
    assert!(
        tokio::time::timeout(Duration::from_secs(1), from_stranger.next())
            .await
            .is_err(),
        "a message crossed a leaf connection without the key"
    );

    // With it: joins, and traffic flows both ways.
    let site = leaf_server("site", Some(&key))?;
    let at_site = async_nats::connect(site.url()).await?;
    let mut from_site = hub.subscribe("probe.up").await?;
    hub.flush().await?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        at_site.publish("probe.up", "hi".into()).await?;
        at_site.flush().await?;
        if tokio::time::timeout(Duration::from_millis(200), from_site.next())
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the site never joined:\n{}",
            site.log()
        );
    }

    // And `trellis up` at a site joins with the same file.
    let edge_data = dir.path().join("edge");
    let edge_port = free_port().to_string();
    up_detached(
        &edge_data,
        &[
            "--name",
            "shop",
            "--nats-port",
            &edge_port,
            "--leaf-remote",
            &remote,
            "--leaf-creds",
            &key.display().to_string(),
        ],
    )?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let hosts = host_names(&port)?;
        let names: Vec<&str> = hosts
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h["name"].as_str())
            .collect();
        if names.contains(&"shop") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edge host never showed: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(down(&edge_data)?.status.success());
    assert!(down(&hub_data)?.status.success());
    Ok(())
}

/// `GET /metrics` from `addr` over a plain socket (bounded by timeouts).
fn scrape(addr: &str) -> anyhow::Result<String> {
    get(addr, "/metrics")
}

/// `GET path` from `addr` over a plain socket (bounded by timeouts): the
/// whole response, head included.
fn get(addr: &str, path: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut page = String::new();
    stream.read_to_string(&mut page)?;
    Ok(page)
}
