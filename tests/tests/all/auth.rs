//! A lattice on a nats-server that requires credentials.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use trellis_tests::{
    Cli, HelloApp, Host, HostOpts, NatsServer, Wadm, actor, free_port, http_get, trellis_bin,
    unique_lattice, wait_for_http,
};

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_required_and_passed_through() -> anyhow::Result<()> {
    let nats = NatsServer::start_with_args(&["--user", "trellis", "--pass", "s3cret"])?;
    let lattice = unique_lattice("auth");
    let creds = ["--nats-user", "trellis", "--nats-password", "s3cret"];
    let cli = Cli::new(&nats, &lattice);

    let refused = cli.run(&["get", "hosts"])?;
    assert!(!refused.success());
    assert!(
        refused.stderr.contains("refused the credentials")
            && refused.stderr.contains("--nats-user"),
        "{}",
        refused.stderr
    );
    let wrong = cli.run(&[
        "get",
        "hosts",
        "--nats-user",
        "trellis",
        "--nats-password",
        "nope",
    ])?;
    assert!(!wrong.success() && wrong.stderr.contains("refused the credentials"));

    let host = Host::spawn(
        &nats,
        HostOpts {
            lattice: lattice.clone(),
            name: "locked".into(),
            extra_args: creds.iter().map(|s| s.to_string()).collect(),
            ..HostOpts::default()
        },
    )?;
    let mut args = vec!["get", "hosts"];
    args.extend_from_slice(&creds);
    let hosts = cli.run(&args)?.ok()?.json()?;
    assert_eq!(hosts[0]["id"], host.id());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_connects_with_the_servers_ca_only() -> anyhow::Result<()> {
    // A CA and a server certificate for 127.0.0.1, made here (no openssl).
    let dir = tempfile::tempdir()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate()?)?;
    let server_key = rcgen::KeyPair::generate()?;
    let server =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?
            .signed_by(&server_key, &ca)?;
    let (ca_pem, cert_pem, key_pem) = (
        dir.path().join("ca.pem"),
        dir.path().join("server.pem"),
        dir.path().join("server-key.pem"),
    );
    std::fs::write(&ca_pem, ca.as_ref().pem())?;
    std::fs::write(&cert_pem, server.pem())?;
    std::fs::write(&key_pem, server_key.serialize_pem())?;
    let nats = NatsServer::start_with_args(&[
        "--tls",
        "--tlscert",
        &cert_pem.display().to_string(),
        "--tlskey",
        &key_pem.display().to_string(),
    ])?;
    let cli = Cli::new(&nats, &unique_lattice("tls"));

    let refused = cli.run(&["get", "hosts"])?;
    assert!(!refused.success());
    assert!(
        refused.stderr.contains("--nats-tls-ca"),
        "{}",
        refused.stderr
    );

    let ca_arg = ca_pem.display().to_string();
    let hosts = cli
        .run(&["get", "hosts", "--nats-tls-ca", &ca_arg])?
        .ok()?
        .json()?;
    assert_eq!(hosts, serde_json::json!([]));
    Ok(())
}

