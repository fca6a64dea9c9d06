//! What every guest call runs under, whatever it calls (an HTTP handler or
//! any exported function): a fresh store with the component's limits, run
//! in the task that waits for it, and the admission slot released only once
//! that store is gone.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::CatchUnwind;

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
        // Read from the store, not captured: a kept instance (`warm`) gets
        // a new deadline for each call.
        store.epoch_deadline_callback(|store| {
            if Instant::now() >= store.data().deadline {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        self.renew(&mut store, deadline);
        store
    }

    /// Readies a kept `store` for one more call, with the whole
    /// `max_execution` from now.
    pub(super) fn renew_now(&self, store: &mut Store<StoreState>) {
        self.renew(store, Instant::now() + self.max_execution);
    }

    /// Readies `store` for one call that must end by `deadline`.
    fn renew(&self, store: &mut Store<StoreState>, deadline: Instant) {
        store.data_mut().deadline = deadline;
        // wasmtime charges a call that lifts values out of the guest by the
        // host memory they take (a `Val` per list element); the default
        // (128 MiB) stops a `list<u8>` at 4 Mi elements.
        let fuel = self
            .max_call_elements
            .saturating_mul(std::mem::size_of::<wasmtime::component::Val>());
        store.set_hostcall_fuel(fuel.max(128 << 20));
        store.set_epoch_deadline(1);
    }
}

/// How a guest's future ended: its own result, or a panic inside the
/// runtime (which fails this request alone).
pub(super) type Ended<T> = Result<T, Box<dyn std::any::Any + Send>>;

/// A guest's future, run in the task that waits for what it produces (a
/// response head, a body) rather than in a task of its own: a task per
/// request cost a wake-up of another worker thread (docs/benchmarks.md,
/// "Calls in the caller's task"). It holds the call's admission slot:
/// fields drop in declaration order, so whether the guest finished or its
/// caller stopped waiting, its store is gone before the slot is released.
pub(super) struct Alongside<F: Future, S> {
    running: Option<Pin<Box<CatchUnwind<AssertUnwindSafe<F>>>>>,
    ended: Option<Ended<F::Output>>,
    slot: S,
}

impl<F: Future, S> Alongside<F, S> {
    /// Starts nothing yet: the guest runs while [`Self::during`] or
    /// [`Self::end`] are awaited.
    pub(super) fn new(guest: F, slot: S) -> Self {
        Self {
            running: Some(Box::pin(AssertUnwindSafe(guest).catch_unwind())),
            ended: None,
            slot,
        }
    }

    /// Polls the guest unless it has ended; its future (and store) is
    /// dropped as soon as it ends, which also closes what it was sending.
    fn poll_guest(&mut self, cx: &mut Context<'_>) {
        if let Some(guest) = &mut self.running
            && let Poll::Ready(ended) = guest.as_mut().poll(cx)
        {
            self.running = None;
            self.ended = Some(ended);
        }
    }

    /// Waits for `other` while the guest runs.
    pub(super) async fn during<T>(&mut self, other: impl Future<Output = T>) -> T {
        let mut other = std::pin::pin!(other);
        std::future::poll_fn(|cx| {
            self.poll_guest(cx);
            other.as_mut().poll(cx)
        })
        .await
    }

    /// Runs the guest to its end.
    pub(super) async fn end(self) -> Ended<F::Output> {
        self.end_keeping().await.0
    }

    /// Runs the guest to its end and hands its admission back with what
    /// it produced (its future, and so its store unless it gave it back,
    /// is gone by then).
    pub(super) async fn end_keeping(mut self) -> (Ended<F::Output>, S) {
        let ended = std::future::poll_fn(|cx| {
            self.poll_guest(cx);
            match self.ended.take() {
                Some(ended) => Poll::Ready(ended),
                None => Poll::Pending,
            }
        })
        .await;
        (ended, self.slot)
    }
}
