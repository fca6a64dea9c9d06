//! The actor mesh: components calling components through their own WIT
//! interfaces, bound at run time by links. `relay` imports wasmCloud's
//! `example:pong/pingpong` and `trellis:examples/shapes` and exports
//! `trellis:examples/relay`; `pingpong` exports the first two;
//! `http_relay` serves HTTP by calling `relay`.

use std::time::Duration;

use futures::StreamExt;
use trellis_tests::sim::{SimHosts, SimOptions};
use trellis_tests::{Host, HostOpts, actor, http_get, wait_for_http};

use crate::fixture::{Lattice, PONG_U32, ROUTE_READY};

const RELAY: &str = "trellis:examples/relay";

/// `trellis call relay RELAY.FUNCTION ARGS...` as WAVE text.
fn relay(lattice: &Lattice, function: &str, args: &[&str]) -> anyhow::Result<String> {
    let function = format!("{RELAY}.{function}");
    let mut argv = vec!["call", "relay", &function, "--output", "table"];
    argv.extend_from_slice(args);
    Ok(lattice.cli.run(&argv)?.ok()?.stdout.trim().to_owned())
}

/// Links `source`'s imports of `ns:pkg/iface` to `target`.
fn link(lattice: &Lattice, source: &str, target: &str, wit: &str) -> anyhow::Result<()> {
    let (ns, rest) = wit.split_once(':').expect("ns:pkg/iface");
    let (pkg, iface) = rest.split_once('/').expect("ns:pkg/iface");
    let argv = ["link", "put", source, target, ns, pkg, "--interface", iface];
    lattice.cli.run(&argv)?.ok()?;
    Ok(())
}

/// The lattice's links as `trellis get links` prints them in JSON.
fn links_json(lattice: &Lattice) -> anyhow::Result<String> {
    let out = lattice.cli.run(&["get", "links", "--output", "json"])?;
    Ok(out.ok()?.stdout.clone())
}

