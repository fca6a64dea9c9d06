//! `wasmcloud:messaging` through builtin://messaging-nats on a real
//! nats-server: messages trigger a component on every host that runs it,
//! each exactly once with a queue group on core NATS, at least once from a
//! JetStream stream across a kill -9, and the component's own `publish`
//! and `request` reach subscribers.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::fixture::Lattice;

const PROVIDER: &str = "nats-msg";

/// The messaging provider and `messaging_relay` as `relay` on both hosts,
/// the handler link with `settings` as its source config, and the
/// component's consumer link.
fn wire(lattice: &Lattice, settings: &[&str]) -> anyhow::Result<()> {
    let cli = &lattice.cli;
    for host in [&lattice.a, &lattice.b] {
        cli.run(&[
            "start",
            "provider",
            "builtin://messaging-nats",
            PROVIDER,
            "--host",
            host.id(),
        ])?
        .ok()?;
        lattice.start_component("messaging_relay", "relay", host, 16)?;
    }
    let mut put = vec!["config", "put", "relay-subs"];
    put.extend_from_slice(settings);
    cli.run(&put)?.ok()?;
    cli.run(&[
        "link",
        "put",
        PROVIDER,
        "relay",
        "wasmcloud",
        "messaging",
        "--interface",
        "handler",
        "--source-config",
        "relay-subs",
    ])?
    .ok()?;
    cli.run(&[
        "link",
        "put",
        "relay",
        PROVIDER,
        "wasmcloud",
        "messaging",
        "--interface",
        "consumer",
    ])?
    .ok()?;
    Ok(())
}

/// Adds bodies seen on `handled.>` to `seen` until it holds `want`;
/// returns how many messages arrived (repeats included), or fails after
/// `within`.
async fn collect(
    sub: &mut async_nats::Subscriber,
    seen: &mut HashSet<Vec<u8>>,
    want: usize,
    within: Duration,
) -> anyhow::Result<usize> {
    let mut total = 0;
    let deadline = tokio::time::Instant::now() + within;
    while seen.len() < want {
        let msg = tokio::time::timeout_at(deadline, sub.next())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "only {} of {want} messages handled within {within:?}",
                    seen.len()
                )
            })?
            .ok_or_else(|| anyhow::anyhow!("the subscription ended"))?;
        total += 1;
        seen.insert(msg.payload.to_vec());
    }
    Ok(total)
}

