//! `pingpong.wasm`: an actor that exports custom WIT interfaces and no
//! HTTP handler (world `trellis:examples/pingpong@0.1.0` in the repo's
//! `wit/` root). It imports nothing of its own; only what Rust's standard
//! library for `wasm32-wasip2` needs (`wasi:cli`, `wasi:io`, ...).
//!
//! `example:pong/pingpong` (the interface of wasmCloud's composition
//! example):
//! - `ping()` returns `"pong"`.
//!
//! `trellis:examples/shapes@0.1.0`, for testing dynamic calls with every
//! kind of value:
//! - `area(s)`: `circle(r)` -> `3*r*r` (saturating at `u64::MAX`),
//!   `rect(p)` -> `|p.x * p.y|`, `empty` -> `0`.
//! - `translate(p, dx, dy)`: `(p.x + dx, p.y + dy)`, wrapping on overflow.
//! - `divide(a, b)`: `ok(a / b)` (rounded toward zero),
//!   `err("division by zero")` when `b == 0`, `err("overflow")` for
//!   `i32::MIN / -1`.
//! - `reverse(items)`: the strings in reverse order.
//! - `describe(c, p, label)`: the color's name, the set flags joined by `|`
//!   (order read, write, exec; left out if none) and the label if any,
//!   separated by single spaces, paired with the number of flags set, e.g.
//!   `("green read|write label", 2)` or `("red", 0)`.
//! - `echo-bytes(data)`: the bytes reversed.
//! - `checksum(data)`: the sum of the bytes as `u64`.
//! - `crash()`: panics with `crash requested`, so the call traps.
//! - `spin()`: loops forever (for execution-deadline tests).
//! - `served()`: how many calls of `served` this instance has answered,
//!   this one included (1 in a fresh instance; for instance-reuse tests).

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        // Relative to this crate's Cargo.toml: actors/pingpong -> <repo>/wit.
        path: "../../wit",
        world: "trellis:examples/pingpong@0.1.0",
    });
}

use bindings::exports::example::pong::pingpong;
use bindings::exports::trellis::examples::shapes::{self, Color, Perms, Point, Shape};

struct PingPong;

/// Calls of `served` in this instance.
static SERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl pingpong::Guest for PingPong {
    fn ping() -> String {
        "pong".to_string()
    }
}

impl shapes::Guest for PingPong {
    fn area(s: Shape) -> u64 {
        match s {
            Shape::Circle(r) => {
                let r = u64::from(r);
                r.saturating_mul(r).saturating_mul(3)
            }
            Shape::Rect(p) => (i64::from(p.x) * i64::from(p.y)).unsigned_abs(),
            Shape::Empty => 0,
        }
    }

    fn translate(p: Point, dx: i32, dy: i32) -> Point {
        Point {
            x: p.x.wrapping_add(dx),
            y: p.y.wrapping_add(dy),
        }
    }

    fn divide(a: i32, b: i32) -> Result<i32, String> {
        match b {
            0 => Err("division by zero".to_string()),
            _ => a.checked_div(b).ok_or_else(|| "overflow".to_string()),
        }
    }

    fn reverse(mut items: Vec<String>) -> Vec<String> {
        items.reverse();
        items
    }

    fn describe(c: Color, p: Perms, label: Option<String>) -> (String, u32) {
        let color = match c {
            Color::Red => "red",
            Color::Green => "green",
            Color::Blue => "blue",
        };
        let flags: Vec<&str> = [
            (Perms::READ, "read"),
            (Perms::WRITE, "write"),
            (Perms::EXEC, "exec"),
        ]
        .into_iter()
        .filter(|(flag, _)| p.contains(*flag))
        .map(|(_, name)| name)
        .collect();
        let mut text = color.to_string();
        if !flags.is_empty() {
            text.push(' ');
            text.push_str(&flags.join("|"));
        }
        if let Some(label) = label {
            text.push(' ');
            text.push_str(&label);
        }
        (text, flags.len() as u32)
    }

    fn echo_bytes(mut data: Vec<u8>) -> Vec<u8> {
        data.reverse();
        data
    }

    fn checksum(data: Vec<u8>) -> u64 {
        data.iter().map(|&b| u64::from(b)).sum()
    }

    fn crash() -> String {
        panic!("crash requested")
    }

    fn spin() -> u32 {
        let mut n: u32 = 0;
        loop {
            // black_box keeps the loop from being optimised away.
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn served() -> u64 {
        SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }
}

bindings::export!(PingPong with_types_in bindings);
