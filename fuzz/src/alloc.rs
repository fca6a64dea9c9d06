//! An allocator that treats one oversized allocation as a fuzz failure.
//!
//! Inputs are at most tens of KiB, so a single allocation of
//! [`ALLOCATION_LIMIT`] or more can only come from trusting a length or
//! count written in the input: the bug class of `Vec::with_capacity(len)`.
//! Such a request would abort or exhaust memory on a real host; here it
//! aborts at once, naming the target and saving the input, before the
//! allocation is attempted.
//!
//! Only the fuzzing thread is armed (a thread-local flag), only while a
//! target runs. Binaries opt in with
//! `#[global_allocator] static A: LimitAlloc = LimitAlloc;`.

#![allow(
    unsafe_code,
    reason = "a global allocator is unsafe by contract: it forwards to the system \
              allocator unchanged and only adds the size check"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::io::Write;

/// Largest single allocation a target may make while fuzzed.
pub const ALLOCATION_LIMIT: usize = 16 << 20;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static TARGET: Cell<&'static str> = const { Cell::new("") };
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The system allocator plus the per-allocation limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitAlloc;

// SAFETY: every call is forwarded to `System` with the same arguments; the
// extra check only reads thread-locals that need no allocation.
unsafe impl GlobalAlloc for LimitAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn check(size: usize) {
    if size < ALLOCATION_LIMIT || !ARMED.with(Cell::get) {
        return;
    }
    // Disarm first: reporting allocates.
    ARMED.with(|a| a.set(false));
    let target = TARGET.with(Cell::get);
    let saved = INPUT.with(|input| save_failure(target, &input.borrow()));
    let _ = writeln!(
        std::io::stderr(),
        "trellis-fuzz: FAILED target {target}: an allocation of {size} bytes (limit \
         {ALLOCATION_LIMIT}) from a small input; input saved to {saved}"
    );
    std::process::abort();
}

/// Writes a failing input under the system temp dir; returns where.
pub fn save_failure(target: &str, input: &[u8]) -> String {
    let dir = std::env::temp_dir().join("trellis-fuzz-failures");
    let path = dir.join(format!("{target}-{:016x}.bin", fnv(input)));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not saved: {e})"),
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs `f` on `input` with the limit armed on this thread.
pub fn armed<R>(target: &'static str, input: &[u8], f: impl FnOnce() -> R) -> R {
    INPUT.with(|saved| {
        let mut saved = saved.borrow_mut();
        saved.clear();
        saved.extend_from_slice(input);
    });
    TARGET.with(|t| t.set(target));
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    out
}

/// Disarms this thread (after a panic unwound out of [`armed`]).
pub fn disarm() {
    ARMED.with(|a| a.set(false));
}
