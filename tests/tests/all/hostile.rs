//! Messages a hostile or broken peer could send: each gets a clear error,
//! and the host keeps serving.

use std::time::Duration;

use futures::StreamExt;
use trellis_protocol::control::Reply;
use trellis_protocol::invocation::{
    self, Body, ErrorKind, HttpRequest, HttpResponse, InvocationReply,
};
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::{ComponentId, ControlVerb, HostId, StreamId, Subject};
use trellis_tests::{actor, http_get, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

/// The default `max_body_bytes` of a host (128 MiB).
const DEFAULT_MAX_BODY: u64 = 128 * 1024 * 1024;

fn streamed_request(len: u64) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        scheme: "http".into(),
        authority: Some("hostile".into()),
        path_with_query: "/".into(),
        headers: vec![],
        body: Body::Stream {
            stream: StreamId::new("0123456789abcdef0123456789abcdef").expect("valid stream id"),
            len,
        },
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_streamed_body_claims_are_refused_and_host_keeps_serving() -> anyhow::Result<()> {
    let mut lattice = Lattice::start("hostile-rpc", &[])?;
    lattice.start_component("hello_http", "hello", &lattice.b, 4)?;
    let url = lattice.route("hello")?;
    wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;

    let client = lattice.nats_client().await?;
    let subject = Subject::rpc(
        &lattice.lattice(),
        &ComponentId::new("hello")?,
        &InterfaceRef::http_incoming_handler(),
        &WitName::new("handle")?,
    )
    .to_string();
    // Only host b runs `hello`, so each message reaches b's rpc handler.
    for len in [1u64 << 40, u64::MAX] {
        let payload = invocation::encode(&streamed_request(len));
        let reply = tokio::time::timeout(
            Duration::from_secs(20),
            client.request(subject.clone(), payload.into()),
        )
        .await??;
        let answer: InvocationReply<HttpResponse> = invocation::decode(&reply.payload)?;
        let error = answer.expect_err("a body over the limit must be refused");
        assert_eq!(error.kind, ErrorKind::BadRequest, "{error:?}");
        assert!(
            error.message.contains(&format!("{len} bytes"))
                && error
                    .message
                    .contains(&format!("over the limit of {DEFAULT_MAX_BODY} bytes")),
            "len {len}: {}",
            error.message
        );
    }

    // Requests that decode but make no sense, and bytes that do not decode,
    // each get an answer; none takes the host down.
    let weird = |edit: &dyn Fn(&mut HttpRequest)| {
        let mut request = streamed_request(0);
        request.body = Body::Inline(b"x".to_vec());
        edit(&mut request);
        invocation::encode(&request)
    };
    let payloads = [
        weird(&|r| r.method = "G E T".into()),
        weird(&|r| r.scheme = String::new()),
        weird(&|r| r.authority = Some("a b/c".into())),
        weird(&|r| r.path_with_query = "no-slash \0".into()),
        weird(&|r| {
            r.headers = vec![invocation::Header {
                name: "bad\0name".into(),
                value: vec![0, 10, 13],
            }]
        }),
        weird(&|r| {
            r.headers = (0..20_000)
                .map(|i| invocation::Header {
                    name: format!("x-{i}"),
                    value: b"v".to_vec(),
                })
                .collect()
        }),
        vec![
            invocation::VERSION,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0x01,
        ],
        b"not an invocation".to_vec(),
    ];
    for payload in payloads {
        let reply = tokio::time::timeout(
            Duration::from_secs(20),
            client.request(subject.clone(), payload.into()),
        )
        .await??;
        let _answer: InvocationReply<HttpResponse> = invocation::decode(&reply.payload)?;
    }

    // The host is alive and still serves HTTP through the same path.
    assert!(lattice.b.is_running(), "host b died:\n{}", lattice.b.log());
    let (status, _, body) = http_get(&format!("{url}/")).await?;
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"Hello from Trellis!"[..])
    );
    assert!(lattice.b.is_running());
    Ok(())
}

