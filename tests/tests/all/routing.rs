//! The http-server provider's routing modes (several components behind one
//! listener, by path prefix or by `Host`) and its per-link limits.

use std::time::{Duration, Instant};

use trellis_tests::{HttpResponse, free_port, http_post, http_request, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY, pseudo_random};

/// Starts a second http-server provider, `web`, on host a with
/// `routing=MODE` and a provider-wide address on a fresh port; returns the
/// base URL.
fn start_web(lattice: &Lattice, routing: &str) -> anyhow::Result<String> {
    let port = free_port();
    let routing = format!("routing={routing}");
    let address = format!("address=127.0.0.1:{port}");
    lattice
        .cli
        .run(&["config", "put", "web-cfg", &routing, &address])?
        .ok()?;
    lattice
        .cli
        .run(&[
            "start",
            "provider",
            "builtin://http-server",
            "web",
            "--host",
            lattice.a.id(),
            "--config",
            "web-cfg",
        ])?
        .ok()?;
    Ok(format!("http://127.0.0.1:{port}"))
}

/// Links `web` to `target` as link `name`, with `k=v` source config.
fn link_web(lattice: &Lattice, target: &str, name: &str, settings: &[&str]) -> anyhow::Result<()> {
    let config = format!("{name}-route");
    let mut put = vec!["config", "put", &config];
    put.extend_from_slice(settings);
    lattice.cli.run(&put)?.ok()?;
    lattice
        .cli
        .run(&[
            "link",
            "put",
            "web",
            target,
            "wasi",
            "http",
            "--interface",
            "incoming-handler",
            "--name",
            name,
            "--source-config",
            &config,
        ])?
        .ok()?;
    Ok(())
}

/// `GET url` with a `Host` header.
async fn get_as(url: &str, host: &str) -> anyhow::Result<HttpResponse> {
    http_request("GET", url, &[("host", host)], Vec::new()).await
}

