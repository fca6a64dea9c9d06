//! `trellis events` and `trellis app status --watch`: lattice events
//! printed as they happen, by the real CLI against real hosts and wadm.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout};
use trellis_protocol::{EventType, LatticeName, Subject};
use trellis_tests::{
    Cli, HelloApp, Host, HostOpts, NatsServer, Wadm, actor, free_port, unique_lattice,
};

/// Bound on waiting for one line of a watching CLI.
const LINE_WAIT: Duration = Duration::from_secs(30);

struct Watcher {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<ChildStderr>>,
}

impl Watcher {
    fn start(cli: &Cli, format: &str, args: &[&str]) -> anyhow::Result<Self> {
        let mut child = cli.spawn(format, args)?;
        let stdout = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let stderr = BufReader::new(child.stderr.take().context("stderr")?).lines();
        Ok(Self {
            child,
            stdout,
            stderr,
        })
    }

    /// Waits for the line on stderr that says the watch is in place.
    async fn ready(&mut self) -> anyhow::Result<()> {
        let line = tokio::time::timeout(LINE_WAIT, self.stderr.next_line())
            .await
            .context("no word from the watcher")??
            .context("the watcher exited")?;
        anyhow::ensure!(line.starts_with("watching events of lattice"), "{line}");
        Ok(())
    }

    async fn line(&mut self) -> anyhow::Result<String> {
        match tokio::time::timeout(LINE_WAIT, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => bail!("the watcher's stdout closed"),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => bail!("no line within {LINE_WAIT:?}"),
        }
    }

    /// The next JSON line that `want` accepts.
    async fn json_until(
        &mut self,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> anyhow::Result<serde_json::Value> {
        loop {
            let line = self.line().await?;
            let value: serde_json::Value =
                serde_json::from_str(&line).with_context(|| format!("not JSON: {line}"))?;
            if want(&value) {
                return Ok(value);
            }
        }
    }
}

fn host(nats: &NatsServer, lattice: &str) -> anyhow::Result<Host> {
    Host::spawn(
        nats,
        HostOpts {
            lattice: lattice.into(),
            name: "one".into(),
            ..HostOpts::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn events_follow_prints_a_scale_within_a_second() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("events");
    let host = host(&nats, &lattice)?;
    let cli = Cli::new(&nats, &lattice);
    let mut watcher = Watcher::start(&cli, "json", &["events", "--follow"])?;
    watcher.ready().await?;

    // What a peer may put on an event subject: not JSON, and a real
    // event dressed up as another type. Each is skipped with a warning.
    let client = async_nats::connect(nats.url()).await?;
    let subject = Subject::event(
        &LatticeName::new(lattice.clone())?,
        EventType::ComponentScaled,
    );
    client
        .publish(subject.to_string(), "not json".into())
        .await?;
    let forged = serde_json::json!({
        "specversion": "1.0", "id": "x", "source": "me", "time": "now",
        "type": "dev.trellis.lattice.host_stopped", "datacontenttype": "application/json",
        "data": {"component_id": "forged"},
    });
    client
        .publish(subject.to_string(), serde_json::to_vec(&forged)?.into())
        .await?;
    client.flush().await?;
    for _ in 0..2 {
        let warning = tokio::time::timeout(LINE_WAIT, watcher.stderr.next_line())
            .await??
            .context("stderr closed")?;
        assert!(
            warning.starts_with("warning: skipped a message on"),
            "{warning}"
        );
    }

    let image = format!("file://{}", actor("hello_http").display());
    cli.run_async(&["start", "component", &image, "hello", "--host", host.id()])
        .await?
        .ok()?;
    let started = Instant::now();
    let scaled = watcher
        .json_until(|e| e["type"] == "dev.trellis.lattice.component_scaled")
        .await?;
    let latency = started.elapsed();
    eprintln!("component_scaled printed {latency:?} after the reply");
    assert!(
        latency < Duration::from_secs(1),
        "printed {latency:?} after the reply"
    );
    assert_eq!(scaled["source"], host.id());
    assert_eq!(scaled["data"]["component_id"], "hello");
    assert!(scaled["data"]["max"].as_u64() >= Some(1), "{scaled}");

    cli.run_async(&["stop", "component", "hello", "--host", host.id()])
        .await?
        .ok()?;
    let stopped = watcher
        .json_until(|e| e["type"] == "dev.trellis.lattice.component_scaled")
        .await?;
    assert_eq!(stopped["data"]["max"], 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn events_of_one_type_as_a_table_stop_after_a_count() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("evtype");
    let host = host(&nats, &lattice)?;
    let cli = Cli::new(&nats, &lattice);

    let bad = cli
        .run_async(&["events", "--type", "component_scald"])
        .await?;
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("unknown event type") && bad.stderr.contains("component_scaled"),
        "{}",
        bad.stderr
    );

    let mut watcher = Watcher::start(
        &cli,
        "table",
        &[
            "events",
            "--type",
            "provider_started",
            "--count",
            "1",
            "--for",
            "60",
        ],
    )?;
    watcher.ready().await?;
    // Not the watched type: must not be printed.
    let image = format!("file://{}", actor("hello_http").display());
    cli.run_async(&["start", "component", &image, "hello", "--host", host.id()])
        .await?
        .ok()?;
    cli.run_async(&[
        "start",
        "provider",
        "builtin://http-client",
        "out",
        "--host",
        host.id(),
    ])
    .await?
    .ok()?;
    let header = watcher.line().await?;
    assert!(
        header.starts_with("TIME") && header.contains("DETAIL"),
        "{header}"
    );
    let row = watcher.line().await?;
    assert!(
        row.contains("provider_started") && row.contains("provider_id=out"),
        "{row}"
    );
    let status = tokio::time::timeout(LINE_WAIT, watcher.child.wait())
        .await
        .context("still running after its one event")??;
    assert!(status.success(), "{status}");
    assert_eq!(
        watcher.stdout.next_line().await?,
        None,
        "nothing else printed"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn app_status_watch_prints_each_change() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("watch");
    let _host = host(&nats, &lattice)?;
    let _wadm = Wadm::spawn(&nats, &lattice, &[])?;
    let cli = Cli::new(&nats, &lattice);
    let dir = tempfile::tempdir()?;
    let image = format!("file://{}", actor("hello_http").display());
    let manifest = HelloApp::shop(image, free_port()).write_in(dir.path())?;
    let file = manifest.display().to_string();
    cli.run_async(&["app", "deploy", &file, "--wait", "--timeout", "45"])
        .await?
        .ok()?;

    let mut watcher = Watcher::start(&cli, "json", &["app", "status", "shop", "--watch"])?;
    let first = watcher.json_until(|_| true).await?;
    assert_eq!(
        (first["name"].as_str(), first["state"].as_str()),
        (Some("shop"), Some("deployed"))
    );
    cli.run_async(&["app", "undeploy", "shop"]).await?.ok()?;
    // It may pass through other states; each line is a change.
    let mut last = first;
    loop {
        let changed = watcher.json_until(|_| true).await?;
        assert_eq!(changed["name"], "shop");
        assert_ne!(changed, last, "a line only for a change");
        if changed["state"] == "undeployed" {
            break;
        }
        last = changed;
    }
    Ok(())
}
