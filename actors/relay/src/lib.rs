//! `relay.wasm`: a middle hop of an actor mesh (world
//! `trellis:examples/relay-actor@0.1.0` in the repo's `wit/` root). It exports
//! `trellis:examples/relay@0.1.0` and implements every function by calling
//! the interfaces it imports, which the host binds through links to another
//! component (e.g. `pingpong.wasm`):
//!
//! - imports `example:pong/pingpong` and `trellis:examples/shapes@0.1.0`;
//! - `ping-through()`: `"relayed "` followed by what `pingpong.ping()`
//!   answered (`"relayed pong"` when linked to `pingpong.wasm`);
//! - `echo-through(data)`: `shapes.echo-bytes(data)`, returned as is;
//! - `checksum-through(data)`: `shapes.checksum(data)`;
//! - `divide-through(a, b)`: `shapes.divide(a, b)`, `ok` and `err` returned
//!   as is;
//! - `translate-through(p, dx, dy)`: `shapes.translate(p, dx, dy)`.
//!
//! Beyond those it imports only what Rust's standard library for
//! `wasm32-wasip2` needs (`wasi:cli`, `wasi:io`, ...). A trap in the linked
//! component (or a missing link) surfaces as a trap of the calling function.

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        // Relative to this crate's Cargo.toml: actors/relay -> <repo>/wit.
        path: "../../wit",
        world: "trellis:examples/relay-actor@0.1.0",
        // Generate the imported interfaces here rather than mapping them
        // onto some other crate's types.
        generate_all,
    });
}

use bindings::example::pong::pingpong;
use bindings::exports::trellis::examples::relay;
use bindings::trellis::examples::shapes::{self, Point};

struct Relay;

impl relay::Guest for Relay {
    fn ping_through() -> String {
        format!("relayed {}", pingpong::ping())
    }

    fn echo_through(data: Vec<u8>) -> Vec<u8> {
        shapes::echo_bytes(&data)
    }

    fn checksum_through(data: Vec<u8>) -> u64 {
        shapes::checksum(&data)
    }

    fn divide_through(a: i32, b: i32) -> Result<i32, String> {
        shapes::divide(a, b)
    }

    fn translate_through(p: Point, dx: i32, dy: i32) -> Point {
        shapes::translate(p, dx, dy)
    }
}

bindings::export!(Relay with_types_in bindings);
