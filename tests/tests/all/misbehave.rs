//! Guests that trap, spin or eat memory fail only their own request.

use trellis_tests::{http_get, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

/// A lattice whose host b has a short deadline (1 s) and a small memory
/// cap (32 MiB) and runs `wasm` as "bad" beside hello_http as "good";
/// returns both routes once `bad` answers 200 on `ready_path`.
pub(crate) async fn limited_lattice(
    prefix: &str,
    wasm: &str,
    ready_path: &str,
) -> anyhow::Result<(Lattice, String, String)> {
    let lattice = Lattice::start(
        prefix,
        &["--max-execution-ms", "1000", "--max-memory-mb", "32"],
    )?;
    lattice.start_component(wasm, "bad", &lattice.b, 2)?;
    lattice.start_component("hello_http", "good", &lattice.b, 2)?;
    let bad = lattice.route("bad")?;
    let good = lattice.route("good")?;
    wait_for_http(&format!("{bad}{ready_path}"), 200, ROUTE_READY).await?;
    wait_for_http(&format!("{good}/"), 200, ROUTE_READY).await?;
    Ok((lattice, bad, good))
}

/// Each `(path, status, reason)` of `bad` fails with that status and a
/// short body naming the reason, and after each the neighbour `good` and
/// `bad` itself (`healthy`: path and body) still answer.
pub(crate) async fn each_fails_alone(
    bad: &str,
    good: &str,
    cases: &[(&str, u16, &str)],
    healthy: (&str, &[u8]),
) -> anyhow::Result<()> {
    for &(path, expected, reason) in cases {
        let (status, _, body) = http_get(&format!("{bad}{path}")).await?;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body.contains(reason), "{path}: {body}");
        assert!(body.len() < 100, "error bodies stay short: {body}");
        let (status, _, body) = http_get(&format!("{good}/")).await?;
        assert_eq!(
            (status, body.as_slice()),
            (200, &b"Hello from Trellis!"[..]),
            "neighbour after {path}"
        );
        let (status, _, body) = http_get(&format!("{bad}{}", healthy.0)).await?;
        assert_eq!(
            (status, body.as_slice()),
            (200, healthy.1),
            "same component after {path}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn trap_loop_and_oom_fail_alone() -> anyhow::Result<()> {
    let (lattice, bad, good) = limited_lattice("misbehave", "misbehave", "/ok").await?;
    let inventory_before = lattice
        .cli
        .run(&["get", "inventory", lattice.b.id()])?
        .ok()?
        .json()?;

    let cases = [
        ("/trap", 500, "component trapped"),
        ("/loop", 503, "execution time limit"),
        ("/oom", 500, "component trapped"),
    ];
    each_fails_alone(&bad, &good, &cases, ("/ok", b"ok")).await?;

    let mut inventory_after = lattice
        .cli
        .run(&["get", "inventory", lattice.b.id()])?
        .ok()?
        .json()?;
    // The three failures are counted against `bad` alone; besides the
    // counts, nothing changed.
    let stats = |inv: &serde_json::Value, i: usize, what: &str| {
        inv[0]["components"][i]["stats"][what].as_u64().unwrap_or(0)
    };
    assert_eq!(inventory_after[0]["components"][0]["id"], "bad");
    let failures = stats(&inventory_after, 0, "failures") - stats(&inventory_before, 0, "failures");
    let calls =
        stats(&inventory_after, 0, "invocations") - stats(&inventory_before, 0, "invocations");
    assert_eq!((failures, calls), (3, 6), "{inventory_after}");
    assert_eq!(
        stats(&inventory_after, 1, "failures"),
        0,
        "{inventory_after}"
    );
    let mut before = inventory_before;
    for inv in [&mut before, &mut inventory_after] {
        for c in inv[0]["components"].as_array_mut().into_iter().flatten() {
            c["stats"] = serde_json::Value::Null;
        }
    }
    assert_eq!(
        before[0]["components"], inventory_after[0]["components"],
        "inventory changed"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn max_bounds_concurrency_and_waiting_is_bounded() -> anyhow::Result<()> {
    let lattice = Lattice::start("maxbound", &["--max-execution-ms", "3000"])?;
    lattice.start_component("misbehave", "solo", &lattice.b, 1)?;
    let slow = lattice.route("solo")?;
    // Same component, but callers give up after 300 ms.
    let quick = lattice.route_with("solo", "quick", &["timeout_ms=300"])?;
    wait_for_http(&format!("{slow}/ok"), 200, ROUTE_READY).await?;
    wait_for_http(&format!("{quick}/ok"), 200, ROUTE_READY).await?;

    // One spinning request takes the only instance slot for 3 s...
    let spinning = tokio::spawn(http_get(format!("{slow}/loop").leak()));
    // ...so a caller that waits 300 ms for a slot gets a prompt 503.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    let busy = loop {
        let (status, _, body) = http_get(&format!("{quick}/ok")).await?;
        let body = String::from_utf8_lossy(&body).into_owned();
        if status == 503 {
            break body;
        }
        assert_eq!(status, 200, "{body}");
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "never saw the slot taken"
        );
    };
    assert!(busy.contains("all instances of solo are busy"), "{busy}");

    let (status, _, _) = spinning.await??;
    assert_eq!(status, 503, "the spinning request hits the execution limit");
    // The slot is free again.
    let (status, _, body) = http_get(&format!("{quick}/ok")).await?;
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    Ok(())
}
