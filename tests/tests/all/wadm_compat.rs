//! Manifests written the way wasmCloud's examples and wadm's fixtures
//! write them, deployed unchanged against images pushed to a real OCI
//! registry, and served: OCI references without a scheme, wasmCloud's
//! provider images with no scaler, the old link syntax, `type: actor`,
//! http-server config in wasmCloud's spelling, links unique per interface,
//! custom traits, `source.name`, `spec.policies` with component secrets
//! (read only when asked for: tests/tests/all/secrets.rs reads them), and a
//! shared app used by another.

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use trellis_tests::{
    Cli, Host, HostOpts, NatsServer, OciRegistry, Wadm, actor, free_port, http_get, unique_lattice,
    wait_for_http,
};

/// Bound on any convergence the test waits for.
const CONVERGE: Duration = Duration::from_secs(45);

struct Site {
    cli: Cli,
    registry: OciRegistry,
    dir: tempfile::TempDir,
}

impl Site {
    /// Pushes actor `name` as `REGISTRY/wasmcloud-style/NAME:0.1.0` and
    /// returns the reference as a wasmCloud manifest writes it.
    fn push(&self, name: &str) -> anyhow::Result<String> {
        let addr = self.registry.address();
        let image = format!("{addr}/wasmcloud-style/{}:0.1.0", name.replace('_', "-"));
        let wasm = actor(name).display().to_string();
        let target = format!("oci://{image}");
        self.cli
            .run(&["push", &target, &wasm, "--allow-insecure", &addr])?
            .ok()?;
        Ok(image)
    }

    /// `app deploy --wait` of `yaml`; the CLI's stderr (warnings) back.
    fn deploy(&self, name: &str, yaml: &str) -> anyhow::Result<String> {
        let file = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, yaml)?;
        let file = file.display().to_string();
        let addr = self.registry.address();
        let out = self.cli.run_with_timeout(
            &[
                "app",
                "deploy",
                &file,
                "--wait",
                "--timeout",
                "40",
                "--allow-insecure",
                &addr,
            ],
            Duration::from_secs(60),
        )?;
        out.ok().with_context(|| format!("deploying {name}"))?;
        Ok(out.stderr.clone())
    }

    fn status(&self, app: &str) -> anyhow::Result<Value> {
        self.cli.run(&["app", "status", app])?.ok()?.json()
    }
}

