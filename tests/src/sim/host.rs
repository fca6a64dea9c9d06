//! One simulated host: its identity, what it runs, its host-specific
//! verbs and its heartbeat. Replies and events follow `host/src/control`.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_nats::{Message, Subscriber};
use futures::StreamExt;
use trellis_claims::KeyKind;
use trellis_lattice::Lattice;
use trellis_protocol::control::{
    Failure, InventoryRequest, LabelsRequest, PingReply, ProbeComponentRequest, ProbeReply,
    ScaleComponentRequest, StartProviderRequest, StopHostRequest, StopProviderRequest,
    UpdateComponentRequest, parse_request,
};
use trellis_protocol::event::data::{
    ComponentScaleFailed, ComponentScaled, HostStarted, HostStopped, ProviderChanged,
};
use trellis_protocol::inventory::{
    ComponentDescription, HostInventory, Labels, ProviderDescription,
};
use trellis_protocol::{ComponentId, ControlVerb, EventType, HostId, Subject, limits};

use super::wide::LatticeView;
use super::{NETWORK_TIMEOUT, Outcome, Placement, SimOptions, data, encode_reply, page_limit};

/// The version hosts report: the workspace's, as `trellis host` reports.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a started component reports it exports and imports: those of
/// `hello_http`, so inventories and heartbeats have a real host's size.
const EXPORTS: &[&str] = &["wasi:http/incoming-handler@0.2.6"];
const IMPORTS: &[&str] = &[
    "wasi:cli/environment@0.2.6",
    "wasi:cli/exit@0.2.6",
    "wasi:cli/stderr@0.2.6",
    "wasi:cli/stdin@0.2.6",
    "wasi:cli/stdout@0.2.6",
    "wasi:clocks/wall-clock@0.2.6",
    "wasi:filesystem/preopens@0.2.6",
    "wasi:filesystem/types@0.2.6",
    "wasi:http/types@0.2.6",
    "wasi:io/error@0.2.6",
    "wasi:io/streams@0.2.6",
];

#[derive(Debug, Default)]
struct State {
    labels: Labels,
    components: BTreeMap<ComponentId, ComponentDescription>,
    providers: BTreeMap<ComponentId, ProviderDescription>,
}

/// One simulated host.
pub(super) struct SimHost {
    id: HostId,
    name: String,
    lattice: Lattice,
    view: Arc<LatticeView>,
    heartbeat: Duration,
    started: Instant,
    alive: AtomicBool,
    state: Mutex<State>,
    /// When its last heartbeat went out: a bench tells from it when wadm
    /// could first notice the host is gone.
    last_beat: Mutex<Option<Instant>>,
}

impl SimHost {
    /// A host with a fresh host key, as `trellis host` without a seed file.
    pub(super) fn new(
        name: String,
        lattice: Lattice,
        view: Arc<LatticeView>,
        options: &SimOptions,
    ) -> Self {
        let key = trellis_claims::generate(KeyKind::Host);
        let id = HostId::new(key.public_key())
            .unwrap_or_else(|e| unreachable!("nkeys server keys are host ids: {e}"));
        let mut labels = options.labels.clone();
        labels.insert("os".into(), std::env::consts::OS.into());
        labels.insert("arch".into(), std::env::consts::ARCH.into());
        Self {
            id,
            name,
            lattice,
            view,
            heartbeat: options.heartbeat,
            started: Instant::now(),
            alive: AtomicBool::new(true),
            state: Mutex::new(State {
                labels,
                ..State::default()
            }),
            last_beat: Mutex::new(None),
        }
    }

    pub(super) fn id(&self) -> &HostId {
        &self.id
    }

