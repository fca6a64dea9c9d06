//! wadm never says `deployed` for what does not run: a link the HTTP
//! provider refused (its port is taken, its config has no usable address)
//! shows `failed` with the provider's reason, `app deploy --wait` does not
//! report success, and once the cause goes away (the port frees, a fixed
//! version is deployed) the app becomes `deployed` and serves without
//! anyone retrying by hand. Real nats-server, host, wadm, CLI and sockets.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use trellis_protocol::{EventType, LatticeName, Subject};
use trellis_tests::{
    Cli, Host, HostOpts, NatsServer, Wadm, actor, free_port, http_get, target_dir, unique_lattice,
    wait_for_http,
};

/// Bound on any convergence the tests wait for. A refused link is retried
/// with a back-off of at most 30 s, so healing fits well inside it.
const CONVERGE: Duration = Duration::from_secs(60);

struct Site {
    nats: NatsServer,
    lattice: String,
    cli: Cli,
    dir: tempfile::TempDir,
    _host: Host,
    wadm: Wadm,
}

impl Site {
    fn start(prefix: &str) -> anyhow::Result<Self> {
        let nats = NatsServer::start()?;
        let lattice = unique_lattice(prefix);
        let host = Host::spawn(
            &nats,
            HostOpts {
                lattice: lattice.clone(),
                name: "web".into(),
                heartbeat_ms: Some(500),
                ..HostOpts::default()
            },
        )?;
        let wadm = Wadm::spawn(&nats, &lattice, &[])?;
        let dir = tempfile::tempdir()?;
        std::fs::copy(actor("hello_http"), dir.path().join("hello_http.wasm"))?;
        Ok(Self {
            cli: Cli::new(&nats, &lattice),
            nats,
            lattice,
            dir,
            _host: host,
            wadm,
        })
    }

    /// App `name` at `version`: hello-http behind the HTTP server, whose
    /// link gets `source` as its source-config properties (YAML flow map).
    fn manifest(&self, name: &str, version: &str, source: &str) -> anyhow::Result<PathBuf> {
        self.manifest_with(name, version, "builtin://http-server", source)
    }

