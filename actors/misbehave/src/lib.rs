//! `misbehave.wasm`: test helper actor that breaks on purpose.
//!
//! - `/trap`: panics, which traps the instance (`unreachable`).
//! - `/loop`: spins forever; only fuel/epoch interruption can stop it.
//! - `/oom`: allocates 1 MiB buffers without bound until allocation fails
//!   (which traps) or the host's memory limit stops it.
//! - `/sleep?ms=N`: waits `N` ms (a WASI clock wait: no CPU), then `200`
//!   with body `slept`. Holds an instance slot without burning a core.
//! - `/cut?bytes=N&then=loop|oom|trap|finish`: sends `200` with a
//!   `content-length` of twice `N`, writes `N` bytes of the `/big` pattern,
//!   then spins, eats memory, panics or finishes the (short) body and
//!   returns: a response cut short mid-body.
//! - `/served`: `200` with the number of requests this instance has
//!   served, this one included: `1` in an instance no request ran in
//!   before (how tests tell a fresh or spare instance from a reused one).
//! - `/ok` and anything else: `200` with body `ok`.

use core::hint::black_box;
use core::sync::atomic::{AtomicU32, Ordering};

use actor_common::{
    Guest, IncomingRequest, MAX_CHUNK, ResponseOutparam, path_and_query, query_param, respond,
    start_response,
};

struct Misbehave;

/// Requests this instance has served.
static SERVED: AtomicU32 = AtomicU32::new(0);

impl Guest for Misbehave {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
        let (path, query) = path_and_query(&request);
        match path.as_str() {
            "/served" => {
                let body = served.to_string();
                respond(response_out, 200, &[("content-type", b"text/plain")], body.as_bytes());
            }
            "/trap" => panic!("misbehave: /trap requested"),
            "/loop" => spin_forever(),
            "/oom" => exhaust_memory(),
            "/sleep" => {
                let ms = query_param(query.as_deref(), "ms").and_then(|v| v.parse().ok());
                std::thread::sleep(std::time::Duration::from_millis(ms.unwrap_or(1000)));
                respond(response_out, 200, &[("content-type", b"text/plain")], b"slept");
            }
            "/cut" => {
                let bytes = query_param(query.as_deref(), "bytes").and_then(|v| v.parse().ok());
                let then = query_param(query.as_deref(), "then").unwrap_or("loop").to_owned();
                cut_short(response_out, bytes.unwrap_or(1 << 20), &then);
            }
            _ => respond(response_out, 200, &[("content-type", b"text/plain")], b"ok"),
        }
    }
}

/// Promises `2 * bytes`, writes `bytes` (byte `i` is `i % 251`), then fails
/// the way `then` says before finishing the body.
fn cut_short(out: ResponseOutparam, bytes: u64, then: &str) {
    let len = bytes.saturating_mul(2).to_string();
    let mut writer = start_response(
        out,
        200,
        &[
            ("content-type", b"application/octet-stream"),
            ("content-length", len.as_bytes()),
        ],
    );
    let mut chunk = vec![0u8; MAX_CHUNK];
    let mut offset = 0u64;
    while offset < bytes {
        let n = (bytes - offset).min(MAX_CHUNK as u64) as usize;
        for (i, byte) in chunk[..n].iter_mut().enumerate() {
            *byte = ((offset + i as u64) % 251) as u8;
        }
        if writer.write_all(&chunk[..n]).is_err() {
            return;
        }
        offset += n as u64;
    }
    match then {
        "oom" => exhaust_memory(),
        "trap" => panic!("misbehave: /cut then trap"),
        // `finish` refuses a body shorter than its content-length (and
        // aborts it); the guest then returns normally.
        "finish" => drop(writer.finish()),
        _ => spin_forever(),
    }
}

/// A loop the optimizer cannot delete: the counter goes through `black_box`.
fn spin_forever() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Keeps every 1 MiB buffer alive (and touched) so none can be elided.
fn exhaust_memory() -> ! {
    const MIB: usize = 1024 * 1024;
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let buf = vec![0xA5u8; MIB];
        hoard.push(black_box(buf));
        black_box(&mut hoard);
    }
}

actor_common::export_http_actor!(Misbehave);