/// `relay` invocations per host, from the inventory.
fn invocations(lattice: &Lattice) -> anyhow::Result<Vec<u64>> {
    let inventory: Value = lattice.cli.run(&["get", "inventory"])?.ok()?.json()?;
    let hosts = inventory.as_array().cloned().unwrap_or_default();
    Ok(hosts
        .iter()
        .map(|host| {
            host["components"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["id"] == "relay")
                .map(|c| c["stats"]["invocations"].as_u64().unwrap_or(0))
                .sum()
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn core_nats_messages_are_handled_exactly_once_across_two_hosts() -> anyhow::Result<()> {
    const MESSAGES: usize = 10_000;
    let lattice = Lattice::start("msgcore", &[])?;
    wire(&lattice, &["subscriptions=work.items"])?;
    let client = lattice.nats_client().await?;
    let mut handled = client.subscribe("handled.>").await?;
    client.flush().await?;
    for i in 0..MESSAGES {
        client
            .publish("work.items", format!("m{i}").into_bytes().into())
            .await?;
    }
    client.flush().await?;
    let mut seen = HashSet::new();
    let total = collect(&mut handled, &mut seen, MESSAGES, Duration::from_secs(120)).await?;
    assert_eq!(total, MESSAGES, "a message was handled twice");
    assert!(seen.contains(b"handled:m0".as_slice()) && seen.contains(b"handled:m9999".as_slice()));

    // Every handling is one invocation on one host; both hosts took part.
    // (Stats are counted as each call returns, a moment after its
    // publish, so wait for the last ones.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let per_host = loop {
        let counts = invocations(&lattice)?;
        let sum: u64 = counts.iter().sum();
        if sum as usize >= MESSAGES || tokio::time::Instant::now() > deadline {
            assert_eq!(sum as usize, MESSAGES, "invocations per host: {counts:?}");
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        per_host.iter().all(|n| *n > 0),
        "one host did all the work: {per_host:?}"
    );

    // The component's own request (answered by a subscriber of the test)
    // and publish to a reply-to (the test's request).
    let mut service = client.subscribe("svc.echo").await?;
    let answering = client.clone();
    let server = tokio::spawn(async move {
        while let Some(msg) = service.next().await {
            if let Some(reply) = msg.reply {
                let body = [b"pong:".as_slice(), &msg.payload].concat();
                let _ = answering.publish(reply, body.into()).await;
            }
        }
    });
    client.flush().await?;
    let answer = client
        .request("work.items", "ask:svc.echo:hi".into())
        .await?;
    assert_eq!(answer.payload.as_ref(), b"answer:pong:hi");
    let echoed = client.request("work.items", "plain".into()).await?;
    assert_eq!(echoed.payload.as_ref(), b"handled:plain");
    // The lattice's own subjects are out of the component's reach.
    let refused = client
        .request("work.items", "ask:trellis.x.ctl.host.ping:hi".into())
        .await?;
    let refused = String::from_utf8_lossy(&refused.payload);
    assert!(
        refused.starts_with("request failed:") && refused.contains("lattice's own subjects"),
        "{refused}"
    );
    server.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_messages_survive_a_kill_9_of_a_handling_host() -> anyhow::Result<()> {
    const MESSAGES: usize = 2_000;
    let lattice = Lattice::start("msgstream", &[])?;
    wire(
        &lattice,
        &["subscriptions=jobs.>", "stream=JOBS", "ack_wait_ms=2000"],
    )?;
    let client = lattice.nats_client().await?;
    let mut handled = client.subscribe("handled.>").await?;
    client.flush().await?;
    let js = async_nats::jetstream::new(client.clone());
    for i in 0..MESSAGES {
        js.publish(
            format!("jobs.{}", i % 7),
            format!("j{i}").into_bytes().into(),
        )
        .await?
        .await?;
    }
    // Kill host b while it holds messages it has not acknowledged.
    let mut seen = HashSet::new();
    collect(
        &mut handled,
        &mut seen,
        MESSAGES / 10,
        Duration::from_secs(60),
    )
    .await?;
    lattice.b.sigkill()?;
    let started = tokio::time::Instant::now();
    let after = collect(&mut handled, &mut seen, MESSAGES, Duration::from_secs(120)).await?;
    eprintln!(
        "after the kill: {after} deliveries for {} new messages in {:?}",
        MESSAGES - MESSAGES / 10,
        started.elapsed()
    );
    for i in 0..MESSAGES {
        let body = format!("handled:j{i}").into_bytes();
        anyhow::ensure!(seen.contains(&body), "j{i} was never handled");
    }
    Ok(())
}

/// With `cluster_uris`, a link's messages travel on the app's own NATS:
/// the provider subscribes there, the component's publish goes there, and
/// the lattice's subjects are no longer the component's concern.
#[tokio::test(flavor = "multi_thread")]
async fn a_link_with_cluster_uris_uses_the_apps_own_nats() -> anyhow::Result<()> {
    let app_nats = trellis_tests::NatsServer::start()?;
    let lattice = Lattice::start("msgown", &[])?;
    let own = format!("cluster_uris={}", app_nats.url());
    let cli = &lattice.cli;
    cli.run(&[
        "start",
        "provider",
        "builtin://messaging-nats",
        PROVIDER,
        "--host",
        lattice.a.id(),
    ])?
    .ok()?;
    lattice.start_component("messaging_relay", "relay", &lattice.a, 4)?;
    cli.run(&["config", "put", "own-subs", "subscriptions=orders.>", &own])?
        .ok()?;
    cli.run(&["config", "put", "own-nats", &own])?.ok()?;
    cli.run(&[
        "link",
        "put",
        PROVIDER,
        "relay",
        "wasmcloud",
        "messaging",
        "--interface",
        "handler",
        "--source-config",
        "own-subs",
    ])?
    .ok()?;
    cli.run(&[
        "link",
        "put",
        "relay",
        PROVIDER,
        "wasmcloud",
        "messaging",
        "--interface",
        "consumer",
        "--target-config",
        "own-nats",
    ])?
    .ok()?;
    let app = async_nats::connect(app_nats.url()).await?;
    let reply = app.request("orders.new", "o-1".into()).await?;
    assert_eq!(reply.payload.as_ref(), b"handled:o-1");
    // Nobody subscribes to orders.> on the lattice's NATS.
    let lattice_nats = lattice.nats_client().await?;
    let err = lattice_nats
        .request("orders.new", "o-2".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
    Ok(())
}