/// The nats-server `authorization` block `trellis nats-config roles`
/// prints, for `lattice`, with its seeds in `keys`.
fn generated_roles(lattice: &str, keys: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new(trellis_bin())
        .args(["nats-config", "roles", "--lattice", lattice, "--keys-dir"])
        .arg(keys)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "nats-config roles: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

fn hello_app(dir: &Path, port: u16) -> anyhow::Result<String> {
    let image = format!("file://{}", actor("hello_http").display());
    let manifest = HelloApp::shop(image, port).write_in(dir)?;
    Ok(manifest.display().to_string())
}

/// The locked-down setup of docs/nats-auth.md, end to end: hosts, wadm
/// and the CLI each with their role's nkey run an app; a client with a
/// host's key, or with none, can neither deploy nor delete one, and no
/// role may delete the lattice's streams.
#[tokio::test(flavor = "multi_thread")]
async fn generated_roles_run_a_lattice_and_only_operators_deploy() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let lattice = unique_lattice("roles");
    let keys = dir.path().join("keys");
    let conf = dir.path().join("nats.conf");
    std::fs::write(&conf, generated_roles(&lattice, &keys)?)?;
    // Running it again keeps the keys (the seeds are made once).
    assert_eq!(
        generated_roles(&lattice, &keys)?,
        std::fs::read_to_string(&conf)?
    );
    let nats = NatsServer::start_with_args(&["-c", &conf.display().to_string()])?;
    let key = |role: &str| keys.join(format!("{role}.nk")).display().to_string();
    let (host_key, wadm_key, operator_key) = (key("host"), key("wadm"), key("operator"));

    let _host = Host::spawn(
        &nats,
        HostOpts {
            lattice: lattice.clone(),
            name: "locked".into(),
            extra_args: vec!["--nats-nkey".into(), host_key.clone()],
            ..HostOpts::default()
        },
    )?;
    let _wadm = Wadm::spawn(&nats, &lattice, &["--nats-nkey", &wadm_key])?;
    let cli = Cli::new(&nats, &lattice);
    let port = free_port();
    let manifest = hello_app(dir.path(), port)?;
    let as_operator = ["--nats-nkey", operator_key.as_str()];
    let mut deploy = vec!["app", "deploy", &manifest, "--wait", "--timeout", "60"];
    deploy.extend_from_slice(&as_operator);
    cli.run_async(&deploy).await?.ok()?;
    let url = format!("http://127.0.0.1:{port}/");
    let (_, _, body) = wait_for_http(&url, 200, Duration::from_secs(30)).await?;
    assert_eq!(body, b"Hello from Trellis!");
    // Every role had every permission it used.
    assert!(
        !nats.log().contains("Permissions Violation"),
        "a role lacks a permission:\n{}",
        nats.log()
    );

    // A host's key: refused at once, naming the permission.
    let as_host = ["--nats-nkey", host_key.as_str()];
    for verb in [
        vec!["app", "delete", "shop"],
        vec!["app", "undeploy", "shop"],
        vec!["app", "deploy", &manifest],
    ] {
        let mut args = verb.clone();
        args.extend_from_slice(&as_host);
        let out = cli.run_async(&args).await?;
        assert!(!out.success(), "{verb:?} with a host's key succeeded");
        assert!(
            out.stderr.contains("permission denied")
                && out.stderr.contains("Permissions Violation"),
            "{verb:?}: {}",
            out.stderr
        );
    }
    // No credentials: not even a connection.
    for verb in [
        vec!["app", "delete", "shop"],
        vec!["app", "deploy", &manifest],
    ] {
        let out = cli.run_async(&verb).await?;
        assert!(!out.success());
        assert!(
            out.stderr.contains("refused the credentials"),
            "{}",
            out.stderr
        );
    }

    // No role may delete the lattice's streams, not even an operator.
    let wadm_stream = format!("KV_TRELLIS_WADM_{lattice}");
    for seed_file in [&operator_key, &host_key] {
        let seed = std::fs::read_to_string(seed_file)?.trim().to_owned();
        let client = async_nats::ConnectOptions::with_nkey(seed)
            .request_timeout(Some(Duration::from_secs(2)))
            .connect(nats.url())
            .await?;
        let js = async_nats::jetstream::new(client);
        for stream in [wadm_stream.as_str(), &format!("KV_TRELLIS_LINKS_{lattice}")] {
            assert!(js.delete_stream(stream).await.is_err(), "{stream} deleted");
        }
    }
    let seed = std::fs::read_to_string(&wadm_key)?.trim().to_owned();
    let wadm_client = async_nats::ConnectOptions::with_nkey(seed)
        .connect(nats.url())
        .await?;
    async_nats::jetstream::new(wadm_client)
        .get_stream(&wadm_stream)
        .await
        .context("wadm's stream is gone")?;

    // The app is still there and serving.
    let mut status = vec!["app", "list"];
    status.extend_from_slice(&as_operator);
    let apps = cli.run_async(&status).await?.ok()?.json()?;
    assert_eq!(apps[0]["name"], "shop", "{apps}");
    let (status, _, _) = http_get(&url).await?;
    assert_eq!(status, 200);
    Ok(())
}