fn component<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["components"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmcloud_style_manifests_deploy_unchanged_and_serve() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("wadmcompat");
    let _host = Host::spawn(
        &nats,
        HostOpts {
            lattice: lattice.clone(),
            name: "compat".into(),
            heartbeat_ms: Some(500),
            ..HostOpts::default()
        },
    )?;
    let _wadm = Wadm::spawn(&nats, &lattice, &[])?;
    let site = Site {
        cli: Cli::new(&nats, &lattice),
        registry: OciRegistry::start()?,
        dir: tempfile::tempdir()?,
    };

    // 1. Hello: `type: actor`, an OCI image, wasmCloud's http-server image
    // with no scaler, the old link syntax with `ADDRESS` in capitals, and
    // a custom trait wadm would warn about.
    let hello = site.push("hello_http")?;
    let port = free_port();
    let warnings = site.deploy(
        "hello",
        &format!(
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: hello-world
  annotations: {{ version: v0.0.1, description: "HTTP hello world demo" }}
spec:
  components:
    - name: http-component
      type: actor
      properties:
        image: {hello}
      traits:
        - type: spreadscaler
          properties:
            replicas: 1
        - type: custom-autoscaler
          properties: {{ min: 1, max: 10 }}
    - name: httpserver
      type: capability
      properties:
        image: ghcr.io/wasmcloud/http-server:0.23.0
      traits:
        - type: link
          properties:
            target: http-component
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source_config:
              - name: hello-world-http
                properties:
                  ADDRESS: 127.0.0.1:{port}
"#
        ),
    )?;
    for needle in [
        "older link syntax",
        "builtin://http-server",
        "custom-autoscaler",
    ] {
        assert!(
            warnings.contains(needle),
            "no warning about {needle}: {warnings}"
        );
    }
    let url = format!("http://127.0.0.1:{port}/");
    let (code, _, body) = wait_for_http(&url, 200, CONVERGE).await?;
    assert_eq!((code, body.as_slice()), (200, &b"Hello from Trellis!"[..]));
    let status = site.status("hello-world")?;
    assert_eq!(status["state"], "deployed", "{status:#}");
    let images = status["images"].as_array().context("images in status")?;
    assert_eq!(images.len(), 1, "{status:#}");
    assert_eq!(images[0]["reference"], hello.as_str());
    assert!(
        images[0]["digest"]
            .as_str()
            .unwrap_or("")
            .starts_with("sha256:"),
        "{status:#}"
    );
    let http = component(&status, "httpserver").to_string();
    assert!(
        http.contains("builtin://http-server") && http.contains("implied: 1 instance"),
        "{http}"
    );

    // 2. Counter: wasmCloud's keyvalue-redis image (run as keyvalue-nats),
    // atomics and store in two link traits (unique per interface), config
    // in `target_config`, and the listener given by `port` alone.
    let counter = site.push("kv_counter")?;
    let port = free_port();
    site.deploy(
        "counter",
        &format!(
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: kvcounter, annotations: {{ version: v0.1.0 }} }}
spec:
  policies:
    - name: nats-kv
      type: policy.secret.wasmcloud.dev/v1alpha1
      properties: {{ backend: nats-kv }}
  components:
    - name: counter
      type: component
      properties:
        image: "{counter}"
        secrets:
          - name: api-token
            properties: {{ policy: nats-kv, key: counter_api_token }}
      traits:
        - type: spreadscaler
          properties: {{ instances: 1 }}
        - type: link
          properties:
            target: kvredis
            namespace: wasi
            package: keyvalue
            interfaces: [atomics]
            target_config:
              - name: redis-url
                properties: {{ url: "redis://127.0.0.1:6379" }}
        - type: link
          properties:
            target: kvredis
            namespace: wasi
            package: keyvalue
            interfaces: [store]
            source:
              name: counter
    - name: kvredis
      type: capability
      properties:
        image: ghcr.io/wasmcloud/keyvalue-redis:0.28.1
    - name: httpserver
      type: capability
      properties:
        image: ghcr.io/wasmcloud/http-server:0.23.0
      traits:
        - type: link
          properties:
            target: {{ name: counter }}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: kvcounter-http
                  properties: {{ port: "{port}" }}
"#
        ),
    )?;
    let url = format!("http://127.0.0.1:{port}/");
    let (code, _, body) = wait_for_http(&url, 200, CONVERGE).await?;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let first: u64 = String::from_utf8_lossy(&body).parse()?;
    let (_, _, body) = http_get(&url).await?;
    assert_eq!(String::from_utf8_lossy(&body), (first + 1).to_string());
    let links = site.cli.run(&["get", "links"])?.ok()?.json()?;
    let kv = links
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["target_id"] == "kvcounter-kvredis"))
        .with_context(|| format!("no link to kvredis: {links:#}"))?;
    let mut interfaces: Vec<&str> = kv["interfaces"]
        .as_array()
        .context("interfaces")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    interfaces.sort_unstable();
    assert_eq!(interfaces, ["atomics", "store"], "{kv:#}");
    // The policy and the secret reference are kept with the version.
    let stored = site
        .cli
        .run(&["app", "get", "kvcounter"])?
        .ok()?
        .stdout
        .clone();
    assert!(
        stored.contains("policy.secret.wasmcloud.dev/v1alpha1")
            && stored.contains("counter_api_token"),
        "{stored}"
    );

    // 3. Composition across apps: `pong` is shared; `front` uses it by
    // reference (`properties.application`) and runs nothing for it.
    let pingpong = site.push("pingpong")?;
    site.deploy(
        "shared",
        &format!(
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: pong-shared
  annotations: {{ version: v1, experimental.wasmcloud.dev/shared: "true" }}
spec:
  components:
    - name: pong
      type: component
      properties: {{ image: "{pingpong}" }}
      traits:
        - type: spreadscaler
          properties: {{ instances: 2 }}
"#
        ),
    )?;
    let (front, relay) = (site.push("http_relay")?, site.push("relay")?);
    let port = free_port();
    site.deploy(
        "front",
        &format!(
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: front, annotations: {{ version: v1 }} }}
spec:
  components:
    - name: front
      type: component
      properties: {{ image: "{front}" }}
      traits:
        - type: spreadscaler
          properties: {{ instances: 1 }}
        - type: link
          properties: {{ target: relay, namespace: trellis, package: examples, interfaces: [relay] }}
    - name: relay
      type: component
      properties: {{ image: "{relay}" }}
      traits:
        - type: spreadscaler
          properties: {{ instances: 1 }}
        - type: link
          properties: {{ target: pong, namespace: example, package: pong, interfaces: [pingpong] }}
        - type: link
          properties: {{ target: pong, namespace: trellis, package: examples, interfaces: [shapes] }}
    - name: pong
      type: component
      properties:
        application: {{ name: pong-shared, component: pong }}
    - name: httpserver
      type: capability
      properties: {{ image: "ghcr.io/wasmcloud/http-server:0.23.0" }}
      traits:
        - type: link
          properties:
            target: front
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source_config:
              - {{ name: front-http, properties: {{ address: "127.0.0.1:{port}" }} }}
