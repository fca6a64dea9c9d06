//! wasmCloud's own components, built from their published source
//! (scripts/build-examples.sh), run unmodified. Their keyvalue-counter
//! chooses its link at run time through `wasmcloud:bus/lattice@2.0.0`
//! (`set-link-name`, default `default`, or the request's `link_name=`).

use anyhow::Context;
use trellis_tests::{http_get, target_dir, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

/// Starts keyvalue-sled provider `id` on host b with its data in `dir`.
fn sled(lattice: &Lattice, id: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let config = format!("{id}-data");
    let path = format!("path={}", dir.display());
    lattice.cli.run(&["config", "put", &config, &path])?.ok()?;
    let argv = ["start", "provider", "builtin://keyvalue-sled", id];
    let mut argv = argv.to_vec();
    argv.extend_from_slice(&["--host", lattice.b.id(), "--config", &config]);
    lattice.cli.run(&argv)?.ok()?;
    Ok(())
}

/// The built wasmCloud example `name`, or `None` after saying loudly why
/// it was not built (scripts/build-examples.sh writes the reason).
fn wasmcloud_example(name: &str) -> anyhow::Result<Option<std::path::PathBuf>> {
    let examples = target_dir().join("examples");
    let wasm = examples.join(format!("wasmcloud_{}.wasm", name.replace('-', "_")));
    if wasm.is_file() {
        return Ok(Some(wasm));
    }
    let skipped = examples.join(format!("SKIPPED-wasmcloud-{name}.txt"));
    let reason = std::fs::read_to_string(skipped).with_context(|| {
        format!(
            "{} is missing and nothing says why: run scripts/build-examples.sh",
            wasm.display()
        )
    })?;
    eprintln!("\n!!! WASMCLOUD EXAMPLE SKIPPED: {name}: {reason}!!!\n");
    Ok(None)
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmclouds_keyvalue_counter_counts_and_picks_its_link_by_name() -> anyhow::Result<()> {
    let Some(wasm) = wasmcloud_example("keyvalue-counter")? else {
        return Ok(());
    };
    let lattice = Lattice::start("wcbus", &[])?;
    let (store, cache) = (tempfile::tempdir()?, tempfile::tempdir()?);
    sled(&lattice, "kv", store.path())?;
    sled(&lattice, "cache", cache.path())?;
    let image = format!("file://{}", wasm.display());
    let start = [
        "start",
        "component",
        &image,
        "counter",
        "--host",
        lattice.b.id(),
    ];
    lattice.cli.run(&start)?.ok()?;
    let kv_link = |target: &str, name: &str| -> anyhow::Result<()> {
        let argv = [
            "link",
            "put",
            "counter",
            target,
            "wasi",
            "keyvalue",
            "--interface",
            "store",
            "--interface",
            "atomics",
            "--name",
            name,
        ];
        lattice.cli.run(&argv)?.ok()?;
        Ok(())
    };
    kv_link("kv", "default")?;
    let url = lattice.route("counter")?;

    // Its default link: counts in `kv`.
    let (_, _, first) = wait_for_http(&format!("{url}/visits"), 200, ROUTE_READY).await?;
    assert_eq!(String::from_utf8_lossy(&first), "Counter /visits: 1\n");
    let (_, _, second) = http_get(&format!("{url}/visits")).await?;
    assert_eq!(String::from_utf8_lossy(&second), "Counter /visits: 2\n");

    // A link name it has no link for: set-link-name says so, and the
    // component answers with an error.
    let (status, _, body) = http_get(&format!("{url}/visits?link_name=cache")).await?;
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));

    // With a link named `cache` to the other provider, that request counts
    // there, and the default link's count is untouched.
    kv_link("cache", "cache")?;
    let (status, _, body) = http_get(&format!("{url}/visits?link_name=cache")).await?;
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        (200, "Counter /visits: 1\n")
    );
    let (_, _, third) = http_get(&format!("{url}/visits")).await?;
    assert_eq!(String::from_utf8_lossy(&third), "Counter /visits: 3\n");
    Ok(())
}

