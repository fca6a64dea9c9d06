//! Components that are not HTTP handlers: `actors/pingpong` exports only
//! custom WIT interfaces (`example:pong/pingpong`, wasmCloud's, and
//! `trellis:examples/shapes`). It starts like any component, its exports
//! and imports show in the inventory, and `trellis call` invokes its
//! functions over NATS with arguments in WAVE text.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use crate::fixture::Lattice;

/// `trellis call pong FUNCTION ARGS...` (table output: one WAVE line per
/// result).
fn call(lattice: &Lattice, function: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["call", "pong", function, "--output", "table"];
    argv.extend_from_slice(args);
    Ok(lattice.cli.run(&argv)?.ok()?.stdout.trim().to_owned())
}

/// The same as JSON (the test CLI's default output).
fn call_json(
    lattice: &Lattice,
    function: &str,
    args: &[&str],
) -> anyhow::Result<serde_json::Value> {
    let mut argv = vec!["call", "pong", function];
    argv.extend_from_slice(args);
    lattice.cli.run(&argv)?.ok()?.json()
}

/// The component `id` as host `host_id`'s inventory lists it.
fn listed(lattice: &Lattice, host_id: &str, id: &str) -> anyhow::Result<serde_json::Value> {
    let inventory = lattice
        .cli
        .run(&["get", "inventory", host_id, "--output", "json"])?
        .ok()?
        .json()?;
    let components = inventory[0]["components"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    components
        .into_iter()
        .find(|c| c["id"] == id)
        .ok_or_else(|| anyhow::anyhow!("{id} not in the inventory: {inventory}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_without_http_runs_and_every_export_can_be_called() -> anyhow::Result<()> {
    let lattice = Lattice::start("calls", &["--max-execution-ms", "1000"])?;
    lattice.start_component("pingpong", "pong", &lattice.b, 2)?;

    let pong = listed(&lattice, lattice.b.id(), "pong")?;
    let exports = pong["exports"].as_array().cloned().unwrap_or_default();
    assert!(
        exports.contains(&json!("example:pong/pingpong"))
            && exports.contains(&json!("trellis:examples/shapes@0.1.0")),
        "{pong}"
    );
    let imports = pong["imports"].as_array().cloned().unwrap_or_default();
    assert!(
        imports
            .iter()
            .any(|i| i.as_str().is_some_and(|i| i.starts_with("wasi:cli/"))),
        "{pong}"
    );

    // Every call crosses NATS to the component's queue group.
    let mut rpc = lattice.watch_rpc("pong").await?;

    assert_eq!(
        call(&lattice, "example:pong/pingpong.ping", &[])?,
        "\"pong\""
    );
    let seen = tokio::time::timeout(Duration::from_secs(10), rpc.next()).await?;
    assert!(
        seen.is_some_and(|m| m.subject.ends_with(".rpc.pong.example:pong/pingpong.ping")),
        "the call must go to pong's rpc subject"
    );

    let shapes = "trellis:examples/shapes";
    // A record in and out.
    let translate = format!("{shapes}.translate");
    let moved = ["{x: 1, y: 2}", "10", "-20"];
    assert_eq!(call(&lattice, &translate, &moved)?, "{x: 11, y: -18}");
    assert_eq!(
        call_json(&lattice, &translate, &moved)?,
        json!([{"x": 11, "y": -18}])
    );
    // A variant, each case.
    let area = format!("{shapes}.area");
    assert_eq!(call(&lattice, &area, &["circle(5)"])?, "75");
    assert_eq!(call(&lattice, &area, &["rect({x: -3, y: 7})"])?, "21");
    assert_eq!(call(&lattice, &area, &["empty"])?, "0");
    // A list.
    let reverse = format!("{shapes}.reverse");
    assert_eq!(
        call(&lattice, &reverse, &[r#"["a", "b", "c"]"#])?,
        r#"["c", "b", "a"]"#
    );
    // A result, both ways: the error case is a value, not a failure.
    let divide = format!("{shapes}.divide");
    assert_eq!(call(&lattice, &divide, &["7", "2"])?, "ok(3)");
    assert_eq!(
        call(&lattice, &divide, &["1", "0"])?,
        r#"err("division by zero")"#
    );
    assert_eq!(
        call_json(&lattice, &divide, &["1", "0"])?,
        json!([{"err": "division by zero"}])
    );
    // Enum, flags and option in, a tuple out.
    let describe = format!("{shapes}.describe");
    assert_eq!(
        call(
            &lattice,
            &describe,
            &["green", "{read, write}", "some(\"label\")"]
        )?,
        r#"("green read|write label", 2)"#
    );
    assert_eq!(
        call(&lattice, &describe, &["red", "{}", "none"])?,
        r#"("red", 0)"#
    );
    // Bytes.
    let echo = format!("{shapes}.echo-bytes");
    assert_eq!(call(&lattice, &echo, &["[1, 2, 3]"])?, "[3, 2, 1]");

    // `--host` calls that host's instance, and only that one.
    let ping = "example:pong/pingpong.ping";
    assert_eq!(
        call(&lattice, ping, &["--host", lattice.b.id()])?,
        "\"pong\""
    );
    let elsewhere = lattice
        .cli
        .run(&["call", "pong", ping, "--host", lattice.a.id()])?;
    assert!(
        !elsewhere.success() && elsewhere.stderr.contains("not running on this host"),
        "{}",
        elsewhere.stderr
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_calls_get_clear_errors_and_failures_are_counted() -> anyhow::Result<()> {
    let lattice = Lattice::start("badcalls", &["--max-execution-ms", "1000"])?;
    lattice.start_component("pingpong", "pong", &lattice.b, 2)?;
    let fails = |argv: &[&str]| -> anyhow::Result<String> {
        let mut all = vec!["call", "pong"];
        all.extend_from_slice(argv);
        let out = lattice.cli.run(&all)?;
        assert!(!out.success(), "{argv:?} must fail: {}", out.stdout);
        Ok(out.stderr)
    };
    let shapes = "trellis:examples/shapes";

    // The caller's mistakes: named, with what exists instead.
    let err = fails(&["example:pong/nothing.ping"])?;
    assert!(
        err.contains("does not export example:pong/nothing")
            && err.contains("example:pong/pingpong"),
        "{err}"
    );
    let err = fails(&["example:pong/pingpong.pang"])?;
    assert!(
        err.contains("no function `pang`") && err.contains("ping"),
        "{err}"
    );
    let err = fails(&[&format!("{shapes}.divide"), "1"])?;
    assert!(err.contains("takes 2 arguments, 1 given"), "{err}");
    let err = fails(&[&format!("{shapes}.area"), "square(2)"])?;
    assert!(
        err.contains("argument 1") && err.contains("square(2)"),
        "{err}"
    );

    // The guest's failures: a trap and a blown deadline fail that call only.
    let err = fails(&[&format!("{shapes}.crash")])?;
    assert!(err.contains("trapped"), "{err}");
    let err = fails(&[&format!("{shapes}.spin")])?;
    assert!(err.contains("execution time limit"), "{err}");
    assert_eq!(
        call(&lattice, "example:pong/pingpong.ping", &[])?,
        "\"pong\""
    );

    // Stats: every call counts, but only the guest's two failures fail: a
    // refused call is the caller's mistake, not the component's.
    let inventory = lattice
        .cli
        .run(&["get", "inventory", lattice.b.id(), "--output", "json"])?
        .ok()?
        .json()?;
    let stats = &inventory[0]["components"][0]["stats"];
    assert_eq!(stats["invocations"], 7, "{inventory}");
    assert_eq!(stats["failures"], 2, "{inventory}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn reuse_serves_calls_in_one_instance_up_to_its_count_and_never_after_a_failure()
-> anyhow::Result<()> {
    let lattice = Lattice::start("reuse", &["--max-execution-ms", "1000"])?;
    let image = format!("file://{}", trellis_tests::actor("pingpong").display());
    for (id, reuse) in [("kept", Some("4")), ("fresh", None)] {
        let mut argv = vec!["start", "component", &image, id, "--host", lattice.b.id()];
        argv.extend(reuse.iter().flat_map(|n| ["--reuse", *n]));
        lattice.cli.run(&argv)?.ok()?;
    }
    let call = |id: &str, function: &str| -> anyhow::Result<String> {
        let out = lattice
            .cli
            .run(&["call", id, function, "--output", "table"])?;
        Ok(if out.success() {
            out.stdout.trim().to_owned()
        } else {
            format!("failed: {}", out.stderr.trim())
        })
    };
    let served = |id: &str| call(id, "trellis:examples/shapes.served");

    // Every call of `fresh` runs in a new instance.
    for _ in 0..3 {
        assert_eq!(served("fresh")?, "1");
    }
    // `kept` serves 4 calls (of any function) per instance, then a new one.
    assert_eq!(served("kept")?, "1");
    assert_eq!(served("kept")?, "2");
    assert_eq!(call("kept", "example:pong/pingpong.ping")?, "\"pong\"");
    assert_eq!(served("kept")?, "3", "the 4th call of the instance");
    assert_eq!(served("kept")?, "1", "a 5th call gets a new instance");
    // A kept instance gets a new deadline per call: one call's time is up
    // long before the next one runs in it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(served("kept")?, "2");
    // A trap, or the deadline, drops the instance.
    let crashed = call("kept", "trellis:examples/shapes.crash")?;
    assert!(crashed.contains("trapped"), "{crashed}");
    assert_eq!(served("kept")?, "1");
    let spun = call("kept", "trellis:examples/shapes.spin")?;
    assert!(spun.contains("execution time limit"), "{spun}");
    assert_eq!(served("kept")?, "1");
    // A new bound is a new generation: the kept instance goes.
    lattice
        .cli
        .run(&["scale", "component", "kept", "--max", "2"])?
        .ok()?;
    assert_eq!(served("kept")?, "1");
    assert_eq!(served("kept")?, "2");

    // The inventory says which component reuses instances.
    assert_eq!(listed(&lattice, lattice.b.id(), "kept")?["reuse"], 4);
    assert!(
        listed(&lattice, lattice.b.id(), "fresh")?
            .get("reuse")
            .is_none()
    );
    // So does the CLI's refusal of a count that means nothing.
    let zero = lattice
        .cli
        .run(&["start", "component", &image, "zero", "--reuse", "0"])?;
    assert!(
        !zero.success() && zero.stderr.contains("--reuse"),
        "{}",
        zero.stderr
    );
    Ok(())
}

/// A kept instance holds the permit of a component with the default
/// `--max 1`: calls that queued for that permit while the instance ran
/// are served by it once it is kept, not left waiting out their deadline.
#[tokio::test(flavor = "multi_thread")]
async fn calls_queued_behind_a_kept_instance_are_served_by_it() -> anyhow::Result<()> {
    use trellis_protocol::call::{CallArgs, CallRequest};
    use trellis_protocol::context::CallContext;
    use trellis_protocol::value::Values;
    use trellis_protocol::{ComponentId, LatticeName, LinkName};

    const CALLS: usize = 64;
    let lattice = Lattice::start("reuse-queue", &[])?;
    let image = format!("file://{}", trellis_tests::actor("pingpong").display());
    lattice
        .cli
        .run(&[
            "start",
            "component",
            &image,
            "kept",
            "--host",
            lattice.b.id(),
            "--reuse",
            "1000",
        ])?
        .ok()?;
    let client = trellis_lattice::Lattice::connect(&trellis_lattice::LatticeConfig {
        nats_url: lattice.nats.url(),
        lattice: LatticeName::new(lattice.name.clone())?,
        ..trellis_lattice::LatticeConfig::default()
    })
    .await?;
    let target = ComponentId::new("kept")?;
    let interface = "trellis:examples/shapes".parse()?;
    let function = trellis_protocol::link::WitName::new("served")?;
    let request = CallRequest {
        args: CallArgs::Values(Values::empty()),
        wave: false,
    };
    // All at once: NATS hands them to the host together, so all but one
    // wait for the component's single permit.
    let calls = (0..CALLS).map(|_| {
        let ctx = CallContext::new(None, LinkName::default(), Duration::from_secs(5));
        let (client, target, interface, function, request) =
            (&client, &target, &interface, &function, &request);
        async move {
            client
                .call(target, interface, function, request, &ctx)
                .await
        }
    });
    let answers = futures::future::join_all(calls).await;
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|a| a.as_ref().err().map(|e| e.message.clone()))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {CALLS} calls failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    // One instance answered them all, and answers this call too: the
    // instance counts its calls of `served`.
    let served = lattice.cli.run(&[
        "call",
        "kept",
        "trellis:examples/shapes.served",
        "--output",
        "table",
    ])?;
    assert_eq!(served.ok()?.stdout.trim(), (CALLS + 1).to_string());
    Ok(())
}
