//! Instance reuse for component calls, opt-in per component
//! (`--reuse N`): an instance that answered a call cleanly may serve up to
//! `N` calls in all, one at a time, before it is dropped.
//!
//! Why: a fresh instance per call costs a new store, instantiation, the
//! page faults of its first touches of memory and the reset of that memory
//! when it is dropped; measured in process on the pingpong component, 27
//! µs against 2 µs for a call of an instance that already ran
//! (docs/benchmarks.md, "Instance reuse"). The price is isolation: what a
//! call leaves in the instance's memory (globals, caches, leaks) reaches
//! the next call, as in wasmtime serve's WASI 0.3 reuse. So it is off by
//! default (`N = 1`, a fresh instance per call, as wasmCloud and Spin do),
//! and an instance is never reused after a trap, a deadline, a panic, or a
//! call of a component-model async function (which may leave tasks
//! running in the store).
//!
//! The same slot holds **spares**, on by default: an instance made ahead
//! of the next call, once a call of a component with no HTTP handler has
//! ended and nothing else runs on the host (see `deferred`). The next call
//! then starts in an instance that is as fresh as one made for it (no call
//! ran in it), without waiting for the store and the instantiation
//! (docs/actors.md, "Spare instances"). A spare only ever takes the
//! component's reserved pool slot, so it never keeps a slot its
//! neighbours share.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::Store;
use wasmtime::component::Instance;

use super::instance::Limits;
use super::spares::Spares;
use super::state::StoreState;

/// How many calls one instance of a component may serve (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reuse(u32);

impl Reuse {
    /// A fresh instance for every call.
    pub const NEVER: Self = Self(1);

    /// Up to `calls` calls per instance; 0 counts as 1.
    pub fn calls(calls: u32) -> Self {
        Self(calls.max(1))
    }

    /// Whether an instance may be kept after a call at all.
    pub fn enabled(self) -> bool {
        self.0 > 1
    }
}

/// An instance kept after a call, or made ahead of one (a spare), with the
/// admission it holds while it waits for the next call.
pub struct Warm<S> {
    store: Store<StoreState>,
    instance: Instance,
    /// Calls it may still serve.
    left: u32,
    /// Made ahead, no call ran in it yet.
    spare: bool,
    /// Last: dropped after the store, so the pool slot is free only once
    /// the instance is gone.
    slot: S,
}

impl<S> Warm<S> {
    /// An instance kept after a clean call, able to serve `left` more.
    pub(super) fn new(store: Store<StoreState>, instance: Instance, left: u32, slot: S) -> Self {
        Warm {
            store,
            instance,
            left,
            spare: false,
            slot,
        }
    }

    /// Its admission, for a call that will not run in it (an HTTP request,
    /// which needs an instance of its own kind): the instance goes first.
    pub fn into_slot(self) -> S {
        let Warm { store, slot, .. } = self;
        drop(store);
        slot
    }

    /// Counts it as used if it is a spare: a call is about to run in it.
    pub fn taken(&self, spares: &Spares) {
        if self.spare {
            spares.used_one();
        }
    }
}

impl super::PreparedComponent {
    /// A spare: a new store and instance under `slot`, ready for a call
    /// that has not come yet and able to serve as many calls as `reuse`
    /// allows a fresh one. Instantiation runs the component's start code
    /// under the usual limits.
    pub async fn spare<S>(
        &self,
        slot: S,
        caps: Arc<crate::capabilities::ComponentCaps>,
        reuse: Reuse,
    ) -> wasmtime::Result<Warm<S>> {
        let mut store = self.limits.new_store(self.pre.engine(), caps);
        let instance = self.pre.instantiate_async(&mut store).await?;
        self.spares.prepared_one();
        Ok(Warm {
            store,
            instance,
            left: reuse.0,
            spare: true,
            slot,
        })
    }
}

/// What a call runs in: a new instance under a fresh admission, or a kept
/// one.
pub enum Admitted<S> {
    /// Admitted now; the call instantiates.
    Fresh(S),
    /// A kept instance and its admission.
    Warm(Warm<S>),
}

impl<S> Admitted<S> {
    /// The kept instance back, for a call that never ran.
    pub(super) fn unused(self) -> Option<Warm<S>> {
        match self {
            Admitted::Fresh(_) => None,
            Admitted::Warm(warm) => Some(warm),
        }
    }

    /// Readies the store for one call under `limits`: a new one, or the
    /// kept one with a fresh deadline; `left` is how many more calls the
    /// instance may serve after this one (0 when `reuse` keeps none).
    pub(super) fn ready(
        self,
        limits: &Limits,
        engine: &wasmtime::Engine,
        caps: std::sync::Arc<crate::capabilities::ComponentCaps>,
        reuse: Reuse,
    ) -> Ready<S> {
        match self {
            Admitted::Fresh(slot) => Ready {
                store: limits.new_store(engine, caps),
                instance: None,
                left: reuse.0 - 1,
                slot,
            },
            Admitted::Warm(warm) => {
                let mut store = warm.store;
                limits.renew(&mut store, Instant::now() + limits.max_execution);
                Ready {
                    store,
                    instance: Some(warm.instance),
                    left: if reuse.enabled() {
                        warm.left.saturating_sub(1)
                    } else {
                        0
                    },
                    slot: warm.slot,
                }
            }
        }
    }
}

/// A call's store and instance (if it has one yet), how many more calls
/// the instance may serve after this one, and the admission.
pub(super) struct Ready<S> {
    pub(super) store: Store<StoreState>,
    pub(super) instance: Option<Instance>,
    pub(super) left: u32,
    pub(super) slot: S,
}
