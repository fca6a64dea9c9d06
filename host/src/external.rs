//! External provider processes. The host installs the executable from the
//! lattice's object store, runs it with its settings in the environment,
//! waits for its first healthy answer, checks its health every few seconds
//! and restarts it with back-off when it exits. Lifecycle events
//! (`provider_started`, `provider_stopped`, `provider_health`) come from
//! here, with the process id.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use trellis_lattice::Lattice;
use trellis_protocol::context::CallContext;
use trellis_protocol::control::ProviderHealthReply;
use trellis_protocol::event::data::{ProviderChanged, ProviderHealth};
use trellis_protocol::inventory::Annotations;
use trellis_protocol::keyvalue::{KvReply, KvRequest};
use trellis_protocol::link::LinkStatus;
use trellis_protocol::{ComponentId, EventType, HostId, LinkName, Subject};
use trellis_provider_sdk::external::env;
use trellis_provider_sdk::{Health, Provider, ProviderContext, ProviderError};

/// How long a new process may take to answer healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Period of health checks of a running process.
const HEALTH_PERIOD: Duration = Duration::from_secs(5);
/// Bound on one health request.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// First restart delay; doubles per quick exit up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest restart delay.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A process that ran this long resets the back-off.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How long a stopping process gets after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Bound on one key-value call forwarded to the process.
const KV_TIMEOUT: Duration = Duration::from_secs(30);

/// What the supervisor needs to know about its process.
#[derive(Clone)]
pub struct ExternalSpec {
    /// The installed executable.
    pub exe: PathBuf,
    /// The image reference (for events).
    pub image: String,
    /// Provider id.
    pub provider_id: ComponentId,
    /// Annotations (for events).
    pub annotations: Annotations,
    /// The supervising host.
    pub host_id: HostId,
    /// NATS URL handed to the process.
    pub nats_url: String,
    /// Credentials handed to the process (the host's own).
    pub auth: trellis_lattice::NatsAuth,
    /// The host's lattice connection.
    pub lattice: Lattice,
    /// The lattice's secrets key, handed on so the process can resolve its
    /// links' secrets (never logged: its `Debug` shows the key id only).
    pub secrets_key: Option<trellis_lattice::secrets::SecretsKey>,
}

/// A provider that lives in its own process. Link changes need no relay:
/// the process follows the lattice's links itself.
pub struct ExternalProvider {
    spec: ExternalSpec,
    running: Mutex<Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>>,
    seen: Arc<Mutex<Seen>>,
}

/// What the supervisor last saw of its process.
#[derive(Default)]
struct Seen {
    /// Why it does not serve (exited, unhealthy), if so.
    failure: Option<String>,
    /// How it took its links, from its last health reply.
    links: Vec<LinkStatus>,
    /// Times the process was restarted after it ended.
    restarts: u64,
}

impl Seen {
    fn set(seen: &Mutex<Seen>, failure: Option<String>, links: Vec<LinkStatus>) {
        // The failure text comes from the process's health reply and ends
        // up in every heartbeat: cut it to size.
        let failure = failure.as_deref().map(LinkStatus::bounded_error);
        let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.failure = failure;
        seen.links = links;
    }

    fn restarting(seen: &Mutex<Seen>) {
        seen.lock().unwrap_or_else(PoisonError::into_inner).restarts += 1;
    }
}

impl ExternalProvider {
    /// A provider for `spec`; [`Provider::start`] runs the process.
    pub fn new(spec: ExternalSpec) -> Self {
        Self {
            spec,
            running: Mutex::new(None),
            seen: Arc::default(),
        }
    }
}

