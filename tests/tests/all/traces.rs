//! OpenTelemetry traces across hosts: one request through the HTTP server
//! provider on host 1, the component on host 2 and the key-value provider
//! on host 3 is one trace, each hop a span under the one before, as an
//! OTLP receiver gets them from the three hosts. Component-to-component
//! calls are spans of the same trace, whether they cross NATS or not.

use std::collections::BTreeSet;
use std::time::Duration;

use trellis_tests::{
    Cli, Host, HostOpts, NatsServer, OtlpReceiver, ReceivedSpan, actor, free_port, http_request,
    unique_lattice, wait_for_http,
};

use crate::fixture::ROUTE_READY;

/// How long exported spans may take to arrive (hosts batch every 100 ms).
const SPANS_ARRIVE: Duration = Duration::from_secs(20);

/// The caller's trace context the test request carries.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn host(nats: &NatsServer, lattice: &str, name: &str, otlp: &OtlpReceiver) -> anyhow::Result<Host> {
    Host::spawn(
        nats,
        HostOpts {
            lattice: lattice.to_owned(),
            name: name.into(),
            extra_args: vec!["--otlp-endpoint".into(), otlp.endpoint()],
            env: vec![("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into())],
            ..HostOpts::default()
        },
    )
}

fn one<'a>(
    spans: &'a [ReceivedSpan],
    name: &str,
    parent: &str,
) -> anyhow::Result<&'a ReceivedSpan> {
    match spans
        .iter()
        .filter(|s| s.name == name && s.parent_span_id == parent)
        .collect::<Vec<_>>()[..]
    {
        [span] => Ok(span),
        _ => anyhow::bail!("not exactly one `{name}` span under {parent} in {spans:#?}"),
    }
}

/// Links the counter's key-value imports to `provider`.
fn link_kv(cli: &Cli, provider: &str) -> anyhow::Result<()> {
    cli.run(&[
        "link",
        "put",
        "counter",
        provider,
        "wasi",
        "keyvalue",
        "--interface",
        "store",
        "--interface",
        "atomics",
    ])?
    .ok()?;
    Ok(())
}

