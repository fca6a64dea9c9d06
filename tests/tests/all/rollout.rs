//! Staged rollouts across a cloud hub and an edge site: one cloud host and
//! two edge hosts behind a leaf node, a client sending requests the whole
//! time to an HTTP listener in the cloud and one at the edge.
//!
//! v1 is hello-http, v2 http-echo, v3 misbehave: the client asks for
//! `/trap`, which v1 and v2 answer with 200 and v3 answers by trapping.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use trellis_tests::{
    Cli, EdgeSite, Host, Wadm, actor, free_port, http_get, unique_lattice, wait_for_http,
};

const V1_BODY: &[u8] = b"Hello from Trellis!";
const V2_BODY: &[u8] = b"echo ok";

fn manifest(version: &str, wasm: &str, cloud_port: u16, edge_port: u16) -> String {
    format!(
        r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: shop, annotations: {{ version: {version} }} }}
spec:
  rollout:
    stages:
      - {{ name: cloud-canary, requirements: {{ zone: cloud }}, max_hosts: 1 }}
      - {{ name: cloud, requirements: {{ zone: cloud }} }}
      - {{ name: edge, requirements: {{ zone: edge }} }}
    bake_seconds: 3
    max_error_rate: 0.01
    health: {{ path: /trap, expect_status: 200 }}
    on_failure: rollback
  components:
    - name: hello
      type: component
      properties: {{ image: "file://{wasm}" }}
      traits:
        - type: daemonscaler
          properties: {{ instances: 4 }}
    - name: http-cloud
      type: capability
      properties: {{ image: "builtin://http-server" }}
      traits:
        - type: daemonscaler
          properties: {{ instances: 1, spread: [ {{ name: cloud, requirements: {{ zone: cloud }} }} ] }}
        - type: link
          properties:
            target: {{ name: hello }}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: {{ config: [ {{ name: shop-cloud-addr, properties: {{ address: "127.0.0.1:{cloud_port}" }} }} ] }}
    - name: http-edge
      type: capability
      properties: {{ image: "builtin://http-server" }}
      traits:
        - type: spreadscaler
          properties: {{ instances: 1, spread: [ {{ name: edge, requirements: {{ zone: edge }} }} ] }}
        - type: link
          properties:
            target: {{ name: hello }}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: {{ config: [ {{ name: shop-edge-addr, properties: {{ address: "127.0.0.1:{edge_port}" }} }} ] }}
"#,
        wasm = actor(wasm).display()
    )
}

/// One answer the client got: when it asked, which listener, what.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    edge: bool,
    answer: Result<(u16, Vec<u8>), String>,
}

impl Seen {
    fn ok_with(&self, body: &[u8]) -> bool {
        matches!(&self.answer, Ok((200, b)) if b == body)
    }
}