impl Provider for ExternalProvider {
    fn start(&self, ctx: ProviderContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        async move {
            let config = serde_json::to_string(&ctx.config)
                .map_err(|e| ProviderError::Config(format!("cannot encode config: {e}")))?;
            let env = vec![
                (env::NATS_URL, self.spec.nats_url.clone()),
                (env::LATTICE, ctx.lattice.to_string()),
                (env::PROVIDER_ID, ctx.provider_id.to_string()),
                (env::HOST_ID, self.spec.host_id.to_string()),
                (env::CONFIG, config),
                (env::HOST_PIPE, "1".to_owned()),
            ];
            let mut env = env;
            env.extend(trellis_lattice::connect::auth_env::to_env(&self.spec.auth));
            if let Some((url, sampling)) = trellis_telemetry::exporting() {
                env.push((env::OTLP_ENDPOINT, url.to_owned()));
                env.push((env::TRACE_SAMPLING, sampling.to_string()));
            }
            if let Some(key) = &self.spec.secrets_key {
                env.push((env::SECRETS_KEY, key.to_text()));
            }
            let (stop_tx, stop_rx) = watch::channel(false);
            let (ready_tx, ready_rx) = oneshot::channel();
            let task = tokio::spawn(supervise(
                self.spec.clone(),
                env,
                stop_rx,
                ready_tx,
                self.seen.clone(),
            ));
            *self.running.lock().unwrap_or_else(PoisonError::into_inner) = Some((stop_tx, task));
            match ready_rx.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reason)) => Err(ProviderError::Unavailable(reason)),
                Err(_) => Err(ProviderError::Unavailable(
                    "supervisor ended before the process was ready".into(),
                )),
            }
        }
        .boxed()
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        check_health(&self.spec).boxed()
    }

    fn own_link_status(&self) -> Option<Vec<LinkStatus>> {
        Some(
            self.seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .links
                .clone(),
        )
    }

    fn failure(&self) -> Option<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failure
            .clone()
    }

    fn restarts(&self) -> u64 {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .restarts
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        async move {
            if let Some((stop, task)) = running {
                let _ = stop.send(true);
                if tokio::time::timeout(STOP_GRACE + Duration::from_secs(5), task).await.is_err() {
                    tracing::warn!(provider = %self.spec.provider_id, "supervisor did not end in time");
                }
            }
        }
        .boxed()
    }

    fn keyvalue(&self, source: Option<ComponentId>, request: KvRequest) -> BoxFuture<'_, KvReply> {
        async move {
            let ctx = CallContext::new(source, LinkName::default(), KV_TIMEOUT);
            self.spec
                .lattice
                .invoke_keyvalue(&self.spec.provider_id, &request, &ctx)
                .await
        }
        .boxed()
    }
}

async fn check_health(spec: &ExternalSpec) -> Health {
    ask_health(spec).await.0
}

/// Asks the process for its health; also returns how it took its links.
async fn ask_health(spec: &ExternalSpec) -> (Health, Vec<LinkStatus>) {
    let subject = Subject::ProviderHealth {
        lattice: spec.lattice.name().clone(),
        provider: spec.provider_id.clone(),
        host: spec.host_id.clone(),
    };
    let request = async_nats::Request::new().timeout(Some(HEALTH_TIMEOUT));
    match spec
        .lattice
        .nats()
        .send_request(subject.to_string(), request)
        .await
    {
        Ok(msg) => match serde_json::from_slice::<ProviderHealthReply>(&msg.payload) {
            Ok(ProviderHealthReply {
                healthy: true,
                links,
                ..
            }) => (Health::Healthy, links),
            Ok(ProviderHealthReply { message, links, .. }) => (
                Health::Unhealthy(message.unwrap_or_else(|| "unhealthy".into())),
                links,
            ),
            Err(e) => (
                Health::Unhealthy(format!("malformed health reply: {e}")),
                Vec::new(),
            ),
        },
        Err(e) => (
            Health::Unhealthy(format!("no health answer: {e}")),
            Vec::new(),
        ),
    }
}

async fn publish<T: serde::Serialize>(spec: &ExternalSpec, event: EventType, data: T) {
    if let Err(e) = spec
        .lattice
        .publish_event(event, spec.host_id.as_str(), data)
        .await
    {
        tracing::warn!(%e, %event, "could not publish provider event");
    }
}

fn changed(spec: &ExternalSpec, pid: Option<u32>, reason: Option<String>) -> ProviderChanged {
    ProviderChanged {
        host_id: spec.host_id.clone(),
        provider_id: spec.provider_id.clone(),
        image: spec.image.clone(),
        annotations: spec.annotations.clone(),
        process_id: pid,
        reason,
    }
}

/// How one run of the process ended.
enum Ended {
    /// It exited (or never got ready) with this reason.
    Exited(String),
    /// The host asked it to stop.
    Stopped,
}

