//! wasmCloud's own components, built from their published source
//! (scripts/build-examples.sh), run unmodified. Their keyvalue-counter
//! chooses its link at run time through `wasmcloud:bus/lattice@2.0.0`
//! (`set-link-name`, default `default`, or the request's `link_name=`).

use anyhow::Context;
use trellis_tests::{http_get, target_dir, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

/// Starts keyvalue-sled provider `id` on host b with its data in `dir`.
fn sled(lattice: &Lattice, id: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let config = format!("{id}-data");
    let path = format!("path={}", dir.display());
    lattice.cli.run(&["config", "put", &config, &path])?.ok()?;
    let argv = ["start", "provider", "builtin://keyvalue-sled", id];
    let mut argv = argv.to_vec();
    argv.extend_from_slice(&["--host", lattice.b.id(), "--config", &config]);
    lattice.cli.run(&argv)?.ok()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmclouds_keyvalue_counter_counts_and_picks_its_link_by_name() -> anyhow::Result<()> {
    let wasm = target_dir()
        .join("examples")
        .join("wasmcloud_keyvalue_counter.wasm");
    if !wasm.is_file() {
        let skipped = target_dir()
            .join("examples")
            .join("SKIPPED-wasmcloud-keyvalue-counter.txt");
        let reason = std::fs::read_to_string(skipped).with_context(|| {
            format!(
                "{} is missing and nothing says why: run scripts/build-examples.sh",
                wasm.display()
            )
        })?;
        eprintln!("\n!!! WASMCLOUD EXAMPLE SKIPPED: keyvalue-counter: {reason}!!!\n");
        return Ok(());
    }
    let lattice = Lattice::start("wcbus", &[])?;
    let (store, cache) = (tempfile::tempdir()?, tempfile::tempdir()?);
    sled(&lattice, "kv", store.path())?;
    sled(&lattice, "cache", cache.path())?;
    let image = format!("file://{}", wasm.display());
    let start = [
        "start",
        "component",
        &image,
        "counter",
        "--host",
        lattice.b.id(),
    ];
    lattice.cli.run(&start)?.ok()?;
    let kv_link = |target: &str, name: &str| -> anyhow::Result<()> {
        let argv = [
            "link",
            "put",
            "counter",
            target,
            "wasi",
            "keyvalue",
            "--interface",
            "store",
            "--interface",
            "atomics",
            "--name",
            name,
        ];
        lattice.cli.run(&argv)?.ok()?;
        Ok(())
    };
    kv_link("kv", "default")?;
    let url = lattice.route("counter")?;

    // Its default link: counts in `kv`.
    let (_, _, first) = wait_for_http(&format!("{url}/visits"), 200, ROUTE_READY).await?;
    assert_eq!(String::from_utf8_lossy(&first), "Counter /visits: 1\n");
    let (_, _, second) = http_get(&format!("{url}/visits")).await?;
    assert_eq!(String::from_utf8_lossy(&second), "Counter /visits: 2\n");

    // A link name it has no link for: set-link-name says so, and the
    // component answers with an error.
    let (status, _, body) = http_get(&format!("{url}/visits?link_name=cache")).await?;
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));

    // With a link named `cache` to the other provider, that request counts
    // there, and the default link's count is untouched.
    kv_link("cache", "cache")?;
    let (status, _, body) = http_get(&format!("{url}/visits?link_name=cache")).await?;
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        (200, "Counter /visits: 1\n")
    );
    let (_, _, third) = http_get(&format!("{url}/visits")).await?;
    assert_eq!(String::from_utf8_lossy(&third), "Counter /visits: 3\n");
    Ok(())
}
