//! Spare instances: once an invocation has ended and nothing else runs on
//! the host, the host makes the component's next instance ahead, and the
//! next call runs in it, as fresh as one made for it; with
//! `--http-spare-instances`, the next HTTP request too. A host started
//! with `--no-spare-instances` makes none.

use std::net::SocketAddr;
use std::time::Duration;

use trellis_tests::{http_get, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

const PREPARED: &str = "trellis_host_spare_instances_total{outcome=\"prepared\"} ";
const USED: &str = "trellis_host_spare_instances_total{outcome=\"used\"} ";

/// A fresh port for a host's metrics endpoint.
fn metrics_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], trellis_tests::free_port()))
}

/// Hosts a and b started with `a_flags` and `b_flags`; each with its
/// metrics on the returned address.
fn lattice(
    prefix: &str,
    a_flags: &[&str],
    b_flags: &[&str],
) -> anyhow::Result<(Lattice, SocketAddr, SocketAddr)> {
    let (a_metrics, b_metrics) = (metrics_port(), metrics_port());
    let (a_addr, b_addr) = (a_metrics.to_string(), b_metrics.to_string());
    let a_args = [&["--metrics-addr", a_addr.as_str()][..], a_flags].concat();
    let b_args = [&["--metrics-addr", b_addr.as_str()][..], b_flags].concat();
    let lattice = Lattice::start_with(prefix, &a_args, &b_args)?;
    Ok((lattice, a_metrics, b_metrics))
}

/// Spares made and used on the host whose metrics are at `addr`.
async fn spares(addr: SocketAddr) -> anyhow::Result<(u64, u64)> {
    let prepared = trellis_tests::scrape_one(addr, PREPARED).await?;
    let used = trellis_tests::scrape_one(addr, USED).await?;
    Ok((prepared, used))
}

/// Waits (bounded) until the spares made and used on the host at `addr`
/// satisfy `done`: they are made in the background after the invocation
/// answered.
async fn spares_until(
    addr: SocketAddr,
    done: impl Fn(u64, u64) -> bool,
) -> anyhow::Result<(u64, u64)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (prepared, used) = spares(addr).await?;
        if done(prepared, used) {
            return Ok((prepared, used));
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "still {prepared} spares made and {used} used after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until `count` spares were made.
async fn spares_made(addr: SocketAddr, count: u64) -> anyhow::Result<u64> {
    Ok(spares_until(addr, |made, _| made >= count).await?.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_calls_instance_is_made_ahead_and_is_still_fresh() -> anyhow::Result<()> {
    let (lattice, a_metrics, b_metrics) = lattice("spares", &["--no-spare-instances"], &[])?;
    let image = format!("file://{}", trellis_tests::actor("pingpong").display());
    for (id, host) in [("on-a", &lattice.a), ("on-b", &lattice.b)] {
        let argv = ["start", "component", &image, id, "--host", host.id()];
        lattice.cli.run(&argv)?.ok()?;
    }
    let served = |id: &str| -> anyhow::Result<String> {
        let argv = [
            "call",
            id,
            "trellis:examples/shapes.served",
            "--output",
            "table",
        ];
        Ok(lattice.cli.run(&argv)?.ok()?.stdout.trim().to_owned())
    };

    for round in 1..=3 {
        // A call in a spare counts from 1: no call ran there before.
        assert_eq!(served("on-b")?, "1", "call {round}");
        assert_eq!(trellis_tests::scrape_one(b_metrics, USED).await?, round - 1);
        assert_eq!(spares_made(b_metrics, round).await?, round, "one per call");
    }
    assert_eq!(served("on-b")?, "1");
    assert_eq!(trellis_tests::scrape_one(b_metrics, USED).await?, 3);

    for _ in 0..3 {
        assert_eq!(served("on-a")?, "1");
    }
    assert_eq!(spares(a_metrics).await?, (0, 0));
    Ok(())
}

/// The same for HTTP requests (a 0.2 handler) on a host started with
/// `--http-spare-instances`, and none on a host with the default (spares
/// for calls only): `misbehave`'s `/served` answers how many requests its
/// instance served, so `1` means no request ran in the instance before,
/// spare or not.
#[tokio::test(flavor = "multi_thread")]
async fn the_next_requests_instance_is_made_ahead_and_is_still_fresh() -> anyhow::Result<()> {
    let (lattice, a_metrics, b_metrics) = lattice("http-spares", &[], &["--http-spare-instances"])?;
    lattice.start_component("misbehave", "on-a", &lattice.a, 2)?;
    lattice.start_component("misbehave", "on-b", &lattice.b, 2)?;
    let (on_a, on_b) = (lattice.route("on-a")?, lattice.route("on-b")?);
    wait_for_http(&format!("{on_a}/ok"), 200, ROUTE_READY).await?;
    wait_for_http(&format!("{on_b}/ok"), 200, ROUTE_READY).await?;
    let served = |base: &str| {
        let url = format!("{base}/served");
        async move {
            let (status, _, body) = http_get(&url).await?;
            anyhow::ensure!(status == 200, "{url}: {status}");
            anyhow::Ok(String::from_utf8(body)?)
        }
    };

    // The readiness requests left one spare waiting: every spare made is
    // used by a request or still kept, and one is kept at most.
    let (mut prepared, mut used) =
        spares_until(b_metrics, |prepared, used| prepared == used + 1).await?;
    for round in 1..=3 {
        assert_eq!(served(&on_b).await?, "1", "request {round}");
        used += 1;
        prepared += 1;
        assert_eq!(trellis_tests::scrape_one(b_metrics, USED).await?, used);
        assert_eq!(spares_made(b_metrics, prepared).await?, prepared);
    }

    for _ in 0..3 {
        assert_eq!(served(&on_a).await?, "1");
    }
    assert_eq!(spares(a_metrics).await?, (0, 0));
    Ok(())
}