/// Polls `GET url` as `host` (every 200 ms, bounded) until it answers 200.
async fn wait_for_host(url: &str, host: &str) -> anyhow::Result<HttpResponse> {
    let deadline = Instant::now() + ROUTE_READY;
    loop {
        let last = match get_as(url, host).await {
            Ok(resp) if resp.0 == 200 => return Ok(resp),
            Ok((status, _, body)) => format!("{status} {}", String::from_utf8_lossy(&body)),
            Err(e) => format!("{e:#}"),
        };
        anyhow::ensure!(
            Instant::now() < deadline,
            "{url} as {host} not served within {ROUTE_READY:?}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn path_routing_serves_two_components_on_one_listener() -> anyhow::Result<()> {
    let lattice = Lattice::start("pathroute", &[])?;
    lattice.start_component("hello_http", "hello", &lattice.a, 2)?;
    lattice.start_component("http_echo", "echo", &lattice.b, 2)?;
    let url = start_web(&lattice, "path")?;
    link_web(&lattice, "hello", "hello", &["path=/hello"])?;
    link_web(&lattice, "echo", "echo", &["path=/echo-app"])?;

    let (_, _, body) = wait_for_http(&format!("{url}/hello"), 200, ROUTE_READY).await?;
    assert_eq!(text(&body), "Hello from Trellis!");
    let (_, _, body) = wait_for_http(&format!("{url}/echo-app/x"), 200, ROUTE_READY).await?;
    assert_eq!(text(&body), "echo ok");
    // Below a prefix on a segment boundary only.
    let (_, _, body) = wait_for_http(&format!("{url}/hello/there"), 200, ROUTE_READY).await?;
    assert_eq!(text(&body), "Hello from Trellis!");
    for path in ["/nothing", "/hellox", "/"] {
        let (status, _, body) = http_request("GET", &format!("{url}{path}"), &[], vec![]).await?;
        assert_eq!(
            (status, text(&body).as_str()),
            (404, "no route for this request\n"),
            "{path}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn host_routing_serves_two_components_on_one_listener() -> anyhow::Result<()> {
    let lattice = Lattice::start("hostroute", &[])?;
    lattice.start_component("hello_http", "hello", &lattice.a, 2)?;
    lattice.start_component("http_echo", "echo", &lattice.b, 2)?;
    let url = start_web(&lattice, "host")?;
    link_web(&lattice, "hello", "hello", &["host=a.test"])?;
    link_web(&lattice, "echo", "echo", &["host=B.Test"])?;

    let (_, _, body) = wait_for_host(&format!("{url}/any"), "a.test").await?;
    assert_eq!(text(&body), "Hello from Trellis!");
    let (_, _, body) = wait_for_host(&format!("{url}/any"), "b.test").await?;
    assert_eq!(text(&body), "echo ok");
    // Case-insensitive, port ignored.
    let (status, _, body) = get_as(&format!("{url}/"), "A.TEST:8080").await?;
    assert_eq!((status, text(&body).as_str()), (200, "Hello from Trellis!"));
    for host in ["c.test", "127.0.0.1"] {
        let (status, _, body) = get_as(&format!("{url}/"), host).await?;
        assert_eq!(
            (status, text(&body).as_str()),
            (404, "no route for this request\n"),
            "{host}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn link_timeout_gives_504() -> anyhow::Result<()> {
    let lattice = Lattice::start("routetimeout", &["--max-execution-ms", "3000"])?;
    lattice.start_component("misbehave", "bad", &lattice.b, 2)?;
    let url = start_web(&lattice, "path")?;
    link_web(&lattice, "bad", "bad", &["path=/", "timeout_ms=300"])?;
    wait_for_http(&format!("{url}/ok"), 200, ROUTE_READY).await?;

    let started = Instant::now();
    let (status, _, body) = http_request("GET", &format!("{url}/loop"), &[], vec![]).await?;
    let body = text(&body);
    assert_eq!(status, 504, "{body}");
    assert_eq!(body, "bad did not answer in time\n");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "504 came after {:?}, not at the link's 300 ms",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_body_gives_413() -> anyhow::Result<()> {
    let lattice = Lattice::start("routebody", &[])?;
    lattice.start_component("http_echo", "echo", &lattice.b, 2)?;
    let url = start_web(&lattice, "path")?;
    // The prefix is not stripped: the component sees /echo.
    link_web(
        &lattice,
        "echo",
        "echo",
        &["path=/echo", "max_body_bytes=1024"],
    )?;
    wait_for_http(&format!("{url}/echo"), 200, ROUTE_READY).await?;

    let (status, _, body) = http_post(&format!("{url}/echo"), pseudo_random(4096, 7)).await?;
    assert_eq!(
        (status, text(&body).as_str()),
        (413, "request body over 1024 bytes\n")
    );
    let sent = pseudo_random(1000, 8);
    let (status, headers, body) = http_post(&format!("{url}/echo"), sent.clone()).await?;
    assert_eq!(status, 200);
    assert_eq!(trellis_tests::header(&headers, "x-body-len"), Some("1000"));
    assert!(body == sent, "1000-byte body was not echoed intact");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn second_link_on_a_taken_path_is_refused() -> anyhow::Result<()> {
    let mut lattice = Lattice::start("routeconflict", &[])?;
    lattice.start_component("hello_http", "hello", &lattice.a, 2)?;
    lattice.start_component("http_echo", "echo", &lattice.a, 2)?;
    let url = start_web(&lattice, "path")?;
    link_web(&lattice, "hello", "first", &["path=/hello"])?;
    wait_for_http(&format!("{url}/hello"), 200, ROUTE_READY).await?;

    // Stored lattice-wide, so `link put` succeeds; the provider refuses it.
    link_web(&lattice, "echo", "second", &["path=/hello/"])?;
    lattice.a.wait_for_log(
        "link web -> echo (name second) cannot take path /hello",
        ROUTE_READY,
    )?;
    let log = lattice.a.log();
    assert!(
        log.contains("link web -> hello (name first) already serves path /hello"),
        "the refusal names both links"
    );
    let (status, _, body) = http_request("GET", &format!("{url}/hello"), &[], vec![]).await?;
    assert_eq!((status, text(&body).as_str()), (200, "Hello from Trellis!"));
    Ok(())
}