/// Runs the process until stopped, restarting it with back-off. `ready`
/// reports the first start's outcome; a process that never gets ready the
/// first time is not restarted.
async fn supervise(
    spec: ExternalSpec,
    env: Vec<(&'static str, String)>,
    mut stop: watch::Receiver<bool>,
    ready: oneshot::Sender<Result<(), String>>,
    seen: Arc<Mutex<Seen>>,
) {
    let mut ready = Some(ready);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let began = Instant::now();
        let ended = match spawn(&spec, &env) {
            Ok(child) => run_once(&spec, child, &mut stop, &mut ready, &seen).await,
            Err(e) => Ended::Exited(format!("cannot run {}: {e}", spec.exe.display())),
        };
        let reason = match ended {
            Ended::Stopped => return,
            Ended::Exited(reason) => reason,
        };
        if let Some(first) = ready.take() {
            let _ = first.send(Err(reason));
            return;
        }
        tracing::warn!(provider = %spec.provider_id, %reason, ?backoff, "provider process ended; restarting");
        Seen::restarting(&seen);
        Seen::set(
            &seen,
            Some(format!("process {reason}; restarting in {backoff:?}")),
            Vec::new(),
        );
        if began.elapsed() >= STABLE_AFTER {
            backoff = FIRST_BACKOFF;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop_requested(&mut stop) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn spawn(spec: &ExternalSpec, env: &[(&'static str, String)]) -> std::io::Result<Child> {
    Command::new(&spec.exe)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        // A pipe never written to: when this host dies, even by SIGKILL,
        // the kernel closes it and the provider sees EOF and exits.
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
}

async fn run_once(
    spec: &ExternalSpec,
    mut child: Child,
    stop: &mut watch::Receiver<bool>,
    ready: &mut Option<oneshot::Sender<Result<(), String>>>,
    seen: &Mutex<Seen>,
) -> Ended {
    let pid = child.id();
    // Held for as long as the process runs: `Child::wait` would close it
    // first, and its end tells the provider that this host is gone.
    let _lifeline = child.stdin.take();
    // Ready means: answered a health check (it subscribes to health last).
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let (Health::Healthy, links) = ask_health(spec).await {
            Seen::set(seen, None, links);
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let reason = format!("exited with {status} before it was ready");
            publish(
                spec,
                EventType::ProviderStopped,
                changed(spec, pid, Some(reason.clone())),
            )
            .await;
            return Ended::Exited(reason);
        }
        let stopping = *stop.borrow();
        if stopping {
            return terminate(spec, child, pid).await;
        }
        if Instant::now() >= deadline {
            let _ = child.kill().await;
            return Ended::Exited(format!("not healthy within {READY_TIMEOUT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    publish(spec, EventType::ProviderStarted, changed(spec, pid, None)).await;
    tracing::info!(provider = %spec.provider_id, ?pid, "external provider running");
    if let Some(first) = ready.take() {
        let _ = first.send(Ok(()));
    }
    let mut checks = tokio::time::interval(HEALTH_PERIOD);
    checks.tick().await;
    loop {
        tokio::select! {
            status = child.wait() => {
                let reason = match status {
                    Ok(status) => format!("exited with {status}"),
                    Err(e) => format!("lost: {e}"),
                };
                publish(spec, EventType::ProviderStopped, changed(spec, pid, Some(reason.clone()))).await;
                return Ended::Exited(reason);
            }
            _ = checks.tick() => {
                let (health, links) = ask_health(spec).await;
                let (healthy, message) = match health {
                    Health::Healthy => (true, None),
                    Health::Unhealthy(why) => (false, Some(why)),
                };
                Seen::set(seen, message.clone().map(|m| format!("unhealthy: {m}")), links);
                publish(spec, EventType::ProviderHealth, ProviderHealth {
                    host_id: spec.host_id.clone(),
                    provider_id: spec.provider_id.clone(),
                    healthy,
                    message,
                }).await;
            }
            () = stop_requested(stop) => return terminate(spec, child, pid).await,
        }
    }
}

/// Resolves once a stop was requested. (The guard `wait_for` yields is not
/// `Send`, so it must not outlive this function.)
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// SIGTERM, a grace period, then SIGKILL.
async fn terminate(spec: &ExternalSpec, mut child: Child, pid: Option<u32>) -> Ended {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    publish(
        spec,
        EventType::ProviderStopped,
        changed(spec, pid, Some("stopped".into())),
    )
    .await;
    Ended::Stopped
}