    pub(super) fn alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// From now on the host answers no ping (its task ends separately).
    pub(super) fn die(&self) {
        self.alive.store(false, Ordering::Release);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Its host-specific control subjects.
    pub(super) async fn subscribe(&self) -> anyhow::Result<Subscriber> {
        super::subscribe(&self.lattice, super::host_pattern(&self.lattice, &self.id)).await
    }

    /// `host_started`, as a host publishes once it answers requests.
    pub(super) async fn announce(&self) {
        let labels = self.state().labels.clone();
        self.publish(
            EventType::HostStarted,
            HostStarted {
                host_id: self.id.clone(),
                name: self.name.clone(),
                labels,
                version: VERSION.into(),
            },
        )
        .await;
    }

    /// Serves its subjects and heartbeats until killed or stopped. The
    /// first heartbeat goes out at once, as the host's does; the next ones
    /// from `offset` on, every interval.
    pub(super) async fn run(
        self: Arc<Self>,
        mut sub: Subscriber,
        mut killed: tokio::sync::oneshot::Receiver<()>,
        offset: Duration,
    ) {
        self.beat().await;
        let start = tokio::time::Instant::now() + offset.max(Duration::from_millis(1));
        let mut ticker = tokio::time::interval_at(start, self.heartbeat);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut killed => break,
                msg = sub.next() => match msg {
                    Some(msg) => {
                        if self.dispatch(msg).await.is_break() {
                            break;
                        }
                    }
                    None => break,
                },
                _ = ticker.tick() => self.beat().await,
            }
        }
        self.die();
        let _ = tokio::time::timeout(NETWORK_TIMEOUT, sub.unsubscribe()).await;
    }

    async fn beat(&self) {
        let first_page = self.inventory().page(None, page_limit(&self.lattice));
        self.publish(EventType::HostHeartbeat, first_page).await;
        *self
            .last_beat
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// When its last heartbeat went out.
    pub(super) fn last_beat(&self) -> Option<Instant> {
        *self
            .last_beat
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Handles one host-specific request; `Break` when the host stops.
    async fn dispatch(&self, msg: Message) -> ControlFlow<()> {
        let Some(reply_to) = msg.reply else {
            return ControlFlow::Continue(());
        };
        let verb = match msg.subject.as_str().parse::<Subject>() {
            Ok(Subject::Control { verb, .. }) => verb,
            Ok(other) => {
                let outcome = Err(Failure::invalid(format!(
                    "`{other}` is not a control subject"
                )));
                self.answer(reply_to, outcome).await;
                return ControlFlow::Continue(());
            }
            Err(e) => {
                self.answer(reply_to, Err(Failure::invalid(e.to_string())))
                    .await;
                return ControlFlow::Continue(());
            }
        };
        let body = &msg.payload[..];
        let outcome = match verb {
            ControlVerb::HostInventory(_) => self.inventory_page(body),
            ControlVerb::HostStop(_) => {
                let outcome = stop_request(body);
                let stopping = outcome.is_ok();
                self.answer(reply_to, outcome).await;
                if stopping {
                    self.stop().await;
                    return ControlFlow::Break(());
                }
                return ControlFlow::Continue(());
            }
            ControlVerb::HostLabels(_) => self.labels(body),
            ControlVerb::ComponentScale(_) => self.scale(body).await,
            ControlVerb::ComponentUpdate(_) => self.update(body).await,
            ControlVerb::ComponentProbe(_) => self.probe(body),
            ControlVerb::ComponentCall(_) | ControlVerb::ComponentTypes(_) => Err(
                Failure::refused("this is a simulated host: it runs no wasm to call or describe"),
            ),
            ControlVerb::ProviderStart(_) => self.start_provider(body).await,
            ControlVerb::ProviderStop(_) => self.stop_provider(body).await,
            // Not host-specific: never routed here by the pattern.
            other => Err(Failure::invalid(format!(
                "`{other:?}` is not a host-specific verb"
            ))),
        };
        self.answer(reply_to, outcome).await;
        ControlFlow::Continue(())
    }

    /// Sends a reply on this host's connection.
    pub(super) async fn answer(&self, reply_to: async_nats::Subject, outcome: Outcome) {
        let max = self.lattice.nats().server_info().max_payload;
        let payload = encode_reply(outcome, max);
        if let Err(e) = self.lattice.nats().publish(reply_to, payload.into()).await {
            tracing::warn!(host = %self.name, %e, "sim host could not send a reply");
        }
    }

    async fn publish<T: serde::Serialize>(&self, event: EventType, data: T) {
        if let Err(e) = self
            .lattice
            .publish_event(event, self.id.as_str(), data)
            .await
        {
            tracing::warn!(host = %self.name, %e, %event, "sim host could not publish an event");
        }
    }

    /// A graceful stop after `host.stop`: it says so, then goes.
    async fn stop(&self) {
        self.die();
        self.publish(
            EventType::HostStopped,
            HostStopped {
                host_id: self.id.clone(),
                name: self.name.clone(),
                reason: "host.stop request".into(),
            },
        )
        .await;
    }

    /// The reply to `host.ping`.
    pub(super) fn ping(&self) -> serde_json::Value {
        let state = self.state();
        data(PingReply {
            id: self.id.clone(),
            name: self.name.clone(),
            labels: state.labels.clone(),
            uptime_seconds: self.started.elapsed().as_secs(),
            version: VERSION.into(),
            components: state.components.len(),
            providers: state.providers.len(),
            links_revision: self.view.links_revision(),
            config_revision: self.view.config_revision(),
            trusted_issuers: Vec::new(),
            allow_unsigned: true,
        })
        .unwrap_or_default()
    }

    /// The full inventory, components and providers sorted by id (pages
    /// depend on it).
    pub(super) fn inventory(&self) -> HostInventory {
        let state = self.state();
        let providers: Vec<ProviderDescription> = state.providers.values().cloned().collect();
        let link_status = self.view.link_status(state.providers.keys());
        HostInventory {
            id: self.id.clone(),
            name: self.name.clone(),
            lattice: self.lattice.name().clone(),
            labels: state.labels.clone(),
            version: VERSION.into(),
            uptime_seconds: self.started.elapsed().as_secs(),
            heartbeat_ms: u64::try_from(self.heartbeat.as_millis()).unwrap_or(u64::MAX),
            site: None,
            links_revision: self.view.links_revision(),
            config_revision: self.view.config_revision(),
            components: state.components.values().cloned().collect(),
            providers,
            next: None,
            link_status,
        }
    }

    pub(super) fn placement(&self) -> Placement {
        let state = self.state();
        Placement {
            name: self.name.clone(),
            components: state
                .components
                .values()
                .map(|c| (c.id.clone(), c.max))
                .collect(),
            providers: state.providers.keys().cloned().collect(),
        }
    }

    fn inventory_page(&self, body: &[u8]) -> Outcome {
        let request: InventoryRequest = match body {
            b"" | b"null" | b"{}" => InventoryRequest::default(),
            _ => parse_request(body)?,
        };
        let page_bytes = request.page_bytes().min(page_limit(&self.lattice));
        data(self.inventory().page(request.cursor.as_ref(), page_bytes))
    }

    fn labels(&self, body: &[u8]) -> Outcome {
        let request: LabelsRequest = parse_request(body)?;
        request.check().map_err(Failure::invalid)?;
        let mut state = self.state();
        let mut next = state.labels.clone();
        for key in &request.delete {
            next.remove(key);
        }
        next.extend(request.put);
        limits::check_labels(&next)
            .map_err(|e| Failure::invalid(format!("labels refused: {e}")))?;
        state.labels = next.clone();
        data(next)
    }

    async fn scale(&self, body: &[u8]) -> Outcome {
        let request: ScaleComponentRequest = parse_request(body)?;
        request.check_limits().map_err(|e| {
            Failure::invalid(format!(
                "component.scale of {} refused: {e}",
                request.component_id
            ))
        })?;
        let id = request.component_id.clone();
        // Decide under the lock, publish after it.
        let step = {
            let mut state = self.state();
            match state.components.get_mut(&id) {
                Some(current) => {
                    if let Some(artifact) = &request.artifact
                        && artifact.sha256.as_str() != current.digest
                    {
                        return Err(Failure::conflict(format!(
                            "component {id} already runs {} (sha256 {}) on this host; use `component.update` to change its image",
                            current.image, current.digest
                        )));
                    }
                    if request.max == 0 {
                        let gone = state.components.remove(&id);
                        Scaled::Stopped(gone)
                    } else {
                        current.max = request.max;
                        // Empty annotations mean "keep them", as on the host.
                        if !request.annotations.is_empty() {
                            current.annotations = request.annotations.clone();
                        }
                        Scaled::Rescaled(current.clone())
                    }
                }
                None if request.max == 0 => {
                    return Err(Failure::not_found(format!(
                        "component {id} is not running on this host"
                    )));
                }
                None => match &request.artifact {
                    None => Scaled::Refused(format!(
                        "no artifact given for component {id}; pass a file:// image to the CLI, which uploads it"
                    )),
                    Some(artifact) => {
                        let description = ComponentDescription {
                            id: id.clone(),
                            image: request.image.clone(),
                            digest: artifact.sha256.to_string(),
                            max: request.max,
                            reuse: 1,
                            config: request.config.clone(),
                            annotations: request.annotations.clone(),
                            stats: Default::default(),
                            exports: EXPORTS.iter().map(|s| s.to_string()).collect(),
                            imports: IMPORTS.iter().map(|s| s.to_string()).collect(),
                        };
                        state.components.insert(id.clone(), description.clone());
                        Scaled::Started(description)
                    }
                },
            }
        };
        match step {
            Scaled::Stopped(gone) => {
                if let Some(gone) = gone {
                    self.announce_component(&gone, 0, false).await;
                }
                Ok(serde_json::Value::Null)
            }
            Scaled::Rescaled(description) => {
                self.announce_component(&description, description.max, false)
                    .await;
                data(description)
            }
            Scaled::Started(description) => {
                self.announce_component(&description, description.max, true)
                    .await;
                data(description)
            }
            Scaled::Refused(error) => {
                self.publish(
                    EventType::ComponentScaleFailed,
                    ComponentScaleFailed {
                        host_id: self.id.clone(),
                        component_id: id,
                        image: request.image.clone(),
                        error: error.clone(),
                    },
                )
                .await;
                Err(Failure::refused(error))
            }
        }
    }

    async fn update(&self, body: &[u8]) -> Outcome {
        let request: UpdateComponentRequest = parse_request(body)?;
        let id = &request.component_id;
        let updated = request
            .check_limits()
            .map_err(|e| format!("component.update of {id} refused: {e}"))
            .and_then(|()| {
                let mut state = self.state();
                let running = state
                    .components
                    .get_mut(id)
                    .ok_or_else(|| format!("component {id} is not running on this host"))?;
                running.image = request.image.clone();
                running.digest = request.artifact.sha256.to_string();
                Ok(running.clone())
            });
        match updated {
            Ok(description) => {
                self.announce_component(&description, description.max, true)
                    .await;
                data(description)
            }
            Err(error) => {
                self.publish(
                    EventType::ComponentScaleFailed,
                    ComponentScaleFailed {
                        host_id: self.id.clone(),
                        component_id: id.clone(),
                        image: request
                            .image
                            .chars()
                            .take(limits::MAX_IMAGE_BYTES)
                            .collect(),
                        error: error.clone(),
                    },
                )
                .await;
                Err(Failure::refused(error))
            }
        }
    }

    /// A component it runs answers probes healthy: the sim has no guest
    /// that could fail.
    fn probe(&self, body: &[u8]) -> Outcome {
        let request: ProbeComponentRequest = parse_request(body)?;
        if !request.path.starts_with('/') {
            return Err(Failure::invalid(format!(
                "probe path `{}` must start with `/`, e.g. /healthz",
                request.path
            )));
        }
        if !self.state().components.contains_key(&request.component_id) {
            return Err(Failure::not_found(format!(
                "component {} is not running on this host",
                request.component_id
            )));
        }
        data(ProbeReply { status: 200 })
    }

    async fn announce_component(&self, c: &ComponentDescription, max: u32, started: bool) {
        self.publish(
            EventType::ComponentScaled,
            ComponentScaled {
                host_id: self.id.clone(),
                component_id: c.id.clone(),
                image: c.image.clone(),
                max,
                annotations: c.annotations.clone(),
                artifact: started.then(|| "fetched".to_owned()),
                code: started.then(|| "compiled".to_owned()),
            },
        )
        .await;
    }

    async fn start_provider(&self, body: &[u8]) -> Outcome {
        let request: StartProviderRequest = parse_request(body)?;
        request.check_limits().map_err(|e| {
            Failure::invalid(format!(
                "provider.start of {} refused: {e}",
                request.provider_id
            ))
        })?;
        let id = &request.provider_id;
        let description = {
            let mut state = self.state();
            if state.providers.contains_key(id) {
                return Err(Failure::conflict(format!(
                    "provider {id} already runs on this host"
                )));
            }
            if state.components.contains_key(id) {
                return Err(Failure::conflict(format!(
                    "{id} is a component on this host; pick another provider id"
                )));
            }
            let description = ProviderDescription {
                id: id.clone(),
                image: request.image.clone(),
                config: request.config.clone(),
                annotations: request.annotations.clone(),
                failure: None,
            };
            state.providers.insert(id.clone(), description.clone());
            description
        };
        self.publish(EventType::ProviderStarted, self.changed(&description))
            .await;
        data(description)
    }

    async fn stop_provider(&self, body: &[u8]) -> Outcome {
        let request: StopProviderRequest = parse_request(body)?;
        let id = &request.provider_id;
        let removed = self.state().providers.remove(id);
        let description = removed.ok_or_else(|| {
            Failure::not_found(format!("provider {id} is not running on this host"))
        })?;
        self.publish(EventType::ProviderStopped, self.changed(&description))
            .await;
        Ok(serde_json::Value::Null)
    }

    fn changed(&self, description: &ProviderDescription) -> ProviderChanged {
        ProviderChanged {
            host_id: self.id.clone(),
            provider_id: description.id.clone(),
            image: description.image.clone(),
            annotations: description.annotations.clone(),
            process_id: None,
            reason: None,
        }
    }
}

/// What a `component.scale` did, decided under the state lock.
enum Scaled {
    Stopped(Option<ComponentDescription>),
    Rescaled(ComponentDescription),
    Started(ComponentDescription),
    Refused(String),
}

/// `host.stop`: an empty body is a plain stop; anything else must parse.
fn stop_request(body: &[u8]) -> Outcome {
    if !body.is_empty() {
        parse_request::<StopHostRequest>(body)?;
    }
    Ok(serde_json::Value::Null)
}
