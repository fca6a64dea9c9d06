//! The lattice on a three-node NATS cluster: buckets replicated three
//! times; under steady HTTP and kv-counter load the JetStream meta leader
//! is killed with SIGKILL and later restarted. No acknowledged write may
//! be lost, requests must recover within 10 s, and wadm must keep the
//! apps deployed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use trellis_tests::{
    Cli, HelloApp, Host, HostOpts, NatsCluster, NatsServer, Wadm, actor, free_port, unique_lattice,
    wait_for_http,
};

/// The issue's bound on how long requests may keep failing.
const RECOVERY: Duration = Duration::from_secs(10);
/// Load before the kill, with the node down, and after the restart.
const BEFORE: Duration = Duration::from_secs(3);
const DOWN: Duration = Duration::from_secs(15);
const AFTER: Duration = Duration::from_secs(6);
/// Bound on one request of the load (a failure past it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Hard stop of a load loop, whatever the test does.
const LOAD_LIMIT: Duration = Duration::from_secs(90);

/// One request of a load loop: when it ended and, if it succeeded, what
/// it answered.
struct Sample {
    at: Instant,
    answer: Option<String>,
}

/// Sends `method url` back to back until `stop` (or [`LOAD_LIMIT`]).
async fn load(method: reqwest::Method, url: String, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTP client");
    let limit = Instant::now() + LOAD_LIMIT;
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) && Instant::now() < limit {
        let answer = match client.request(method.clone(), &url).send().await {
            Ok(resp) if resp.status() == 200 => resp.text().await.ok(),
            _ => None,
        };
        let failed = answer.is_none();
        samples.push(Sample {
            at: Instant::now(),
            answer,
        });
        // A refused connection fails at once; don't spin on it.
        let pause = if failed { 50 } else { 20 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    samples
}

/// The longest stretch without a successful answer, from `from` to the
/// end of the samples.
fn longest_gap(samples: &[Sample], from: Instant) -> Duration {
    let mut last_ok = from;
    let mut longest = Duration::ZERO;
    for s in samples.iter().filter(|s| s.at >= from) {
        longest = longest.max(s.at - last_ok);
        if s.answer.is_some() {
            last_ok = s.at;
        }
    }
    longest
}

fn hello_manifest(wasm: &str, port: u16) -> String {
    HelloApp {
        name: "hello",
        image: format!("file://{wasm}"),
        instances: 4,
        component_zone: Some("back"),
        http_zone: Some("front"),
        config: "hello-addr",
        port,
    }
    .yaml()
}

/// examples/kv-counter.yaml with the counter's data on keyvalue-nats,
/// replicated three times, and the work split across the two hosts.
fn kv_counter_manifest(wasm: &str, port: u16) -> String {
    format!(
        r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: kv-counter, annotations: {{ version: v1 }} }}
spec:
  components:
    - name: counter
      type: component
      properties: {{ image: "file://{wasm}" }}
      traits:
        - type: spreadscaler
          properties: {{ instances: 4, spread: [ {{ name: back, requirements: {{ zone: back }} }} ] }}
        - type: link
          properties:
            target: {{ name: kv }}
            namespace: wasi
            package: keyvalue
            interfaces: [store, atomics]
    - name: kv
      type: capability
      properties:
        image: builtin://keyvalue-nats
        config: [ {{ name: kv-counter-data, properties: {{ replicas: "3" }} }} ]
      traits:
        - type: spreadscaler
          properties: {{ instances: 1, spread: [ {{ name: back, requirements: {{ zone: back }} }} ] }}
    - name: http
      type: capability
      properties: {{ image: "builtin://http-server" }}
      traits:
        - type: daemonscaler
          properties: {{ instances: 1, spread: [ {{ name: front, requirements: {{ zone: front }} }} ] }}
        - type: link
          properties:
            target: {{ name: counter }}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: {{ config: [ {{ name: kv-counter-address, properties: {{ address: "127.0.0.1:{port}" }} }} ] }}
"#
    )
}

/// Replicas of the stream behind each of the lattice's buckets.
async fn replicas(js: &async_nats::jetstream::Context, streams: &[String]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for name in streams {
        let n = match js.get_stream(name).await {
            Ok(mut s) => s.info().await.map_or(0, |i| i.config.num_replicas),
            Err(_) => 0,
        };
        out.push((name.clone(), n));
    }
    out
}

