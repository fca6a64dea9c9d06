//! The web dashboard (`trellis ui`) in a real browser: headless Chromium
//! loads it against two hosts and wadm running a real app, and the test
//! reads the rendered DOM: both hosts with their labels, the app as
//! deployed, request rates from live traffic, the links graph, a scale
//! showing up in the live event list, the page fitting a phone's width,
//! and an error in the apps panel (not a broken page) once wadm is gone.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use trellis_tests::{
    Chromium, Cli, HelloApp, Host, HostOpts, NatsServer, Process, Wadm, actor, chromium_bin,
    free_port, http_get, target_dir, trellis_bin, unique_lattice, wait_for_http,
};

/// Bound on the page showing something (it refreshes every 3 s; rates
/// need two reads at least 2 s apart).
const SHOWN: Duration = Duration::from_secs(30);

/// Where the screenshots go (the workspace's target dir).
fn artifact(name: &str) -> PathBuf {
    target_dir().join("test-artifacts").join(name)
}

/// Aborts the background traffic when the test ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_hosts_apps_rates_links_and_live_events() -> anyhow::Result<()> {
    // Before anything starts: a missing browser fails here, saying how to
    // install it.
    chromium_bin()?;
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("ui");
    let host = |name: &str, zone: &str| {
        Host::spawn(
            &nats,
            HostOpts {
                lattice: lattice.clone(),
                name: name.into(),
                labels: vec![("zone".into(), zone.into())],
                heartbeat_ms: Some(500),
                ..HostOpts::default()
            },
        )
    };
    let _web = host("dash-web", "web")?;
    let _work = host("dash-work", "work")?;
    let mut wadm = Wadm::spawn(&nats, &lattice, &[])?;

    // The HTTP server on one host, the component on the other.
    let port = free_port();
    let dir = tempfile::tempdir()?;
    let app = HelloApp {
        component_zone: Some("work"),
        http_zone: Some("web"),
        ..HelloApp::shop(format!("file://{}", actor("hello_http").display()), port)
    };
    let manifest = app.write_in(dir.path())?.display().to_string();
    let cli = Cli::new(&nats, &lattice);
    cli.run_async(&["app", "deploy", &manifest, "--wait", "--timeout", "45"])
        .await?
        .ok()?;
    let app_url = format!("http://127.0.0.1:{port}/");
    wait_for_http(&app_url, 200, SHOWN).await?;
    // Requests all along, so the rates panel has something to count.
    let _traffic = AbortOnDrop(tokio::spawn(async move {
        loop {
            let _ = http_get(&app_url).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }));

    let mut command = Command::new(trellis_bin());
    command.args(["--nats-url", &nats.url(), "--lattice", &lattice]);
    command.args(["ui", "--addr", "127.0.0.1:0"]);
    let mut ui = Process::spawn(command, "ui")?;
    let url = ui.wait_for("its `ui=` line", SHOWN, |log| {
        log.lines()
            .find_map(|line| line.strip_prefix("ui=").map(str::to_owned))
    })?;
    let mut page = Chromium::launch(&url, 1280, 800)?;

    // Both hosts, with their labels and load.
    page.wait_until(
        "both hosts",
        "Array.from(document.querySelectorAll('#hosts .host .name'), e => e.textContent).sort().join()",
        SHOWN,
        |names| names == "dash-web,dash-work",
    )?;
    let text = page.text()?;
    for shown in ["zone=web", "zone=work", "1 component", "1 provider"] {
        assert!(text.contains(shown), "{shown} missing from:\n{text}");
    }
    assert_eq!(
        page.evaluate("document.querySelector('#hosts .error:not([hidden])')")?,
        Value::Null,
        "{text}"
    );
    // The app, deployed, with its parts.
    page.wait_until(
        "the app as deployed",
        "document.querySelector('#apps tr[data-app=\"shop\"] [data-state]')?.textContent",
        SHOWN,
        |state| state == "deployed",
    )?;
    // Components and providers on their hosts (from the inventories).
    let placed = page.evaluate(
        "['shop-hello', 'shop-http'].map(id => document.querySelector(\
         `#hosts .host [data-component=\"${id}\"], #hosts .host [data-provider=\"${id}\"]`)\
         ?.closest('.host').querySelector('.name').textContent).join()",
    )?;
    assert_eq!(placed, "dash-work,dash-web");
    // The link as an edge between its two nodes.
    page.wait_until(
        "the link in the graph",
        "[document.querySelectorAll('#links svg .edge').length, \
          !!document.querySelector('#links svg [data-node=\"shop-http\"]'), \
          !!document.querySelector('#links svg [data-node=\"shop-hello\"]')].join()",
        SHOWN,
        |graph| graph == "1,true,true",
    )?;
    // Requests per second of the component, from the traffic above.
    page.wait_until(
        "a request rate for shop-hello",
        "Number(document.querySelector('#rates tr[data-component=\"shop-hello\"]')?.dataset.rate || 0)",
        SHOWN,
        |rate| rate.as_f64().is_some_and(|r| r > 0.0),
    )?;

    // The live event stream: a scale shows up as a new event.
    page.wait_until(
        "the event stream connected",
        "document.body.dataset.events",
        SHOWN,
        |state| state == "live",
    )?;
    let scaled = "Array.from(document.querySelectorAll('#events li[data-type=\"component_scaled\"] .detail'), \
                  e => e.textContent)";
    let before = page.evaluate(scaled)?;
    let before = before.as_array().map_or(0, Vec::len);
    cli.run_async(&["scale", "component", "shop-hello", "--max", "3"])
        .await?
        .ok()?;
    let after = page.wait_until(
        "a component_scaled event for the scale",
        scaled,
        SHOWN,
        |events| {
            events.as_array().is_some_and(|all| {
                all.len() > before
                    && all.iter().any(|d| {
                        d.as_str().is_some_and(|d| {
                            d.contains("component_id=shop-hello") && d.contains("max=3")
                        })
                    })
            })
        },
    )?;
    eprintln!("component_scaled events on the page: {after}");

    let laptop = artifact("ui-dashboard.png");
    page.screenshot(&laptop)?;
    println!("dashboard screenshot: {}", laptop.display());

    // A phone: one column, nothing wider than the screen.
    page.set_viewport(390, 844, true)?;
    page.wait_until(
        "the page within a phone's width",
        "document.documentElement.scrollWidth <= window.innerWidth",
        SHOWN,
        |fits| *fits == Value::Bool(true),
    )?;
    let phone = artifact("ui-dashboard-phone.png");
    page.screenshot(&phone)?;
    println!("phone screenshot: {}", phone.display());

    // A failed lattice call is an error in its panel; the rest goes on.
    wadm.sigkill()?;
    page.wait_until(
        "the apps panel's error",
        "document.querySelector('#apps .error:not([hidden])')?.textContent",
        SHOWN,
        |error| {
            error
                .as_str()
                .is_some_and(|e| e.contains("no wadm answers"))
        },
    )?;
    let names = page.evaluate("document.querySelectorAll('#hosts .host').length")?;
    assert_eq!(names, 2, "hosts still shown");
    Ok(())
}
