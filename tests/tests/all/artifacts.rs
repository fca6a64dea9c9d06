//! Artifacts travel through the lattice: pushed once, fetched by hosts,
//! cached on their disks (bytes and compiled code).

use trellis_protocol::{EventType, LatticeName, Subject};
use trellis_tests::{Cli, Host, HostOpts, NatsServer, actor, unique_lattice};

use crate::fixture::next_event;

fn host(
    nats: &NatsServer,
    lattice: &str,
    name: &str,
    extra: &[&str],
) -> anyhow::Result<(Host, tempfile::TempDir)> {
    // Each host gets its own cache, so what it fetched or compiled is its own.
    let cache = tempfile::tempdir()?;
    let host = Host::spawn(
        nats,
        HostOpts {
            lattice: lattice.into(),
            name: name.into(),
            cache_dir: Some(cache.path().to_owned()),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            ..HostOpts::default()
        },
    )?;
    Ok((host, cache))
}

#[tokio::test(flavor = "multi_thread")]
async fn pushed_artifact_scales_everywhere_and_is_cached() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("push");
    let cli = Cli::new(&nats, &lattice);
    let (a, _a_cache) = host(&nats, &lattice, "a", &[])?;
    let (b, _b_cache) = host(&nats, &lattice, "b", &[])?;
    let (small, _c_cache) = host(&nats, &lattice, "small", &["--max-artifact-mb", "0"])?;
    let client = async_nats::connect(nats.url()).await?;
    let mut events = client
        .subscribe(
            Subject::event(
                &LatticeName::new(lattice.clone())?,
                EventType::ComponentScaled,
            )
            .to_string(),
        )
        .await?;
    client.flush().await?;

    // Push from a folder no host sees, then delete the file.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("app.wasm");
    std::fs::copy(actor("hello_http"), &file)?;
    let pushed = cli
        .run(&["push", &format!("file://{}", file.display())])?
        .ok()?
        .json()?;
    let reference = pushed["reference"].as_str().unwrap_or_default().to_owned();
    assert!(
        reference.starts_with("nats://") && reference.contains("/sha256-"),
        "{reference}"
    );
    drop(dir);

    for h in [&a, &b] {
        cli.run(&["start", "component", &reference, "first", "--host", h.id()])?
            .ok()?;
        let event = next_event(&mut events, "component_id", "first").await?;
        assert_eq!(event["host_id"], h.id());
        assert_eq!(
            (event["artifact"].as_str(), event["code"].as_str()),
            (Some("fetched"), Some("compiled"))
        );
    }
    // The same bytes again on host a: no fetch, no compile.
    cli.run(&["start", "component", &reference, "second", "--host", a.id()])?
        .ok()?;
    let event = next_event(&mut events, "component_id", "second").await?;
    assert_eq!(
        (event["artifact"].as_str(), event["code"].as_str()),
        (Some("cache"), Some("cache"))
    );

    // A host with a smaller artifact limit refuses with the sizes.
    let refused = cli.run(&[
        "start",
        "component",
        &reference,
        "third",
        "--host",
        small.id(),
    ])?;
    assert!(!refused.success());
    assert!(
        refused.stderr.contains("over the limit of 0 bytes"),
        "{}",
        refused.stderr
    );

    // A malformed reference is refused before any host sees it.
    let bad = cli.run(&["start", "component", "nats://bucket/app.wasm", "x"])?;
    assert!(
        !bad.success() && bad.stderr.contains("nats://BUCKET/sha256-HEX"),
        "{}",
        bad.stderr
    );
    Ok(())
}
