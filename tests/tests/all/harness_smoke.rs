//! Smoke test of the harness itself: needs only `nats-server`.

use std::time::Duration;

use futures::StreamExt;
use trellis_tests::{NatsServer, init_tracing, unique_lattice};

#[tokio::test]
async fn nats_server_request_reply_round_trip() -> anyhow::Result<()> {
    init_tracing();
    let nats = NatsServer::start()?;
    assert!(nats.url().starts_with("nats://127.0.0.1:"));

    let client = async_nats::connect(nats.url()).await?;
    let subject = format!("smoke.{}", unique_lattice("echo"));
    let mut sub = client.subscribe(subject.clone()).await?;
    let responder = client.clone();
    let echo = tokio::spawn(async move {
        let msg = sub.next().await.expect("subscription ended");
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(&msg.payload);
        responder
            .publish(
                msg.reply.expect("request has a reply subject"),
                reply.into(),
            )
            .await
            .expect("publish reply");
        responder.flush().await.expect("flush");
    });
    client.flush().await?;

    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(subject, "ping".into()),
    )
    .await??;
    assert_eq!(&reply.payload[..], b"echo:ping");
    tokio::time::timeout(Duration::from_secs(10), echo).await??;

    // JetStream is enabled (-js) and speaks the API level async-nats
    // expects: a KV bucket round-trips a value.
    let js = async_nats::jetstream::new(client.clone());
    let info = tokio::time::timeout(Duration::from_secs(10), js.query_account()).await??;
    assert_eq!(info.streams, 0);
    let kv = tokio::time::timeout(
        Duration::from_secs(10),
        js.create_key_value(async_nats::jetstream::kv::Config {
            bucket: "smoke".to_string(),
            ..Default::default()
        }),
    )
    .await??;
    kv.put("greeting", "hello".into()).await?;
    let value = kv.get("greeting").await?;
    assert_eq!(value.as_deref(), Some(&b"hello"[..]));

    drop(client);
    let pid = nats.pid();
    drop(nats);
    // The server process is gone after drop.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    Ok(())
}
