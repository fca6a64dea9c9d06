//! A guest that sends `200` and part of its body, then blows its deadline,
//! its memory cap or traps: the client must not get a clean response with
//! a short body, the host must log it and the component's stats must count
//! a failure. Locally (provider and component in one host) and across
//! hosts.

use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trellis_tests::{Host, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

/// Bytes the guest writes before it fails (it promises twice as many).
const WRITTEN: usize = 8 << 20;

/// What a raw HTTP/1.1 client saw, framing included.
struct Raw {
    status: u16,
    head: String,
    /// Bytes after the head, as sent (not de-chunked).
    body: Vec<u8>,
    /// The connection ended in an error rather than a clean close.
    read_error: Option<String>,
}

impl Raw {
    /// A clean, complete response: closed without error, and the body
    /// matches its `content-length` or ends its chunked encoding.
    fn complete(&self) -> bool {
        if self.read_error.is_some() {
            return false;
        }
        let head = self.head.to_ascii_lowercase();
        let length = head.lines().find_map(|line| {
            line.strip_prefix("content-length:")
                .and_then(|v| v.trim().parse::<usize>().ok())
        });
        match length {
            Some(length) => self.body.len() == length,
            None => {
                head.contains("transfer-encoding: chunked") && self.body.ends_with(b"0\r\n\r\n")
            }
        }
    }
}

/// `GET path` over a plain socket with `Connection: close`, read to the end.
async fn raw_get(base: &str, path: &str) -> anyhow::Result<Raw> {
    let addr = base.strip_prefix("http://").context("an http:// URL")?;
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut bytes = Vec::new();
    let read_error = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut bytes))
        .await
        .context("the response did not end within 60 s")?
        .err()
        .map(|e| e.to_string());
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("no response head in {} bytes", bytes.len()))?;
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    Ok(Raw {
        status,
        head,
        body: bytes[split + 4..].to_vec(),
        read_error,
    })
}

/// `(invocations, failures)` of component `id` on `host`.
fn stats(lattice: &Lattice, host: &Host, id: &str) -> anyhow::Result<(u64, u64)> {
    let inventory = lattice
        .cli
        .run(&["get", "inventory", host.id()])?
        .ok()?
        .json()?;
    let component = inventory[0]["components"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["id"] == id)
        .with_context(|| format!("{id} not in {inventory}"))?;
    let count = |what: &str| component["stats"][what].as_u64().unwrap_or(0);
    Ok((count("invocations"), count("failures")))
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_cut_short_are_errors_logged_and_counted() -> anyhow::Result<()> {
    let limits = ["--max-execution-ms", "1500", "--max-memory-mb", "32"];
    let lattice = Lattice::start_with("cut", &limits, &limits)?;
    // Host a runs the http provider: "local" is called in process,
    // "remote" over NATS.
    lattice.start_component("misbehave", "cut-local", &lattice.a, 4)?;
    lattice.start_component("misbehave", "cut-remote", &lattice.b, 4)?;
    for (id, host) in [("cut-local", &lattice.a), ("cut-remote", &lattice.b)] {
        let url = lattice.route(id)?;
        wait_for_http(&format!("{url}/ok"), 200, ROUTE_READY).await?;
        let before = stats(&lattice, host, id)?;
        let cases = [
            ("loop", 503, "execution time limit"),
            ("oom", 500, "component trapped"),
            ("trap", 500, "component trapped"),
            ("finish", 500, "component aborted its response body"),
        ];
        for (then, status, reason) in cases {
            let raw = raw_get(&url, &format!("/cut?bytes={WRITTEN}&then={then}")).await?;
            let text = String::from_utf8_lossy(&raw.body[..raw.body.len().min(300)]);
            let what = format!("{id} then={then}: {} / {text:?}", raw.head);
            // Never a clean, complete 200: the body is buffered before the
            // head goes out, so the error is a 5xx with a short reason.
            assert!(raw.status != 200 || !raw.complete(), "{what}");
            assert_eq!(raw.status, status, "{what}");
            assert!(raw.complete(), "error responses are well-formed: {what}");
            assert!(raw.body.len() < 300, "no partial body: {what}");
            assert!(text.contains(reason), "{what}");
            assert!(text.contains("before finishing its response"), "{what}");
        }
        let after = stats(&lattice, host, id)?;
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (4, 4),
            "{id}: every cut-short response counts as a failed invocation"
        );
        // The host running the guest says so, naming the component.
        let log = host.log();
        let logged = log
            .lines()
            .filter(|l| l.contains("component response cut short") && l.contains(id))
            .count();
        assert_eq!(logged, 4, "{id}: host log:\n{log}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_over_the_hosts_limit_is_refused_not_buffered() -> anyhow::Result<()> {
    let lattice = Lattice::start("respcap", &["--max-response-mb", "4"])?;
    lattice.start_component("http_echo", "big", &lattice.b, 2)?;
    let url = lattice.route("big")?;
    wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;
    let before = stats(&lattice, &lattice.b, "big")?;
    // 64 MiB would be buffered whole without the limit; the guest is
    // stopped once it passes 4 MiB.
    let raw = raw_get(&url, &format!("/big?bytes={}", 64 << 20)).await?;
    let text = String::from_utf8_lossy(&raw.body[..raw.body.len().min(300)]).into_owned();
    assert_eq!(raw.status, 500, "{} / {text:?}", raw.head);
    assert!(raw.complete(), "{}", raw.head);
    assert!(text.contains("over 4194304 bytes"), "{text}");
    // Under the limit, the same route serves intact bodies.
    let raw = raw_get(&url, &format!("/big?bytes={}", 3 << 20)).await?;
    assert_eq!(raw.status, 200, "{}", raw.head);
    assert!(raw.complete(), "{}", raw.head);
    assert!(
        raw.body
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 251) as u8),
        "3 MiB body corrupted"
    );
    let after = stats(&lattice, &lattice.b, "big")?;
    assert_eq!((after.0 - before.0, after.1 - before.1), (2, 1));
    let log = lattice.b.log();
    assert!(
        log.lines()
            .any(|l| l.contains("over the host's limit") && l.contains("big")),
        "host b log:\n{log}"
    );
    Ok(())
}
