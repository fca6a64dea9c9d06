//! Delivering messages to a component's `handler`: from core NATS (at
//! most once) or from a durable JetStream consumer shared by every host
//! running the provider (at least once: acknowledged only after the
//! handler returned `ok`, delivered again on `err`, a trap or a timeout).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use futures::StreamExt;
use tokio::sync::Semaphore;
use trellis_protocol::call::{CallArgs, CallRequest};
use trellis_protocol::context::CallContext;
use trellis_protocol::messaging::{
    BrokerMessage, handle_message, handle_message_args, handle_message_result, handler_interface,
};
use trellis_protocol::{ComponentId, LinkName};
use trellis_provider_sdk::Invoker;

use crate::config::HandlerConfig;

/// Bound on one handler call on core NATS (where no ack wait applies).
const CORE_HANDLER_TIMEOUT: Duration = Duration::from_secs(30);

/// Who handles a link's messages.
#[derive(Clone)]
pub struct Handler {
    /// The provider (the caller).
    pub provider: ComponentId,
    /// The component.
    pub target: ComponentId,
    /// The link's name.
    pub link_name: LinkName,
    /// How components are called.
    pub invoker: Arc<dyn Invoker>,
}

impl Handler {
    /// Calls `handle-message` once; `Err` with the reason when it was not
    /// handled.
    async fn handle(&self, msg: BrokerMessage, budget: Duration) -> Result<(), String> {
        let request = CallRequest {
            args: CallArgs::Values(handle_message_args(msg)),
            wave: false,
        };
        let ctx = CallContext::new(Some(self.provider.clone()), self.link_name.clone(), budget);
        let response = self
            .invoker
            .invoke_call(
                self.target.clone(),
                handler_interface(),
                handle_message(),
                request,
                ctx,
            )
            .await
            .map_err(|e| e.message)?;
        handle_message_result(&response.results)
    }
}

/// Receives on core NATS until aborted: each message handled once by one
/// subscriber of the queue group, or lost if the handler fails.
pub async fn core(
    client: async_nats::Client,
    config: HandlerConfig,
    handler: Handler,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let mut subscriptions = Vec::new();
    for subject in &config.subscriptions {
        let sub = match &config.queue_group {
            Some(group) => client.queue_subscribe(subject.clone(), group.clone()).await,
            None => client.subscribe(subject.clone()).await,
        }
        .map_err(|e| format!("cannot subscribe to {subject}: {e}"))?;
        subscriptions.push(sub);
    }
    // The subscriptions are registered with the server before the link is
    // reported applied.
    client
        .flush()
        .await
        .map_err(|e| format!("NATS did not confirm the subscriptions: {e}"))?;
    let mut messages = futures::stream::select_all(subscriptions);
    let permits = Arc::new(Semaphore::new(config.max_in_flight));
    Ok(tokio::spawn(async move {
        while let Some(msg) = messages.next().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let subject = msg.subject.to_string();
                let message = BrokerMessage {
                    subject: subject.clone(),
                    body: msg.payload.to_vec(),
                    reply_to: msg.reply.map(|r| r.to_string()),
                };
                if let Err(e) = handler.handle(message, CORE_HANDLER_TIMEOUT).await {
                    tracing::warn!(component = %handler.target, %subject, "message not handled (core NATS: not delivered again): {e}");
                }
                drop(permit);
            });
        }
    }))
}

/// Consumes stream `name` until aborted, through the durable consumer of
/// this link (the same on every host, so hosts share the messages).
pub async fn stream(
    js: jetstream::Context,
    name: &str,
    durable: &str,
    config: HandlerConfig,
    handler: Handler,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let stream = js
        .get_or_create_stream(stream::Config {
            name: name.to_owned(),
            subjects: config.subscriptions.clone(),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot open or create stream {name}: {e}"))?;
    let filter_subjects = if config.subscriptions.len() == 1 {
        Vec::new()
    } else {
        config.subscriptions.clone()
    };
    let consumer = stream
        .get_or_create_consumer(
            durable,
            pull::Config {
                durable_name: Some(durable.to_owned()),
                filter_subject: match config.subscriptions.as_slice() {
                    [one] => one.clone(),
                    _ => String::new(),
                },
                filter_subjects,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: config.ack_wait,
                max_deliver: config.max_deliver,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("cannot create consumer {durable} on stream {name}: {e}"))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(config.max_in_flight)
        .messages()
        .await
        .map_err(|e| format!("cannot pull from stream {name}: {e}"))?;
    let permits = Arc::new(Semaphore::new(config.max_in_flight));
    // The handler must finish before JetStream would deliver the message
    // elsewhere.
    let budget = config.ack_wait;
    Ok(tokio::spawn(async move {
        while let Some(next) = messages.next().await {
            let msg = match next {
                Ok(msg) => msg,
                Err(e) => {
                    tracing::warn!(component = %handler.target, %e, "pulling from the stream failed; going on");
                    continue;
                }
            };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                // A stream message's reply subject is JetStream's ack
                // subject, not the publisher's: the handler gets none.
                let message = BrokerMessage {
                    subject: msg.subject.to_string(),
                    body: msg.payload.to_vec(),
                    reply_to: None,
                };
                let ack = match handler.handle(message, budget).await {
                    Ok(()) => AckKind::Ack,
                    Err(e) => {
                        tracing::warn!(component = %handler.target, subject = %msg.subject, "message not handled; JetStream delivers it again: {e}");
                        AckKind::Nak(Some(Duration::from_secs(1)))
                    }
                };
                if let Err(e) = msg.ack_with(ack).await {
                    tracing::warn!(component = %handler.target, %e, "could not acknowledge a stream message");
                }
                drop(permit);
            });
        }
    }))
}
