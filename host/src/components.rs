//! Components scaled on this host: their prepared code, their concurrency
//! bound and their NATS subscription.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use trellis_metrics::Histogram;
use trellis_protocol::ComponentId;
use trellis_protocol::call::{CallRequest, CallResponse};
use trellis_protocol::inventory::{Annotations, ComponentDescription, InvocationStats};
use trellis_protocol::invocation::{
    ErrorKind, HttpRequest, HttpResponse, InvocationError, InvocationReply,
};
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::trace::{self, TraceParent};

use crate::calls::LocalTargets;
use crate::capabilities::ComponentCaps;
use crate::runtime::{Admitted, PoolMember, PoolSlot, PreparedComponent, Reuse, Spares, Warm};
use crate::{deferred, spans};

/// One scaled component.
pub struct RunningComponent {
    /// Its id, fixed for its life: kept outside the description's lock
    /// because every invocation names it (shared, for the task-local of
    /// [`spans::within`]).
    id: Arc<ComponentId>,
    caps: Arc<ComponentCaps>,
    description: RwLock<ComponentDescription>,
    /// Its code, and a generation that changes with the code or the
    /// concurrency bound: a kept instance of another generation is dropped.
    code: RwLock<(PreparedComponent, u64)>,
    permits: RwLock<Arc<Semaphore>>,
    /// At most one instance kept between calls, when the component opts in
    /// to reuse (see `runtime::warm`), with its generation.
    warm: Mutex<Option<(u64, Warm<Slots>)>>,
    /// Signalled when an instance is kept: calls waiting for admission
    /// may be waiting for the very permit and slot it holds.
    kept: Notify,
    /// Its share of the host's instance pool (see `runtime::pool`).
    pool: PoolMember,
    /// The host's spare instances (see `runtime::warm`), and the count of
    /// its invocations running, which every invocation takes part in.
    spares: Arc<Spares>,
    rpc_task: RwLock<Option<JoinHandle<()>>>,
    stats: Counters,
}

/// Invocation counters of the component's current version.
#[derive(Default)]
struct Counters {
    invocations: AtomicU64,
    failures: AtomicU64,
    /// How long HTTP requests took, admission included.
    http: Histogram,
    /// How long calls of other exports took, admission included.
    calls: Histogram,
    /// Invocations started and not yet answered.
    in_flight: AtomicU64,
    /// Whether invocations are timed into the histograms.
    timed: bool,
}

