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
//! of the next call (or HTTP request, for a 0.2 handler when the runtime's
//! `http_spare_instances` is on: see `http`), once an invocation has ended
//! and nothing else runs on the host (see `deferred`). The next
//! one then starts in an instance that is as fresh as one made for it
//! (nothing ran in it), without waiting for the store and the instantiation
//! (docs/actors.md, "Spare instances"). A spare only ever takes the
//! component's reserved pool slot, so it never keeps a slot its
//! neighbours share.

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

    /// A spare: made ahead under `slot`, able to serve as many calls as
    /// `reuse` allows a fresh instance.
    pub(super) fn made_ahead(
        store: Store<StoreState>,
        instance: Instance,
        reuse: Reuse,
        slot: S,
    ) -> Self {
        Warm {
            store,
            instance,
            left: reuse.0,
            spare: true,
            slot,
        }
    }

    /// Its admission, for an invocation that will not run in it: the
    /// instance goes first.
    fn into_slot(self) -> S {
        let Warm { store, slot, .. } = self;
        drop(store);
        slot
    }

    /// Its store, instance and admission if it is a spare (no call ran in
    /// it); otherwise only its admission, the instance gone.
    fn into_spare(self) -> Result<(Store<StoreState>, Instance, S), S> {
        if self.spare {
            Ok((self.store, self.instance, self.slot))
        } else {
            Err(self.into_slot())
        }
    }

    /// Counts it as used if it is a spare: a call is about to run in it.
    pub fn taken(&self, spares: &Spares) {
        if self.spare {
            spares.used_one();
        }
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
    /// Its admission alone, for a request that makes its own instance.
    pub(super) fn into_slot(self) -> S {
        match self {
            Admitted::Fresh(slot) => slot,
            Admitted::Warm(warm) => warm.into_slot(),
        }
    }

    /// A spare's store, instance and admission; otherwise the admission
    /// alone (a kept instance that served calls goes).
    pub(super) fn into_spare(self) -> Result<(Store<StoreState>, Instance, S), S> {
        match self {
            Admitted::Fresh(slot) => Err(slot),
            Admitted::Warm(warm) => warm.into_spare(),
        }
    }

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
                limits.renew_now(&mut store);
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
