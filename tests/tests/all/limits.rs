//! Oversized or malformed user input is refused at the edge with a clear
//! error, and a host that runs more than fits in one NATS message stays
//! visible and lists everything, page by page.

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};
use trellis_protocol::control::{ArtifactRef, Reply};
use trellis_protocol::{ControlVerb, EventType, HostId, Subject};
use trellis_tests::actor;

use crate::fixture::Lattice;

async fn request(
    client: &async_nats::Client,
    subject: String,
    body: Vec<u8>,
) -> anyhow::Result<Reply> {
    let reply = tokio::time::timeout(
        Duration::from_secs(30),
        client.request(subject, body.into()),
    )
    .await??;
    Ok(serde_json::from_slice(&reply.payload)?)
}

fn refused(reply: Reply) -> String {
    assert!(!reply.ok, "expected a refusal, got {:?}", reply.data);
    reply.error.unwrap_or_default()
}

/// The next heartbeat of `host` (bounded wait).
async fn heartbeat_of(sub: &mut async_nats::Subscriber, host: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, sub.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("heartbeats ended"))?;
        let event: Value = serde_json::from_slice(&msg.payload)?;
        if event["data"]["id"] == host {
            return Ok(event["data"].clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_labels_configs_and_links_are_refused_and_the_host_stays_visible()
-> anyhow::Result<()> {
    let lattice = Lattice::start("limits", &[])?;
    let client = lattice.nats_client().await?;
    let name = lattice.lattice();
    let b = HostId::new(lattice.b.id())?;
    let labels = Subject::control(&name, ControlVerb::HostLabels(b.clone())).to_string();

    // Two 600 KB label puts: each refused, naming the label and the limit.
    for key in ["big1", "big2"] {
        let body = serde_json::to_vec(&json!({"put": {key: "x".repeat(600 * 1024)}}))?;
        let error = refused(request(&client, labels.clone(), body).await?);
        assert!(
            error.contains(&format!("label `{key}`")) && error.contains("limit of 256"),
            "{error}"
        );
    }
    // A normal label still goes in.
    let body = serde_json::to_vec(&json!({"put": {"rack": "r1"}}))?;
    assert!(request(&client, labels.clone(), body).await?.ok);

    // The host stays visible: ping (`get hosts`) and its heartbeat.
    let mut heartbeats = client
        .subscribe(Subject::event(&name, EventType::HostHeartbeat).to_string())
        .await?;
    let hosts = lattice.cli.run(&["get", "hosts"])?.ok()?.json()?;
    let host = hosts
        .as_array()
        .and_then(|h| h.iter().find(|h| h["id"] == lattice.b.id()))
        .cloned()
        .unwrap_or_else(|| panic!("host b missing from {hosts}"));
    assert_eq!(host["labels"]["rack"], "r1");
    assert!(host["labels"].get("big1").is_none(), "{host}");
    let beat = heartbeat_of(&mut heartbeats, lattice.b.id()).await?;
    assert_eq!(beat["labels"]["rack"], "r1");

    // Config keys that are NATS wildcards or not printable are refused.
    for key in [">", "a*"] {
        let pair = format!("{key}=1");
        let out = lattice.cli.run(&["config", "put", "cfg", &pair])?;
        assert!(!out.success(), "config key {key:?} accepted");
        assert!(
            out.stderr.contains("config cfg: key") && out.stderr.contains("printable ASCII"),
            "{}",
            out.stderr
        );
    }
    let config_put = Subject::control(
        &name,
        ControlVerb::ConfigPut(trellis_protocol::ConfigName::new("cfg")?),
    )
    .to_string();
    let error =
        refused(request(&client, config_put.clone(), br#"{"a\u0000b":"1"}"#.to_vec()).await?);
    assert!(error.contains("NUL"), "{error}");
    // A value of the wrong type says what was expected, in user words.
    let error = refused(request(&client, config_put, br#"{"a":1}"#.to_vec()).await?);
    assert!(
        error.contains("object of string keys to string values") && !error.contains("String>"),
        "{error}"
    );
    let out = lattice.cli.run(&["config", "get", "cfg"])?;
    assert!(!out.success(), "nothing was stored: {}", out.stdout);

    // A link naming 50,000 source configs is refused before anything else.
    let link = json!({
        "source_id": "http", "target_id": "hello",
        "wit_namespace": "wasi", "wit_package": "http",
        "interfaces": ["incoming-handler"],
        "source_config": (0..50_000).map(|i| format!("c{i}")).collect::<Vec<_>>(),
    });
    let link_put = Subject::control(&name, ControlVerb::LinkPut).to_string();
    let error = refused(request(&client, link_put, serde_json::to_vec(&link)?).await?);
    assert!(
        error.contains("source_config has 50000 entries") && error.contains("limit of 32"),
        "{error}"
    );
    let links = lattice.cli.run(&["get", "links"])?.ok()?.json()?;
    assert_eq!(links, json!([]));

    // A refused `component.update` says why on the event stream too.
    let mut failures = client
        .subscribe(Subject::event(&name, EventType::ComponentScaleFailed).to_string())
        .await?;
    client.flush().await?;
    let update = Subject::control(&name, ControlVerb::ComponentUpdate(b)).to_string();
    let body = json!({
        "component_id": "ghost",
        "image": "nats://ART/x",
        "artifact": {"bucket": "ART", "name": "x", "sha256": "a".repeat(64)},
    });
    let error = refused(request(&client, update, serde_json::to_vec(&body)?).await?);
    assert!(error.contains("ghost is not running"), "{error}");
    let event = crate::fixture::next_event(&mut failures, "component_id", "ghost").await?;
    assert_eq!(event["error"], error);
    assert_eq!(event["host_id"], lattice.b.id());
    Ok(())
}

/// Components whose descriptions add up to more than one NATS message
/// (1 MiB): the host still heartbeats (a first page), answers ping, and
/// `trellis get inventory` lists every one, with default and small pages.
#[tokio::test(flavor = "multi_thread")]
async fn an_inventory_bigger_than_a_message_is_paged() -> anyhow::Result<()> {
    let lattice = Lattice::start("paging", &[])?;
    let client = lattice.nats_client().await?;
    let name = lattice.lattice();
    let wasm = format!("file://{}", actor("hello_http").display());
    let pushed = lattice.cli.run(&["push", &wasm])?.ok()?.json()?;
    let reference = pushed["reference"].as_str().unwrap_or_default().to_owned();
    let artifact = ArtifactRef::parse_reference(&reference).map_err(anyhow::Error::msg)?;

    // 40 components, each with annotations at their limits (~33 KiB each).
    const COUNT: usize = 40;
    let annotations: serde_json::Map<String, Value> = (0..32)
        .map(|i| (format!("example.com/note-{i:02}"), json!("n".repeat(1024))))
        .collect();
    let scale = Subject::control(
        &name,
        ControlVerb::ComponentScale(HostId::new(lattice.b.id())?),
    )
    .to_string();
    for i in 0..COUNT {
        let body = json!({
            "component_id": format!("many-{i:03}"),
            "image": reference,
            "artifact": artifact,
            "max": 1,
            "annotations": annotations,
        });
        let reply = request(&client, scale.clone(), serde_json::to_vec(&body)?).await?;
        assert!(reply.ok, "scale {i}: {:?}", reply.error);
    }

    // Unpaged, the inventory would not fit in a message.
    let mut heartbeats = client
        .subscribe(Subject::event(&name, EventType::HostHeartbeat).to_string())
        .await?;
    let beat = heartbeat_of(&mut heartbeats, lattice.b.id()).await?;
    let beat_components = beat["components"].as_array().map_or(0, Vec::len);
    assert!(
        beat_components > 0 && beat_components < COUNT && beat["next"].is_object(),
        "the heartbeat carries a first page: {beat_components} components, next {}",
        beat["next"]
    );
    let hosts = lattice.cli.run(&["get", "hosts"])?.ok()?.json()?;
    let listed = hosts
        .as_array()
        .and_then(|h| h.iter().find(|h| h["id"] == lattice.b.id()))
        .cloned()
        .unwrap_or_else(|| panic!("host b missing from {hosts}"));
    assert_eq!(listed["components"], COUNT);

    let ids = |inventory: &Value| -> Vec<String> {
        let mut ids: Vec<String> = inventory
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|h| h["components"].as_array().cloned().unwrap_or_default())
            .filter_map(|c| c["id"].as_str().map(str::to_owned))
            .filter(|id| id.starts_with("many-"))
            .collect();
        ids.sort();
        ids
    };
    let expected: Vec<String> = (0..COUNT).map(|i| format!("many-{i:03}")).collect();
    let all = lattice.cli.run(&["get", "inventory"])?.ok()?.json()?;
    let bytes = serde_json::to_vec(&all)?.len();
    assert!(
        bytes > 1 << 20,
        "the listing is bigger than a message: {bytes}"
    );
    assert_eq!(ids(&all), expected);
    let small = lattice
        .cli
        .run(&["get", "inventory", lattice.b.id(), "--page-bytes", "1024"])?
        .ok()?
        .json()?;
    assert_eq!(ids(&small), expected);
    Ok(())
}

/// App history bigger than a KV value: old versions are evicted by size,
/// the deployed one stays, and every later `app put` still succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn app_history_over_a_mib_evicts_old_versions_and_keeps_putting() -> anyhow::Result<()> {
    let nats = trellis_tests::NatsServer::start()?;
    let lattice = trellis_tests::unique_lattice("history");
    let cli = trellis_tests::Cli::new(&nats, &lattice);
    let _wadm = trellis_tests::Wadm::spawn(&nats, &lattice, &[])?;
    let dir = tempfile::tempdir()?;
    let put = |version: usize| -> anyhow::Result<()> {
        // ~100 KiB per version: 15 of them are 1.5 MiB.
        let file = dir.path().join(format!("v{version}.yaml"));
        std::fs::write(
            &file,
            format!(
                r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: big, annotations: {{ version: v{version}, description: "{note}" }} }}
spec:
  components:
    - name: hello
      type: component
      properties: {{ image: "nats://ART/sha256-{sha}" }}
      traits: [ {{ type: spreadscaler, properties: {{ instances: 1 }} }} ]
"#,
                note = "d".repeat(100 * 1024),
                sha = "a".repeat(64),
            ),
        )?;
        cli.run(&["app", "put", &file.display().to_string()])?
            .ok()?;
        Ok(())
    };
    put(0)?;
    cli.run(&["app", "deploy", "big"])?.ok()?;
    for version in 1..15 {
        put(version).with_context(|| format!("put v{version}"))?;
    }
    let history = cli.run(&["app", "history", "big"])?.ok()?.json()?;
    let versions: Vec<(String, bool)> = history
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            (
                v["version"].as_str().unwrap_or_default().to_owned(),
                v["deployed"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    assert!(versions.len() < 15, "old versions evicted: {versions:?}");
    assert_eq!(
        versions.first(),
        Some(&("v0".to_owned(), true)),
        "{versions:?}"
    );
    assert_eq!(versions.last().map(|v| v.0.as_str()), Some("v14"));
    Ok(())
}
