//! Cold start: from `component.scale` sent to the first 200 OK, with the
//! compile cache warm (the same bytes every run) and empty (bytes made
//! unique per run with a custom section, so the host fetches and compiles);
//! and, as the reference for the empty cache, compiling the same unique
//! bytes alone, in this process, with the host's runtime.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use trellis_lattice::{Lattice, LatticeConfig};
use trellis_protocol::control::{ArtifactRef, ScaleComponentRequest};
use trellis_protocol::{ComponentId, ControlVerb, HostId, LatticeName};
use wasm_encoder::{CustomSection, Encode};

use crate::setup;

/// Cold start percentiles of one cache state.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ColdStart {
    /// `warm`, `empty`, or `compile` (the reference: compile alone).
    pub cache: &'static str,
    /// Runs measured.
    pub runs: usize,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
}

const ID: &str = "cold";

/// Measures `runs` cold starts of hello-http on host `host` of the lattice,
/// for a warm and for an empty compile cache.
pub(crate) async fn measure(
    lattice: &setup::Lattice,
    runs: usize,
) -> anyhow::Result<Vec<ColdStart>> {
    let client = Lattice::connect(&LatticeConfig {
        nats_url: lattice.nats.url(),
        lattice: LatticeName::new(lattice.name.clone())?,
        ..LatticeConfig::default()
    })
    .await?;
    let host = HostId::new(lattice.a.id())?;
    let bytes = std::fs::read(trellis_tests::actor("hello_http"))?;
    let store = client.store().await?;
    let port = trellis_tests::free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // A route to the component id, which then runs nowhere between runs.
    let image = format!("file://{}", trellis_tests::actor("hello_http").display());
    let cli = &lattice.cli;
    cli.run(&["start", "component", &image, ID, "--host", lattice.a.id()])?
        .ok()?;
    cli.run(&[
        "config",
        "put",
        "cold-addr",
        &format!("address=127.0.0.1:{port}"),
    ])?
    .ok()?;
    cli.run(&[
        "link",
        "put",
        "http",
        ID,
        "wasi",
        "http",
        "--interface",
        "incoming-handler",
        "--name",
        ID,
        "--source-config",
        "cold-addr",
    ])?
    .ok()?;
    setup::wait_ready(addr).await?;
    scale(&client, &host, None, 0).await?;

    let warm_artifact = store.put_artifact(&bytes).await?;
    let mut out = Vec::new();
    for cache in ["warm", "empty"] {
        let mut times = Vec::with_capacity(runs);
        for run in 0..runs {
            let artifact = if cache == "warm" {
                warm_artifact.clone()
            } else {
                store.put_artifact(&unique(&bytes, run)).await?
            };
            let t0 = Instant::now();
            scale(&client, &host, Some(artifact), 1).await?;
            first_ok(addr).await?;
            times.push(t0.elapsed());
            scale(&client, &host, None, 0).await?;
        }
        out.push(percentiles(cache, times));
    }
    // The reference for the empty cache: compiling and pre-linking the
    // same kind of unique bytes, no fetch, no NATS, no HTTP.
    let runtime = trellis_host::runtime::Runtime::new(Default::default())?;
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let fresh = unique(&bytes, runs + run);
        let t0 = Instant::now();
        runtime.prepare(&fresh)?;
        times.push(t0.elapsed());
    }
    out.push(percentiles("compile", times));
    Ok(out)
}

/// `bytes` with a custom section that makes them unique to `run`, so no
/// cache knows them.
fn unique(bytes: &[u8], run: usize) -> Vec<u8> {
    let mut unique = bytes.to_vec();
    let nonce = format!("{}-{run}", std::process::id());
    // Section id 0 (custom); `encode` writes size, name and data.
    unique.push(0);
    CustomSection {
        name: "trellis-bench-nonce".into(),
        data: nonce.as_bytes().into(),
    }
    .encode(&mut unique);
    unique
}

fn percentiles(cache: &'static str, mut times: Vec<Duration>) -> ColdStart {
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    ColdStart {
        cache,
        runs: times.len(),
        p50_ms: pct(0.5).as_secs_f64() * 1e3,
        p99_ms: pct(0.99).as_secs_f64() * 1e3,
    }
}

async fn scale(
    client: &Lattice,
    host: &HostId,
    artifact: Option<ArtifactRef>,
    max: u32,
) -> anyhow::Result<()> {
    scale_component(client, host, ID, artifact, max).await
}

/// Sends `component.scale` for `id` on `host` and waits for the reply.
pub(crate) async fn scale_component(
    client: &Lattice,
    host: &HostId,
    id: &str,
    artifact: Option<ArtifactRef>,
    max: u32,
) -> anyhow::Result<()> {
    let request = ScaleComponentRequest {
        component_id: ComponentId::new(id)?,
        image: "bench".into(),
        artifact,
        max,
        reuse: None,
        config: Vec::new(),
        annotations: Default::default(),
        secrets: Vec::new(),
    };
    client
        .control::<_, serde_json::Value>(
            ControlVerb::ComponentScale(host.clone()),
            &request,
            Some(Duration::from_secs(60)),
        )
        .await
        .with_context(|| format!("component.scale of {id}"))?;
    Ok(())
}

/// Polls until `GET /` answers 200 (bounded).
async fn first_ok(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(200) = crate::load::get_once(addr, "/").await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no 200 from {addr} within 30 s of the scale");
        }
        tokio::task::yield_now().await;
    }
}