/// wasmCloud's echo-messaging answers each request with its body: the
/// provider (host a) calls the component (host b) for every message, and
/// the component's `publish` crosses back to the provider over the lattice.
#[tokio::test(flavor = "multi_thread")]
async fn wasmclouds_echo_messaging_answers_through_messaging_nats() -> anyhow::Result<()> {
    let Some(wasm) = wasmcloud_example("echo-messaging")? else {
        return Ok(());
    };
    let lattice = Lattice::start("wcecho", &[])?;
    let cli = &lattice.cli;
    let image = format!("file://{}", wasm.display());
    cli.run(&[
        "start",
        "component",
        &image,
        "echo",
        "--host",
        lattice.b.id(),
    ])?
    .ok()?;
    let provider = ["start", "provider", "builtin://messaging-nats", "nats"];
    let mut provider = provider.to_vec();
    provider.extend_from_slice(&["--host", lattice.a.id()]);
    cli.run(&provider)?.ok()?;
    cli.run(&[
        "config",
        "put",
        "simple-subscription",
        "subscriptions=wasmcloud.echo",
    ])?
    .ok()?;
    for (source, target, interface, config) in [
        ("nats", "echo", "handler", Some("simple-subscription")),
        ("echo", "nats", "consumer", None),
    ] {
        let mut argv = vec![
            "link",
            "put",
            source,
            target,
            "wasmcloud",
            "messaging",
            "--interface",
            interface,
        ];
        if let Some(config) = config {
            argv.extend_from_slice(&["--source-config", config]);
        }
        cli.run(&argv)?.ok()?;
    }
    let client = lattice.nats_client().await?;
    for body in ["hello", "a second message"] {
        let reply = client
            .request("wasmcloud.echo", body.as_bytes().to_vec().into())
            .await?;
        assert_eq!(reply.payload.as_ref(), body.as_bytes());
    }
    Ok(())
}

/// wasmCloud's http-blobstore runs its tour of wasi:blobstore (create,
/// write, read, partial read, copy, move, list, delete, clear) against
/// builtin://blobstore-fs, linked as its manifest links it (the
/// `blobstore` interface, `root` in the link's config), and every step
/// succeeds; the files it leaves are on disk.
#[tokio::test(flavor = "multi_thread")]
async fn wasmclouds_http_blobstore_passes_its_own_tour_on_blobstore_fs() -> anyhow::Result<()> {
    let Some(wasm) = wasmcloud_example("http-blobstore")? else {
        return Ok(());
    };
    let lattice = Lattice::start("wcblob", &[])?;
    let cli = &lattice.cli;
    let root = tempfile::tempdir()?;
    let image = format!("file://{}", wasm.display());
    cli.run(&[
        "start",
        "component",
        &image,
        "blobby",
        "--host",
        lattice.a.id(),
    ])?
    .ok()?;
    let provider = ["start", "provider", "builtin://blobstore-fs", "fs"];
    let mut provider = provider.to_vec();
    provider.extend_from_slice(&["--host", lattice.a.id()]);
    cli.run(&provider)?.ok()?;
    let root_config = format!("root={}", root.path().display());
    cli.run(&["config", "put", "blob-root", &root_config])?
        .ok()?;
    cli.run(&[
        "link",
        "put",
        "blobby",
        "fs",
        "wasi",
        "blobstore",
        "--interface",
        "blobstore",
        "--target-config",
        "blob-root",
    ])?
    .ok()?;
    let url = lattice.route("blobby")?;
    let (status, _, body) = wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_slice(&body)?;
    for ops in ["container_ops", "blob_ops"] {
        let entries = report[ops].as_object().context("an object of operations")?;
        for (name, entry) in entries {
            assert_eq!(entry["success"], true, "{ops}.{name}: {entry}");
        }
    }
    assert_eq!(
        report["blob_ops"]["read_blob"]["message"],
        "Read water from ying: Content of water"
    );
    assert_eq!(
        report["blob_ops"]["list_objects"]["message"],
        "Objects in yang: [\"fire\", \"water\"]"
    );
    assert_eq!(
        report["container_ops"]["create_container"]["message"],
        "Created yang"
    );
    // What the tour leaves behind, on disk: yang holds fire, ying is empty.
    assert!(root.path().join("yang/fire").is_file());
    assert!(!root.path().join("yang/water").exists());
    assert!(!root.path().join("ying/water").exists());
    // A second tour finds yang already there, and says so.
    let (_, _, body) = http_get(&format!("{url}/")).await?;
    let again: serde_json::Value = serde_json::from_slice(&body)?;
    assert_eq!(again["container_ops"]["create_container"]["success"], false);
    assert_eq!(again["blob_ops"]["read_blob"]["success"], true);
    Ok(())
}

