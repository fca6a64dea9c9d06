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
