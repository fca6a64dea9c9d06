//! Capability call: kv-counter over HTTP with its key-value provider on the
//! same host and on another host, next to hello-http on the same path. The
//! difference of medians is what the `wasi:keyvalue` call costs: `get` is
//! the call itself, `increment` adds sled's flush to disk (the provider
//! acknowledges a write only once it is durable).

use std::time::Duration;

use serde::Serialize;

use crate::load::{self, LoadResult};
use crate::setup::{self, Lattice};

/// The capability rows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Capability {
    /// hello-http, same host (the baseline).
    pub baseline: LoadResult,
    /// `get`, sled provider on the component's host.
    pub get_local: LoadResult,
    /// `get`, sled provider on another host.
    pub get_remote: LoadResult,
    /// `increment` (flushed), sled provider on the component's host.
    pub local: LoadResult,
    /// `increment` (flushed), sled provider on another host.
    pub remote: LoadResult,
}

/// Starts the counters and measures them at concurrency 1.
pub(crate) async fn measure(
    lattice: &Lattice,
    data_dir: &std::path::Path,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Capability> {
    let cli = &lattice.cli;
    let run = |args: &[&str]| setup::run(cli, args);
    let image = format!("file://{}", trellis_tests::actor("kv_counter").display());
    let mut addrs = Vec::new();
    for (side, host) in [("local", lattice.a.id()), ("remote", lattice._b.id())] {
        let (kv, counter) = (format!("kv-{side}"), format!("counter-{side}"));
        let path = data_dir.join(&kv);
        run(&["config", "put", &kv, &format!("path={}", path.display())])?;
        run(&[
            "start",
            "provider",
            "builtin://keyvalue-sled",
            &kv,
            "--host",
            host,
            "--config",
            &kv,
        ])?;
        run(&[
            "start",
            "component",
            &image,
            &counter,
            "--host",
            lattice.a.id(),
            "--max",
            "16",
        ])?;
        run(&[
            "link",
            "put",
            &counter,
            &kv,
            "wasi",
            "keyvalue",
            "--interface",
            "store",
            "--interface",
            "atomics",
        ])?;
        let addr = setup::link_http(cli, &counter, trellis_tests::free_port())?;
        setup::wait_ready(addr).await?;
        addrs.push(addr);
    }
    // `get` answers 200 only for a key that exists.
    for addr in &addrs {
        load::get_once(*addr, "/incr").await?;
    }
    Ok(Capability {
        baseline: load::run(lattice.local, "/", 1, warmup, measure).await?,
        get_local: load::run(addrs[0], "/get", 1, warmup, measure).await?,
        get_remote: load::run(addrs[1], "/get", 1, warmup, measure).await?,
        local: load::run(addrs[0], "/incr", 1, warmup, measure).await?,
        remote: load::run(addrs[1], "/incr", 1, warmup, measure).await?,
    })
}
