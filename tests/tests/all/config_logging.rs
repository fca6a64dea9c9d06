//! wasi:config from named config (live) and wasi:logging into the host log.

use std::time::Duration;

use trellis_tests::{actor, http_get, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

#[tokio::test(flavor = "multi_thread")]
async fn config_is_live_and_guest_logs_reach_the_host_log() -> anyhow::Result<()> {
    let mut lattice = Lattice::start("cfglog", &[])?;
    lattice
        .cli
        .run(&["config", "put", "app-cfg", "greeting=hello", "color=blue"])?
        .ok()?;
    let image = format!("file://{}", actor("config_echo").display());
    lattice
        .cli
        .run(&[
            "start",
            "component",
            &image,
            "cfg",
            "--host",
            lattice.b.id(),
            "--config",
            "app-cfg",
        ])?
        .ok()?;
    let url = lattice.route("cfg")?;

    let (_, _, body) =
        wait_for_http(&format!("{url}/config?key=greeting"), 200, ROUTE_READY).await?;
    assert_eq!(body, b"hello");
    let (_, _, all) = http_get(&format!("{url}/config-all")).await?;
    assert_eq!(String::from_utf8(all)?, "color=blue\ngreeting=hello\n");
    let (status, _, _) = http_get(&format!("{url}/config?key=missing")).await?;
    assert_eq!(status, 404);

    // A config change shows on the next request, no restart.
    lattice
        .cli
        .run(&["config", "put", "app-cfg", "greeting=changed"])?
        .ok()?;
    let (_, _, body) = http_get(&format!("{url}/config?key=greeting")).await?;
    assert_eq!(body, b"changed");

    let (status, _, _) = http_get(&format!("{url}/log?level=warn&msg=guest-says-hi")).await?;
    assert_eq!(status, 204);
    lattice
        .b
        .wait_for_log("guest-says-hi", Duration::from_secs(10))?;
    let line = lattice
        .b
        .log()
        .lines()
        .find(|l| l.contains("guest-says-hi"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        line.contains("WARN") && line.contains("component=\"cfg\"")
            || line.contains("component=cfg"),
        "{line}"
    );
    Ok(())
}