"#
        ),
    )?;
    let url = format!("http://127.0.0.1:{port}/");
    let (code, _, body) = wait_for_http(&url, 200, CONVERGE).await?;
    assert_eq!(
        (code, String::from_utf8_lossy(&body).as_ref()),
        (200, "http -> relayed pong")
    );
    let inventory = site.cli.run(&["get", "inventory"])?.ok()?.json()?;
    let text = inventory.to_string();
    assert!(text.contains("pong-shared-pong"), "{inventory:#}");
    assert!(
        !text.contains("front-pong"),
        "a stand-in must not run: {inventory:#}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmclouds_blobstore_messaging_and_http_client_images_serve() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("wadmcaps");
    let _host = Host::spawn(
        &nats,
        HostOpts {
            lattice: lattice.clone(),
            name: "caps".into(),
            heartbeat_ms: Some(500),
            ..HostOpts::default()
        },
    )?;
    let _wadm = Wadm::spawn(&nats, &lattice, &[])?;
    let site = Site {
        cli: Cli::new(&nats, &lattice),
        registry: OciRegistry::start()?,
        dir: tempfile::tempdir()?,
    };
    let (blobby, relay, fetcher) = (
        site.push("blob_store")?,
        site.push("messaging_relay")?,
        site.push("http_fetch")?,
    );
    let blobs = tempfile::tempdir()?;
    let (blob_port, fetch_port) = (free_port(), free_port());
    let subject = format!("{lattice}.echo");
    // wasmCloud's provider images, none with a scaler, old link syntax.
    site.deploy(
        "caps",
        &format!(
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: caps, annotations: {{ version: v1 }} }}
spec:
  components:
    - name: blobby
      type: component
      properties: {{ image: "{blobby}" }}
      traits:
        - {{ type: spreadscaler, properties: {{ instances: 1 }} }}
        - type: link
          properties:
            target: blobstore
            namespace: wasi
            package: blobstore
            interfaces: [blobstore, container, types]
            target_config: [ {{ name: caps-root, properties: {{ root: "{root}" }} }} ]
    - name: blobstore
      type: capability
      properties: {{ image: ghcr.io/wasmcloud/blobstore-fs:0.10.1 }}
    - name: relay
      type: component
      properties: {{ image: "{relay}" }}
      traits:
        - {{ type: spreadscaler, properties: {{ instances: 1 }} }}
        - {{ type: link, properties: {{ target: nats, namespace: wasmcloud, package: messaging, interfaces: [consumer] }} }}
    - name: nats
      type: capability
      properties: {{ image: ghcr.io/wasmcloud/messaging-nats:0.24.0 }}
      traits:
        - type: link
          properties:
            target: relay
            namespace: wasmcloud
            package: messaging
            interfaces: [handler]
            source_config: [ {{ name: caps-subscription, properties: {{ subscriptions: "{subject}" }} }} ]
    - name: fetcher
      type: component
      properties: {{ image: "{fetcher}" }}
      traits:
        - {{ type: spreadscaler, properties: {{ instances: 1 }} }}
        - type: link
          properties:
            target: httpclient
            namespace: wasi
            package: http
            interfaces: [outgoing-handler]
            target_config: [ {{ name: caps-egress, properties: {{ allowed_hosts: "127.0.0.1:{blob_port}" }} }} ]
    - name: httpclient
      type: capability
      properties: {{ image: ghcr.io/wasmcloud/http-client:0.12.0 }}
    - name: httpserver
      type: capability
      properties: {{ image: ghcr.io/wasmcloud/http-server:0.23.0 }}
      traits:
        - type: link
          properties:
            target: blobby
            name: blobs
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source_config: [ {{ name: caps-blob-http, properties: {{ address: "127.0.0.1:{blob_port}" }} }} ]
        - type: link
          properties:
            target: fetcher
            name: fetch
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source_config: [ {{ name: caps-fetch-http, properties: {{ address: "127.0.0.1:{fetch_port}" }} }} ]
"#,
            root = blobs.path().display()
        ),
    )?;

    // Blobs, through builtin://blobstore-fs, land in the configured root.
    let blob = format!("http://127.0.0.1:{blob_port}");
    let (code, _, body) =
        trellis_tests::http_request("PUT", &format!("{blob}/c/box"), &[], Vec::new()).await?;
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let put = trellis_tests::http_request(
        "PUT",
        &format!("{blob}/o/box/hello.txt"),
        &[],
        b"blob bytes".to_vec(),
    )
    .await?;
    assert!((200..300).contains(&put.0), "{put:?}");
    let (code, _, body) = http_get(&format!("{blob}/o/box/hello.txt")).await?;
    assert_eq!((code, body.as_slice()), (200, &b"blob bytes"[..]));
    assert_eq!(
        std::fs::read(blobs.path().join("box").join("hello.txt"))?,
        b"blob bytes"
    );

    // Outbound, through builtin://http-client: the allowed blob listener
    // answers, anything else is denied.
    let fetch = |url: String| async move {
        let (code, _, body) =
            http_get(&format!("http://127.0.0.1:{fetch_port}/fetch?url={url}")).await?;
        anyhow::Ok((code, String::from_utf8_lossy(&body).into_owned()))
    };
    assert_eq!(
        fetch(format!("{blob}/o/box/hello.txt")).await?,
        (200, "blob bytes".to_owned())
    );
    assert_eq!(
        fetch("http://192.0.2.1/".to_owned()).await?.0,
        502,
        "a host outside allowed_hosts is denied"
    );

    // Messages, through builtin://messaging-nats, trigger the relay.
    let client = async_nats::connect(nats.url()).await?;
    let reply = tokio::time::timeout(
        CONVERGE,
        client.request(subject.clone(), "ping".as_bytes().to_vec().into()),
    )
    .await??;
    assert_eq!(reply.payload.as_ref(), b"handled:ping");

    let status = site.status("caps")?;
    assert_eq!(status["state"], "deployed", "{status:#}");
    for (name, builtin) in [
        ("blobstore", "builtin://blobstore-fs"),
        ("nats", "builtin://messaging-nats"),
        ("httpclient", "builtin://http-client"),
    ] {
        let c = component(&status, name).to_string();
        assert!(c.contains(builtin), "{name}: {c}");
    }
    Ok(())
}
