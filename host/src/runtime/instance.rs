//! What every guest call runs under, whatever it calls (an HTTP handler or
//! any exported function): a fresh store with the component's limits, and
//! the admission slot held until that store is gone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use super::state::StoreState;
use crate::capabilities::ComponentCaps;

/// What one call's guest may use.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_execution: Duration,
    pub(super) max_memory_bytes: usize,
    pub(super) max_response_bytes: usize,
    pub(super) max_call_elements: usize,
}

impl Limits {
    /// The limits of `config` that apply to one call.
    pub(super) fn of(config: &super::RuntimeConfig) -> Self {
        Self {
            max_execution: config.max_execution,
            max_memory_bytes: config.max_memory_bytes,
            max_response_bytes: config.max_response_bytes,
            max_call_elements: config.max_call_elements,
        }
    }

    /// One bound, from now, for everything a call's guest does (head,
    /// body and its return); the epoch deadline normally ends the guest
    /// well before it, and it also covers a guest that waits without
    /// spinning.
    pub(super) fn backstop(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.max_execution + Duration::from_secs(1)
    }

    /// A fresh store under these limits: the memory cap, and an epoch
    /// deadline that yields to tokio at every tick (so a spinning guest
    /// cannot starve other calls) and traps once it has passed.
    pub(super) fn new_store(&self, engine: &Engine, caps: Arc<ComponentCaps>) -> Store<StoreState> {
        let deadline = Instant::now() + self.max_execution;
        let state = StoreState::new(self.max_memory_bytes, deadline, caps);
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limits);
        // wasmtime charges a call that lifts values out of the guest by the
        // host memory they take (a `Val` per list element); the default
        // (128 MiB) stops a `list<u8>` at 4 Mi elements.
        let fuel = self
            .max_call_elements
            .saturating_mul(std::mem::size_of::<wasmtime::component::Val>());
        store.set_hostcall_fuel(fuel.max(128 << 20));
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }
}

/// A guest's store and the admission it runs under. Fields drop in
/// declaration order: the instance is back in the wasmtime pool before the
/// slot that admitted it is released.
pub(super) struct Running<S> {
    pub(super) store: Store<StoreState>,
    pub(super) _slot: S,
}
