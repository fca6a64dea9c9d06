//! `wasi:blobstore` through builtin://blobstore-fs (real files) and
//! builtin://blobstore-nats (JetStream object stores): every operation,
//! names that would leave their container refused, and a 1 GiB object
//! written and read back through a component while the host's memory
//! stays flat.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use trellis_tests::{http_get, http_request, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

/// `blob_store.wasm` as `blobby` on host a, linked to a blobstore
/// provider on a: blobstore-fs with its root at `root`, or blobstore-nats
/// without one; returns the component's URL.
async fn blobby(lattice: &Lattice, root: Option<&std::path::Path>) -> anyhow::Result<String> {
    let cli = &lattice.cli;
    let mut start = vec!["start", "provider"];
    let config;
    match root {
        Some(root) => {
            config = format!("root={}", root.display());
            cli.run(&["config", "put", "blob-root", &config])?.ok()?;
            start.extend_from_slice(&["builtin://blobstore-fs", "blobs", "--config", "blob-root"]);
        }
        None => start.extend_from_slice(&["builtin://blobstore-nats", "blobs"]),
    }
    start.extend_from_slice(&["--host", lattice.a.id()]);
    cli.run(&start)?.ok()?;
    lattice.start_component("blob_store", "blobby", &lattice.a, 4)?;
    cli.run(&[
        "link",
        "put",
        "blobby",
        "blobs",
        "wasi",
        "blobstore",
        "--interface",
        "blobstore",
        "--interface",
        "container",
        "--interface",
        "types",
    ])?
    .ok()?;
    let url = lattice.route("blobby")?;
    wait_for_http(&format!("{url}/c/none"), 404, ROUTE_READY).await?;
    Ok(url)
}