/// Requests `/trap` on both listeners in a loop until dropped.
struct Client {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Client {
    fn start(cloud_url: String, edge_url: String) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        for (edge, url) in [(false, cloud_url), (true, edge_url)] {
            let (stop, seen) = (stop.clone(), seen.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    // When the request was sent: one sent after a swap
                    // finished must be served by the new code.
                    let at = Instant::now();
                    let answer = http_get(&url)
                        .await
                        .map(|(code, _, body)| (code, body))
                        .map_err(|e| format!("{e:#}"));
                    seen.lock().unwrap().push(Seen { at, edge, answer });
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        }
        Client { stop, seen }
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The `(host name, digest, app-version)` of `shop-hello` on every host.
async fn hello_everywhere(cli: &Cli) -> anyhow::Result<Vec<(String, String, String)>> {
    let inv = cli.run_async(&["get", "inventory"]).await?.ok()?.json()?;
    let mut out = Vec::new();
    for host in inv.as_array().context("inventory array")? {
        for c in host["components"].as_array().into_iter().flatten() {
            if c["id"] == "shop-hello" {
                out.push((
                    host["name"].as_str().unwrap_or_default().to_owned(),
                    c["digest"].as_str().unwrap_or_default().to_owned(),
                    c["annotations"]["trellis.dev/app-version"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_staged_rollout_passes_its_stages_and_a_failing_version_rolls_back() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let site = EdgeSite::start("shop").await?;
    let lattice = unique_lattice("rollout");
    let opts =
        |name: &str, zone: &str| site.host_opts(&lattice, name, &[("zone", zone)], zone == "edge");
    let _cloud = Host::spawn(&site.hub, opts("cloud", "cloud"))?;
    let _edge1 = Host::spawn(&site.leaf, opts("edge-1", "edge"))?;
    let _edge2 = Host::spawn(&site.leaf, opts("edge-2", "edge"))?;
    let metrics = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _wadm = Wadm::spawn(
        &site.hub,
        &lattice,
        &["--metrics-addr", &metrics.to_string()],
    )?;
    let cli = Cli::new(&site.hub, &lattice);
    let (cloud_port, edge_port) = (free_port(), free_port());
    let deploy = |version: &str, wasm: &str| -> anyhow::Result<String> {
        let file = dir.path().join(format!("shop-{version}.yaml"));
        std::fs::write(&file, manifest(version, wasm, cloud_port, edge_port))?;
        Ok(file.display().to_string())
    };

    // v1 goes out at once: nothing ran before it.
    let v1 = deploy("v1", "hello_http")?;
    cli.run_async(&["app", "deploy", &v1, "--wait", "--timeout", "90"])
        .await?
        .ok()?;
    let cloud_url = format!("http://127.0.0.1:{cloud_port}/trap");
    let edge_url = format!("http://127.0.0.1:{edge_port}/trap");
    for url in [&cloud_url, &edge_url] {
        let (_, _, body) = wait_for_http(url, 200, Duration::from_secs(30)).await?;
        assert_eq!(body, V1_BODY);
    }

    // Watch the statuses wadm announces, from the hub.
    let nats = async_nats::connect(site.hub.url()).await?;
    let mut events = nats
        .subscribe(format!("trellis.{lattice}.evt.app_status"))
        .await?;
    nats.flush().await?;
    let phases = Arc::new(Mutex::new(Vec::<(String, String, String)>::new()));
    let sink = phases.clone();
    tokio::spawn(async move {
        while let Some(msg) = events.next().await {
            let Ok(ev) = serde_json::from_slice::<serde_json::Value>(&msg.payload) else {
                continue;
            };
            let r = &ev["data"]["rollout"];
            if r.is_object() {
                let field = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                sink.lock()
                    .unwrap()
                    .push((field("to"), field("stage"), field("phase")));
            }
        }
    });

    // v1 -> v2 through cloud-canary, cloud and edge with the client on.
    let client = Client::start(cloud_url.clone(), edge_url.clone());
    let v2 = deploy("v2", "http_echo")?;
    let out = cli
        .run_async(&["app", "deploy", &v2, "--wait", "--timeout", "120"])
        .await?;
    out.ok()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during_v2 = client.take();
    let failed: Vec<&Seen> = during_v2
        .iter()
        .filter(|s| !s.ok_with(V1_BODY) && !s.ok_with(V2_BODY))
        .collect();
    assert!(
        failed.is_empty(),
        "requests failed during the v2 rollout: {failed:?}"
    );
    assert!(
        during_v2.len() > 100,
        "the client kept sending ({})",
        during_v2.len()
    );
    let last_edge = during_v2
        .iter()
        .rev()
        .find(|s| s.edge)
        .context("edge answers")?;
    let last_cloud = during_v2
        .iter()
        .rev()
        .find(|s| !s.edge)
        .context("cloud answers")?;
    assert!(last_edge.ok_with(V2_BODY) && last_cloud.ok_with(V2_BODY));
    let everywhere = hello_everywhere(&cli).await?;
    assert_eq!(everywhere.len(), 3, "{everywhere:?}");
    assert!(
        everywhere.iter().all(|(_, _, v)| v == "v2"),
        "{everywhere:?}"
    );
    let v2_digest = everywhere[0].1.clone();
    assert!(everywhere.iter().all(|(_, d, _)| d == &v2_digest));
    let stages: Vec<String> = {
        let seen = phases.lock().unwrap();
        let mut order: Vec<String> = Vec::new();
        for (_, stage, _) in seen.iter().filter(|(to, _, _)| to == "v2") {
            if order.last() != Some(stage) {
                order.push(stage.clone());
            }
        }
        order
    };
    assert_eq!(stages, ["cloud-canary", "cloud", "edge"], "{phases:?}");
    assert!(
        phases
            .lock()
            .unwrap()
            .iter()
            .any(|(to, _, phase)| to == "v2" && phase == "done")
    );

    // v3 traps on /trap: the canary's bake catches it and rolls back.
    let v3 = deploy("v3", "misbehave")?;
    let out = cli
        .run_async(&["app", "deploy", &v3, "--wait", "--timeout", "120"])
        .await?;
    assert!(
        !out.success(),
        "deploy --wait of a failing version must fail"
    );
    assert!(out.stderr.contains("rolled back to v2"), "{}", out.stderr);
    let status = cli
        .run_async(&["app", "status", "shop"])
        .await?
        .ok()?
        .json()?;
    assert_eq!(status["version"], "v2", "{status}");
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(status["rollout"]["phase"], "rolled_back", "{status}");
    assert_eq!(status["rollout"]["stage"], "cloud-canary", "{status}");
    let why = status["rollout"]["message"].as_str().unwrap_or_default();
    assert!(
        why.contains("invocations failed") || why.contains("health probe"),
        "{why}"
    );
    // wadm's metrics count the app's rollout by phase once it publishes
    // the status (the stored status may be read a moment before).
    let rolled_back = "trellis_wadm_rollouts{phase=\"rolled_back\"} ";
    let deadline = Instant::now() + Duration::from_secs(10);
    while trellis_tests::scrape_one(metrics, rolled_back).await? != 1 {
        assert!(
            Instant::now() < deadline,
            "no rolled_back rollout in wadm's metrics"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done = "trellis_wadm_rollouts{phase=\"done\"} ";
    assert_eq!(trellis_tests::scrape_one(metrics, done).await?, 0);

    // Once v2 runs everywhere again, every request is served by v2.
    let deadline = Instant::now() + Duration::from_secs(30);
    while hello_everywhere(&cli)
        .await?
        .iter()
        .any(|(_, d, v)| d != &v2_digest || v != "v2")
    {
        assert!(Instant::now() < deadline, "v2 not back everywhere");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let restored = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during_v3 = client.take();
    drop(client);
    let failed: Vec<&Seen> = during_v3.iter().filter(|s| !s.ok_with(V2_BODY)).collect();
    assert!(
        !failed.is_empty(),
        "the canary ran v3 for a while, so some cloud requests failed"
    );
    assert!(
        failed.iter().all(|s| !s.edge),
        "failures stay within the canary's share; the edge never ran v3: {failed:?}"
    );
    let after: Vec<&Seen> = during_v3.iter().filter(|s| s.at > restored).collect();
    assert!(
        after.len() > 20,
        "the client kept sending ({})",
        after.len()
    );
    assert!(
        after.iter().all(|s| s.ok_with(V2_BODY)),
        "after the rollback v2 serves everything: {after:?}"
    );
    Ok(())
}
