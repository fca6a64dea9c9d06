//! `builtin://messaging-nats`: `wasmcloud:messaging@0.2.0` on NATS.
//!
//! Two kinds of link name it:
//! - **handler** links, from the provider to a component (`trellis link
//!   put PROVIDER COMPONENT wasmcloud messaging --interface handler
//!   --source-config CONFIG`): the provider subscribes to the config's
//!   `subscriptions` and calls the component's `handle-message` for each
//!   message, local first, on any host running it. Core NATS delivers at
//!   most once (one subscriber of the queue group per message); with
//!   `stream=NAME` a durable JetStream consumer delivers at least once.
//! - **consumer** links, from a component to the provider: the host hands
//!   the component's `publish` and `request` calls to [`Provider::messaging`].
//!
//! Messages travel on the lattice's NATS connection unless the link gives
//! `cluster_uris` (and credentials) of the app's own NATS; on the
//! lattice's connection the lattice's own subjects are out of reach.
//! docs/providers/messaging-nats.md has every key.
//!
//! - [`config`]: the link config.
//! - [`deliver`]: core NATS and JetStream delivery to a handler.

pub mod config;
pub mod deliver;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use trellis_lattice::Lattice;
use trellis_protocol::control::ConfigValues;
use trellis_protocol::link::Link;
use trellis_protocol::messaging::{BrokerMessage, MessagingReply, MessagingRequest, check_subject};
use trellis_protocol::{ComponentId, LinkName};
use trellis_provider_sdk::{
    Health, Invoker, LinkContext, Provider, ProviderContext, ProviderError,
};

use crate::config::Connection;
use crate::deliver::Handler;

/// The image name hosts know this provider by.
pub const BUILTIN_NAME: &str = "messaging-nats";

/// Bound on connecting to an app's own NATS.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest `request` wait a component may ask for.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

struct Started {
    id: ComponentId,
    config: ConfigValues,
    invoker: Arc<dyn Invoker>,
    lattice: Lattice,
}

/// A task that stops when dropped.
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The connection a link's messages use.
#[derive(Clone)]
struct Client {
    nats: async_nats::Client,
    /// Whether it is the lattice's own (whose subjects are refused).
    lattice: bool,
}

/// The NATS messaging provider.
#[derive(Default)]
pub struct NatsMessagingProvider {
    started: Mutex<Option<Arc<Started>>>,
    /// Delivery tasks of handler links, by (component, link name).
    handlers: Mutex<HashMap<(ComponentId, LinkName), Task>>,
    /// Connections of consumer links, by (component, link name).
    consumers: Mutex<HashMap<(ComponentId, LinkName), Client>>,
}

impl NatsMessagingProvider {
    /// A provider not yet started.
    pub fn new() -> Self {
        Self::default()
    }

    fn started(&self) -> Result<Arc<Started>, ProviderError> {
        self.started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| ProviderError::Unavailable("messaging-nats is not started".into()))
    }

    /// The client of `source`'s consumer link: its own NATS, or the
    /// lattice's. The first link found for the component wins (a component
    /// rarely has two).
    fn consumer_client(&self, source: &ComponentId) -> Option<Client> {
        let consumers = self
            .consumers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        consumers
            .iter()
            .find(|((component, _), _)| component == source)
            .map(|(_, client)| client.clone())
    }

    async fn publish(&self, client: &Client, msg: BrokerMessage) -> MessagingReply {
        check_outgoing(client, &msg.subject)?;
        let result = match msg.reply_to {
            Some(reply) => {
                check_outgoing(client, &reply)?;
                client
                    .nats
                    .publish_with_reply(msg.subject.clone(), reply, msg.body.into())
                    .await
            }
            None => {
                client
                    .nats
                    .publish(msg.subject.clone(), msg.body.into())
                    .await
            }
        };
        result.map_err(|e| format!("publish to {} failed: {e}", msg.subject))?;
        Ok(None)
    }

    async fn request(
        &self,
        client: &Client,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> MessagingReply {
        check_outgoing(client, &subject)?;
        let wait = Duration::from_millis(u64::from(timeout_ms)).min(MAX_REQUEST_TIMEOUT);
        let request = async_nats::Request::new()
            .payload(body.into())
            .timeout(Some(wait.max(Duration::from_millis(1))));
        let reply = client
            .nats
            .send_request(subject.clone(), request)
            .await
            .map_err(|e| match e.kind() {
                async_nats::RequestErrorKind::NoResponders => {
                    format!("no one answers requests on {subject}")
                }
                async_nats::RequestErrorKind::TimedOut => {
                    format!("no answer on {subject} within {wait:?}")
                }
                async_nats::RequestErrorKind::Other => format!("request on {subject} failed: {e}"),
            })?;
        Ok(Some(BrokerMessage {
            subject: reply.subject.to_string(),
            body: reply.payload.to_vec(),
            reply_to: reply.reply.map(|r| r.to_string()),
        }))
    }
}

