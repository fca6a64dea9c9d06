//! WASI 0.3 components (`wasi:http/handler@0.3.0`, component-model async,
//! here built with the Spin SDK 7): served with the provider on the same
//! host and across hosts, 10 MiB bodies streamed both ways, and the
//! deadline and memory cap failing a bad guest alone.

use std::time::Duration;

use futures::StreamExt;
use trellis_protocol::ComponentId;
use trellis_protocol::subject::pattern;
use trellis_tests::{http_get, http_post_chunked, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY, pseudo_random};
use crate::misbehave::{each_fails_alone, limited_lattice};

#[tokio::test(flavor = "multi_thread")]
async fn a_wasi_p3_component_streams_10_mib_both_ways_locally_and_across_hosts()
-> anyhow::Result<()> {
    const SIZE: usize = 10 << 20;
    let lattice = Lattice::start("p3", &[])?;
    // Host a runs the http provider: "p3-local" shares it, "p3-remote" on
    // host b is reached over NATS.
    lattice.start_component("http_p3", "p3-local", &lattice.a, 2)?;
    lattice.start_component("http_p3", "p3-remote", &lattice.b, 2)?;
    let client = lattice.nats_client().await?;
    let remote_id = ComponentId::new("p3-remote").expect("valid id");
    let mut remote_rpc = client
        .subscribe(pattern::rpc_target(&lattice.lattice(), &remote_id))
        .await?;
    client.flush().await?;

    for (seed, id) in [(1u64, "p3-local"), (2, "p3-remote")] {
        let url = lattice.route(id)?;
        let (_, _, hello) = wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;
        assert_eq!(hello, b"hello from WASI 0.3", "{id}");

        // In: a chunked request body, echoed by the guest's stream.
        let sent = pseudo_random(SIZE, seed);
        let (status, _, echoed) =
            http_post_chunked(&format!("{url}/echo"), sent.clone(), 64 << 10).await?;
        assert_eq!(status, 200, "{id}: {}", String::from_utf8_lossy(&echoed));
        assert!(
            echoed.len() == SIZE && echoed == sent,
            "{id}: 10 MiB request did not round-trip intact ({} bytes back)",
            echoed.len()
        );

        // Out: a body the guest produces frame by frame after it returned
        // its response.
        let (status, _, big) = http_get(&format!("{url}/big?bytes={SIZE}")).await?;
        assert_eq!((status, big.len()), (200, SIZE), "{id}");
        let wrong = big
            .iter()
            .enumerate()
            .position(|(i, b)| *b != (i % 251) as u8);
        assert_eq!(
            wrong, None,
            "{id}: 10 MiB response corrupted at byte {wrong:?}"
        );
    }
    let seen = tokio::time::timeout(Duration::from_secs(10), remote_rpc.next()).await?;
    assert!(seen.is_some(), "the call to host b must cross NATS");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn deadline_and_memory_cap_fail_a_wasi_p3_guest_alone() -> anyhow::Result<()> {
    let (lattice, bad, good) = limited_lattice("p3limits", "http_p3", "/").await?;
    let cases = [
        ("/loop", 503, "execution time limit"),
        ("/oom", 500, "component trapped"),
    ];
    each_fails_alone(&bad, &good, &cases, ("/", b"hello from WASI 0.3")).await?;

    // Both failures are counted, against `bad` alone.
    let inventory = lattice
        .cli
        .run(&["get", "inventory", lattice.b.id()])?
        .ok()?
        .json()?;
    let failures = |id: &str| {
        inventory[0]["components"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["id"] == id)
            .and_then(|c| c["stats"]["failures"].as_u64())
    };
    assert_eq!(failures("bad"), Some(2), "{inventory}");
    assert_eq!(failures("good").unwrap_or(0), 0, "{inventory}");
    Ok(())
}
