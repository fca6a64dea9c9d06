//! Stopping components and hosts.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use trellis_protocol::control::Reply;
use trellis_protocol::{ControlVerb, EventType, HostId, Subject};
use trellis_tests::{http_get, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

#[tokio::test(flavor = "multi_thread")]
async fn stopped_component_leaves_inventory_and_gets_503() -> anyhow::Result<()> {
    let lattice = Lattice::start("stopcomp", &[])?;
    lattice.start_component("hello_http", "hello", &lattice.b, 1)?;
    let url = lattice.route("hello")?;
    wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;

    lattice.cli.run(&["stop", "component", "hello"])?.ok()?;
    let inventory = lattice
        .cli
        .run(&["get", "inventory", lattice.b.id()])?
        .ok()?
        .json()?;
    assert_eq!(
        inventory[0]["components"],
        serde_json::json!([]),
        "{inventory}"
    );

    let (status, _, body) = http_get(&format!("{url}/")).await?;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("no instance of hello"));
    Ok(())
}

fn keys(value: &serde_json::Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn host_stopped_on_sigterm_and_on_host_stop() -> anyhow::Result<()> {
    let mut lattice = Lattice::start("hoststop", &[])?;
    lattice.start_component("hello_http", "hello", &lattice.b, 1)?;
    let client = lattice.nats_client().await?;
    let name = lattice.lattice();
    let mut stopped = client
        .subscribe(Subject::event(&name, EventType::HostStopped).to_string())
        .await?;
    let mut heartbeats = client
        .subscribe(Subject::event(&name, EventType::HostHeartbeat).to_string())
        .await?;
    client.flush().await?;

    // Inventory replies and heartbeats carry the same shape.
    let b_id = HostId::new(lattice.b.id())?;
    let inventory = lattice
        .cli
        .run(&["get", "inventory", lattice.b.id()])?
        .ok()?
        .json()?;
    // Each host beats once per interval (5 s by default), so one of b's
    // comes within an interval of subscribing; waiting exactly one
    // interval raced with it (seen once under load), so wait two.
    let heartbeat = loop {
        let msg = tokio::time::timeout(Duration::from_secs(11), heartbeats.next())
            .await?
            .expect("heartbeat stream");
        let event: serde_json::Value = serde_json::from_slice(&msg.payload)?;
        if event["data"]["id"] == lattice.b.id() {
            break event["data"].clone();
        }
    };
    assert_eq!(keys(&inventory[0]), keys(&heartbeat));
    assert_eq!(
        keys(&inventory[0]["components"][0]),
        keys(&heartbeat["components"][0])
    );

    // SIGTERM on host a.
    lattice.a.sigterm()?;
    let status = lattice.a.wait_exit(Duration::from_secs(20))?;
    assert!(status.success(), "host a exited with {status}");
    let event = next_stopped(&mut stopped).await?;
    assert_eq!(event["data"]["host_id"], lattice.a.id());
    assert_eq!(event["data"]["reason"], "signal");

    // host.stop on host b.
    let reply = client
        .request(
            Subject::control(&name, ControlVerb::HostStop(b_id)).to_string(),
            "{}".into(),
        )
        .await?;
    let reply: Reply = serde_json::from_slice(&reply.payload)?;
    assert!(reply.ok, "{reply:?}");
    let event = next_stopped(&mut stopped).await?;
    assert_eq!(event["data"]["host_id"], lattice.b.id());
    assert_eq!(event["data"]["reason"], "host.stop request");
    let status = lattice.b.wait_exit(Duration::from_secs(20))?;
    assert!(status.success(), "host b exited with {status}");
    Ok(())
}

async fn next_stopped(sub: &mut async_nats::Subscriber) -> anyhow::Result<serde_json::Value> {
    let msg = tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await?
        .expect("event stream");
    let event: serde_json::Value = serde_json::from_slice(&msg.payload)?;
    assert_eq!(event["type"], "dev.trellis.lattice.host_stopped");
    Ok(event)
}

#[tokio::test(flavor = "multi_thread")]
async fn update_swaps_code_in_place() -> anyhow::Result<()> {
    let lattice = Lattice::start("update", &[])?;
    lattice.start_component("hello_http", "app", &lattice.b, 2)?;
    let url = lattice.route("app")?;
    let (_, _, body) = wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;
    assert_eq!(body, b"Hello from Trellis!");

    let echo = format!("file://{}", trellis_tests::actor("http_echo").display());
    lattice
        .cli
        .run(&["update", "component", "app", &echo])?
        .ok()?;
    let (status, _, body) = http_get(&format!("{url}/")).await?;
    assert_eq!((status, body.as_slice()), (200, &b"echo ok"[..]));
    let inventory = lattice
        .cli
        .run(&["get", "inventory", lattice.b.id()])?
        .ok()?
        .json()?;
    assert_eq!(inventory[0]["components"][0]["image"], echo);
    assert_eq!(inventory[0]["components"][0]["max"], 2);
    Ok(())
}