/// A stand-in for `https://dog.ceo`: `openssl s_server -WWW` serving the
/// API's answer from a folder over TLS, with a certificate for `dog.ceo`
/// from a throwaway CA. Killed on drop.
struct FakeDogCeo {
    server: std::process::Child,
    port: u16,
    ca: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for FakeDogCeo {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The picture URL the fake API answers with.
const DOG_URL: &str = "https://images.dog.ceo/breeds/trellis/fake-1.jpg";

impl FakeDogCeo {
    async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let openssl = |args: &[&str]| -> anyhow::Result<()> {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .context("running openssl (scripts/install-deps.sh installs it)")?;
            anyhow::ensure!(
                out.status.success(),
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(())
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Trellis test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ])?;
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=dog.ceo",
            "-keyout",
            "dog.key",
            "-out",
            "dog.csr",
        ])?;
        std::fs::write(d.join("san.ext"), "subjectAltName=DNS:dog.ceo\n")?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "dog.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "dog.pem",
        ])?;
        let www = d.join("www/api/breeds/image");
        std::fs::create_dir_all(&www)?;
        std::fs::write(
            www.join("random"),
            format!(r#"{{"message":"{DOG_URL}","status":"success"}}"#),
        )?;
        let port = trellis_tests::free_port();
        let server = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-cert", "../dog.pem", "-key", "../dog.key"])
            .current_dir(d.join("www"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting openssl s_server")?;
        let fake = Self {
            server,
            port,
            ca: d.join("ca.pem"),
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "openssl s_server did not listen on {port}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(fake)
    }
}

/// wasmCloud's dog-fetcher, from its published source and with its own
/// manifest (examples/dog-fetcher.yaml: upstream's, with an allow-list),
/// fetches from "dog.ceo" over verified TLS through builtin://http-client.
/// With no internet here, the link's `resolve` and `ca_file` point the name
/// at a local TLS server whose certificate a test CA signed.
#[tokio::test(flavor = "multi_thread")]
async fn wasmclouds_dog_fetcher_fetches_through_the_http_client() -> anyhow::Result<()> {
    let Some(wasm) = wasmcloud_example("dog-fetcher")? else {
        return Ok(());
    };
    let dog = FakeDogCeo::start().await?;
    let nats = trellis_tests::NatsServer::start()?;
    let lattice = trellis_tests::unique_lattice("wcdog");
    let host = trellis_tests::Host::spawn(
        &nats,
        trellis_tests::HostOpts {
            lattice: lattice.clone(),
            name: "dog".into(),
            heartbeat_ms: Some(500),
            ..Default::default()
        },
    )?;
    let _wadm = trellis_tests::Wadm::spawn(&nats, &lattice, &[])?;
    let cli = trellis_tests::Cli::new(&nats, &lattice);
    let port = trellis_tests::free_port();
    let manifest =
        std::fs::read_to_string(trellis_tests::workspace_root().join("examples/dog-fetcher.yaml"))?
            .replace(
                "file://../target/examples/wasmcloud_dog_fetcher.wasm",
                &format!("file://{}", wasm.display()),
            )
            .replace("127.0.0.1:8085", &format!("127.0.0.1:{port}"));
    let egress = "                  allowed_hosts: https://dog.ceo\n";
    anyhow::ensure!(manifest.contains(egress), "the example's egress changed");
    let pointed = manifest.replace(
        egress,
        &format!(
            "{egress}                  resolve: dog.ceo:443=127.0.0.1:{}\n                  ca_file: {}\n",
            dog.port,
            dog.ca.display()
        ),
    );
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("dog-fetcher.yaml");
    std::fs::write(&file, pointed)?;
    let file = file.display().to_string();
    cli.run(&["app", "deploy", &file, "--wait", "--timeout", "40"])?
        .ok()?;
    let url = format!("http://127.0.0.1:{port}/");
    let (status, _, body) = wait_for_http(&url, 200, ROUTE_READY).await?;
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        (200, DOG_URL)
    );

    // Without the test CA the certificate is refused: TLS is verified.
    let unverified = manifest
        .replace("version: v0.0.1", "version: v0.0.2")
        .replace(
            egress,
            &format!(
                "{egress}                  resolve: dog.ceo:443=127.0.0.1:{}\n",
                dog.port
            ),
        );
    std::fs::write(dir.path().join("dog-fetcher.yaml"), unverified)?;
    cli.run(&["app", "deploy", &file, "--wait", "--timeout", "40"])?
        .ok()?;
    // Upstream's code expects the fetch to work and panics otherwise (on
    // wasmCloud too): the trap is a 500, and the guest's message names
    // the certificate error in the host's log.
    let (status, _, body) = http_get(&url).await?;
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
    let log = host.log();
    assert!(log.contains("TlsCertificateError"), "{log}");
    Ok(())
}
