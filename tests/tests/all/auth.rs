//! A lattice on a nats-server that requires credentials.

use trellis_tests::{Cli, Host, HostOpts, NatsServer, unique_lattice};

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