/// Counts one invocation in flight until dropped (a caller that stops
/// waiting drops it too).
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn start(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Counters {
    /// The clock reading an invocation starts with, when timed.
    fn started(&self) -> Option<std::time::Instant> {
        self.timed.then(std::time::Instant::now)
    }

    /// Adds the time since `started` to `histogram`, when timed.
    fn finished(histogram: &Histogram, started: Option<std::time::Instant>) {
        if let Some(started) = started {
            histogram.observe(started.elapsed());
        }
    }

    fn record(&self, succeeded: bool) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        if !succeeded {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> InvocationStats {
        InvocationStats {
            invocations: self.invocations.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    /// A new version starts with clean counts.
    fn reset(&self) {
        self.invocations.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        self.http.reset();
        self.calls.reset();
    }
}

impl Drop for RunningComponent {
    fn drop(&mut self) {
        if let Some(task) = self
            .rpc_task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl RunningComponent {
    /// Wraps prepared code with its description; `timed` keeps latency
    /// histograms of its invocations.
    pub fn new(
        description: ComponentDescription,
        code: PreparedComponent,
        caps: Arc<ComponentCaps>,
        timed: bool,
    ) -> Self {
        Self {
            id: Arc::new(description.id.clone()),
            caps,
            pool: code.pool().member(),
            spares: code.spares().clone(),
            permits: RwLock::new(Arc::new(Semaphore::new(description.max as usize))),
            description: RwLock::new(description),
            code: RwLock::new((code, 0)),
            warm: Mutex::new(None),
            kept: Notify::new(),
            rpc_task: RwLock::new(None),
            stats: Counters {
                timed,
                ..Counters::default()
            },
        }
    }

    /// A snapshot of its description, with its current counts.
    pub fn description(&self) -> ComponentDescription {
        let mut description = self
            .description
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        description.stats = self.stats.snapshot();
        description
    }

    /// Its latency histograms: HTTP requests, then calls of other exports.
    pub fn durations(&self) -> [(&'static str, &Histogram); 2] {
        [("http", &self.stats.http), ("call", &self.stats.calls)]
    }

    /// Invocations started and not yet answered.
    pub fn in_flight(&self) -> u64 {
        self.stats.in_flight.load(Ordering::Relaxed)
    }

    /// Function types of its custom interfaces (`component.types`), or
    /// why they cannot be listed.
    pub fn types(&self) -> Result<trellis_protocol::signature::ComponentTypes, String> {
        // Cloned out (cheap) so the lock is not held while the types are written.
        let (code, _) = self.current();
        code.types()
    }

    /// The secrets it was started with (references), for the host's record.
    pub fn secret_refs(&self) -> Vec<trellis_protocol::secret::SecretRef> {
        self.caps.secrets.refs()
    }

    /// Replaces the secrets it may read (see `ComponentSecrets::set_refs`).
    pub fn set_secret_refs(&self, refs: Vec<trellis_protocol::secret::SecretRef>) {
        self.caps.secrets.set_refs(refs);
    }

    /// Changes the concurrency bound. Calls in flight keep their permits
    /// from the old bound; new calls use the new one.
    pub fn set_max(&self, max: u32) {
        *self.permits.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(Semaphore::new(max as usize));
        // A kept instance holds a permit of the old bound.
        self.next_generation(None);
        self.description
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .max = max;
    }

    /// Changes how many calls one instance may serve; the kept instance,
    /// if any, goes.
    pub fn set_reuse(&self, reuse: u32) {
        self.description
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .reuse = reuse;
        self.next_generation(None);
    }

    /// Replaces the annotations (wadm re-marks a component a new app
    /// version took over); a change restarts the counts.
    pub fn set_annotations(&self, annotations: Annotations) {
        let mut description = self
            .description
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if description.annotations != annotations {
            description.annotations = annotations;
            self.stats.reset();
        }
    }

    /// Swaps in new code (component update).
    pub fn replace_code(
        &self,
        code: PreparedComponent,
        image: String,
        digest: String,
        (exports, imports): (Vec<String>, Vec<String>),
    ) {
        self.next_generation(Some(code));
        let mut description = self
            .description
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        description.image = image;
        description.digest = digest;
        description.exports = exports;
        description.imports = imports;
        self.stats.reset();
    }

    /// Remembers the NATS subscription task, aborted when this is dropped.
    pub fn set_rpc_task(&self, task: JoinHandle<()>) {
        *self
            .rpc_task
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(task);
    }

    /// Runs one HTTP request within `budget` (admitted as `run` says); a
    /// component without an HTTP handler answers not found. Every call
    /// counts in the component's stats, a 5xx as a failure.
    ///
    /// The invocation is a span under `trace` (the caller's context); the
    /// component reads the span's context as the request's `traceparent`.
    pub async fn invoke_http(
        self: &Arc<Self>,
        mut request: HttpRequest,
        budget: Duration,
        trace: Option<TraceParent>,
    ) -> InvocationReply<HttpResponse> {
        let started = self.stats.started();
        let _in_flight = InFlight::start(&self.stats.in_flight);
        let mut span = self.span("invoke http", trace);
        request.set_header(trace::HEADER, span.context().to_string());
        let run = self.run(budget, |code, admitted, caps| async move {
            let http = code.http().ok_or_else(|| {
                InvocationError::new(
                    ErrorKind::NotFound,
                    format!(
                        "the component has no HTTP handler (it exports {}); link the HTTP \
                             server to a component that exports wasi:http/incoming-handler",
                        code.interfaces().describe()
                    ),
                )
            })?;
            http.handle(request, admitted, caps).await
        });
        let run = spans::within(span.context(), Arc::clone(&self.id), run);
        let reply = deferred::outermost(self.spares.running(), run).await;
        match &reply {
            Ok(response) => {
                span.set_i64("http.response.status_code", i64::from(response.status));
                if response.status >= 500 {
                    span.fail("server error");
                }
            }
            Err(e) => span.fail(e.message.clone()),
        }
        self.stats
            .record(matches!(&reply, Ok(response) if response.status < 500));
        Counters::finished(&self.stats.http, started);
        reply
    }

    /// Calls an exported function within `budget`, as
    /// [`Self::invoke_http`] runs a request (in the instance kept from an
    /// earlier call, if the component opts in to reuse); an error the
    /// component caused (a trap, the deadline, busy) counts as a failure.
    pub async fn invoke_call(
        self: &Arc<Self>,
        interface: &InterfaceRef,
        function: &WitName,
        request: CallRequest,
        budget: Duration,
        trace: Option<TraceParent>,
    ) -> InvocationReply<CallResponse> {
        let started = self.stats.started();
        let _in_flight = InFlight::start(&self.stats.in_flight);
        let mut span = self.span("invoke call", trace);
        if span.is_recording() {
            span.set("rpc.method", format!("{interface}.{function}"));
        }
        let call = self.call(interface, function, request, budget);
        let call = spans::within(span.context(), Arc::clone(&self.id), call);
        let reply = deferred::outermost(self.spares.running(), call).await;
        if let Err(e) = &reply {
            span.fail(e.message.clone());
        }
        Counters::finished(&self.stats.calls, started);
        // A call refused for the caller's mistake (no such function, wrong
        // arguments) says nothing about this version of the component.
        let callers_fault = matches!(
            &reply,
            Err(e) if matches!(e.kind, ErrorKind::BadRequest | ErrorKind::NotFound)
        );
        self.stats.record(reply.is_ok() || callers_fault);
        reply
    }

    /// The call itself: admitted (or in the kept instance), within
    /// `budget`; a clean call's instance is kept if reuse allows it, and
    /// otherwise a spare is made for the next call.
    async fn call(
        self: &Arc<Self>,
        interface: &InterfaceRef,
        function: &WitName,
        request: CallRequest,
        budget: Duration,
    ) -> InvocationReply<CallResponse> {
        let deadline = tokio::time::Instant::now() + budget;
        let (code, generation) = self.current();
        let reuse = self.reuse();
        let id = &*self.id;
        let admitted = self.admit_or_take_kept(id, generation, deadline).await?;
        let call = code.call(
            interface,
            function,
            request,
            admitted,
            self.caps.clone(),
            reuse,
        );
        let (reply, warm) = guarded(id, deadline, call).await?;
        match warm {
            Some(warm) => self.keep_warm(generation, warm),
            None => self.make_spare(generation, code),
        }
        reply
    }

    /// Has the next call's instance made once this invocation has its
    /// reply (see `runtime::warm`, spares, and `deferred`), if the
    /// component wants spares.
    fn make_spare(self: &Arc<Self>, generation: u64, code: PreparedComponent) {
        if code.wants_spares() {
            let this = Arc::clone(self);
            deferred::defer(async move { this.spare(generation, code).await });
        }
    }

    /// Makes a spare if the component's reserved pool slot is idle: then
    /// no call of it runs, none is kept and no other spare is being made,
    /// which all hold that slot. Taken when the job runs, not when it is
    /// deferred: a later call in the same request may need the permit
    /// (and the reuse setting is read then, off the request's path).
    async fn spare(self: Arc<Self>, generation: u64, code: PreparedComponent) {
        // Looked at again now: under load, another request has started by
        // the time this runs, and its instance comes first.
        if self.spares.running().load(Ordering::Relaxed) > 0 {
            return;
        }
        let Some(pooled) = self.pool.try_idle_reserved() else {
            return;
        };
        let Ok(permit) = self.permits().try_acquire_owned() else {
            return;
        };
        let made = code.spare((permit, pooled), self.caps.clone(), self.reuse());
        match spans::within(TraceParent::new_root(), Arc::clone(&self.id), made).await {
            Ok(spare) => self.keep_warm(generation, spare),
            // The next call makes its own instance and reports why that
            // fails, to its caller.
            Err(e) => tracing::debug!(component = %self.id, "no spare instance: {e:#}"),
        }
    }

    /// The span of one invocation of this component, under `trace`.
    fn span(&self, name: &'static str, trace: Option<TraceParent>) -> trellis_telemetry::Span {
        let mut span = trellis_telemetry::start(name, trellis_telemetry::Kind::Server, trace);
        if span.is_recording() {
            span.set("trellis.component", self.id.to_string());
        }
        span
    }

    /// Runs `guest` within `budget`: in the kept instance's admission, or
    /// waiting for one of the component's `max` slots and then for room in
    /// the host's instance pool (busy when either stays full), then for the
    /// guest's answer (timeout); a spare is made for the next one after.
    async fn run<T, F, Fut>(self: &Arc<Self>, budget: Duration, guest: F) -> InvocationReply<T>
    where
        F: FnOnce(PreparedComponent, Admitted<Slots>, Arc<ComponentCaps>) -> Fut,
        Fut: Future<Output = InvocationReply<T>>,
    {
        let deadline = tokio::time::Instant::now() + budget;
        let id = &*self.id;
        let (code, generation) = self.current();
        // A kept instance (reused or spare) holds a permit, with `--max 1`
        // the only one: the request takes its admission, and runs in it
        // only if it is a spare (see `PreparedHttp::handle`).
        let admitted = self.admit_or_take_kept(id, generation, deadline).await?;
        // The slots go with the guest: a caller that stops waiting does not
        // free them while the instance still runs.
        let reply = guarded(
            id,
            deadline,
            guest(code.clone(), admitted, self.caps.clone()),
        )
        .await?;
        self.make_spare(generation, code);
        reply
    }

    /// How many calls one instance may serve, as last set.
    fn reuse(&self) -> Reuse {
        Reuse::calls(
            self.description
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .reuse,
        )
    }

    /// The kept instance if there is one, else a fresh admission; while
    /// the call waits for that, an instance kept in the meantime is taken
    /// instead. It holds a permit, and with `--max 1` the only one: a call
    /// that only waited for a permit would wait out its deadline.
    async fn admit_or_take_kept(
        &self,
        id: &ComponentId,
        generation: u64,
        deadline: tokio::time::Instant,
    ) -> Result<Admitted<Slots>, InvocationError> {
        // Pinned once: the call keeps its place in the permit queue while
        // it looks at kept instances.
        let mut admit = std::pin::pin!(self.admit(id, deadline));
        loop {
            // Registered before the look, so an instance kept in between
            // still wakes this call.
            let mut kept = std::pin::pin!(self.kept.notified());
            kept.as_mut().enable();
            if let Some(warm) = self.take_warm(generation) {
                warm.taken(&self.spares);
                return Ok(Admitted::Warm(warm));
            }
            tokio::select! {
                slots = &mut admit => return Ok(Admitted::Fresh(slots?)),
                () = kept => {}
            }
        }
    }

    /// One of the component's `max` permits, then room in the host's
    /// instance pool, each waited for until `deadline` (busy after it).
    async fn admit(
        &self,
        id: &ComponentId,
        deadline: tokio::time::Instant,
    ) -> Result<Slots, InvocationError> {
        let permit = match tokio::time::timeout_at(deadline, self.permits().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(InvocationError::new(
                    ErrorKind::Busy,
                    format!("all instances of {id} are busy"),
                ));
            }
        };
        let pooled = self.pool.admit(deadline).await.map_err(|full| {
            InvocationError::new(
                ErrorKind::Busy,
                format!("{id} is busy: {full}; other components keep their share"),
            )
        })?;
        Ok((permit, pooled))
    }

    /// The semaphore of its current `max` (a cheap clone: the lock is not
    /// held while a call waits for a permit).
    fn permits(&self) -> Arc<Semaphore> {
        self.permits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Its code and that code's generation (cheap clones).
    fn current(&self) -> (PreparedComponent, u64) {
        self.code
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Starts a new generation (with new code, if given): the kept
    /// instance, if any, is dropped, and one of the old generation that a
    /// call still running would keep is refused.
    fn next_generation(&self, code: Option<PreparedComponent>) {
        let mut current = self.code.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(code) = code {
            current.0 = code;
        }
        current.1 += 1;
        drop(current);
        let kept = self
            .warm
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(kept);
    }

    /// The kept instance, if it is of `generation`.
    fn take_warm(&self, generation: u64) -> Option<Warm<Slots>> {
        let kept = self
            .warm
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match kept {
            Some((kept_generation, warm)) if kept_generation == generation => Some(warm),
            _ => None,
        }
    }

    /// Keeps `warm` for the next call, unless one is kept already, its
    /// generation is past, or the component has no reserved pool slot (a
    /// kept instance must not hold a slot other components share).
    fn keep_warm(&self, generation: u64, warm: Warm<Slots>) {
        // The generation is read under the lock `next_generation` takes
        // after changing it: an instance of a past generation either sees
        // the new one here or is taken and dropped there.
        let mut kept = self.warm.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.code.read().unwrap_or_else(PoisonError::into_inner).1;
        if generation != current || !self.pool.reserved() {
            return;
        }
        if kept.is_none() {
            *kept = Some((generation, warm));
            drop(kept);
            self.kept.notify_waiters();
        }
    }
}

/// Runs `guest` until `deadline`; past it, the timeout names component
/// `id`. (What the runtime logs meanwhile names it through
/// `spans::Running`.)
async fn guarded<T>(
    id: &ComponentId,
    deadline: tokio::time::Instant,
    guest: impl Future<Output = T>,
) -> Result<T, InvocationError> {
    tokio::time::timeout_at(deadline, guest).await.map_err(|_| {
        InvocationError::new(ErrorKind::Timeout, format!("{id} did not answer in time"))
    })
}

/// What admits one call: one of the component's permits and a slot in the
/// host's instance pool.
type Slots = (OwnedSemaphorePermit, PoolSlot);

/// The components of this host, by id.
#[derive(Default)]
pub struct Components {
    by_id: RwLock<HashMap<ComponentId, Arc<RunningComponent>>>,
}

impl Components {
    /// The running component with `id`.
    pub fn get(&self, id: &ComponentId) -> Option<Arc<RunningComponent>> {
        self.by_id
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Adds a component (the caller checked it is not running).
    pub fn insert(&self, component: Arc<RunningComponent>) {
        let id = ComponentId::clone(&component.id);
        self.by_id
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, component);
    }

    /// Removes a component; its subscription ends when the last in-flight
    /// call lets go of it.
    pub fn remove(&self, id: &ComponentId) -> Option<Arc<RunningComponent>> {
        self.by_id
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
    }

    /// Descriptions of all components, sorted by id.
    pub fn descriptions(&self) -> Vec<ComponentDescription> {
        self.all().iter().map(|c| c.description()).collect()
    }

    /// Every running component, sorted by id.
    pub fn all(&self) -> Vec<Arc<RunningComponent>> {
        let by_id = self.by_id.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = by_id.iter().collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all.into_iter().map(|(_, c)| c.clone()).collect()
    }

    /// Removes every component (host shutdown).
    pub fn clear(&self) {
        self.by_id
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl LocalTargets for Components {
    fn call_local<'a>(
        &'a self,
        target: &ComponentId,
        interface: &'a InterfaceRef,
        function: &'a WitName,
        request: CallRequest,
        budget: Duration,
        trace: Option<TraceParent>,
    ) -> Result<futures::future::BoxFuture<'a, InvocationReply<CallResponse>>, CallRequest> {
        use futures::FutureExt;
        match self.get(target) {
            Some(component) => Ok(async move {
                component
                    .invoke_call(interface, function, request, budget, trace)
                    .await
            }
            .boxed()),
            None => Err(request),
        }
    }
}
