//! Locating build artefacts (the `trellis` binary, actor components) and
//! small helpers for unique names and ports.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// The workspace root directory (the parent of this crate's manifest dir).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo target directory: `$CARGO_TARGET_DIR` if set (relative paths
/// are taken relative to the workspace root), else `<workspace root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// Path to the `trellis` CLI binary: `$TRELLIS_BIN`, else
/// `<target dir>/debug/trellis`.
///
/// Panics if the binary does not exist: tests never build it themselves
/// (a nested `cargo build` would deadlock on the build lock), so
/// `scripts/test.sh` builds all binaries before running tests.
pub fn trellis_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TRELLIS_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "TRELLIS_BIN={} does not exist: unset it or run `cargo build -p trellis-cli`",
            bin.display()
        );
        return bin;
    }
    let mut candidates = vec![target_dir().join("debug").join("trellis")];
    // The test executable lives in <target>/debug/deps/: its grandparent is
    // the profile dir even when the target dir was configured elsewhere
    // (e.g. in .cargo/config.toml).
    if let Some(profile_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
    {
        candidates.push(profile_dir.join("trellis"));
    }
    for candidate in &candidates {
        if candidate.is_file() {
            return candidate.clone();
        }
    }
    panic!(
        "trellis binary not built: run `cargo build -p trellis-cli` (scripts/test.sh does this); looked at: {}",
        display_list(&candidates)
    );
}

/// Directory holding the compiled actor components: `$TRELLIS_ACTOR_DIR`,
/// else `<workspace root>/target/wasm`.
pub fn actor_dir() -> PathBuf {
    match std::env::var_os("TRELLIS_ACTOR_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target").join("wasm"),
    }
}

/// Path to a compiled actor component, `<actor dir>/<name>.wasm`
/// (names: `hello_http`, `http_echo`, `misbehave`).
///
/// Panics if the file does not exist.
pub fn actor(name: &str) -> PathBuf {
    let path = actor_dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "actor not built: run scripts/build-actors.sh (missing {})",
        path.display()
    );
    path
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0,
/// read the port, release it), and never handed out before in this
/// process. Racy by nature against other processes; callers that can
/// should retry on "address in use".
///
/// Why the memory: the kernel may return a port released by an earlier
/// call. Two tests running side by side could then both configure a
/// server on it, and the loser's requests would be answered by the
/// winner's server (a hello-http elsewhere answers just the same).
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    // Bounded: the ephemeral range has thousands of ports; a test binary
    // asks for a few hundred at most.
    for _ in 0..1000 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("local_addr of listener")
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
    panic!(
        "no fresh port after 1000 binds; {} handed out",
        handed_out.len()
    );
}

/// A lattice name unique to this process and call: `prefix` (with any
/// character outside `[A-Za-z0-9_-]` replaced by `_`) followed by
/// `-<pid>-<counter>-<random>`. The result matches `[A-Za-z0-9_-]+`.
pub fn unique_lattice(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        clean.push_str("lattice");
    }
    format!(
        "{clean}-{:x}-{n}-{:04x}",
        std::process::id(),
        (nanos >> 8) & 0xffff
    )
}

/// Last `n` lines of `text`, for error messages.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

/// Reads a log file as (lossy) UTF-8; empty if it cannot be read.
pub(crate) fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn display_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An executable named by `env_var`, else `name` on PATH, else in
/// /usr/bin; `None` when none of them is a file.
pub(crate) fn system_bin(env_var: &str, name: &str) -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os(env_var) {
        return Some(PathBuf::from(bin));
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .chain(std::iter::once(PathBuf::from("/usr/bin").join(name)))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_ports_are_never_handed_out_twice() {
        let ports: BTreeSet<u16> = (0..200).map(|_| free_port()).collect();
        assert_eq!(ports.len(), 200);
    }

    use super::*;

    #[test]
    fn unique_lattice_is_valid_and_unique() {
        let a = unique_lattice("my test.lattice");
        let b = unique_lattice("my test.lattice");
        assert_ne!(a, b);
        for name in [&a, &b] {
            assert!(name.starts_with("my_test_lattice-"), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "{name}"
            );
        }
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