/// Waits until nothing arrives on `sub` for a while: what was in flight
/// has been seen.
async fn drain(sub: &mut async_nats::Subscriber) {
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), sub.next()).await {}
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_follow_links_locally_first_and_fall_back_across_hosts() -> anyhow::Result<()> {
    let lattice = Lattice::start("mesh", &[])?;
    lattice.start_component("relay", "relay", &lattice.b, 4)?;
    lattice.start_component("pingpong", "pong", &lattice.a, 4)?;

    // Unlinked: a function with no error case traps, and the host log says
    // which link to make; one returning result<_, string> gets the reason
    // as its `err`.
    let out = lattice
        .cli
        .run(&["call", "relay", &format!("{RELAY}.ping-through")])?;
    assert!(
        !out.success() && out.stderr.contains("trapped"),
        "{}",
        out.stderr
    );
    let log = lattice.b.log();
    assert!(
        log.contains("no link from relay for example:pong/pingpong")
            && log.contains("trellis link put relay TARGET example pong --interface pingpong"),
        "host b's log must say which link is missing"
    );
    let unlinked = relay(&lattice, "divide-through", &["1", "2"])?;
    assert!(
        unlinked.starts_with("err(")
            && unlinked.contains("no link from relay for trellis:examples/shapes"),
        "{unlinked}"
    );

    // Linked to a target that does not export the interface: `link put`
    // refuses it, naming what the target exports instead...
    let put = [
        "link",
        "put",
        "relay",
        "relay",
        "trellis",
        "examples",
        "--interface",
        "shapes",
    ];
    let refused = lattice.cli.run(&put)?;
    assert!(
        !refused.success()
            && refused.stderr.contains(
                "relay imports trellis:examples/shapes, which relay does not export (it \
                 exports trellis:examples/relay@0.1.0)"
            ),
        "{}",
        refused.stderr
    );
    // ...and stored anyway, a call's error names the link and the same.
    let mut forced = put.to_vec();
    forced.push("--no-type-check");
    lattice.cli.run(&forced)?.ok()?;
    let mismatched = relay(&lattice, "divide-through", &["1", "2"])?;
    assert!(
        mismatched.starts_with("err(")
            && mismatched.contains("through the link from relay to relay")
            && mismatched.contains("does not export trellis:examples/shapes")
            && mismatched.contains("trellis:examples/relay@0.1.0"),
        "{mismatched}"
    );

    link(&lattice, "relay", "pong", "example:pong/pingpong")?;
    let argv = [
        "link",
        "put",
        "relay",
        "pong",
        "trellis",
        "examples",
        "--interface",
        "shapes",
        "--force",
    ];
    lattice.cli.run(&argv)?.ok()?;
    let mut pong_rpc = lattice.watch_rpc("pong").await?;

    // Linked, pong on the other host: the calls cross NATS.
    assert_eq!(relay(&lattice, "ping-through", &[])?, "\"relayed pong\"");
    assert_eq!(
        relay(&lattice, "translate-through", &["{x: 1, y: 2}", "3", "4"])?,
        "{x: 4, y: 6}"
    );
    assert_eq!(
        relay(&lattice, "divide-through", &["1", "0"])?,
        r#"err("division by zero")"#
    );
    let seen = tokio::time::timeout(Duration::from_secs(5), pong_rpc.next()).await?;
    assert!(seen.is_some(), "relay on b must reach pong on a over NATS");

    // pong also on relay's host: its calls stay in process.
    lattice.start_component("pingpong", "pong", &lattice.b, 4)?;
    drain(&mut pong_rpc).await;
    for _ in 0..20 {
        assert_eq!(relay(&lattice, "ping-through", &[])?, "\"relayed pong\"");
    }
    let leaked = tokio::time::timeout(Duration::from_millis(500), pong_rpc.next()).await;
    assert!(
        leaked.is_err(),
        "with pong on its own host, relay's calls must not cross NATS"
    );

    // pong stops on relay's host: calls go back to host a, none fails.
    lattice
        .cli
        .run(&["stop", "component", "pong", "--host", lattice.b.id()])?
        .ok()?;
    for _ in 0..20 {
        assert_eq!(relay(&lattice, "ping-through", &[])?, "\"relayed pong\"");
    }
    let seen = tokio::time::timeout(Duration::from_secs(5), pong_rpc.next()).await?;
    assert!(seen.is_some(), "after the stop, calls must reach host a");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn http_to_a_to_b_across_three_hosts_under_load_and_with_64_mib_each_way()
-> anyhow::Result<()> {
    // Over the inline limit (512 KiB), so the list crosses as a pulled
    // body both ways, and on the typed fast path (`echo-through` and
    // `echo-bytes` take and give one `list<u8>`) with the host's defaults.
    const SIZE: usize = 64 << 20;
    // This test is about integrity, not speed: a loaded CI machine may
    // take more than the default 10 s for the 64 MiB request.
    let slow = ["--max-execution-ms", "60000"];
    let lattice = Lattice::start_with("chain", &slow, &slow)?;
    let c = Host::spawn(
        &lattice.nats,
        HostOpts {
            lattice: lattice.name.clone(),
            name: "c".into(),
            heartbeat_ms: Some(500),
            extra_args: slow.iter().map(|s| s.to_string()).collect(),
            ..HostOpts::default()
        },
    )?;
    // HTTP provider on a, the HTTP component (A) on b, relay (B) on c, and
    // pong behind relay on c too.
    lattice.start_component("http_relay", "front", &lattice.b, 64)?;
    lattice.start_component("relay", "relay", &c, 64)?;
    lattice.start_component("pingpong", "pong", &c, 64)?;
    link(&lattice, "front", "relay", RELAY)?;
    link(&lattice, "relay", "pong", "example:pong/pingpong")?;
    link(&lattice, "relay", "pong", "trellis:examples/shapes")?;
    let url = lattice.route("front")?;
    let (_, _, body) = wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;
    assert_eq!(body, b"http -> relayed pong");

    let mut relay_rpc = lattice.watch_rpc("relay").await?;
    let root = format!("{url}/");
    let requests = (0..200).map(|_| http_get(&root));
    let answers = futures::future::join_all(requests).await;
    for answer in answers {
        let (status, _, body) = answer?;
        assert_eq!(
            (status, body.as_slice()),
            (200, b"http -> relayed pong".as_slice())
        );
    }
    let seen = tokio::time::timeout(Duration::from_secs(5), relay_rpc.next()).await?;
    assert!(seen.is_some(), "front on b reaches relay on c over NATS");

    // 64 MiB out to B and back: echo-bytes answers the bytes reversed.
    let started = std::time::Instant::now();
    let (status, _, back) = http_get(&format!("{url}/bytes?n={SIZE}")).await?;
    eprintln!("64 MiB http -> A -> B and back in {:?}", started.elapsed());
    assert_eq!(
        status,
        200,
        "{}",
        String::from_utf8_lossy(&back[..back.len().min(300)])
    );
    assert_eq!(back.len(), SIZE);
    let wrong = back
        .iter()
        .enumerate()
        .position(|(i, b)| *b != ((SIZE - 1 - i) % 251) as u8);
    assert_eq!(wrong, None, "64 MiB came back corrupted at byte {wrong:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fast_path_call_over_the_hosts_limit_fails_with_the_flag_to_raise() -> anyhow::Result<()>
{
    // Host b takes at most 1 MiB per call; `front` on b sends 2 MiB to
    // `relay` (`echo-through`, a typed fast-path function with no error
    // case): the guest traps, the request fails, and b's log names the
    // limit and the flag. A call under the limit still works.
    let small = ["--max-response-mb", "1"];
    let lattice = Lattice::start_with("bound", &[], &small)?;
    lattice.start_component("http_relay", "front", &lattice.b, 4)?;
    lattice.start_component("relay", "relay", &lattice.b, 4)?;
    lattice.start_component("pingpong", "pong", &lattice.b, 4)?;
    link(&lattice, "front", "relay", RELAY)?;
    link(&lattice, "relay", "pong", "example:pong/pingpong")?;
    link(&lattice, "relay", "pong", "trellis:examples/shapes")?;
    let url = lattice.route("front")?;
    wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;

    let (status, _, back) = http_get(&format!("{url}/bytes?n={}", 512 << 10)).await?;
    assert_eq!((status, back.len()), (200, 512 << 10));
    let (status, _, _) = http_get(&format!("{url}/bytes?n={}", 2 << 20)).await?;
    assert_eq!(status, 500);
    let log = lattice.b.log();
    assert!(
        log.contains("arguments of 2097152 bytes are over the host's limit of 1048576 bytes")
            && log.contains("--max-response-mb"),
        "host b's log must name the limit and the flag:\n{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn link_put_checks_function_types_when_both_ends_run() -> anyhow::Result<()> {
    let lattice = Lattice::start("types", &[])?;
    lattice.start_component("relay", "relay", &lattice.b, 4)?;
    lattice.start_component("pingpong", "pong", &lattice.a, 4)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("pong_u32.wasm");
    std::fs::write(&path, wat::parse_str(PONG_U32)?)?;
    let image = format!("file://{}", path.display());
    let argv = [
        "start",
        "component",
        &image,
        "pong-u32",
        "--host",
        lattice.a.id(),
    ];
    lattice.cli.run(&argv)?.ok()?;

    // Refused, with the function and both types, and nothing stored.
    let put = [
        "link",
        "put",
        "relay",
        "pong-u32",
        "example",
        "pong",
        "--interface",
        "pingpong",
    ];
    let out = lattice.cli.run(&put)?;
    assert!(!out.success(), "a mismatched link must be refused");
    assert!(
        out.stderr.contains(
            "example:pong/pingpong.ping: relay imports it as `func() -> string`, pong-u32 \
             exports it as `func() -> u32`"
        ) && out.stderr.contains("--no-type-check"),
        "{}",
        out.stderr
    );
    let links = links_json(&lattice)?;
    assert!(!links.contains("pong-u32"), "nothing stored: {links}");

    // Stored on request; the call then traps at call time (`ping` has no
    // error case) and relay's host log says why.
    let mut forced = put.to_vec();
    forced.push("--no-type-check");
    lattice.cli.run(&forced)?.ok()?;
    let out = lattice
        .cli
        .run(&["call", "relay", &format!("{RELAY}.ping-through")])?;
    assert!(
        !out.success() && out.stderr.contains("trapped"),
        "{}",
        out.stderr
    );
    let log = lattice.b.log();
    assert!(
        log.contains(
            "example:pong/pingpong.ping: the answer does not fit the import's result types"
        ),
        "host b's log must say why the call failed:\n{log}"
    );

    // A target with the same types passes the check.
    let put = [
        "link",
        "put",
        "relay",
        "pong",
        "example",
        "pong",
        "--interface",
        "pingpong",
        "--force",
    ];
    lattice.cli.run(&put)?.ok()?;
    assert_eq!(relay(&lattice, "ping-through", &[])?, "\"relayed pong\"");
    Ok(())
}

/// A host that cannot report a component's types (an older host; here a
/// simulated one, which runs no wasm) does not block `link put`: the CLI
/// warns that the types were not checked and stores the link.
#[tokio::test(flavor = "multi_thread")]
async fn link_put_stores_with_a_warning_when_a_host_cannot_report_types() -> anyhow::Result<()> {
    let lattice = Lattice::start("untyped", &[])?;
    lattice.start_component("relay", "relay", &lattice.b, 1)?;
    let sims = SimHosts::start(SimOptions::new(lattice.nats.url(), &lattice.name, 1)).await?;
    let sim = sims.ids()[0].to_string();
    let image = format!("file://{}", actor("pingpong").display());
    let start = ["start", "component", &image, "pong-sim", "--host", &sim];
    lattice.cli.run(&start)?.ok()?;

    let put = [
        "link",
        "put",
        "relay",
        "pong-sim",
        "example",
        "pong",
        "--interface",
        "pingpong",
    ];
    let out = lattice.cli.run(&put)?;
    assert!(
        out.success()
            && out.stderr.contains("types were not checked")
            && out.stderr.contains("simulated host"),
        "{}",
        out.stderr
    );
    let links = links_json(&lattice)?;
    assert!(links.contains("pong-sim"), "the link is stored: {links}");
    Ok(())
}
