//! A lattice with two hosts and helpers to wire components to HTTP.

use std::time::Duration;

use anyhow::Context;
use trellis_tests::{Cli, Host, HostOpts, NatsServer, actor, free_port, unique_lattice};

/// How long a freshly linked route may take to start listening.
pub(crate) const ROUTE_READY: Duration = Duration::from_secs(15);

/// nats-server, a CLI bound to a fresh lattice, and hosts `a` and `b`.
pub(crate) struct Lattice {
    pub nats: NatsServer,
    pub cli: Cli,
    pub name: String,
    pub a: Host,
    pub b: Host,
}

impl Lattice {
    /// Host `a` is labelled zone=cloud, `b` zone=edge; `b_args` go to b.
    pub(crate) fn start(prefix: &str, b_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_with(prefix, &[], b_args)
    }

    /// Like [`Lattice::start`], with `a_args` for host a (which runs the
    /// http provider) too.
    pub(crate) fn start_with(
        prefix: &str,
        a_args: &[&str],
        b_args: &[&str],
    ) -> anyhow::Result<Self> {
        let nats = NatsServer::start()?;
        let name = unique_lattice(prefix);
        let opts = |host: &str, zone: &str, extra: &[&str]| HostOpts {
            lattice: name.clone(),
            name: host.into(),
            labels: vec![("zone".into(), zone.into())],
            heartbeat_ms: Some(500),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            ..HostOpts::default()
        };
        let a = Host::spawn(&nats, opts("a", "cloud", a_args))?;
        let b = Host::spawn(&nats, opts("b", "edge", b_args))?;
        let cli = Cli::new(&nats, &name);
        cli.run(&[
            "start",
            "provider",
            "builtin://http-server",
            "http",
            "--host",
            a.id(),
        ])?
        .ok()?;
        Ok(Self {
            nats,
            cli,
            name,
            a,
            b,
        })
    }

    /// Starts an actor from `target/wasm` as component `id` on `host`.
    pub(crate) fn start_component(
        &self,
        wasm: &str,
        id: &str,
        host: &Host,
        max: u32,
    ) -> anyhow::Result<()> {
        let image = format!("file://{}", actor(wasm).display());
        self.cli
            .run(&[
                "start",
                "component",
                &image,
                id,
                "--host",
                host.id(),
                "--max",
                &max.to_string(),
            ])?
            .ok()
            .with_context(|| format!("starting {id}"))?;
        Ok(())
    }

    /// Links the http provider (on `a`) to `target` on a fresh port and
    /// returns the base URL.
    pub(crate) fn route(&self, target: &str) -> anyhow::Result<String> {
        self.route_with(target, target, &[])
    }

    /// Like [`Lattice::route`] with a link name and extra `k=v` settings.
    pub(crate) fn route_with(
        &self,
        target: &str,
        link: &str,
        settings: &[&str],
    ) -> anyhow::Result<String> {
        route_with(&self.cli, target, link, settings)
    }

    /// A NATS client of the test itself (to watch subjects).
    pub(crate) async fn nats_client(&self) -> anyhow::Result<async_nats::Client> {
        Ok(async_nats::connect(self.nats.url()).await?)
    }

    /// A subscription to every invocation of component `id` (all its rpc
    /// subjects), ready before this returns.
    pub(crate) async fn watch_rpc(&self, id: &str) -> anyhow::Result<async_nats::Subscriber> {
        let client = self.nats_client().await?;
        let id = trellis_protocol::ComponentId::new(id)?;
        let sub = client
            .subscribe(trellis_protocol::subject::pattern::rpc_target(
                &self.lattice(),
                &id,
            ))
            .await?;
        client.flush().await?;
        Ok(sub)
    }

    /// The lattice name as the protocol type.
    pub(crate) fn lattice(&self) -> trellis_protocol::LatticeName {
        trellis_protocol::LatticeName::new(self.name.clone()).expect("unique_lattice is valid")
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub(crate) fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The data of the next event on `sub` whose `data[field]` is `value`
/// (bounded wait).
pub(crate) async fn next_event(
    sub: &mut async_nats::Subscriber,
    field: &str,
    value: &str,
) -> anyhow::Result<serde_json::Value> {
    use futures::StreamExt;
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(30), sub.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("event stream ended"))?;
        let event: serde_json::Value = serde_json::from_slice(&msg.payload)?;
        if event["data"][field] == value {
            return Ok(event["data"].clone());
        }
    }
}

/// The edge tests' app: two hello instances and the HTTP server on hosts
/// labelled `zone=edge`, listening on `port`.
pub(crate) fn shop_at_the_edge(port: u16) -> String {
    trellis_tests::HelloApp {
        name: "shop",
        image: format!("file://{}", trellis_tests::actor("hello_http").display()),
        instances: 2,
        component_zone: Some("edge"),
        http_zone: Some("edge"),
        config: "shop-addr",
        port,
    }
    .yaml()
}

/// A hand-written component exporting wasmCloud's `example:pong/pingpong`
/// with `ping` answering a `u32` where the real interface has a `string`:
/// a link target whose types do not match (compile with `wat`).
pub(crate) const PONG_U32: &str = r#"(component
    (core module $m (func (export "ping") (result i32) i32.const 7))
    (core instance $i (instantiate $m))
    (func $ping (result u32) (canon lift (core func $i "ping")))
    (instance $pingpong (export "ping" (func $ping)))
    (export "example:pong/pingpong" (instance $pingpong))
)"#;

/// Links the lattice's `http` provider to `target` through link `link` on
/// a fresh port (with extra `k=v` settings) and returns the base URL.
pub(crate) fn route_with(
    cli: &Cli,
    target: &str,
    link: &str,
    settings: &[&str],
) -> anyhow::Result<String> {
    let port = free_port();
    let config = format!("{link}-http");
    let address = format!("address=127.0.0.1:{port}");
    let mut put = vec!["config", "put", &config, &address];
    put.extend_from_slice(settings);
    cli.run(&put)?.ok()?;
    cli.run(&[
        "link",
        "put",
        "http",
        target,
        "wasi",
        "http",
        "--interface",
        "incoming-handler",
        "--name",
        link,
        "--source-config",
        &config,
    ])?
    .ok()?;
    Ok(format!("http://127.0.0.1:{port}"))
}
