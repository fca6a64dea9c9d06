//! `misbehave.wasm`: test helper actor that breaks on purpose.
//!
//! - `/trap`: panics, which traps the instance (`unreachable`).
//! - `/loop`: spins forever; only fuel/epoch interruption can stop it.
//! - `/oom`: allocates 1 MiB buffers without bound until allocation fails
//!   (which traps) or the host's memory limit stops it.
//! - `/ok` and anything else: `200` with body `ok`.

use core::hint::black_box;

use actor_common::{Guest, IncomingRequest, ResponseOutparam, path_and_query, respond};

struct Misbehave;

impl Guest for Misbehave {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let (path, _) = path_and_query(&request);
        match path.as_str() {
            "/trap" => panic!("misbehave: /trap requested"),
            "/loop" => spin_forever(),
            "/oom" => exhaust_memory(),
            _ => respond(response_out, 200, &[("content-type", b"text/plain")], b"ok"),
        }
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
