//! HTTP through the builtin provider: across hosts over NATS, within a
//! host without NATS, and bodies far over the NATS payload limit.

use std::time::Duration;

use futures::StreamExt;
use trellis_protocol::ComponentId;
use trellis_protocol::subject::pattern;
use trellis_tests::{http_get, http_post, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY, pseudo_random};

#[tokio::test(flavor = "multi_thread")]
async fn remote_component_is_served_over_nats_and_local_one_without() -> anyhow::Result<()> {
    let lattice = Lattice::start("http", &[])?;
    lattice.start_component("hello_http", "remote-hello", &lattice.b, 4)?;
    lattice.start_component("hello_http", "local-hello", &lattice.a, 4)?;
    let remote_url = lattice.route("remote-hello")?;
    let local_url = lattice.route("local-hello")?;

    let client = lattice.nats_client().await?;
    let target = |id: &str| ComponentId::new(id).expect("valid id");
    let mut remote_rpc = client
        .subscribe(pattern::rpc_target(
            &lattice.lattice(),
            &target("remote-hello"),
        ))
        .await?;
    let mut local_rpc = client
        .subscribe(pattern::rpc_target(
            &lattice.lattice(),
            &target("local-hello"),
        ))
        .await?;
    client.flush().await?;

    // Local first: the provider and component share host a.
    let (status, _, body) = wait_for_http(&format!("{local_url}/"), 200, ROUTE_READY).await?;
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"Hello from Trellis!"[..])
    );
    // Then remote: host a's provider reaches host b over NATS.
    let (status, _, body) = wait_for_http(&format!("{remote_url}/"), 200, ROUTE_READY).await?;
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"Hello from Trellis!"[..])
    );

    // The remote call went over the rpc subject...
    let seen = tokio::time::timeout(Duration::from_secs(10), remote_rpc.next()).await?;
    assert!(seen.is_some(), "cross-host call must use NATS");
    // ...and the local one did not: host a publishes both on one
    // connection, so a local rpc message would have arrived before the
    // remote one we already saw.
    client.flush().await?;
    let local_msg = tokio::time::timeout(Duration::from_millis(200), local_rpc.next()).await;
    assert!(
        local_msg.is_err(),
        "local call leaked onto NATS: {local_msg:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_of_64_mib_cross_hosts_intact() -> anyhow::Result<()> {
    const SIZE: usize = 64 << 20;
    let lattice = Lattice::start("bigbody", &[])?;
    lattice.start_component("http_echo", "echo", &lattice.b, 2)?;
    let url = lattice.route("echo")?;
    wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;

    let sent = pseudo_random(SIZE, 0x5eed);
    let (status, headers, echoed) = http_post(&format!("{url}/echo"), sent.clone()).await?;
    assert_eq!(status, 200);
    assert_eq!(
        trellis_tests::header(&headers, "x-body-len"),
        Some(SIZE.to_string().as_str())
    );
    assert!(
        echoed.len() == SIZE && echoed == sent,
        "64 MiB request did not round-trip intact"
    );

    let (status, _, big) = http_get(&format!("{url}/big?bytes={SIZE}")).await?;
    assert_eq!(status, 200);
    assert_eq!(big.len(), SIZE);
    let wrong = big
        .iter()
        .enumerate()
        .position(|(i, b)| *b != (i % 251) as u8);
    assert_eq!(wrong, None, "64 MiB response corrupted at byte {wrong:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn link_delete_closes_the_listener() -> anyhow::Result<()> {
    let lattice = Lattice::start("linkdel", &[])?;
    lattice.start_component("hello_http", "hello", &lattice.a, 1)?;
    let url = lattice.route("hello")?;
    wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;
    let links = lattice.cli.run(&["get", "links"])?.ok()?.json()?;
    assert_eq!(links[0]["target_id"], "hello");

    lattice
        .cli
        .run(&["link", "del", "http", "wasi", "http", "--name", "hello"])?
        .ok()?;
    let links = lattice.cli.run(&["get", "links"])?.ok()?.json()?;
    assert_eq!(links, serde_json::json!([]));
    // The provider applies the deletion from the KV watch; the socket is
    // gone once a connect is refused (bounded wait, no fixed sleep).
    let address = url.trim_start_matches("http://").to_owned();
    let deadline = tokio::time::Instant::now() + ROUTE_READY;
    loop {
        match tokio::net::TcpStream::connect(&address).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            _ if tokio::time::Instant::now() > deadline => {
                anyhow::bail!("{address} still accepts connections after link del")
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    // Deleting it again names what is missing.
    let out = lattice
        .cli
        .run(&["link", "del", "http", "wasi", "http", "--name", "hello"])?;
    assert!(
        !out.success() && out.stderr.contains("no link from http"),
        "{}",
        out.stderr
    );
    Ok(())
}

/// The `traceparent` the component saw for one request sent with
/// `traceparent` (or none).
async fn seen_traceparent(url: &str, sent: Option<&str>) -> anyhow::Result<String> {
    let headers: Vec<(&str, &str)> = sent.map(|t| ("traceparent", t)).into_iter().collect();
    let (status, response, _) =
        trellis_tests::http_request("GET", url, &headers, Vec::new()).await?;
    anyhow::ensure!(status == 200, "status {status}");
    trellis_tests::header(&response, "x-seen-traceparent")
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the component saw no traceparent"))
}

#[tokio::test(flavor = "multi_thread")]
async fn components_see_the_w3c_trace_context_across_hosts() -> anyhow::Result<()> {
    use trellis_protocol::trace::TraceParent;
    let lattice = Lattice::start("traceparent", &[])?;
    // Provider on a, component on b: the context crosses NATS.
    lattice.start_component("http_echo", "echo", &lattice.b, 2)?;
    let url = format!("{}/", lattice.route("echo")?);
    wait_for_http(&url, 200, ROUTE_READY).await?;

    // A caller's trace is continued: same trace id, a new span.
    let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let seen: TraceParent = seen_traceparent(&url, Some(sent)).await?.parse()?;
    assert_eq!(seen.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(seen.to_string(), sent, "the provider's span is a new one");

    // No context, or a malformed one, starts a trace per request.
    let first: TraceParent = seen_traceparent(&url, None).await?.parse()?;
    let second: TraceParent = seen_traceparent(&url, None).await?.parse()?;
    assert_ne!(first.trace_id(), second.trace_id());
    let forged = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nx: y";
    let fresh: TraceParent = seen_traceparent(&url, Some(&forged[..54])).await?.parse()?;
    assert_ne!(fresh.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    Ok(())
}