async fn call(method: &str, url: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
    let (status, _, body) = http_request(method, url, &[], body.to_vec()).await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Every operation through the component; `root` is blobstore-fs' root,
/// checked on disk too.
async fn exercise(url: &str, root: Option<&std::path::Path>) -> anyhow::Result<()> {
    let on_disk = |path: &str| root.map(|r| r.join(path));

    assert_eq!(
        call("PUT", &format!("{url}/c/photos"), b"").await?,
        (201, "created".into())
    );
    let (status, _) = call("PUT", &format!("{url}/c/photos"), b"").await?;
    assert_eq!(status, 500, "creating an existing container fails");
    assert_eq!(
        call("PUT", &format!("{url}/o/photos/2026/cat.txt"), b"meow").await?,
        (201, "4".into())
    );
    // On disk, where the container's folder says.
    if let Some(file) = on_disk("photos/2026/cat.txt") {
        assert_eq!(std::fs::read(&file)?, b"meow");
    }
    assert_eq!(
        call("GET", &format!("{url}/o/photos/2026/cat.txt"), b"").await?,
        (200, "meow".into())
    );
    assert_eq!(
        call("GET", &format!("{url}/info/photos/2026/cat.txt"), b"").await?,
        (200, "2026/cat.txt photos 4".into())
    );
    assert_eq!(
        call(
            "POST",
            &format!("{url}/copy?from=photos/2026/cat.txt&to=photos/copy.txt"),
            b""
        )
        .await?
        .0,
        204
    );
    assert_eq!(
        call(
            "POST",
            &format!("{url}/move?from=photos/copy.txt&to=photos/moved.txt"),
            b""
        )
        .await?
        .0,
        204
    );
    assert_eq!(
        call("GET", &format!("{url}/list/photos"), b"").await?,
        (200, "2026/cat.txt\nmoved.txt".into())
    );
    if let Some(file) = on_disk("photos/moved.txt") {
        assert_eq!(std::fs::read(&file)?, b"meow");
    }
    assert_eq!(
        call("DELETE", &format!("{url}/o/photos/moved.txt"), b"")
            .await?
            .0,
        204
    );
    assert_eq!(
        call("GET", &format!("{url}/has/photos/moved.txt"), b"").await?,
        (404, "no".into())
    );
    assert!(on_disk("photos/moved.txt").is_none_or(|f| !f.exists()));

    // Names that would leave the container (or the root) are refused
    // before any path is built; nothing appears outside.
    for (method, path, refused) in [
        ("PUT", "/o/photos/..%2F..%2Fescaped.txt", 500),
        ("PUT", "/o/photos/a%2F..%2F..%2Fescaped.txt", 500),
        // (the component answers a failed object-info with 404)
        ("GET", "/o/photos/..%2Fphotos%2F2026%2Fcat.txt", 404),
    ] {
        let (status, body) = call(method, &format!("{url}{path}"), b"x").await?;
        assert_eq!(status, refused, "{path}: {body}");
        assert!(body.contains("may not contain `..`"), "{path}: {body}");
    }
    // (`/c/..` itself the HTTP client would normalise away.)
    let (status, body) = call("PUT", &format!("{url}/c/x%2F..%2F.."), b"").await?;
    assert!(
        status >= 400 && body.contains("may not be `.` or `..` or contain `/`"),
        "{body}"
    );
    if let Some(root) = root {
        assert!(!root.join("escaped.txt").exists());
        assert!(!root.parent().unwrap_or(root).join("escaped.txt").exists());
    }

    assert_eq!(
        call("POST", &format!("{url}/clear/photos"), b"").await?.0,
        204
    );
    assert_eq!(
        call("GET", &format!("{url}/list/photos"), b"").await?,
        (200, String::new())
    );
    assert_eq!(
        call("DELETE", &format!("{url}/c/photos"), b"").await?.0,
        204
    );
    assert!(on_disk("photos").is_none_or(|f| !f.exists()));
    let (status, _, _) = http_get(&format!("{url}/c/photos")).await?;
    assert_eq!(status, 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn blobstore_fs_stores_lists_copies_moves_and_deletes_real_files() -> anyhow::Result<()> {
    let lattice = Lattice::start("blobfs", &[])?;
    let root = tempfile::tempdir()?;
    let url = blobby(&lattice, Some(root.path())).await?;
    exercise(&url, Some(root.path())).await
}

#[tokio::test(flavor = "multi_thread")]
async fn blobstore_nats_keeps_the_same_contract_in_jetstream() -> anyhow::Result<()> {
    let lattice = Lattice::start("blobnats", &[])?;
    let url = blobby(&lattice, None).await?;
    exercise(&url, None).await?;
    // A container is a JetStream object store bucket under the blob_
    // prefix, out of the lattice's own buckets' way.
    let (status, _) = call("PUT", &format!("{url}/c/kept"), b"").await?;
    assert_eq!(status, 201);
    let js = async_nats::jetstream::new(lattice.nats_client().await?);
    assert!(js.get_object_store("blob_kept").await.is_ok());
    Ok(())
}

/// Resident memory of a process in bytes (`VmRSS`).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The checksum `blob_store.wasm`'s `/sum` computes over `n` bytes of its
/// `/gen` pattern (byte i = i % 251, weighted by i % 7 + 1), by periods.
fn expected_sum(n: u64) -> u64 {
    let weight = |i: u64| (i % 251) * (i % 7 + 1);
    let period = 251 * 7;
    let per_period: u64 = (0..period).map(weight).sum();
    let whole = n / period;
    let rest: u64 = (whole * period..n).map(weight).sum();
    per_period.wrapping_mul(whole).wrapping_add(rest)
}

/// Writes and reads back a 1 GiB object through the component, watching
/// host a's resident memory.
async fn one_gib(prefix: &str, root: Option<&std::path::Path>) -> anyhow::Result<()> {
    const SIZE: u64 = 1 << 30;
    let lattice = Lattice::start_with(prefix, &["--max-execution-ms", "300000"], &[])?;
    let url = blobby(&lattice, root).await?;
    assert_eq!(call("PUT", &format!("{url}/c/big"), b"").await?.0, 201);
    // Warm the instance path once, then watch host a's resident memory.
    assert_eq!(
        call("POST", &format!("{url}/gen/big/warm?size=1000"), b"")
            .await?
            .0,
        201
    );
    let pid = lattice.a.pid();
    let before = rss(pid);
    let peak = Arc::new(AtomicU64::new(before));
    let watching = peak.clone();
    let watcher = tokio::spawn(async move {
        loop {
            watching.fetch_max(rss(pid), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let written = call("POST", &format!("{url}/gen/big/huge?size={SIZE}"), b"").await?;
    assert_eq!(written, (201, SIZE.to_string()));
    if let Some(root) = root {
        assert_eq!(std::fs::metadata(root.join("big/huge"))?.len(), SIZE);
    }
    let after_write = peak.load(Ordering::Relaxed).saturating_sub(before);
    let sum = call("GET", &format!("{url}/sum/big/huge"), b"").await?;
    watcher.abort();
    assert_eq!(sum, (200, format!("{SIZE} {}", expected_sum(SIZE))));
    let grew = peak.load(Ordering::Relaxed).saturating_sub(before);
    eprintln!(
        "{prefix}: host RSS grew by {} MiB while 1 GiB went through ({} MiB by the write)",
        grew >> 20,
        after_write >> 20
    );
    assert!(grew < 64 << 20, "host RSS grew by {} MiB", grew >> 20);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_1_gib_object_streams_through_blobstore_fs_with_flat_host_memory() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    one_gib("blobbigfs", Some(root.path())).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_1_gib_object_streams_through_blobstore_nats_with_flat_host_memory() -> anyhow::Result<()>
{
    one_gib("blobbignats", None).await
}
