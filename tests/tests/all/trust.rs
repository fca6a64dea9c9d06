//! A host runs only what an issuer it trusts signed.

use std::time::Duration;

use futures::StreamExt;
use trellis_protocol::{EventType, LatticeName, Subject};
use trellis_tests::{Cli, Host, HostOpts, NatsServer, actor, unique_lattice};

fn key(cli: &Cli, dir: &std::path::Path, name: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    let out = cli
        .run(&["keys", "gen", "account", "-o", &path.display().to_string()])?
        .ok()?
        .json()?;
    Ok(out["public_key"].as_str().unwrap_or_default().to_owned())
}

fn sign(
    cli: &Cli,
    dir: &std::path::Path,
    issuer: &str,
    out: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let target = dir.join(out);
    cli.run(&[
        "claims",
        "sign",
        &actor("hello_http").display().to_string(),
        "--issuer",
        &dir.join(issuer).display().to_string(),
        "--name",
        "hello",
        "--version",
        "1.0.0",
        "-o",
        &target.display().to_string(),
    ])?
    .ok()?;
    Ok(target)
}

#[tokio::test(flavor = "multi_thread")]
async fn only_trusted_signed_components_start() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("trust");
    let cli = Cli::new(&nats, &lattice);
    let dir = tempfile::tempdir()?;
    let trusted = key(&cli, dir.path(), "trusted.nk")?;
    let other = key(&cli, dir.path(), "other.nk")?;
    let host = Host::spawn(
        &nats,
        HostOpts {
            lattice: lattice.clone(),
            name: "strict".into(),
            extra_args: vec!["--trust-issuer".into(), trusted.clone()],
            require_signed: true,
            ..HostOpts::default()
        },
    )?;
    let client = async_nats::connect(nats.url()).await?;
    let mut failed = client
        .subscribe(
            Subject::event(
                &LatticeName::new(lattice.clone())?,
                EventType::ComponentScaleFailed,
            )
            .to_string(),
        )
        .await?;
    client.flush().await?;

    let start = |file: &std::path::Path, id: &str| {
        cli.run(&[
            "start",
            "component",
            &format!("file://{}", file.display()),
            id,
            "--host",
            host.id(),
        ])
    };

    // Signed by the trusted issuer: runs.
    let good = sign(&cli, dir.path(), "trusted.nk", "good.wasm")?;
    start(&good, "good")?.ok()?;

    // One byte of its code changed: hash mismatch.
    let mut bytes = std::fs::read(&good)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let tampered = dir.path().join("tampered.wasm");
    std::fs::write(&tampered, bytes)?;
    // Signed by someone else; unsigned; expired.
    let foreign = sign(&cli, dir.path(), "other.nk", "foreign.wasm")?;
    let issuer = trellis_claims::read_seed_file(&dir.path().join("trusted.nk"))?;
    let mut expired_opts = trellis_claims::SignOptions::new(trellis_claims::now_unix() - 7200);
    expired_opts.expires = Some(trellis_claims::now_unix() - 3600);
    let expired = dir.path().join("expired.wasm");
    std::fs::write(
        &expired,
        trellis_claims::sign(&std::fs::read(actor("hello_http"))?, &issuer, expired_opts)?,
    )?;

    for (file, id, reason) in [
        (tampered, "tampered", "hash mismatch".to_owned()),
        (actor("hello_http"), "unsigned", "unsigned".to_owned()),
        (foreign, "foreign", format!("untrusted issuer {other}")),
        (expired, "expired", "expired".to_owned()),
    ] {
        let out = start(&file, id)?;
        assert!(!out.success(), "{id} started");
        assert!(
            out.stderr
                .contains(&format!("component {id} refused: {reason}")),
            "{id}: {}",
            out.stderr
        );
        let msg = tokio::time::timeout(Duration::from_secs(10), failed.next())
            .await?
            .expect("events");
        let event: serde_json::Value = serde_json::from_slice(&msg.payload)?;
        assert_eq!(event["data"]["component_id"], id);
        assert!(
            event["data"]["error"]
                .as_str()
                .unwrap_or_default()
                .contains(&reason),
            "{event}"
        );
    }
    let inventory = cli.run(&["get", "inventory", host.id()])?.ok()?.json()?;
    let ids: Vec<&str> = inventory[0]["components"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["good"]);
    Ok(())
}

#[test]
fn a_host_refuses_a_trust_issuer_that_is_not_an_account_key() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let host = Host::spawn(
        &nats,
        HostOpts {
            lattice: unique_lattice("badissuer"),
            extra_args: vec!["--trust-issuer".into(), "NOTAKEY".into()],
            ..HostOpts::default()
        },
    );
    let err = format!("{:#}", host.expect_err("host must not start"));
    assert!(err.contains("is not an account public key"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_executables_need_detached_claims_from_a_trusted_issuer() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("provtrust");
    let cli = Cli::new(&nats, &lattice);
    let dir = tempfile::tempdir()?;
    let trusted = key(&cli, dir.path(), "trusted.nk")?;
    let host = Host::spawn(
        &nats,
        HostOpts {
            lattice: lattice.clone(),
            name: "strict".into(),
            extra_args: vec!["--trust-issuer".into(), trusted],
            require_signed: true,
            ..HostOpts::default()
        },
    )?;
    let exe = dir.path().join("trellis-provider-http-server");
    std::fs::copy(
        trellis_tests::target_dir().join("debug/trellis-provider-http-server"),
        &exe,
    )?;
    let image = format!("file://{}", exe.display());

    let out = cli.run(&["start", "provider", &image, "web", "--host", host.id()])?;
    assert!(!out.success());
    assert!(
        out.stderr.contains("provider web refused: unsigned"),
        "{}",
        out.stderr
    );

    let jwt = format!("{}.jwt", exe.display());
    cli.run(&[
        "claims",
        "sign",
        &exe.display().to_string(),
        "--detached",
        "--issuer",
        &dir.path().join("trusted.nk").display().to_string(),
        "-o",
        &jwt,
    ])?
    .ok()?;
    cli.run(&["start", "provider", &image, "web", "--host", host.id()])?
        .ok()?;
    let inventory = cli.run(&["get", "inventory", host.id()])?.ok()?.json()?;
    assert_eq!(inventory[0]["providers"][0]["id"], "web");
    cli.run(&["stop", "provider", "web"])?.ok()?;
    Ok(())
}
