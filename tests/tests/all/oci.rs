//! OCI registries end to end: a real CNCF Distribution registry
//! (`docker-registry`), the `trellis` CLI pushing, pulling and logging in,
//! and an app whose component image is an OCI reference written as
//! wasmCloud writes it, deployed, served, and still run by a host that
//! starts after the registry is gone.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;
use trellis_tests::{
    CLI_TIMEOUT, Cli, CliOutput, HelloApp, Host, HostOpts, NatsServer, OciRegistry, Wadm, actor,
    free_port, trellis_bin, unique_lattice, wait_for_http,
};

/// Bound on any convergence the tests wait for.
const CONVERGE: Duration = Duration::from_secs(30);

/// Runs `trellis [lattice flags] --output json ARGS` with its own docker
/// config folder, so logins never touch the real `~/.docker`, and
/// optionally something on standard input.
async fn trellis(
    lattice: Option<&Cli>,
    docker_config: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<CliOutput> {
    trellis_as("json", lattice, docker_config, args, stdin).await
}

/// [`trellis`] with `--output FORMAT`.
async fn trellis_as(
    format: &str,
    lattice: Option<&Cli>,
    docker_config: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<CliOutput> {
    let cmd = command(format, lattice, docker_config);
    run(cmd, args, stdin).await
}

/// `trellis [lattice flags] --output FORMAT` with its own docker config.
fn command(format: &str, lattice: Option<&Cli>, docker_config: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(trellis_bin());
    if let Some(cli) = lattice {
        cmd.args(["--nats-url", &cli.nats_url, "--lattice", &cli.lattice]);
    }
    cmd.args(["--output", format])
        .env("DOCKER_CONFIG", docker_config)
        .env("NO_COLOR", "1");
    cmd
}

/// Runs `cmd ARGS`, optionally with something on standard input.
async fn run(
    mut cmd: tokio::process::Command,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<CliOutput> {
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().context("spawning trellis")?;
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().context("stdin pipe")?;
        pipe.write_all(text.as_bytes()).await?;
        drop(pipe);
    }
    let out = tokio::time::timeout(CLI_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("`trellis {}` timed out", args.join(" ")))??;
    Ok(CliOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Fails unless `out` failed with `needle` in its error.
fn failed_with(out: &CliOutput, needle: &str) -> anyhow::Result<()> {
    if out.success() {
        bail!(
            "expected a failure mentioning `{needle}`, got success: {}",
            out.stdout
        );
    }
    if !out.stderr.contains(needle) {
        bail!("expected `{needle}` in the error, got: {}", out.stderr);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_pull_round_trip_through_a_registry_with_login() -> anyhow::Result<()> {
    let registry = OciRegistry::start_with_auth("trellis", "s3cret")?;
    let addr = registry.address();
    let docker = tempfile::tempdir()?;
    let docker = docker.path();
    let wasm = actor("hello_http");
    let wasm_arg = wasm.display().to_string();
    let target = format!("oci://{addr}/demo/hello:0.1.0");
    let insecure = ["--allow-insecure", addr.as_str()];

    // HTTPS to a plain-HTTP registry: the error says which flag fixes it.
    let out = trellis(None, docker, &["pull", &target], None).await?;
    failed_with(&out, &format!("--allow-insecure {addr}"))?;

    // No credentials yet: refused, with the command that fixes it.
    let pull_args = |out_file: &str| {
        let mut a = vec!["pull", target.as_str(), "-o", out_file];
        a.extend(insecure);
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let pulled_file = docker.join("pulled.wasm").display().to_string();
    let args = pull_args(&pulled_file);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = trellis(None, docker, &args, None).await?;
    failed_with(&out, &format!("run `trellis registry login {addr}`"))?;
    let mut push = vec!["push", target.as_str(), wasm_arg.as_str()];
    push.extend(insecure);
    let out = trellis(None, docker, &push, None).await?;
    failed_with(&out, &format!("run `trellis registry login {addr}`"))?;

    // A wrong password is refused and nothing is stored.
    let mut login = vec!["registry", "login", addr.as_str(), "--username", "trellis"];
    login.push("--password-stdin");
    login.extend(insecure);
    let out = trellis(None, docker, &login, Some("wrong\n")).await?;
    failed_with(&out, "refused the login")?;
    assert!(!docker.join("config.json").exists());

    trellis(None, docker, &login, Some("s3cret\n"))
        .await?
        .ok()?;
    let config = docker.join("config.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&config)?.permissions());
    assert_eq!(mode & 0o777, 0o600, "config.json must be private");

    let pushed = trellis(None, docker, &push, None).await?.ok()?.json()?;
    let digest = pushed["digest"]
        .as_str()
        .context("push prints the digest")?;
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{pushed}"
    );

    let out = trellis(None, docker, &args, None).await?.ok()?.json()?;
    assert_eq!(out["digest"], digest, "{out}");
    assert_eq!(std::fs::read(&pulled_file)?, std::fs::read(&wasm)?);

    // By digest, as a pinned manifest would name it.
    let pinned = format!("{addr}/demo/hello@{digest}");
    let by_digest = docker.join("by-digest.wasm").display().to_string();
    let mut pull = vec!["pull", pinned.as_str(), "-o", by_digest.as_str()];
    pull.extend(insecure);
    trellis(None, docker, &pull, None).await?.ok()?;
    assert_eq!(std::fs::read(&by_digest)?, std::fs::read(&wasm)?);
    Ok(())
}

/// Writes `docker-credential-NAME` into `bin`: a shell script of `body`.
fn helper_script(bin: &Path, name: &str, body: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_helpers_named_in_the_docker_config_log_in() -> anyhow::Result<()> {
    let registry = OciRegistry::start_with_auth("trellis", "s3cret")?;
    let addr = registry.address();
    let dir = tempfile::tempdir()?;
    let (docker, bin) = (dir.path().join("docker"), dir.path().join("bin"));
    std::fs::create_dir_all(&docker)?;
    std::fs::create_dir_all(&bin)?;
    // Helpers as ECR's or a desktop keychain's behave: one that has the
    // login, one that has none, one that waits for a prompt forever.
    let asked = dir.path().join("asked");
    helper_script(
        &bin,
        "trellis-ok",
        &format!(
            "cat > '{}'\necho '{{\"ServerURL\":\"x\",\"Username\":\"trellis\",\"Secret\":\"s3cret\"}}'",
            asked.display()
        ),
    )?;
    helper_script(
        &bin,
        "trellis-none",
        "cat > /dev/null\necho 'credentials not found in native keychain'\nexit 1",
    )?;
    helper_script(&bin, "trellis-hang", "exec sleep 60")?;
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let using = |helper: &str| -> anyhow::Result<tokio::process::Command> {
        let config = serde_json::json!({ "credHelpers": { addr.as_str(): helper } });
        std::fs::write(docker.join("config.json"), config.to_string())?;
        let mut cmd = command("json", None, &docker);
        cmd.env("PATH", &path);
        Ok(cmd)
    };
    let wasm = actor("hello_http");
    let wasm_arg = wasm.display().to_string();
    let target = format!("oci://{addr}/demo/helped:0.1.0");
    let pulled = dir.path().join("pulled.wasm").display().to_string();
    let push = ["push", &target, &wasm_arg, "--allow-insecure", &addr];
    let pull = ["pull", &target, "-o", &pulled, "--allow-insecure", &addr];

    // The helper's login pushes and pulls; it was asked about this registry.
    run(using("trellis-ok")?, &push, None).await?.ok()?;
    assert_eq!(std::fs::read_to_string(&asked)?, addr);
    run(using("trellis-ok")?, &pull, None).await?.ok()?;
    assert_eq!(std::fs::read(&pulled)?, std::fs::read(&wasm)?);

    // No login with the helper: anonymous, refused, with what to do.
    let out = run(using("trellis-none")?, &pull, None).await?;
    failed_with(&out, &format!("run `trellis registry login {addr}`"))?;

    // A helper that never answers is cut off by the registry timeout.
    let mut bounded: Vec<&str> = pull.to_vec();
    bounded.extend(["--registry-timeout", "2"]);
    let out = run(using("trellis-hang")?, &bounded, None).await?;
    failed_with(&out, "docker-credential-trellis-hang")?;
    failed_with(&out, "did not answer within 2s")?;

    // One that is not installed is named, with the fix.
    let out = run(using("trellis-missing")?, &pull, None).await?;
    failed_with(&out, "docker-credential-trellis-missing")?;
    failed_with(&out, "not on PATH")?;

    // A default store that is not installed (a desktop's config.json)
    // stands for no login: anonymous, refused here as with no config.
    let cmd = using("unused")?;
    std::fs::write(
        docker.join("config.json"),
        r#"{"credsStore":"trellis-missing"}"#,
    )?;
    let out = run(cmd, &pull, None).await?;
    failed_with(&out, &format!("run `trellis registry login {addr}`"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasmcloud_style_oci_image_deploys_and_runs_after_the_registry_is_gone()
-> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("oci");
    let cli = Cli::new(&nats, &lattice);
    let host = |name: &str| {
        Host::spawn(
            &nats,
            HostOpts {
                lattice: lattice.clone(),
                name: name.into(),
                heartbeat_ms: Some(500),
                ..HostOpts::default()
            },
        )
    };
    let first = host("first")?;
    let _wadm = Wadm::spawn(&nats, &lattice, &[])?;
    let registry = OciRegistry::start()?;
    let addr = registry.address();
    let docker = tempfile::tempdir()?;
    let docker = docker.path();
    let insecure = ["--allow-insecure", addr.as_str()];

    // Published as `wash push` would: no scheme in the manifest.
    let image = format!("{addr}/demo/hello:0.1.0");
    let wasm = actor("hello_http").display().to_string();
    let mut push = vec!["push", image.as_str(), wasm.as_str()];
    push.extend(insecure);
    let pushed = trellis(None, docker, &push, None).await?.ok()?.json()?;
    let digest = pushed["digest"].as_str().context("digest")?.to_owned();

    let port = free_port();
    let dir = tempfile::tempdir()?;
    let file = HelloApp::shop(image.clone(), port).write_in(dir.path())?;
    let file = file.display().to_string();
    let mut deploy = vec!["app", "deploy", file.as_str(), "--wait", "--timeout", "45"];
    deploy.extend(insecure);
    trellis(Some(&cli), docker, &deploy, None).await?.ok()?;
    let url = format!("http://127.0.0.1:{port}/");
    let (code, _, body) = wait_for_http(&url, 200, CONVERGE).await?;
    assert_eq!(
        (code, String::from_utf8_lossy(&body).as_ref()),
        (200, "Hello from Trellis!")
    );

    // The status records what the reference resolved to.
    let status = cli
        .run_async(&["app", "status", "shop"])
        .await?
        .ok()?
        .json()?;
    let images = status["images"].as_array().context("status has images")?;
    assert_eq!(images.len(), 1, "{status}");
    assert_eq!(images[0]["component"], "hello");
    assert_eq!(images[0]["reference"], image.as_str());
    assert_eq!(images[0]["digest"], digest.as_str());
    let artifact = images[0]["artifact"]
        .as_str()
        .context("artifact")?
        .to_owned();
    assert!(artifact.starts_with("nats://"), "{artifact}");
    let table = trellis_as(
        "table",
        Some(&cli),
        docker,
        &["app", "status", "shop"],
        None,
    )
    .await?;
    table.ok()?;
    assert!(
        table.stdout.contains(&digest) && table.stdout.contains(&image),
        "the status table shows the resolution:\n{}",
        table.stdout
    );

    // `start component` with an OCI reference pulls it into the lattice too.
    let mut start = vec!["start", "component", image.as_str(), "direct-hello"];
    start.extend(insecure);
    trellis(Some(&cli), docker, &start, None).await?.ok()?;

    // Another site: the registry is gone; a host that joins now runs the
    // component from the lattice's object store.
    drop(registry);
    let second = host("second")?;
    let out = cli
        .run_async(&[
            "start",
            "component",
            &artifact,
            "edge-hello",
            "--host",
            second.id(),
        ])
        .await?;
    out.ok()?;
    let inventory = cli
        .run_async(&["get", "inventory", second.id()])
        .await?
        .ok()?
        .json()?;
    let text = inventory.to_string();
    assert!(text.contains("edge-hello"), "{inventory}");

    // Pulling now fails as it should: the bytes came from NATS above.
    let mut again = vec!["start", "component", image.as_str(), "late-hello"];
    again.extend(insecure);
    let out = trellis(Some(&cli), docker, &again, None).await?;
    failed_with(&out, "cannot be reached")?;
    drop(first);
    Ok(())
}
