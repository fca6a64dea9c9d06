//! One component filling the host's instance pool must not starve its
//! neighbours: it gets 503 busy at its share, the others keep serving, and
//! nothing is reported as a trap.

use std::time::Duration;

use trellis_tests::{http_get, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

/// The pool of host b.
const POOL: usize = 8;

#[tokio::test(flavor = "multi_thread")]
async fn a_component_at_the_pool_limit_gets_busy_and_neighbours_keep_serving() -> anyhow::Result<()>
{
    let lattice = Lattice::start("starve", &["--max-instances", &POOL.to_string()])?;
    // `hog` may run twice the pool; `calm` a few.
    lattice.start_component("misbehave", "hog", &lattice.b, 2 * POOL as u32)?;
    lattice.start_component("hello_http", "calm", &lattice.b, 4)?;
    let slow = lattice.route_with("hog", "hog", &["timeout_ms=30000"])?;
    let quick = lattice.route_with("hog", "hog-quick", &["timeout_ms=500"])?;
    let calm = lattice.route("calm")?;
    wait_for_http(&format!("{slow}/ok"), 200, ROUTE_READY).await?;
    wait_for_http(&format!("{quick}/ok"), 200, ROUTE_READY).await?;
    wait_for_http(&format!("{calm}/"), 200, ROUTE_READY).await?;

    // More sleepers than the pool holds: they take every slot `hog` may
    // have and the rest wait for one.
    let sleepers: Vec<_> = (0..POOL)
        .map(|_| tokio::spawn(http_get(format!("{slow}/sleep?ms=8000").leak())))
        .collect();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let busy = loop {
        let (status, _, body) = http_get(&format!("{quick}/ok")).await?;
        let body = String::from_utf8_lossy(&body).into_owned();
        seen.push(body.clone());
        if status == 503 {
            break body;
        }
        assert_eq!(status, 200, "{body}");
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "hog never filled its share of the pool"
        );
    };
    assert!(busy.contains("hog is busy"), "{busy}");

    // Its neighbour still answers, every time.
    for _ in 0..5 {
        let (status, _, body) = http_get(&format!("{calm}/")).await?;
        let body = String::from_utf8_lossy(&body).into_owned();
        assert_eq!((status, body.as_str()), (200, "Hello from Trellis!"));
    }
    // And hog was saturated all along (the sleepers last 8 s).
    let (status, _, body) = http_get(&format!("{quick}/ok")).await?;
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 503, "{body}");
    seen.push(body);

    // The sleepers that had to wait for a slot got one: all succeed.
    for sleeper in sleepers {
        let (status, _, body) = sleeper.await??;
        let body = String::from_utf8_lossy(&body).into_owned();
        assert_eq!((status, body.as_str()), (200, "slept"));
    }
    for body in seen {
        assert!(!body.contains("trapped"), "{body}");
    }
    let log = lattice.b.log();
    assert!(!log.contains("guest trapped"), "host b log:\n{log}");
    Ok(())
}
