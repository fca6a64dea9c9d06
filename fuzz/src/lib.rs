//! Fuzzing every decoder a lattice peer can reach, on stable Rust.
//!
//! Each [`Target`] takes raw bytes the way a host, wadm or the CLI takes
//! them off the wire (an rpc payload, a control request body, a wadm API
//! body, a component's claims, a manifest) and asserts what the hardening
//! rules promise: decoding never panics, never makes an allocation larger
//! than [`alloc::ALLOCATION_LIMIT`] (checked by [`alloc::LimitAlloc`]),
//! and what decodes re-encodes to the same value.
//!
//! Inputs come from a byte mutator ([`mutate`]) seeded with valid messages
//! of each decoder. `cargo test -p trellis-fuzz` runs a bounded smoke of
//! every target; `scripts/fuzz.sh SECONDS` runs each for that long
//! (docs/fuzzing.md).

pub mod alloc;
pub mod mutate;
pub mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mutate::Rng;

/// One decoder under test.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Short name (`--target NAME`).
    pub name: &'static str,
    /// What it feeds and to which decoder.
    pub about: &'static str,
    /// Valid inputs the mutator starts from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Tokens of this input language worth splicing in.
    pub dict: &'static [&'static str],
    /// Longest input tried.
    pub max_len: usize,
    /// Feeds one input; panics when a property fails.
    pub run: fn(&[u8]),
}

/// How long to fuzz one target.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    /// This many inputs.
    Cases(u64),
    /// Until this much time has passed.
    Time(Duration),
}

/// An input that made a target panic.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The panic message.
    pub message: String,
    /// Where the input was saved.
    pub saved: String,
}

/// What one run of a target did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Target name.
    pub name: &'static str,
    /// Inputs tried.
    pub inputs: u64,
    /// Distinct failures (at most [`MAX_KEPT_FAILURES`] kept).
    pub failures: Vec<Failure>,
    /// Failing inputs in all.
    pub failed: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// Failures kept per run; later ones are only counted.
pub const MAX_KEPT_FAILURES: usize = 10;

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Replaces the panic hook with one that keeps the message for the report
/// instead of printing every caught panic. Call once per process.
pub fn capture_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic".into());
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{payload}{location}"));
        }
    }));
}

/// Fuzzes `target` within `budget`, starting from `seed`.
pub fn run(target: &Target, budget: Budget, seed: u64) -> Report {
    let started = Instant::now();
    let seeds = (target.seeds)();
    let mut rng = Rng::new(seed ^ fnv(target.name.as_bytes()));
    let mut report = Report {
        name: target.name,
        inputs: 0,
        failures: Vec::new(),
        failed: 0,
        elapsed: Duration::ZERO,
    };
    let mut input = Vec::new();
    let done = |report: &Report| match budget {
        Budget::Cases(n) => report.inputs >= n,
        // Checking the clock every input would cost more than some inputs.
        Budget::Time(t) => report.inputs.is_multiple_of(64) && started.elapsed() >= t,
    };
    while !done(&report) {
        let case = report.inputs;
        if let Some(valid) = seeds.get(case as usize) {
            // First every seed as it is: they must decode.
            input.clone_from(valid);
        } else if seeds.is_empty() || rng.one_in(16) {
            input = (0..rng.below(256)).map(|_| rng.next_u64() as u8).collect();
        } else {
            // Mostly fresh mutants of a seed, sometimes stacked on the last.
            if !rng.one_in(4) {
                input.clone_from(&seeds[rng.below(seeds.len())]);
            }
            let other = &seeds[rng.below(seeds.len())];
            mutate::mutate(&mut rng, &mut input, target.dict, other, target.max_len);
        }
        report.inputs += 1;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            alloc::armed(target.name, &input, || (target.run)(&input));
        }));
        alloc::disarm();
        if outcome.is_err() {
            report.failed += 1;
            if report.failures.len() < MAX_KEPT_FAILURES {
                let message = LAST_PANIC
                    .lock()
                    .ok()
                    .and_then(|mut m| m.take())
                    .unwrap_or_else(|| "panic".into());
                if !report.failures.iter().any(|f| f.message == message) {
                    let saved = alloc::save_failure(target.name, &input);
                    report.failures.push(Failure { message, saved });
                }
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