    /// [`Self::manifest`] with the HTTP provider's image.
    fn manifest_with(
        &self,
        name: &str,
        version: &str,
        provider: &str,
        source: &str,
    ) -> anyhow::Result<PathBuf> {
        let file = self.dir.path().join(format!("{name}-{version}.yaml"));
        std::fs::write(
            &file,
            format!(
                r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: {name}, annotations: {{ version: {version} }} }}
spec:
  components:
    - name: hello
      type: component
      properties: {{ image: "file://./hello_http.wasm" }}
      traits:
        - type: spreadscaler
          properties: {{ instances: 1 }}
    - name: http
      type: capability
      properties: {{ image: "{provider}", id: {name}-http }}
      traits:
        - type: daemonscaler
          properties: {{ instances: 1 }}
        - type: link
          properties:
            target: {{ name: hello }}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: {{ config: [ {{ name: {name}-{version}-addr, properties: {source} }} ] }}
"#
            ),
        )?;
        Ok(file)
    }

    async fn deploy_wait(
        &self,
        file: &std::path::Path,
    ) -> anyhow::Result<trellis_tests::CliOutput> {
        let file = file.display().to_string();
        self.cli
            .run_async(&["app", "deploy", &file, "--wait", "--timeout", "45"])
            .await
    }

    async fn status(&self, app: &str) -> anyhow::Result<Value> {
        self.cli
            .run_async(&["app", "status", app])
            .await?
            .ok()?
            .json()
    }

    /// Waits (≤[`CONVERGE`]) until `app` is `state`; returns that status.
    async fn wait_state(&self, app: &str, state: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + CONVERGE;
        loop {
            let status = self.status(app).await?;
            if status["state"] == state {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("{app} not {state} within {CONVERGE:?}: {status}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The status of the `http` component's link trait.
fn link_trait(status: &Value) -> Value {
    status["components"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "http")
        .and_then(|c| c["traits"].as_array())
        .into_iter()
        .flatten()
        .find(|t| t["kind"] == "link")
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_port_fails_the_link_and_heals_once_the_port_frees() -> anyhow::Result<()> {
    let site = Site::start("honest-port")?;
    let squatter = TcpListener::bind("127.0.0.1:0")?;
    let port = squatter.local_addr()?.port();
    let file = site.manifest(
        "squat",
        "v1",
        &format!("{{ address: \"127.0.0.1:{port}\" }}"),
    )?;

    let out = site.deploy_wait(&file).await?;
    assert!(
        !out.success(),
        "deploy --wait reported success while the port is taken: {}",
        out.stderr
    );
    assert!(out.stderr.contains("in use"), "{}", out.stderr);
    let status = site.status("squat").await?;
    assert_eq!(status["state"], "failed", "{status}");
    let link = link_trait(&status);
    assert_eq!(link["state"], "failed", "{status}");
    let reason = link["message"].as_str().unwrap_or_default();
    assert!(
        reason.contains("in use") && reason.contains(&port.to_string()),
        "the provider's reason, naming the address: {reason}"
    );
    // Still failed a while later: nothing pretends it healed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(site.status("squat").await?["state"], "failed");

    // The port frees; the host retries by itself and wadm sees it.
    drop(squatter);
    let freed = Instant::now();
    let status = site.wait_state("squat", "deployed").await?;
    eprintln!("deployed {:?} after the port freed", freed.elapsed());
    assert_eq!(link_trait(&status)["state"], "deployed", "{status}");
    let url = format!("http://127.0.0.1:{port}/");
    let (code, _, body) = wait_for_http(&url, 200, Duration::from_secs(10)).await?;
    assert_eq!((code, body.as_slice()), (200, &b"Hello from Trellis!"[..]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_config_the_provider_rejects_fails_with_its_reason() -> anyhow::Result<()> {
    let site = Site::start("honest-config")?;
    // A port that is no port, then an address that is not IP:PORT (no
    // address at all means wasmCloud's default, 0.0.0.0:8000).
    let cases = [
        ("badport", "{ port: \"http\" }", "port `http`"),
        (
            "badaddr",
            "{ address: \"localhost\" }",
            "`localhost` is not IP:PORT",
        ),
    ];
    for (app, source, reason) in cases {
        let out = site.deploy_wait(&site.manifest(app, "v1", source)?).await?;
        assert!(
            !out.success(),
            "{app}: deploy --wait succeeded: {}",
            out.stderr
        );
        let status = site.wait_state(app, "failed").await?;
        let link = link_trait(&status);
        assert_eq!(link["state"], "failed", "{status}");
        let message = link["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{app}: {message}");
        assert!(
            status["message"]
                .as_str()
                .unwrap_or_default()
                .contains(reason),
            "the app's message says why: {status}"
        );
    }

    // A fixed version is deployed and serves.
    let port = free_port();
    let fixed = site.manifest(
        "badaddr",
        "v2",
        &format!("{{ address: \"127.0.0.1:{port}\" }}"),
    )?;
    site.deploy_wait(&fixed).await?.ok()?;
    let (code, _, _) = http_get(&format!("http://127.0.0.1:{port}/")).await?;
    assert_eq!(code, 200);
    assert_eq!(site.status("badport").await?["state"], "failed");
    Ok(())
}

/// The component with `name` in `status`.
fn component(status: &Value, name: &str) -> Value {
    status["components"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_provider_reports_its_links_and_its_failures() -> anyhow::Result<()> {
    let site = Site::start("honest-external")?;
    let client = async_nats::connect(site.nats.url()).await?;
    let mut started = client
        .subscribe(
            Subject::event(
                &LatticeName::new(site.lattice.to_string())?,
                EventType::ProviderStarted,
            )
            .to_string(),
        )
        .await?;
    client.flush().await?;
    let exe = target_dir().join("debug/trellis-provider-http-server");
    let squatter = TcpListener::bind("127.0.0.1:0")?;
    let port = squatter.local_addr()?.port();
    let file = site.manifest_with(
        "ext",
        "v1",
        &format!("file://{}", exe.display()),
        &format!("{{ address: \"127.0.0.1:{port}\" }}"),
    )?;

    // The process refuses the link; its host reports what it said.
    let out = site.deploy_wait(&file).await?;
    assert!(!out.success(), "{}", out.stderr);
    let status = site.wait_state("ext", "failed").await?;
    let reason = link_trait(&status)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("in use"), "{status}");
    let event = tokio::time::timeout(CONVERGE, started.next())
        .await
        .context("provider_started")?
        .context("event stream ended")?;
    let event: Value = serde_json::from_slice(&event.payload)?;
    let pid = event["data"]["process_id"]
        .as_i64()
        .context("external providers report their pid")?;
    let pid = Pid::from_raw(i32::try_from(pid)?);

    drop(squatter);
    site.wait_state("ext", "deployed").await?;
    let url = format!("http://127.0.0.1:{port}/");
    let (code, _, _) = wait_for_http(&url, 200, Duration::from_secs(10)).await?;
    assert_eq!(code, 200);

    // A process that stops answering is not "deployed" either.
    kill(pid, Signal::SIGSTOP)?;
    let stopped = site.wait_state("ext", "failed").await;
    kill(pid, Signal::SIGCONT)?;
    let stopped = stopped?;
    let scaler = &component(&stopped, "http")["traits"][0];
    assert_eq!(scaler["state"], "failed", "{stopped}");
    let message = scaler["message"].as_str().unwrap_or_default();
    assert!(message.contains("unhealthy"), "{message}");
    site.wait_state("ext", "deployed").await?;
    let (code, _, _) = http_get(&url).await?;
    assert_eq!(code, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_cannot_start_fails_with_its_reason() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let site = Site::start("honest-exits")?;
    let exe = site.dir.path().join("exits.sh");
    std::fs::write(
        &exe,
        "#!/bin/sh\necho 'cannot start: no licence' >&2\nexit 3\n",
    )?;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))?;
    let file = site.manifest_with(
        "exits",
        "v1",
        &format!("file://{}", exe.display()),
        &format!("{{ address: \"127.0.0.1:{}\" }}", free_port()),
    )?;
    let out = site.deploy_wait(&file).await?;
    assert!(!out.success(), "{}", out.stderr);
    let status = site.status("exits").await?;
    assert_eq!(status["state"], "failed", "{status}");
    let scaler = &component(&status, "http")["traits"][0];
    assert_eq!(scaler["state"], "failed", "{status}");
    let message = scaler["message"].as_str().unwrap_or_default();
    assert!(message.contains("exit status: 3"), "{message}");

    // wadm tries again by itself, pausing longer each time (the failure's
    // own provider_stopped event does not make it try at once).
    let tries = || {
        let log = site.wadm.log();
        log.lines()
            .filter(|l| l.contains("wadm executes") && l.contains("start provider exits-http"))
            .count()
    };
    let wait_tries = |at_least: usize| async move {
        let deadline = Instant::now() + CONVERGE;
        while tries() < at_least {
            assert!(Instant::now() < deadline, "wadm stopped retrying the start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    wait_tries(tries() + 1).await;
    let (first, n) = (Instant::now(), tries());
    wait_tries(n + 2).await;
    let span = first.elapsed();
    eprintln!("two more tries took {span:?}");
    assert!(
        span >= Duration::from_secs(2),
        "tries {span:?} apart: no back-off"
    );
    assert_eq!(site.status("exits").await?["state"], "failed");
    Ok(())
}
