//! Outbound HTTP behind an allow-list: a component reaches a real listener
//! only through a link to builtin://http-client whose config names it, and
//! every refusal happens before the destination sees a connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use trellis_tests::{http_get, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

/// A plain HTTP/1.1 listener that counts the connections it accepts.
///
/// - `/hello`: `200 hello from target`
/// - `/redirect?to=URL`: `302` to URL
/// - `/big?n=N`: `200` with N bytes
struct Target {
    port: u16,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Target {
    async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 << 10 {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let (status, extra, body) = respond(&path);
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Ok(Self {
            port,
            accepted,
            task,
        })
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond(path: &str) -> (&'static str, String, Vec<u8>) {
    if path == "/hello" {
        ("200 OK", String::new(), b"hello from target".to_vec())
    } else if let Some(to) = path.strip_prefix("/redirect?to=") {
        ("302 Found", format!("location: {to}\r\n"), Vec::new())
    } else if let Some(n) = path.strip_prefix("/big?n=") {
        let n = n.parse().unwrap_or(0);
        ("200 OK", String::new(), vec![b'x'; n])
    } else {
        ("404 Not Found", String::new(), Vec::new())
    }
}

/// A TLS listener with a self-signed certificate for 127.0.0.1: trusted
/// by nobody, so a verifying client must refuse it. Returns its port and
/// how many handshakes completed.
async fn untrusted_tls() -> anyhow::Result<(u16, Arc<AtomicUsize>, tokio::task::JoinHandle<()>)> {
    use tokio_rustls::rustls;
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])?;
    let cert = key.cert.der().clone();
    let private = rustls::pki_types::PrivatePkcs8KeyDer::from(key.signing_key.serialize_der());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert], private.into())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let done = handshakes.clone();
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            if acceptor.accept(socket).await.is_ok() {
                done.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Ok((port, handshakes, task))
}

/// `GET {fetcher}/fetch?url=URL&follow=3` through the component.
async fn fetch(fetcher: &str, url: &str) -> anyhow::Result<(u16, String)> {
    let (status, _, body) = http_get(&format!("{fetcher}/fetch?url={url}&follow=3")).await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_needs_a_link_and_stays_inside_its_allow_list() -> anyhow::Result<()> {
    // Host b is a developer's host: unlinked outbound HTTP allowed there.
    let lattice = Lattice::start("outbound", &["--allow-outbound"])?;
    let target = Target::start().await?;
    let elsewhere = Target::start().await?;
    lattice.start_component("http_fetch", "fetcher", &lattice.a, 4)?;
    let fetcher = lattice.route("fetcher")?;
    wait_for_http(&format!("{fetcher}/"), 200, ROUTE_READY).await?;

    // No link: the guest gets the "not linked" error, nobody is dialled.
    let (status, body) = fetch(&fetcher, &target.url("/hello")).await?;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("outbound HTTP is not linked"), "{body}");
    assert!(body.contains("trellis link put fetcher"), "{body}");
    assert_eq!(target.accepted(), 0);

    // Linked, with the target's address allowed (and two rules that must
    // still refuse: a name that resolves to loopback, and NATS itself).
    let nats_port = lattice
        .nats
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let (tls_port, handshakes, tls_task) = untrusted_tls().await?;
    let allowed = format!(
        "allowed_hosts=127.0.0.1:{},localhost:*,127.0.0.1:{nats_port},https://127.0.0.1:{tls_port}",
        target.port
    );
    let cli = &lattice.cli;
    cli.run(&[
        "config",
        "put",
        "egress",
        &allowed,
        "max_response_bytes=100000",
    ])?
    .ok()?;
    cli.run(&[
        "start",
        "provider",
        "builtin://http-client",
        "http-client",
        "--host",
        lattice.a.id(),
    ])?
    .ok()?;
    cli.run(&[
        "link",
        "put",
        "fetcher",
        "http-client",
        "wasi",
        "http",
        "--interface",
        "outgoing-handler",
        "--target-config",
        "egress",
    ])?
    .ok()?;
    let (status, body) = fetch(&fetcher, &target.url("/hello")).await?;
    assert_eq!((status, body.as_str()), (200, "hello from target"));
    let after_allowed = target.accepted();
    assert!(after_allowed >= 1);

    // Outside the list: refused before any connection.
    let (status, body) = fetch(&fetcher, &elsewhere.url("/hello")).await?;
    assert_eq!(
        (status, body.as_str()),
        (502, "outbound error: HttpRequestDenied")
    );
    assert_eq!(elsewhere.accepted(), 0);

    // A redirect from an allowed host to a disallowed one: the component
    // follows it with a new request, which is refused.
    let hop = target.url(&format!("/redirect?to={}", elsewhere.url("/hello")));
    let (status, body) = fetch(&fetcher, &hop).await?;
    assert_eq!(
        (status, body.as_str()),
        (502, "outbound error: HttpRequestDenied")
    );
    assert_eq!(elsewhere.accepted(), 0);
    assert!(
        target.accepted() > after_allowed,
        "the first hop was served"
    );

    // A name allowed by pattern that resolves to loopback, and the
    // lattice's NATS port named outright: both refused by address.
    let seen = target.accepted();
    let by_name = format!("http://localhost:{}/hello", target.port);
    let (status, body) = fetch(&fetcher, &by_name).await?;
    assert_eq!(
        (status, body.as_str()),
        (502, "outbound error: DestinationIpProhibited")
    );
    assert_eq!(target.accepted(), seen);
    let nats = format!("http://127.0.0.1:{nats_port}/");
    let (status, body) = fetch(&fetcher, &nats).await?;
    assert_eq!(
        (status, body.as_str()),
        (502, "outbound error: DestinationIpProhibited")
    );

    // TLS is verified against the platform's roots: a self-signed
    // server is refused.
    let (status, body) = fetch(&fetcher, &format!("https://127.0.0.1:{tls_port}/")).await?;
    assert_eq!(
        (status, body.as_str()),
        (502, "outbound error: TlsCertificateError")
    );
    assert_eq!(handshakes.load(Ordering::SeqCst), 0);
    tls_task.abort();

    // A response above the link's max_response_bytes is cut off.
    let (status, body) = fetch(&fetcher, &target.url("/big?n=200000")).await?;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpResponseBodySize"), "{body}");
    let (status, body) = fetch(&fetcher, &target.url("/big?n=1000")).await?;
    assert_eq!((status, body.len()), (200, 1000));

    // The developer's host: no link needed, anything reachable.
    lattice.start_component("http_fetch", "dev-fetcher", &lattice.b, 2)?;
    let dev = lattice.route("dev-fetcher")?;
    wait_for_http(&format!("{dev}/"), 200, ROUTE_READY).await?;
    let (status, body) = fetch(&dev, &elsewhere.url("/hello")).await?;
    assert_eq!((status, body.as_str()), (200, "hello from target"));
    assert_eq!(elsewhere.accepted(), 1);

    // Nothing listens there: wasmtime-wasi-http logs the failed connect,
    // and the host's line names the component it failed for.
    let closed = trellis_tests::free_port();
    let (status, body) = fetch(&dev, &format!("http://127.0.0.1:{closed}/")).await?;
    assert_eq!(
        (status, body.as_str()),
        (502, "outbound error: ConnectionRefused")
    );
    let log = lattice.b.log();
    let line = log
        .lines()
        .find(|l| l.contains("connect error"))
        .with_context(|| format!("no connect error logged:\n{log}"))?;
    assert!(line.ends_with("component=dev-fetcher"), "{line}");
    Ok(())
}