async fn scale_raw(
    client: &async_nats::Client,
    subject: &str,
    body: serde_json::Value,
) -> anyhow::Result<Reply> {
    let reply = tokio::time::timeout(
        Duration::from_secs(20),
        client.request(subject.to_owned(), serde_json::to_vec(&body)?.into()),
    )
    .await??;
    Ok(serde_json::from_slice(&reply.payload)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn digests_that_are_paths_are_refused() -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    let cache_arg = cache.path().display().to_string();
    let mut lattice = Lattice::start("hostile-digest", &["--cache-dir", &cache_arg])?;
    let client = lattice.nats_client().await?;
    let scale = Subject::control(
        &lattice.lattice(),
        ControlVerb::ComponentScale(HostId::new(lattice.b.id())?),
    )
    .to_string();

    let fifo_dir = tempfile::tempdir()?;
    let fifo = fifo_dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status()?;
    anyhow::ensure!(made.success(), "mkfifo failed");
    for digest in [
        "../../etc/passwd".to_owned(),
        fifo.display().to_string(),
        "A".repeat(64),
    ] {
        let reply = scale_raw(
            &client,
            &scale,
            serde_json::json!({
                "component_id": "evil",
                "image": "x",
                "artifact": {"bucket": "ART", "name": "sha256-x", "sha256": digest},
                "max": 1,
            }),
        )
        .await?;
        assert!(!reply.ok, "{digest}: accepted");
        let error = reply.error.unwrap_or_default();
        assert!(
            error.contains("sha256 digest") && error.contains("64 lowercase hex"),
            "{digest}: {error}"
        );
    }

    // A FIFO squatting in the artifact cache under a real digest is not
    // read (that would block forever): the host fetches the bytes instead.
    let wasm = actor("hello_http");
    let pushed = lattice
        .cli
        .run(&["push", &format!("file://{}", wasm.display())])?
        .ok()?
        .json()?;
    let sha = pushed["sha256"].as_str().expect("push prints the sha256");
    let reference = pushed["reference"]
        .as_str()
        .expect("push prints the reference");
    let artifacts = cache.path().join("artifacts");
    std::fs::create_dir_all(&artifacts)?;
    let squatter = artifacts.join(sha);
    let made = std::process::Command::new("mkfifo")
        .arg(&squatter)
        .status()?;
    anyhow::ensure!(made.success(), "mkfifo failed");
    lattice
        .cli
        .run(&[
            "start",
            "component",
            reference,
            "hello",
            "--host",
            lattice.b.id(),
        ])?
        .ok()?;
    let url = lattice.route("hello")?;
    let (status, _, _) = wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;
    assert_eq!(status, 200);
    // The fetched copy replaced the squatter with a regular file.
    assert!(std::fs::symlink_metadata(&squatter)?.file_type().is_file());
    assert!(lattice.b.is_running());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_provider_start_does_not_block_other_ids() -> anyhow::Result<()> {
    let lattice = Lattice::start("hostile-lock", &[])?;
    let client = lattice.nats_client().await?;
    let host = HostId::new(lattice.b.id())?;

    // An "external provider" that never gets healthy: the host waits for
    // it (up to its readiness bound) while holding the lock of its id.
    let dir = tempfile::tempdir()?;
    let marker = dir.path().join("started");
    let script = dir.path().join("slow-provider.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ntouch '{}'\nexec sleep 45\n", marker.display()),
    )?;
    let pushed = lattice
        .cli
        .run(&["push", &format!("file://{}", script.display())])?
        .ok()?
        .json()?;
    let artifact = trellis_protocol::control::ArtifactRef::parse_reference(
        pushed["reference"]
            .as_str()
            .expect("push prints the reference"),
    )
    .map_err(anyhow::Error::msg)?;
    let inbox = client.new_inbox();
    let mut slow_reply = client.subscribe(inbox.clone()).await?;
    let start = Subject::control(&lattice.lattice(), ControlVerb::ProviderStart(host.clone()));
    client
        .publish_with_reply(
            start.to_string(),
            inbox,
            serde_json::to_vec(&serde_json::json!({
                "provider_id": "slow",
                "image": format!("file://{}", script.display()),
                "artifact": artifact,
            }))?
            .into(),
        )
        .await?;
    client.flush().await?;
    // Wait until the host really is inside the slow start.
    let waited = std::time::Instant::now();
    while !marker.exists() {
        anyhow::ensure!(
            waited.elapsed() < Duration::from_secs(20),
            "the slow provider never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Another id scales at once, while the slow start still holds its lock.
    lattice.start_component("hello_http", "other", &lattice.b, 1)?;
    let pending = tokio::time::timeout(Duration::from_millis(10), slow_reply.next()).await;
    assert!(
        pending.is_err(),
        "the slow provider start finished first, so this proved nothing: {pending:?}"
    );
    let url = lattice.route("other")?;
    let (status, _, _) = wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;
    assert_eq!(status, 200);
    Ok(())
}