/// A subject a component publishes to (or names as reply-to): valid, and
/// on the lattice's connection not one of the lattice's own.
fn check_outgoing(client: &Client, subject: &str) -> Result<(), String> {
    check_subject(subject, false)?;
    if client.lattice {
        trellis_protocol::messaging::lattice_safe(subject, false)?;
    }
    Ok(())
}

/// Connects to the NATS a link names.
async fn connect(started: &Started, connection: &Connection) -> Result<Client, ProviderError> {
    match connection {
        Connection::Lattice => Ok(Client {
            nats: started.lattice.nats().clone(),
            lattice: true,
        }),
        Connection::Own { uris, credentials } => {
            let mut options = async_nats::ConnectOptions::new()
                .name("trellis-messaging-nats")
                .connection_timeout(CONNECT_TIMEOUT);
            if let Some((jwt, seed)) = credentials {
                let key = Arc::new(nkeys::KeyPair::from_seed(seed).map_err(|e| {
                    ProviderError::Config(format!("client_seed is not an nkey seed: {e}"))
                })?);
                options = options.jwt(jwt.clone(), move |nonce| {
                    let key = key.clone();
                    async move { key.sign(&nonce).map_err(async_nats::AuthError::new) }
                });
            }
            let servers: Vec<&str> = uris.split(',').map(str::trim).collect();
            let nats = tokio::time::timeout(CONNECT_TIMEOUT * 2, options.connect(servers))
                .await
                .map_err(|_| ProviderError::Unavailable(format!("connecting to {uris} timed out")))?
                .map_err(|e| {
                    ProviderError::Unavailable(format!("cannot connect to {uris}: {e}"))
                })?;
            Ok(Client {
                nats,
                lattice: false,
            })
        }
    }
}

/// A name that is the same on every host for one link: the default queue
/// group and the durable consumer name.
fn link_group(provider: &ComponentId, link: &Link) -> String {
    let raw = format!("trellis-{provider}-{}-{}", link.target_id, link.name);
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Provider for NatsMessagingProvider {
    fn start(&self, ctx: ProviderContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        *self.started.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(Started {
            id: ctx.provider_id.clone(),
            config: ctx.config.clone(),
            invoker: ctx.invoker.clone(),
            lattice: ctx.connection.clone(),
        }));
        futures::future::ready(Ok(())).boxed()
    }

    fn link_put(&self, link: LinkContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        async move {
            let started = self.started()?;
            let mut config = started.config.clone();
            config.extend(link.target_config);
            config.extend(link.source_config);
            let link = link.link;
            let key_of = |component: &ComponentId| (component.clone(), link.name.clone());
            if link.source_id == started.id {
                // Provider -> component: deliver messages to its handler.
                let group = link_group(&started.id, &link);
                let handler_config =
                    config::handler(&config, &group).map_err(ProviderError::Config)?;
                let client = connect(&started, &handler_config.connection).await?;
                let handler = Handler {
                    provider: started.id.clone(),
                    target: link.target_id.clone(),
                    link_name: link.name.clone(),
                    invoker: started.invoker.clone(),
                };
                let task = match handler_config.stream.clone() {
                    Some(stream) => {
                        let js = if client.lattice {
                            started.lattice.jetstream().clone()
                        } else {
                            async_nats::jetstream::new(client.nats.clone())
                        };
                        deliver::stream(js, &stream, &group, handler_config, handler).await
                    }
                    None => deliver::core(client.nats, handler_config, handler).await,
                }
                .map_err(ProviderError::Unavailable)?;
                self.handlers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key_of(&link.target_id), Task(task));
            } else {
                // Component -> provider: its publish and request calls.
                let connection = config::connection(&config).map_err(ProviderError::Config)?;
                let client = connect(&started, &connection).await?;
                self.consumers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key_of(&link.source_id), client);
            }
            Ok(())
        }
        .boxed()
    }

    fn link_del(&self, link: Link) -> BoxFuture<'_, Result<(), ProviderError>> {
        self.handlers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(link.target_id.clone(), link.name.clone()));
        self.consumers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(link.source_id, link.name));
        futures::future::ready(Ok(())).boxed()
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        let health = match self.started() {
            Ok(_) => Health::Healthy,
            Err(e) => Health::Unhealthy(e.to_string()),
        };
        futures::future::ready(health).boxed()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.handlers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.consumers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        futures::future::ready(()).boxed()
    }

    fn messaging(
        &self,
        source: Option<ComponentId>,
        request: MessagingRequest,
    ) -> BoxFuture<'_, MessagingReply> {
        async move {
            let source = source.ok_or("a messaging call must come from a component")?;
            // Only components linked to this provider send through it,
            // whichever host they call from.
            let client = self.consumer_client(&source).ok_or_else(|| {
                format!(
                    "{source} has no consumer link to this messaging provider (or it is not \
                     applied here yet): trellis link put {source} PROVIDER wasmcloud messaging \
                     --interface consumer"
                )
            })?;
            match request {
                MessagingRequest::Publish(msg) => self.publish(&client, msg).await,
                MessagingRequest::Request {
                    subject,
                    body,
                    timeout_ms,
                } => self.request(&client, subject, body, timeout_ms).await,
            }
        }
        .boxed()
    }
}
