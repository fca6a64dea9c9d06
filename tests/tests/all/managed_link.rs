//! A link that wadm manages for an app is not replaced by a hand-made
//! `trellis link put` unless the user says `--force`.

use std::time::Duration;

use serde_json::Value;
use trellis_tests::{
    Cli, HelloApp, Host, HostOpts, NatsServer, Wadm, actor, free_port, http_get, unique_lattice,
    wait_for_http,
};

/// The link of `source` in `get links`.
fn link_of(cli: &Cli, source: &str) -> anyhow::Result<Value> {
    let links = cli.run(&["get", "links"])?.ok()?.json()?;
    links
        .as_array()
        .and_then(|l| l.iter().find(|l| l["source_id"] == source))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no link of {source} in {links}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_put_does_not_replace_an_apps_link_without_force() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("managed-link");
    let cli = Cli::new(&nats, &lattice);
    let _host = Host::spawn(
        &nats,
        HostOpts {
            lattice: lattice.clone(),
            name: "h".into(),
            heartbeat_ms: Some(500),
            ..HostOpts::default()
        },
    )?;
    let _wadm = Wadm::spawn(&nats, &lattice, &[])?;
    let dir = tempfile::tempdir()?;
    std::fs::copy(actor("hello_http"), dir.path().join("hello.wasm"))?;
    let port = free_port();
    let manifest = HelloApp::shop("file://./hello.wasm".into(), port).write_in(dir.path())?;
    let file = manifest.display().to_string();
    cli.run_async(&["app", "deploy", &file, "--wait", "--timeout", "45"])
        .await?
        .ok()?;
    let url = format!("http://127.0.0.1:{port}/");
    wait_for_http(&url, 200, Duration::from_secs(15)).await?;
    let before = link_of(&cli, "shop-http")?;
    assert_eq!(before["annotations"]["trellis.dev/app"], "shop", "{before}");

    // By hand, to another address: refused, naming the app and --force.
    let other = free_port();
    let address = format!("address=127.0.0.1:{other}");
    cli.run(&["config", "put", "by-hand", &address])?.ok()?;
    let put = |force: bool| {
        let mut args = vec![
            "link",
            "put",
            "shop-http",
            "shop-hello",
            "wasi",
            "http",
            "--interface",
            "incoming-handler",
            "--source-config",
            "by-hand",
        ];
        if force {
            args.push("--force");
        }
        cli.run(&args)
    };
    let out = put(false)?;
    assert!(!out.success(), "a hand put replaced the app's link");
    assert!(
        out.stderr.contains("app shop") && out.stderr.contains("--force"),
        "{}",
        out.stderr
    );
    assert_eq!(
        link_of(&cli, "shop-http")?,
        before,
        "the app's link is unchanged"
    );
    assert_eq!(http_get(&url).await?.0, 200, "the app still serves");

    // With --force it is replaced: the hand-made link, without the app's
    // annotations, listening where the user said.
    put(true)?.ok()?;
    let after = link_of(&cli, "shop-http")?;
    assert_eq!(
        after["source_config"],
        serde_json::json!(["by-hand"]),
        "{after}"
    );
    assert!(
        after
            .get("annotations")
            .is_none_or(|a| a.get("trellis.dev/app").is_none()),
        "{after}"
    );
    wait_for_http(
        &format!("http://127.0.0.1:{other}/"),
        200,
        Duration::from_secs(15),
    )
    .await?;
    Ok(())
}
