//! Secrets end to end: `trellis secrets put` seals a value into the
//! lattice's bucket, a manifest with `spec.policies` and component
//! `secrets` gives it to a component, which reads it through
//! `wasmcloud:secrets`; and the value shows nowhere else: not in logs,
//! events, inventory, app output, or the bucket's bytes.

use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use trellis_tests::{
    Cli, Host, HostOpts, NatsServer, Wadm, actor, free_port, http_get, unique_lattice,
    wait_for_http,
};

/// A value no test output could contain by chance.
fn random_value(prefix: &str) -> String {
    let s = RandomState::new();
    format!(
        "{prefix}-{:016x}{:016x}",
        s.hash_one(1u8),
        s.hash_one(std::process::id())
    )
}

/// How the http-server link gets its address.
enum Address {
    Config(u16),
    Secret(&'static str),
}

/// The secret-reader app: the component reads `api-password` (key
/// `api_password`) and `db-user` (member `user` of key `db_creds`).
fn manifest(dir: &Path, name: &str, address: Address) -> anyhow::Result<PathBuf> {
    manifest_with(dir, name, address, "builtin://http-server")
}

/// [`manifest`] with the http-server run from `http_image`.
fn manifest_with(
    dir: &Path,
    name: &str,
    address: Address,
    http_image: &str,
) -> anyhow::Result<PathBuf> {
    std::fs::copy(actor("secret_reader"), dir.join("secret_reader.wasm"))?;
    let source = match address {
        Address::Config(port) => format!(
            "{{ config: [ {{ name: {name}-http, properties: {{ address: \"127.0.0.1:{port}\" }} }} ] }}"
        ),
        Address::Secret(key) => format!(
            "{{ secrets: [ {{ name: address, properties: {{ policy: nats-kv, key: {key} }} }} ] }}"
        ),
    };
    let yaml = format!(
        r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: {name}, annotations: {{ version: v1 }} }}
spec:
  policies:
    - name: nats-kv
      type: policy.secret.wasmcloud.dev/v1alpha1
      properties: {{ backend: nats-kv }}
  components:
    - name: reader
      type: component
      properties:
        image: file://./secret_reader.wasm
        secrets:
          - name: api-password
            properties: {{ policy: nats-kv, key: api_password }}
          - name: db-user
            properties: {{ policy: nats-kv, key: db_creds, field: user }}
      traits:
        - type: spreadscaler
          properties: {{ instances: 1 }}
    - name: http
      type: capability
      properties: {{ image: "{http_image}" }}
      traits:
        - type: daemonscaler
          properties: {{ instances: 1 }}
        - type: link
          properties:
            target: {{ name: reader }}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: {source}
"#
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml)?;
    Ok(file)
}

/// A lattice with a key file in `dir`, a host (with the key when
/// `host_has_key`) and wadm.
struct Setup {
    nats: NatsServer,
    lattice: String,
    cli: Cli,
    key: PathBuf,
    host: Host,
    wadm: Wadm,
}

/// The lattice's host, named `name`, given the key file `key` if any.
fn host_with_key(
    nats: &NatsServer,
    lattice: &str,
    name: &str,
    key: Option<&Path>,
) -> anyhow::Result<Host> {
    let extra_args = match key {
        Some(key) => vec!["--secrets-key".into(), key.display().to_string()],
        None => Vec::new(),
    };
    Host::spawn(
        nats,
        HostOpts {
            lattice: lattice.to_owned(),
            name: name.into(),
            heartbeat_ms: Some(500),
            extra_args,
            ..HostOpts::default()
        },
    )
}

fn setup(dir: &Path, prefix: &str, host_has_key: bool) -> anyhow::Result<Setup> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice(prefix);
    let cli = Cli::new(&nats, &lattice);
    let key = dir.join("lattice.key");
    let key_arg = key.display().to_string();
    cli.run(&["secrets", "keygen", "-o", &key_arg])?.ok()?;
    let host = host_with_key(&nats, &lattice, "h", host_has_key.then_some(key.as_path()))?;
    let wadm = Wadm::spawn(&nats, &lattice, &[])?;
    Ok(Setup {
        nats,
        lattice,
        cli,
        key,
        host,
        wadm,
    })
}

impl Setup {
    /// `trellis secrets put KEY --from-file` (never the command line).
    fn put(&self, dir: &Path, key: &str, value: &str) -> anyhow::Result<()> {
        let file = dir.join(format!("{key}.value"));
        std::fs::write(&file, value)?;
        let (file, secrets_key) = (file.display().to_string(), self.key.display().to_string());
        self.cli
            .run(&[
                "secrets",
                "put",
                key,
                "--from-file",
                &file,
                "--secrets-key",
                &secrets_key,
            ])?
            .ok()?;
        std::fs::remove_file(dir.join(format!("{key}.value")))?;
        Ok(())
    }