/// One increment, under the caller's trace `trace` if given.
async fn incr(url: &str, trace: Option<&str>) -> anyhow::Result<trellis_tests::HttpResponse> {
    let traceparent = trace.map(|t| format!("00-{t}-{CALLER_SPAN}-01"));
    let headers: Vec<(&str, &str)> = traceparent
        .iter()
        .map(|t| ("traceparent", t.as_str()))
        .collect();
    let url = format!("{url}/incr?key=traced");
    http_request("POST", &url, &headers, Vec::new()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn one_request_is_one_trace_across_three_hosts() -> anyhow::Result<()> {
    let otlp = OtlpReceiver::start().await?;
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("traces");
    let (h1, h2, h3) = (
        host(&nats, &lattice, "h1", &otlp)?,
        host(&nats, &lattice, "h2", &otlp)?,
        host(&nats, &lattice, "h3", &otlp)?,
    );
    let cli = Cli::new(&nats, &lattice);
    let data = tempfile::tempdir()?;
    let path = format!("path={}", data.path().display());
    cli.run(&["config", "put", "kv-data", &path])?.ok()?;
    cli.run(&[
        "start",
        "provider",
        "builtin://http-server",
        "http",
        "--host",
        h1.id(),
    ])?
    .ok()?;
    cli.run(&[
        "start",
        "provider",
        "builtin://keyvalue-sled",
        "kv",
        "--host",
        h3.id(),
        "--config",
        "kv-data",
    ])?
    .ok()?;
    let image = format!("file://{}", actor("kv_counter").display());
    cli.run(&["start", "component", &image, "counter", "--host", h2.id()])?
        .ok()?;
    link_kv(&cli, "kv")?;
    let port = free_port();
    let address = format!("address=127.0.0.1:{port}");
    cli.run(&["config", "put", "counter-http", &address])?
        .ok()?;
    cli.run(&[
        "link",
        "put",
        "http",
        "counter",
        "wasi",
        "http",
        "--interface",
        "incoming-handler",
        "--source-config",
        "counter-http",
    ])?
    .ok()?;
    let url = format!("http://127.0.0.1:{port}");
    wait_for_http(&format!("{url}/get?key=warm"), 404, ROUTE_READY).await?;

    let (status, headers, body) = incr(&url, Some(TRACE)).await?;
    assert_eq!((status, body), (200, b"1".to_vec()));

    let spans = otlp
        .wait_for(SPANS_ARRIVE, |spans| {
            let ours = spans.iter().filter(|s| s.trace_id == TRACE);
            // http, invoke, two key-value calls (open, increment) and the
            // provider's two answers.
            ours.count() >= 6
        })
        .await?;
    let ours: Vec<ReceivedSpan> = spans.into_iter().filter(|s| s.trace_id == TRACE).collect();

    // Each hop under the one before, on the host that ran it.
    let http = one(&ours, "http request", CALLER_SPAN)?;
    assert_eq!(http.instance, h1.id());
    assert_eq!(http.attributes["http.response.status_code"], "200");
    let invoke = one(&ours, "invoke http", &http.span_id)?;
    assert_eq!(invoke.instance, h2.id());
    assert_eq!(invoke.attributes["trellis.component"], "counter");
    let calls: Vec<&ReceivedSpan> = ours
        .iter()
        .filter(|s| s.name == "keyvalue" && s.parent_span_id == invoke.span_id)
        .collect();
    let methods: BTreeSet<&str> = calls
        .iter()
        .map(|s| s.attributes["rpc.method"].as_str())
        .collect();
    assert_eq!(
        methods,
        BTreeSet::from([
            "wasi:keyvalue/store.open",
            "wasi:keyvalue/atomics.increment"
        ]),
        "{ours:#?}"
    );
    for call in &calls {
        assert_eq!(call.instance, h2.id());
        assert_eq!(call.attributes["trellis.route"], "lattice");
        let answer = one(&ours, "provider call", &call.span_id)?;
        assert_eq!(answer.instance, h3.id());
        assert!(!answer.failed, "{answer:?}");
    }
    let hosts: BTreeSet<&str> = ours.iter().map(|s| s.instance.as_str()).collect();
    assert_eq!(hosts, BTreeSet::from([h1.id(), h2.id(), h3.id()]));

    // The component read the invocation's own context as its traceparent.
    let seen = trellis_tests::header(&headers, "x-seen-traceparent").unwrap_or_default();
    assert_eq!(seen, format!("00-{TRACE}-{}-01", invoke.span_id));

    // A request without a trace context starts one at the listener.
    let (status, headers, _) = incr(&url, None).await?;
    assert_eq!(status, 200);
    let seen = trellis_tests::header(&headers, "x-seen-traceparent").unwrap_or_default();
    let fresh = seen.split('-').nth(1).unwrap_or_default().to_owned();
    assert_eq!(fresh.len(), 32, "{seen}");
    assert_ne!(fresh, TRACE);
    otlp.wait_for(SPANS_ARRIVE, |spans| {
        spans
            .iter()
            .any(|s| s.trace_id == fresh && s.name == "http request" && s.parent_span_id.is_empty())
    })
    .await?;

    // An external provider process exports its own spans into the same
    // trace: the host passes it where it exports.
    let exe = trellis_tests::target_dir().join("debug/trellis-provider-keyvalue-sled");
    let image = format!("file://{}", exe.display());
    let external = tempfile::tempdir()?;
    let path = format!("path={}", external.path().display());
    cli.run(&["config", "put", "kvx-data", &path])?.ok()?;
    cli.run(&[
        "start",
        "provider",
        &image,
        "kvx",
        "--host",
        h3.id(),
        "--config",
        "kvx-data",
    ])?
    .ok()?;
    cli.run(&["link", "del", "counter", "wasi", "keyvalue"])?
        .ok()?;
    link_kv(&cli, "kvx")?;
    let second = "0af7651916cd43dd8448eb211c80319c";
    let (status, _, body) = incr(&url, Some(second)).await?;
    assert_eq!(
        (status, body),
        (200, b"1".to_vec()),
        "a new provider, a new count"
    );
    let process = format!("kvx@{}", h3.id());
    let spans = otlp
        .wait_for(SPANS_ARRIVE, |spans| {
            // Each process sends its own batches: wait for the answers
            // and the calls they answer.
            let answers: Vec<_> = spans
                .iter()
                .filter(|s| s.trace_id == second && s.instance == process)
                .collect();
            answers.len() >= 2
                && answers
                    .iter()
                    .all(|a| spans.iter().any(|s| s.span_id == a.parent_span_id))
        })
        .await?;
    let ours: Vec<ReceivedSpan> = spans.into_iter().filter(|s| s.trace_id == second).collect();
    for answer in ours.iter().filter(|s| s.instance == process) {
        let call = ours
            .iter()
            .find(|s| s.span_id == answer.parent_span_id)
            .ok_or_else(|| anyhow::anyhow!("no parent of {answer:?} in {ours:#?}"))?;
        assert_eq!(
            (call.name.as_str(), call.instance.as_str()),
            ("keyvalue", h2.id())
        );
    }

    assert!(
        otlp.requests()
            .iter()
            .all(|r| r == "POST /v1/traces application/x-protobuf"),
        "{:?}",
        otlp.requests()
    );
    Ok(())
}

/// Component-to-component calls are spans of the request's trace: a call
/// across hosts and one in process each a client span under the calling
/// invocation, and the callee's invocation under that.
#[tokio::test(flavor = "multi_thread")]
async fn component_calls_are_spans_of_the_callers_trace() -> anyhow::Result<()> {
    let otlp = OtlpReceiver::start().await?;
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("call-traces");
    let (h1, h2) = (
        host(&nats, &lattice, "h1", &otlp)?,
        host(&nats, &lattice, "h2", &otlp)?,
    );
    let cli = Cli::new(&nats, &lattice);
    // front on h1 calls relay on h2 (over NATS), which calls pong beside
    // it (in process).
    let h1_http = ["builtin://http-server", "http", "--host", h1.id()];
    cli.run(&[&["start", "provider"][..], &h1_http].concat())?
        .ok()?;
    for (wasm, id, host) in [
        ("http_relay", "front", &h1),
        ("relay", "relay", &h2),
        ("pingpong", "pong", &h2),
    ] {
        let image = format!("file://{}", actor(wasm).display());
        cli.run(&["start", "component", &image, id, "--host", host.id()])?
            .ok()?;
    }
    for (source, target, pkg, iface) in [
        ("front", "relay", "examples", "relay"),
        ("relay", "pong", "pong", "pingpong"),
    ] {
        let ns = if pkg == "pong" { "example" } else { "trellis" };
        let argv = ["link", "put", source, target, ns, pkg, "--interface", iface];
        cli.run(&argv)?.ok()?;
    }
    let url = format!(
        "{}/",
        crate::fixture::route_with(&cli, "front", "front", &[])?
    );
    wait_for_http(&url, 200, ROUTE_READY).await?;

    let traceparent = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let (status, _, body) =
        http_request("GET", &url, &[("traceparent", &traceparent)], Vec::new()).await?;
    assert_eq!((status, body), (200, b"http -> relayed pong".to_vec()));

    let spans = otlp
        .wait_for(SPANS_ARRIVE, |spans| {
            // http, three invocations, two calls.
            spans.iter().filter(|s| s.trace_id == TRACE).count() >= 6
        })
        .await?;
    let ours: Vec<ReceivedSpan> = spans.into_iter().filter(|s| s.trace_id == TRACE).collect();
    let http = one(&ours, "http request", CALLER_SPAN)?;
    let front = one(&ours, "invoke http", &http.span_id)?;
    assert_eq!(
        (
            front.instance.as_str(),
            front.attributes["trellis.component"].as_str()
        ),
        (h1.id(), "front")
    );
    let mut caller = front;
    for (callee, host, route, method) in [
        (
            "relay",
            &h2,
            "lattice",
            "trellis:examples/relay.ping-through",
        ),
        ("pong", &h2, "local", "example:pong/pingpong.ping"),
    ] {
        let call = one(&ours, "call component", &caller.span_id)?;
        assert_eq!(call.instance, caller.instance, "{call:?}");
        assert_eq!(
            call.attributes["trellis.component"],
            caller.attributes["trellis.component"]
        );
        assert_eq!(call.attributes["trellis.target"], callee, "{call:?}");
        assert_eq!(call.attributes["trellis.route"], route, "{call:?}");
        assert_eq!(call.attributes["rpc.method"], method, "{call:?}");
        assert!(!call.failed, "{call:?}");
        let invoked = one(&ours, "invoke call", &call.span_id)?;
        assert_eq!(invoked.instance, host.id());
        assert_eq!(invoked.attributes["trellis.component"], callee);
        assert_eq!(invoked.attributes["rpc.method"], method);
        caller = invoked;
    }
    Ok(())
}
