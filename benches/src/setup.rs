//! The systems under test, started as real processes: a lattice with two
//! hosts (the HTTP provider on `a`, hello-http on `a` and on `b`), and
//! `wasmtime serve` with the same component.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use trellis_tests::{Cli, Host, HostOpts, NatsServer, actor, free_port, unique_lattice};

/// Bound on a route or server becoming ready.
const READY: Duration = Duration::from_secs(60);

/// nats-server and two hosts with hello-http reachable two ways.
pub(crate) struct Lattice {
    /// The NATS server.
    pub nats: NatsServer,
    /// Lattice name.
    pub name: String,
    /// CLI bound to the lattice.
    pub cli: Cli,
    /// Host with the HTTP provider and `hello-local`.
    pub a: Host,
    /// Host with `hello-remote` (held so it runs).
    pub _b: Host,
    /// Served by `hello-local` on host a (no NATS hop).
    pub local: SocketAddr,
    /// Served by `hello-remote` on host b (one NATS hop each way).
    pub remote: SocketAddr,
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits until `GET /` at `addr` answers 200.
pub(crate) async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY;
    loop {
        if let Ok(200) = crate::load::get_once(addr, "/").await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{addr} did not answer 200 within {READY:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Lattice {
    /// Starts everything and waits until both routes answer.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let nats = NatsServer::start()?;
        let name = unique_lattice("bench");
        let opts = |host: &str| HostOpts {
            lattice: name.clone(),
            name: host.into(),
            ..HostOpts::default()
        };
        let a = Host::spawn(&nats, opts("a"))?;
        let b = Host::spawn(&nats, opts("b"))?;
        let cli = Cli::new(&nats, &name);
        let image = format!("file://{}", actor("hello_http").display());
        run(
            &cli,
            &[
                "start",
                "provider",
                "builtin://http-server",
                "http",
                "--host",
                a.id(),
            ],
        )?;
        let local = route(&cli, &image, "hello-local", &a, free_port())?;
        let remote = route(&cli, &image, "hello-remote", &b, free_port())?;
        wait_ready(local).await?;
        wait_ready(remote).await?;
        Ok(Self {
            nats,
            name,
            cli,
            a,
            _b: b,
            local,
            remote,
        })
    }
}

/// Runs one CLI command that must succeed.
pub(crate) fn run(cli: &Cli, args: &[&str]) -> anyhow::Result<()> {
    cli.run(args)?.ok()?;
    Ok(())
}

/// Starts `image` as component `id` on `host` (up to 256 instances) and
/// links the HTTP provider to it on `port`; returns the listener's address.
fn route(cli: &Cli, image: &str, id: &str, host: &Host, port: u16) -> anyhow::Result<SocketAddr> {
    start_component(cli, image, id, host)?;
    link_http(cli, id, port)
}

/// Starts `image` as component `id` on `host`, up to 256 instances (more
/// than any load row keeps in flight).
pub(crate) fn start_component(cli: &Cli, image: &str, id: &str, host: &Host) -> anyhow::Result<()> {
    start_component_with(cli, image, id, host, &[])
}

/// [`start_component`] with more `trellis start component` flags.
pub(crate) fn start_component_with(
    cli: &Cli,
    image: &str,
    id: &str,
    host: &Host,
    flags: &[&str],
) -> anyhow::Result<()> {
    let mut args = vec![
        "start",
        "component",
        image,
        id,
        "--host",
        host.id(),
        "--max",
        "256",
    ];
    args.extend_from_slice(flags);
    run(cli, &args)
}

/// Links the HTTP provider to component `id` on a listener at `port`
/// (config `{id}-addr`, link name `id`) and returns that address.
pub(crate) fn link_http(cli: &Cli, id: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let cfg = format!("{id}-addr");
    run(
        cli,
        &["config", "put", &cfg, &format!("address=127.0.0.1:{port}")],
    )?;
    run(
        cli,
        &[
            "link",
            "put",
            "http",
            id,
            "wasi",
            "http",
            "--interface",
            "incoming-handler",
            "--name",
            id,
            "--source-config",
            &cfg,
        ],
    )?;
    Ok(addr(port))
}

impl Lattice {
    /// Serves `wasm` as component `id` on host a (the provider's host) and
    /// returns its address once it answers.
    pub(crate) async fn serve_local(&self, id: &str, wasm: &Path) -> anyhow::Result<SocketAddr> {
        let image = format!("file://{}", wasm.display());
        let addr = route(&self.cli, &image, id, &self.a, free_port())?;
        wait_ready(addr).await?;
        Ok(addr)
    }
}

/// The `wasmtime` executable: `$WASMTIME_BIN`, `PATH`, or `~/.cargo/bin`.
pub(crate) fn find_wasmtime() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("WASMTIME_BIN") {
        return Some(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    std::env::split_paths(&path)
        .chain(home)
        .map(|dir| dir.join("wasmtime"))
        .find(|bin| bin.is_file())
}

/// `wasmtime --version`, when it runs.
pub(crate) fn version(bin: &PathBuf) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `wasmtime serve` with one component, killed on drop.
pub(crate) struct WasmtimeServe {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl WasmtimeServe {
    /// Starts it with `wasm` and waits until it answers. WASI 0.3
    /// (component-model async) is switched on, so 0.3 components are
    /// served too; 0.2 ones are served as before.
    pub(crate) async fn start(bin: &PathBuf, wasm: &Path) -> anyhow::Result<Self> {
        let port = free_port();
        let child = Command::new(bin)
            .args([
                "serve",
                "-S",
                "cli=y",
                "-S",
                "p3=y",
                "-W",
                "component-model-async=y",
                "--addr",
                &format!("127.0.0.1:{port}"),
            ])
            .arg(wasm)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting wasmtime serve")?;
        let serve = Self {
            child,
            addr: addr(port),
        };
        wait_ready(serve.addr).await?;
        Ok(serve)
    }
}

impl Drop for WasmtimeServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