    async fn deploy(&self, file: &Path) -> anyhow::Result<()> {
        let file = file.display().to_string();
        self.cli
            .run_async(&["app", "deploy", &file, "--wait", "--timeout", "45"])
            .await?
            .ok()?;
        Ok(())
    }
}

/// Every lattice event published from now on, as text.
async fn record_events(nats: &NatsServer, lattice: &str) -> anyhow::Result<Arc<Mutex<String>>> {
    let client = async_nats::connect(nats.url()).await?;
    let mut events = client.subscribe(format!("trellis.{lattice}.evt.>")).await?;
    client.flush().await?;
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = seen.clone();
    tokio::spawn(async move {
        let _client = client;
        while let Some(m) = events.next().await {
            let mut all = sink.lock().unwrap_or_else(|e| e.into_inner());
            all.push_str(&String::from_utf8_lossy(&m.payload));
            all.push('\n');
        }
    });
    Ok(seen)
}

/// What [`record_events`] has seen so far.
fn seen(events: &Mutex<String>) -> String {
    events.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_reads_its_secrets_and_the_values_show_nowhere_else() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let s = setup(dir.path(), "secrets", true)?;
    let events = record_events(&s.nats, &s.lattice).await?;
    let password = random_value("pw");
    let db_user = random_value("user");
    let db_password = random_value("dbpw");
    s.put(dir.path(), "api_password", &password)?;
    let creds = serde_json::json!({"user": db_user, "password": db_password}).to_string();
    s.put(dir.path(), "db_creds", &creds)?;

    let port = free_port();
    s.deploy(&manifest(dir.path(), "vault", Address::Config(port))?)
        .await?;
    let url = |path: &str| format!("http://127.0.0.1:{port}/{path}");
    wait_for_http(&url("api-password"), 200, Duration::from_secs(20)).await?;

    let (status, _, body) = http_get(&url("api-password")).await?;
    assert_eq!((status, body), (200, password.clone().into_bytes()));
    let (status, _, body) = http_get(&url("db-user")).await?;
    assert_eq!((status, body), (200, db_user.clone().into_bytes()));
    // Stored, but not listed for this component: not found.
    let (status, _, body) = http_get(&url("api_password")).await?;
    assert_eq!(
        (status, String::from_utf8_lossy(&body).into_owned()),
        (404, "not-found".to_owned())
    );

    // `get` shows metadata only; --reveal needs the right key.
    let info = s
        .cli
        .run(&["secrets", "get", "api_password"])?
        .ok()?
        .stdout
        .clone();
    assert!(
        info.contains("api_password") && !info.contains(&password),
        "{info}"
    );
    let keys = s
        .cli
        .run(&["secrets", "list", "--output", "json"])?
        .ok()?
        .json()?;
    assert_eq!(keys, serde_json::json!(["api_password", "db_creds"]));

    // Where the value must not be. A heartbeat carries the inventory, so
    // wait for one after the reads before looking at the events.
    let heartbeats = seen(&events).matches("host_heartbeat").count();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen(&events).matches("host_heartbeat").count() <= heartbeats {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no heartbeat within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut places: Vec<(String, String)> = vec![
        ("host log".into(), s.host.log()),
        ("wadm log".into(), s.wadm.log()),
        ("events".into(), seen(&events)),
    ];
    for args in [
        &["get", "inventory", "--output", "json"][..],
        &["get", "links", "--output", "json"],
        &["app", "get", "vault"],
        &["app", "get", "vault", "--output", "json"],
        &["app", "status", "vault", "--output", "json"],
        &["app", "status", "vault"],
    ] {
        let out = s.cli.run(args)?;
        out.ok()?;
        places.push((args.join(" "), format!("{}{}", out.stdout, out.stderr)));
    }
    let js = async_nats::jetstream::new(async_nats::connect(s.nats.url()).await?);
    let bucket = js
        .get_key_value(format!("TRELLIS_SECRETS_{}", s.lattice))
        .await?;
    for key in ["api_password", "db_creds"] {
        let record = bucket.get(key).await?.expect("the record is stored");
        assert!(record.starts_with(b"TSK1"), "{key} is not sealed");
        places.push((
            format!("bucket entry {key}"),
            String::from_utf8_lossy(&record).into_owned(),
        ));
    }
    assert!(seen(&events).contains("component_scaled"));
    for (place, text) in &places {
        for value in [&password, &db_user, &db_password] {
            assert!(
                !text.contains(value.as_str()),
                "a secret value shows in {place}"
            );
        }
    }
    assert!(
        places[0].1.contains("secret_reader") || places[0].1.contains("component started"),
        "the host log was captured"
    );

    // A record moved to another key does not open; a wrong key says so.
    let record = bucket.get("api_password").await?.expect("stored");
    bucket.put("moved", record).await?;
    let key_arg = s.key.display().to_string();
    let out = s.cli.run(&[
        "secrets",
        "get",
        "moved",
        "--reveal",
        "--secrets-key",
        &key_arg,
    ])?;
    assert!(
        !out.success() && out.stderr.contains("does not decrypt"),
        "{}",
        out.stderr
    );
    let other = dir.path().join("other.key").display().to_string();
    s.cli.run(&["secrets", "keygen", "-o", &other])?.ok()?;
    let out = s.cli.run(&[
        "secrets",
        "get",
        "api_password",
        "--reveal",
        "--secrets-key",
        &other,
    ])?;
    assert!(
        !out.success() && out.stderr.contains("does not match"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains(&password) && !out.stderr.contains(&password));
    let out = s
        .cli
        .run(&[
            "secrets",
            "get",
            "api_password",
            "--reveal",
            "--secrets-key",
            &key_arg,
        ])?
        .ok()?
        .stdout
        .clone();
    assert_eq!(out, password);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_gets_its_link_secret_in_its_link_config() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let s = setup(dir.path(), "link-secrets", true)?;
    let password = random_value("pw");
    s.put(dir.path(), "api_password", &password)?;
    s.put(dir.path(), "db_creds", r#"{"user":"svc"}"#)?;
    // The http-server's listen address comes from a secret of the link's
    // source side; it serves there only if the host merged it in.
    let port = free_port();
    s.put(dir.path(), "http_address", &format!("127.0.0.1:{port}"))?;
    s.deploy(&manifest(
        dir.path(),
        "hidden",
        Address::Secret("http_address"),
    )?)
    .await?;
    let url = format!("http://127.0.0.1:{port}/api-password");
    wait_for_http(&url, 200, Duration::from_secs(20)).await?;
    let (_, _, body) = http_get(&url).await?;
    assert_eq!(body, password.into_bytes());
    // The link in the lattice holds the reference, not the value.
    let links = s
        .cli
        .run(&["get", "links", "--output", "json"])?
        .ok()?
        .json()?;
    let text = links.to_string();
    assert!(text.contains("http_address"), "{text}");
    assert!(!text.contains(&format!("127.0.0.1:{port}")), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_provider_process_resolves_its_link_secret_too() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let s = setup(dir.path(), "ext-secrets", true)?;
    let password = random_value("pw");
    s.put(dir.path(), "api_password", &password)?;
    s.put(dir.path(), "db_creds", r#"{"user":"svc"}"#)?;
    let port = free_port();
    s.put(dir.path(), "ext_address", &format!("127.0.0.1:{port}"))?;
    // The same http-server, as its own process: it gets the host's key
    // and reads the link's secret itself.
    let exe = trellis_tests::target_dir().join("debug/trellis-provider-http-server");
    s.deploy(&manifest_with(
        dir.path(),
        "external",
        Address::Secret("ext_address"),
        &format!("file://{}", exe.display()),
    )?)
    .await?;
    let url = format!("http://127.0.0.1:{port}/api-password");
    wait_for_http(&url, 200, Duration::from_secs(20)).await?;
    let (_, _, body) = http_get(&url).await?;
    assert_eq!(body, password.into_bytes());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_without_a_key_says_so_to_the_component() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let s = setup(dir.path(), "no-key", false)?;
    s.put(dir.path(), "api_password", &random_value("pw"))?;
    let port = free_port();
    s.deploy(&manifest(dir.path(), "keyless", Address::Config(port))?)
        .await?;
    let url = format!("http://127.0.0.1:{port}/api-password");
    wait_for_http(&url, 404, Duration::from_secs(20)).await?;
    let (status, _, body) = http_get(&url).await?;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 404);
    assert!(
        body.contains("no secrets key") && body.contains("--secrets-key"),
        "{body}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_app_version_gives_the_running_component_its_new_secrets() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let s = setup(dir.path(), "secrets-v2", true)?;
    let (old, new) = (random_value("old"), random_value("new"));
    s.put(dir.path(), "api_password", &old)?;
    s.put(dir.path(), "api_password_v2", &new)?;
    s.put(dir.path(), "db_creds", r#"{"user":"svc"}"#)?;
    let port = free_port();
    let v1 = manifest(dir.path(), "rotate", Address::Config(port))?;
    s.deploy(&v1).await?;
    let url = format!("http://127.0.0.1:{port}/api-password");
    wait_for_http(&url, 200, Duration::from_secs(20)).await?;
    assert_eq!(http_get(&url).await?.2, old.as_bytes());

    // Same code, the name now pointing at another store key: the host
    // swaps the references without restarting the component.
    let v2 = dir.path().join("rotate-v2.yaml");
    let yaml = std::fs::read_to_string(&v1)?
        .replace("version: v1", "version: v2")
        .replace("key: api_password }", "key: api_password_v2 }");
    std::fs::write(&v2, yaml)?;
    s.deploy(&v2).await?;
    let (status, _, body) = http_get(&url).await?;
    assert_eq!((status, body), (200, new.into_bytes()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_rotation_keeps_every_secret_readable_and_ends_with_one_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut s = setup(dir.path(), "rekey", true)?;
    let (password, newer) = (random_value("pw"), random_value("newer"));
    s.put(dir.path(), "api_password", &password)?;
    s.put(dir.path(), "db_creds", r#"{"user":"svc"}"#)?;
    let port = free_port();
    s.deploy(&manifest(dir.path(), "rotating", Address::Config(port))?)
        .await?;
    let url = format!("http://127.0.0.1:{port}/api-password");
    wait_for_http(&url, 200, Duration::from_secs(20)).await?;
    let old_key = s.key.display().to_string();
    let key_id = |args: &[&str]| -> anyhow::Result<String> {
        let out = s.cli.run(args)?.ok()?.json()?;
        Ok(out["key_id"].as_str().unwrap_or_default().to_owned())
    };
    let old_id = key_id(&["secrets", "get", "api_password", "--output", "json"])?;

    // Step 1: a key file with a fresh key that also opens the old one's.
    let ring = dir.path().join("ring.key");
    let ring_arg = ring.display().to_string();
    let rotated = s
        .cli
        .run(&[
            "secrets",
            "rotate",
            "-o",
            &ring_arg,
            "--secrets-key",
            &old_key,
            "--output",
            "json",
        ])?
        .ok()?
        .json()?;
    let new_id = rotated["key_id"].as_str().unwrap_or_default().to_owned();
    assert_ne!(new_id, old_id);
    assert_eq!(rotated["previous"], serde_json::json!([old_id]));

    // The host restarts with it and still reads the old key's secret;
    // what is put now is sealed with the new key.
    drop(std::mem::replace(
        &mut s.host,
        host_with_key(&s.nats, &s.lattice, "h2", Some(&ring))?,
    ));
    wait_for_http(&url, 200, Duration::from_secs(30)).await?;
    assert_eq!(http_get(&url).await?.2, password.as_bytes());
    s.key = ring.clone();
    s.put(dir.path(), "api_password_v2", &newer)?;
    let v2_id = key_id(&["secrets", "get", "api_password_v2", "--output", "json"])?;
    assert_eq!(v2_id, new_id);

    // Dropping the old key now would strand two secrets: refused.
    let last = dir.path().join("final.key");
    let last_arg = last.display().to_string();
    let finish = [
        "secrets",
        "rotate",
        "--finish",
        "-o",
        &last_arg,
        "--secrets-key",
        &ring_arg,
    ];
    let out = s.cli.run(&finish)?;
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("2 secret(s) are not sealed with key")
            && out.stderr.contains("api_password (")
            && out.stderr.contains("secrets rekey"),
        "{}",
        out.stderr
    );
    assert!(!last.exists());

    // Step 2: everything sealed again with the new key.
    let report = s
        .cli
        .run(&[
            "secrets",
            "rekey",
            "--secrets-key",
            &ring_arg,
            "--output",
            "json",
        ])?
        .ok()?
        .json()?;
    assert_eq!(
        report["rekeyed"],
        serde_json::json!(["api_password", "db_creds"])
    );
    assert_eq!(report["current"], 1);
    assert_eq!(
        key_id(&["secrets", "get", "api_password", "--output", "json"])?,
        new_id
    );
    assert_eq!(http_get(&url).await?.2, password.as_bytes());

    // Step 3: the new key alone, which opens everything; the old one
    // opens nothing any more.
    s.cli.run(&finish)?.ok()?;
    assert_eq!(std::fs::read_to_string(&last)?.lines().count(), 1);
    let reveal = |key: &str| {
        s.cli.run(&[
            "secrets",
            "get",
            "api_password",
            "--reveal",
            "--secrets-key",
            key,
        ])
    };
    let out = reveal(&last_arg)?;
    assert_eq!(out.ok()?.stdout, password);
    let out = reveal(&old_key)?;
    assert!(!out.status.success());
    assert!(out.stderr.contains("does not match"), "{}", out.stderr);
    Ok(())
}
