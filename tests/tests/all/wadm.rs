//! wadm end to end: separate host and wadm processes on a real nats-server,
//! apps deployed with the CLI, outcomes read from inventories, HTTP and
//! lattice events.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::Value;
use trellis_tests::{
    Cli, Host, HostOpts, NatsServer, Wadm, actor, free_port, http_get, unique_lattice,
    wait_for_http,
};

/// Bound on any convergence the tests wait for.
pub(crate) const CONVERGE: Duration = Duration::from_secs(30);

/// A lattice: nats-server, CLI, hosts, wadm.
pub(crate) struct Site {
    nats: NatsServer,
    lattice: String,
    pub(crate) cli: Cli,
    pub(crate) dir: tempfile::TempDir,
}

impl Site {
    pub(crate) fn new(prefix: &str) -> anyhow::Result<Self> {
        let nats = NatsServer::start()?;
        let lattice = unique_lattice(prefix);
        let cli = Cli::new(&nats, &lattice);
        Ok(Self {
            nats,
            lattice,
            cli,
            dir: tempfile::tempdir()?,
        })
    }

    pub(crate) fn host(&self, name: &str, zone: &str) -> anyhow::Result<Host> {
        Host::spawn(
            &self.nats,
            HostOpts {
                lattice: self.lattice.clone(),
                name: name.into(),
                labels: vec![("zone".into(), zone.into())],
                heartbeat_ms: Some(500),
                ..HostOpts::default()
            },
        )
    }

    pub(crate) fn wadm(&self) -> anyhow::Result<Wadm> {
        Wadm::spawn(&self.nats, &self.lattice, &[])
    }

    /// Writes a manifest: component `hello` (image `actor`), spread
    /// `instances` with `spread` (YAML flow list, may be empty), and the
    /// HTTP server on hosts in `http_zone` linked to it on `port`.
    fn manifest(&self, app: &Manifest<'_>) -> anyhow::Result<PathBuf> {
        let wasm = self.dir.path().join(format!("{}.wasm", app.actor));
        if !wasm.exists() {
            std::fs::copy(actor(app.actor), &wasm)?;
        }
        let file = self
            .dir
            .path()
            .join(format!("{}-{}.yaml", app.name, app.version));
        std::fs::write(
            &file,
            format!(
                r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: {name}, annotations: {{ version: {version} }} }}
spec:
  components:
    - name: hello
      type: component
      properties: {{ image: "file://./{actor}.wasm" }}
      traits:
        - type: spreadscaler
          properties: {{ instances: {instances}, spread: {spread} }}
    - name: http
      type: capability
      properties: {{ image: "builtin://http-server" }}
      traits:
        - type: daemonscaler
          properties: {{ instances: 1, spread: [ {{ name: web, requirements: {{ zone: {http_zone} }} }} ] }}
        - type: link
          properties:
            target: {{ name: hello }}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: {{ config: [ {{ name: {name}-addr, properties: {{ address: "127.0.0.1:{port}" }} }} ] }}
"#,
                name = app.name,
                version = app.version,
                actor = app.actor,
                instances = app.instances,
                spread = app.spread,
                http_zone = app.http_zone,
                port = app.port,
            ),
        )?;
        Ok(file)
    }

    pub(crate) async fn deploy(&self, file: &Path) -> anyhow::Result<()> {
        let file = file.display().to_string();
        self.cli
            .run_async(&["app", "deploy", &file, "--wait", "--timeout", "45"])
            .await?
            .ok()?;
        Ok(())
    }

    /// `(host name, component id) -> max` over every host.
    async fn placements(&self) -> anyhow::Result<Vec<(String, String, u64)>> {
        let inv = self
            .cli
            .run_async(&["get", "inventory"])
            .await?
            .ok()?
            .json()?;
        let mut out = Vec::new();
        for host in inv.as_array().context("inventory is an array")? {
            let name = host["name"].as_str().unwrap_or_default().to_owned();
            for c in host["components"].as_array().into_iter().flatten() {
                out.push((
                    name.clone(),
                    c["id"].as_str().unwrap_or_default().to_owned(),
                    c["max"].as_u64().unwrap_or_default(),
                ));
            }
        }
        Ok(out)
    }

    async fn max_on(&self, host: &str, id: &str) -> anyhow::Result<u64> {
        Ok(self
            .placements()
            .await?
            .into_iter()
            .filter(|(h, c, _)| h == host && c == id)
            .map(|(_, _, m)| m)
            .sum())
    }

    /// Waits (≤[`CONVERGE`]) until `app`'s status is `state`.
    async fn wait_state(&self, app: &str, state: &str) -> anyhow::Result<()> {
        eventually(&format!("{app} {state}"), CONVERGE, || async {
            Ok((self.status(app).await?["state"] == state).then_some(()))
        })
        .await
    }

    pub(crate) async fn status(&self, app: &str) -> anyhow::Result<Value> {
        self.cli
            .run_async(&["app", "status", app])
            .await?
            .ok()?
            .json()
    }
}