/// `(host name, workload id, max)` of everything the hosts run, sorted.
async fn placements(cli: &Cli) -> anyhow::Result<Vec<(String, String, u64)>> {
    let inv = cli.run_async(&["get", "inventory"]).await?.ok()?.json()?;
    let mut out = Vec::new();
    for host in inv.as_array().context("inventory array")? {
        let name = host["name"].as_str().unwrap_or_default();
        for kind in ["components", "providers"] {
            for w in host[kind].as_array().into_iter().flatten() {
                let id = w["id"].as_str().unwrap_or_default();
                out.push((
                    name.to_owned(),
                    id.to_owned(),
                    w["max"].as_u64().unwrap_or(0),
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

async fn app_state(cli: &Cli, app: &str) -> Option<String> {
    let out = cli.run_async(&["app", "status", app]).await.ok()?;
    let status = out.ok().ok()?.json().ok()?;
    status["state"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lattice_survives_losing_the_jetstream_meta_leader() -> anyhow::Result<()> {
    let mut cluster = NatsCluster::start().await?;
    let urls = cluster.urls();
    let lattice = unique_lattice("cluster");
    let dir = tempfile::tempdir()?;

    // A bucket made before replicas were asked for: R1, scaled up later.
    let nats = async_nats::connect(
        (0..trellis_tests::CLUSTER_SIZE)
            .map(|i| cluster.url(i))
            .collect::<Vec<_>>(),
    )
    .await?;
    let js = async_nats::jetstream::new(nats.clone());
    js.create_key_value(async_nats::jetstream::kv::Config {
        bucket: format!("TRELLIS_LINKS_{lattice}"),
        history: 1,
        ..Default::default()
    })
    .await?;

    let host = |name: &str, zone: &str| {
        Host::spawn_url(
            &urls,
            HostOpts {
                lattice: lattice.clone(),
                name: name.into(),
                labels: vec![("zone".into(), zone.into())],
                heartbeat_ms: Some(1000),
                extra_args: vec!["--js-replicas".into(), "3".into()],
                ..HostOpts::default()
            },
        )
    };
    let _front = host("front", "front")?;
    let _back = host("back", "back")?;
    let wadm = Wadm::spawn_url(&urls, &lattice, &["--js-replicas", "3"])?;
    let cli = Cli {
        nats_url: urls.clone(),
        lattice: lattice.clone(),
    };

    let (hello_port, kv_port) = (free_port(), free_port());
    let hello = dir.path().join("hello.yaml");
    std::fs::write(
        &hello,
        hello_manifest(&actor("hello_http").display().to_string(), hello_port),
    )?;
    let counter = dir.path().join("kv-counter.yaml");
    std::fs::write(
        &counter,
        kv_counter_manifest(&actor("kv_counter").display().to_string(), kv_port),
    )?;
    for file in [&hello, &counter] {
        let file = file.display().to_string();
        cli.run_async(&[
            "--js-replicas",
            "3",
            "app",
            "deploy",
            &file,
            "--wait",
            "--timeout",
            "60",
        ])
        .await?
        .ok()?;
    }
    let hello_url = format!("http://127.0.0.1:{hello_port}/");
    let kv_url = format!("http://127.0.0.1:{kv_port}/incr?key=visits");
    wait_for_http(&hello_url, 200, Duration::from_secs(30)).await?;
    wait_for_http(&kv_url, 200, Duration::from_secs(30)).await?;

    // Every bucket of the lattice keeps three replicas, the one that
    // existed with one included.
    let streams: Vec<String> = ["LINKS", "CONFIG", "WADM", "KV"]
        .iter()
        .map(|b| format!("KV_TRELLIS_{b}_{lattice}"))
        .chain([format!("OBJ_TRELLIS_ARTIFACTS_{lattice}")])
        .collect();
    let found = replicas(&js, &streams).await;
    assert!(
        found.iter().all(|(_, n)| *n == 3),
        "replicas per bucket: {found:?}"
    );

    let placed = placements(&cli).await?;
    assert_eq!(placed.len(), 5, "{placed:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let hello_load = tokio::spawn(load(reqwest::Method::GET, hello_url, stop.clone()));
    let kv_load = tokio::spawn(load(reqwest::Method::POST, kv_url.clone(), stop.clone()));
    tokio::time::sleep(BEFORE).await;

    let leader = cluster.meta_leader().await?;
    // Which of the lattice's connections the kill cuts (the client picks
    // a server at random, so this varies; the outcome must not).
    let cut: Vec<String> = cluster
        .client_names(leader)
        .await?
        .into_iter()
        .filter(|n| n.starts_with("trellis"))
        .collect();
    cluster.kill(leader)?;
    let killed_at = Instant::now();
    let new_leader = cluster.meta_leader().await?;
    let elected_in = killed_at.elapsed();
    assert_ne!(new_leader, leader);
    // While the node is down, wadm still says the apps are deployed.
    let mut states_down = Vec::new();
    while killed_at.elapsed() < DOWN {
        states_down.push(app_state(&cli, "hello").await);
        states_down.push(app_state(&cli, "kv-counter").await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    cluster.restart(leader).await?;
    let restarted_at = Instant::now();
    tokio::time::sleep(AFTER).await;
    stop.store(true, Ordering::Relaxed);
    let hello = hello_load.await?;
    let counts = kv_load.await?;

    // Requests recovered within 10 s, and kept being served after the
    // restart.
    let hello_gap = longest_gap(&hello, killed_at);
    let kv_gap = longest_gap(&counts, killed_at);
    let ok_after = |samples: &[Sample]| {
        samples
            .iter()
            .filter(|s| s.at > restarted_at && s.answer.is_some())
            .count()
    };
    let failed = |samples: &[Sample]| samples.iter().filter(|s| s.answer.is_none()).count();
    eprintln!(
        "meta leader {} killed (cutting {cut:?}), {} elected in {elected_in:?}; hello: {} \
         requests, {} failed, longest gap {hello_gap:?}; kv: {} increments, {} failed, longest \
         gap {kv_gap:?}",
        cluster.name(leader),
        cluster.name(new_leader),
        hello.len(),
        failed(&hello),
        counts.len(),
        failed(&counts),
    );
    assert!(
        hello_gap < RECOVERY,
        "hello had no answer for {hello_gap:?}"
    );
    assert!(kv_gap < RECOVERY, "kv-counter had no answer for {kv_gap:?}");
    assert!(ok_after(&hello) > 10 && ok_after(&counts) > 10);

    // No acknowledged increment is lost: each answer is a new, higher
    // count, and the stored counter is at least the last one.
    let acked: Vec<u64> = counts
        .iter()
        .filter_map(|s| s.answer.as_deref())
        .map(|a| a.trim().parse::<u64>().context("count"))
        .collect::<anyhow::Result<_>>()?;
    assert!(acked.len() > 50, "only {} acknowledged", acked.len());
    if let Some(w) = acked.windows(2).find(|w| w[1] <= w[0]) {
        bail!("acknowledged counts went from {} to {}", w[0], w[1]);
    }
    let get = kv_url.replace("/incr?", "/get?");
    let (code, _, body) = trellis_tests::http_get(&get).await?;
    assert_eq!(code, 200);
    let stored: u64 = String::from_utf8(body)?.trim().parse()?;
    let last = *acked.last().context("no count")?;
    assert!(
        stored >= last && stored >= acked.len() as u64,
        "stored {stored}, last acknowledged {last}, {} acknowledged",
        acked.len()
    );

    // wadm kept both apps deployed throughout.
    assert!(
        states_down.iter().flatten().all(|s| s == "deployed"),
        "app states while a node was down: {states_down:?}"
    );
    assert!(
        states_down.iter().flatten().count() >= states_down.len() / 2,
        "the CLI could rarely reach wadm: {states_down:?}"
    );
    for app in ["hello", "kv-counter"] {
        assert_eq!(
            app_state(&cli, app).await.as_deref(),
            Some("deployed"),
            "{app}"
        );
    }
    assert!(wadm.leads(), "{}", wadm.log());
    // ... and moved nothing: every host runs what it ran before the kill.
    assert_eq!(placements(&cli).await?, placed);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_on_a_single_server_fail_with_what_to_do() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("replicas");
    let cli = Cli::new(&nats, &lattice);
    let wasm = actor("hello_http").display().to_string();
    let out = cli
        .run_async(&["--js-replicas", "3", "push", &wasm])
        .await?;
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(
        out.stderr.contains("3 replicas need a JetStream cluster")
            && out.stderr.contains("--js-replicas 1"),
        "{}",
        out.stderr
    );
    let out = cli
        .run_async(&["--js-replicas", "9", "push", &wasm])
        .await?;
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("1..=5") || out.stderr.contains("1 to 5"),
        "{}",
        out.stderr
    );
    // The default still works on one server.
    cli.run_async(&["push", &wasm]).await?.ok()?;
    // Buckets that exist keep working when they cannot be scaled up; the
    // warning names the bucket and the fix.
    let out = cli
        .run_async(&["--js-replicas", "3", "push", &wasm])
        .await?;
    out.ok()?;
    assert!(
        out.stderr.contains(&format!(
            "bucket TRELLIS_LINKS_{lattice} keeps 1 replica(s): JetStream refused 3"
        )) && out.stderr.contains("nats stream edit KV_TRELLIS_LINKS_"),
        "{}",
        out.stderr
    );
    Ok(())
}
