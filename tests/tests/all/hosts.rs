//! Hosts join a lattice, show up in `get hosts` and heartbeat.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use trellis_protocol::subject::pattern;
use trellis_protocol::{EventType, Subject};

use crate::fixture::Lattice;

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_are_listed_with_labels_and_heartbeat() -> anyhow::Result<()> {
    let lattice = Lattice::start("hosts", &["--label", "tier=gold"])?;
    let client = lattice.nats_client().await?;
    let mut heartbeats = client
        .subscribe(Subject::event(&lattice.lattice(), EventType::HostHeartbeat).to_string())
        .await?;

    let hosts = lattice.cli.run(&["get", "hosts"])?.ok()?.json()?;
    let hosts = hosts.as_array().expect("get hosts prints an array");
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    for (host, zone) in [(&lattice.a, "cloud"), (&lattice.b, "edge")] {
        let entry = hosts
            .iter()
            .find(|h| h["id"] == host.id())
            .unwrap_or_else(|| panic!("host {} missing from {hosts:?}", host.id()));
        assert_eq!(entry["name"], host.name());
        assert_eq!(entry["labels"]["zone"], zone);
        assert_eq!(entry["labels"]["os"], std::env::consts::OS);
        assert_eq!(entry["labels"]["arch"], std::env::consts::ARCH);
        assert!(entry["uptime_seconds"].is_u64());
    }
    let b = hosts.iter().find(|h| h["id"] == lattice.b.id()).unwrap();
    assert_eq!(b["labels"]["tier"], "gold");

    // Both hosts heartbeat within two periods (500 ms each).
    let mut seen = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1000);
    while seen.len() < 2 {
        let Ok(Some(msg)) = tokio::time::timeout_at(deadline, heartbeats.next()).await else {
            break;
        };
        let event: serde_json::Value = serde_json::from_slice(&msg.payload)?;
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["type"], "dev.trellis.lattice.host_heartbeat");
        seen.insert(event["data"]["id"].as_str().unwrap_or_default().to_owned());
    }
    let expected: BTreeSet<String> = [lattice.a.id(), lattice.b.id()].map(String::from).into();
    assert_eq!(seen, expected, "heartbeats within two periods");
    // The pattern used to watch everything is exercised too.
    assert!(pattern::all_events(&lattice.lattice()).ends_with(".evt.>"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn host_identity_survives_restart_with_seed_file() -> anyhow::Result<()> {
    let nats = trellis_tests::NatsServer::start()?;
    let dir = tempfile::tempdir()?;
    let seed = dir.path().join("host.seed");
    let opts = trellis_tests::HostOpts {
        lattice: trellis_tests::unique_lattice("seed"),
        name: "seeded".into(),
        seed_file: Some(seed.clone()),
        ..Default::default()
    };
    let first = trellis_tests::Host::spawn(&nats, opts.clone())?;
    let id = first.id().to_owned();
    drop(first);
    let second = trellis_tests::Host::spawn(&nats, opts)?;
    assert_eq!(second.id(), id);
    assert!(id.starts_with('N') && id.len() == 56);
    Ok(())
}