struct Manifest<'a> {
    name: &'a str,
    version: &'a str,
    actor: &'a str,
    instances: u32,
    spread: &'a str,
    http_zone: &'a str,
    port: u16,
}

const HALF_EDGE_HALF_CLOUD: &str = "[ { name: edge, requirements: { zone: edge }, weight: 50 }, \
                                     { name: cloud, requirements: { zone: cloud }, weight: 50 } ]";

/// Polls `check` until it returns `Some` or `timeout` passes.
pub(crate) async fn eventually<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = String::new();
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = format!("{e:#}"),
        }
        if Instant::now() >= deadline {
            bail!("{what} did not happen within {timeout:?} {last_error}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every event of the lattice from now on: `(type suffix, data)`.
struct Events(Arc<Mutex<Vec<(String, Value)>>>);

impl Events {
    async fn record(site: &Site) -> anyhow::Result<Self> {
        let client = async_nats::connect(site.nats.url()).await?;
        let mut sub = client
            .subscribe(format!("trellis.{}.evt.>", site.lattice))
            .await?;
        client.flush().await?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        tokio::spawn(async move {
            let _client = client;
            while let Some(msg) = sub.next().await {
                if let Ok(ev) = serde_json::from_slice::<Value>(&msg.payload) {
                    let kind = ev["type"].as_str().unwrap_or_default();
                    let kind = kind.rsplit('.').next().unwrap_or_default().to_owned();
                    sink.lock().unwrap().push((kind, ev["data"].clone()));
                }
            }
        });
        Ok(Self(seen))
    }

    fn of(&self, kind: &str) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, d)| d.clone())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn spread_half_edge_half_cloud_and_a_killed_cloud_host_moves_its_share() -> anyhow::Result<()>
{
    let site = Site::new("wadm-spread")?;
    let edge = site.host("edge", "edge")?;
    let cloud1 = site.host("cloud1", "cloud")?;
    let cloud2 = site.host("cloud2", "cloud")?;
    let _wadm = site.wadm()?;
    let port = free_port();
    let file = site.manifest(&Manifest {
        name: "web",
        version: "v1",
        actor: "hello_http",
        instances: 4,
        spread: HALF_EDGE_HALF_CLOUD,
        http_zone: "edge",
        port,
    })?;
    site.deploy(&file).await?;

    assert_eq!(site.max_on("edge", "web-hello").await?, 2);
    assert_eq!(site.max_on("cloud1", "web-hello").await?, 1);
    assert_eq!(site.max_on("cloud2", "web-hello").await?, 1);
    let url = format!("http://127.0.0.1:{port}/");
    let (code, _, body) = wait_for_http(&url, 200, CONVERGE).await?;
    assert_eq!(
        (code, String::from_utf8_lossy(&body).as_ref()),
        (200, "Hello from Trellis!")
    );

    let killed = Instant::now();
    cloud2.sigkill()?;
    eventually(
        "the cloud share moving to cloud1",
        Duration::from_secs(20),
        || async {
            let on_cloud1 = site.max_on("cloud1", "web-hello").await?;
            Ok((on_cloud1 == 2).then_some(()))
        },
    )
    .await?;
    eprintln!("cloud share moved {:?} after the kill", killed.elapsed());
    assert_eq!(
        site.max_on("edge", "web-hello").await?,
        2,
        "edge keeps exactly its share"
    );
    let placed: u64 = site.placements().await?.iter().map(|p| p.2).sum();
    assert_eq!(placed, 4);
    for _ in 0..4 {
        let (code, _, body) = http_get(&url).await?;
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    }
    site.wait_state("web", "deployed").await?;
    drop((edge, cloud1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unmet_requirement_fails_and_heals_when_a_matching_host_joins() -> anyhow::Result<()> {
    let site = Site::new("wadm-req")?;
    let _cloud = site.host("cloud", "cloud")?;
    let _wadm = site.wadm()?;
    let file = site.manifest(&Manifest {
        name: "mars",
        version: "v1",
        actor: "hello_http",
        instances: 2,
        spread: "[ { name: red, requirements: { zone: mars } } ]",
        http_zone: "cloud",
        port: free_port(),
    })?;
    let file_arg = file.display().to_string();
    let out = site
        .cli
        .run_async(&["app", "deploy", &file_arg, "--wait", "--timeout", "30"])
        .await?;
    assert!(!out.status.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains("no host matches zone=mars"),
        "{}",
        out.stderr
    );
    let status = site.status("mars").await?;
    assert_eq!(status["state"], "failed", "{status}");

    let _red = site.host("red", "mars")?;
    site.wait_state("mars", "deployed").await?;
    assert_eq!(site.max_on("red", "mars-hello").await?, 2);
    assert_eq!(site.max_on("cloud", "mars-hello").await?, 0);
    Ok(())
}

/// The sha256 every host runs `id` with.
async fn digests(site: &Site, id: &str) -> anyhow::Result<Vec<String>> {
    let inv = site
        .cli
        .run_async(&["get", "inventory"])
        .await?
        .ok()?
        .json()?;
    let mut out: Vec<String> = inv
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|h| h["components"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["id"] == id)
        .map(|c| c["digest"].as_str().unwrap_or_default().to_owned())
        .collect();
    out.sort();
    Ok(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_version_replaces_every_instance_and_rollback_returns() -> anyhow::Result<()> {
    let site = Site::new("wadm-version")?;
    let _a = site.host("a", "edge")?;
    let _b = site.host("b", "cloud")?;
    let _wadm = site.wadm()?;
    let v1 = Manifest {
        name: "ver",
        version: "v1",
        actor: "hello_http",
        instances: 2,
        spread: "[]",
        http_zone: "edge",
        port: free_port(),
    };
    let url = format!("http://127.0.0.1:{}/", v1.port);
    let v1_file = site.manifest(&v1)?;
    let v2_file = site.manifest(&Manifest {
        version: "v2",
        actor: "http_echo",
        ..v1
    })?;
    site.deploy(&v1_file).await?;
    let old = digests(&site, "ver-hello").await?;
    assert_eq!(old.len(), 2, "{old:?}");
    let (_, _, body) = wait_for_http(&url, 200, CONVERGE).await?;
    assert_eq!(body, b"Hello from Trellis!");

    site.deploy(&v2_file).await?;
    let new = digests(&site, "ver-hello").await?;
    assert_eq!(new.len(), 2, "{new:?}");
    assert!(
        new.iter().all(|d| !old.contains(d)),
        "old {old:?} new {new:?}"
    );
    let (code, _, body) = trellis_tests::http_post(&url, b"ping".to_vec()).await?;
    assert_eq!(code, 200);
    assert_ne!(body, b"Hello from Trellis!", "v2 (http-echo) answers");

    site.cli
        .run_async(&["app", "rollback", "ver", "--wait", "--timeout", "45"])
        .await?
        .ok()?;
    assert_eq!(digests(&site, "ver-hello").await?, old);
    let (_, _, body) = http_get(&url).await?;
    assert_eq!(body, b"Hello from Trellis!");
    let history = site
        .cli
        .run_async(&["app", "history", "ver"])
        .await?
        .ok()?
        .json()?;
    let deployed: Vec<&str> = history
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["deployed"] == true)
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(deployed, ["v1"], "{history}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn undeploy_removes_the_app_and_nothing_started_by_hand() -> anyhow::Result<()> {
    let site = Site::new("wadm-undeploy")?;
    let a = site.host("a", "edge")?;
    let _wadm = site.wadm()?;
    let cli = &site.cli;
    let mine = format!("file://{}", actor("hello_http").display());
    cli.run_async(&["start", "component", &mine, "mine", "--host", a.id()])
        .await?
        .ok()?;
    let data = format!("path={}", site.dir.path().join("kv").display());
    cli.run_async(&["config", "put", "my-kv-data", &data])
        .await?
        .ok()?;
    cli.run_async(&[
        "start",
        "provider",
        "builtin://keyvalue-sled",
        "my-kv",
        "--host",
        a.id(),
        "--config",
        "my-kv-data",
    ])
    .await?
    .ok()?;
    cli.run_async(&[
        "link",
        "put",
        "mine",
        "my-kv",
        "wasi",
        "keyvalue",
        "--interface",
        "store",
    ])
    .await?
    .ok()?;
    let file = site.manifest(&Manifest {
        name: "gone",
        version: "v1",
        actor: "hello_http",
        instances: 1,
        spread: "[]",
        http_zone: "edge",
        port: free_port(),
    })?;
    site.deploy(&file).await?;
    assert_eq!(site.max_on("a", "gone-hello").await?, 1);

    cli.run_async(&["app", "undeploy", "gone"]).await?.ok()?;
    eventually("the app's parts gone", CONVERGE, || async {
        let inv = cli.run_async(&["get", "inventory"]).await?.ok()?.json()?;
        let host = &inv[0];
        let ids = |kind: &str| -> Vec<String> {
            host[kind]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        };
        let (components, providers) = (ids("components"), ids("providers"));
        Ok((components == ["mine"] && providers == ["my-kv"]).then_some(()))
    })
    .await?;
    let links = cli.run_async(&["get", "links"]).await?.ok()?.json()?;
    let sources: Vec<&str> = links
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["source_id"].as_str())
        .collect();
    assert_eq!(sources, ["mine"], "{links}");
    assert_eq!(site.status("gone").await?["state"], "undeployed");

    cli.run_async(&["app", "delete", "gone"]).await?.ok()?;
    let apps = cli.run_async(&["app", "list"]).await?.ok()?.json()?;
    assert_eq!(apps, serde_json::json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_leader_mid_deploy_ends_deployed_without_duplicate_commands()
-> anyhow::Result<()> {
    let site = Site::new("wadm-failover")?;
    let _edge = site.host("edge", "edge")?;
    let _cloud1 = site.host("cloud1", "cloud")?;
    let _cloud2 = site.host("cloud2", "cloud")?;
    // The first leader paces its commands, so killing it after its first
    // one lands in the middle of the deploy.
    let mut first = Wadm::spawn(&site.nats, &site.lattice, &["--command-interval-ms", "500"])?;
    first.wait_leading(CONVERGE)?;
    let mut second = site.wadm()?;
    let events = Events::record(&site).await?;
    let file = site.manifest(&Manifest {
        name: "ha",
        version: "v1",
        actor: "hello_http",
        instances: 4,
        spread: HALF_EDGE_HALF_CLOUD,
        http_zone: "edge",
        port: free_port(),
    })?;
    let file_arg = file.display().to_string();
    site.cli
        .run_async(&["app", "deploy", &file_arg])
        .await?
        .ok()?;
    eventually("the first command's event", CONVERGE, || async {
        Ok(
            (!events.of("component_scaled").is_empty() || !events.of("config_set").is_empty())
                .then_some(()),
        )
    })
    .await?;
    first.sigkill()?;
    let by_first = first.commands_executed();

    second.wait_leading(CONVERGE)?;
    site.wait_state("ha", "deployed").await?;
    // Each host got the component once, the edge host the provider once.
    let mut scaled: Vec<String> = events
        .of("component_scaled")
        .iter()
        .filter(|d| d["component_id"] == "ha-hello")
        .map(|d| d["host_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    scaled.sort();
    let mut unique = scaled.clone();
    unique.dedup();
    assert_eq!(scaled, unique, "a host was scaled twice");
    assert_eq!(scaled.len(), 3);
    assert_eq!(events.of("provider_started").len(), 1);
    assert_eq!(events.of("link_put").len(), 1);
    assert_eq!(events.of("config_set").len(), 1);
    let by_second = second.commands_executed();
    assert!(
        (1..6).contains(&by_first) && by_second >= 1,
        "not mid-deploy: the first leader ran {by_first} command(s), the second {by_second}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn restarting_wadm_on_a_converged_lattice_sends_nothing() -> anyhow::Result<()> {
    let site = Site::new("wadm-restart")?;
    let _edge = site.host("edge", "edge")?;
    let _cloud = site.host("cloud", "cloud")?;
    let mut wadm = site.wadm()?;
    let file = site.manifest(&Manifest {
        name: "calm",
        version: "v1",
        actor: "hello_http",
        instances: 4,
        spread: HALF_EDGE_HALF_CLOUD,
        http_zone: "edge",
        port: free_port(),
    })?;
    site.deploy(&file).await?;
    wadm.stop(Duration::from_secs(30))?;

    let events = Events::record(&site).await?;
    let mut again = site.wadm()?;
    again.wait_leading(CONVERGE)?;
    // A pass ends with this line only when its plan came out empty.
    eventually("the restarted wadm's first pass", CONVERGE, || {
        let log = again.log();
        let seen = log.contains("wadm pass done, lattice matches the apps apps=1");
        async move { Ok(seen.then_some(())) }
    })
    .await?;
    assert_eq!(again.commands_executed(), 0, "{}", again.log());
    for kind in [
        "component_scaled",
        "provider_started",
        "provider_stopped",
        "link_put",
        "config_set",
    ] {
        assert_eq!(events.of(kind), Vec::<Value>::new(), "{kind}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn deploying_a_manifest_with_five_errors_lists_them_all_and_stores_nothing()
-> anyhow::Result<()> {
    let site = Site::new("wadm-errors")?;
    let _wadm = site.wadm()?;
    let file = site.dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: bad }
spec:
  components:
    - name: web
      type: component
      properties: { image: "ftp://nowhere" }
      traits:
        - { type: spreadscaler, properties: { instances: 1, spread: [ { name: a, weight: 0 } ] } }
        - { type: daemonscaler, properties: { instances: 1 } }
    - name: http
      type: capability
      properties: { image: "builtin://nope" }
      traits:
        - type: link
          properties: { target: { name: ghost }, namespace: wasi, package: http, interfaces: [incoming-handler] }
"#,
    )?;
    let file_arg = file.display().to_string();
    let out = site.cli.run_async(&["app", "deploy", &file_arg]).await?;
    assert!(!out.status.success());
    assert!(out.stderr.contains("5 problem(s)"), "{}", out.stderr);
    for path in [
        "spec.components[0] (web).properties.image",
        "spec.components[0] (web).traits[0] (spreadscaler).properties.spread[0].weight",
        "spec.components[0] (web).traits[1] (daemonscaler)",
        "spec.components[1] (http).properties.image",
        "spec.components[1] (http).traits[0] (link).properties.target.name",
    ] {
        assert!(out.stderr.contains(path), "missing {path}:\n{}", out.stderr);
    }
    std::fs::write(
        &file,
        "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: x\n   bad: indent\n",
    )?;
    let out = site.cli.run_async(&["app", "deploy", &file_arg]).await?;
    assert!(!out.status.success());
    assert!(out.stderr.contains("at line 5 column 7"), "{}", out.stderr);
    let apps = site.cli.run_async(&["app", "list"]).await?.ok()?.json()?;
    assert_eq!(apps, serde_json::json!([]));
    Ok(())
}
