//! `wasmcloud:messaging/consumer`: each call goes to the messaging
//! provider the component's link for the interface names, in process when
//! it runs on this host, over NATS otherwise (the `handler` direction is
//! the provider's: it calls the component's export).

use std::time::{Duration, Instant};

use trellis_protocol::context::CallContext;
use trellis_protocol::messaging::{BrokerMessage, MessagingReply, MessagingRequest};
use trellis_protocol::{ComponentId, LinkName};

use super::bindings::wasmcloud::messaging::{consumer, types};
use crate::capabilities::CapabilityView;
use crate::capabilities::route::{ProviderRouter, Target};
use crate::counters::Reached;
use crate::spans;

/// Longest `consumer.request` wait a guest may ask for.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Bound on a `publish` (the provider answers once the broker has it).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

impl ProviderRouter {
    /// Sends messaging `request` from `source` through its link named
    /// `link_name`.
    pub async fn messaging(
        &self,
        source: &ComponentId,
        link_name: &LinkName,
        request: MessagingRequest,
    ) -> MessagingReply {
        let (interface, _) = request.operation();
        let how = || {
            format!(
                "link it to a messaging provider: trellis link put {source} PROVIDER \
                 wasmcloud messaging --interface consumer"
            )
        };
        let target = self.target(source, link_name, &interface, how)?;
        let started = Instant::now();
        let mut span = spans::provider_call("messaging", source, link_name, request.operation());
        let target = match target {
            Target::Local(local) => {
                let reply = local
                    .provider
                    .messaging(Some(source.clone()), request)
                    .await;
                spans::finish(&mut span, false, reply.as_ref().err());
                self.counted
                    .record(Reached::Messaging, false, reply.is_ok(), started);
                return reply;
            }
            Target::Remote(target) => target,
        };
        let budget = match &request {
            MessagingRequest::Publish(_) => PUBLISH_TIMEOUT,
            MessagingRequest::Request { timeout_ms, .. } => {
                Duration::from_millis(u64::from(*timeout_ms)).min(MAX_REQUEST_TIMEOUT)
                    + Duration::from_secs(1)
            }
        };
        let ctx = CallContext::new(Some(source.clone()), link_name.clone(), budget)
            .traced(Some(span.context()));
        let reply = self.lattice.invoke_messaging(&target, &request, &ctx).await;
        spans::finish(&mut span, true, reply.as_ref().err());
        self.counted
            .record(Reached::Messaging, true, reply.is_ok(), started);
        reply
    }
}

impl CapabilityView {
    /// The call's future owns what it needs (the instance's table is not
    /// `Sync`).
    fn messaging(
        &self,
        request: MessagingRequest,
    ) -> impl std::future::Future<Output = MessagingReply> + Send + 'static {
        let caps = self.caps.clone();
        let link_name = self.link_name_for(&request.operation().0);
        async move {
            caps.providers
                .messaging(&caps.component_id, &link_name, request)
                .await
        }
    }
}

fn to_wire(msg: types::BrokerMessage) -> BrokerMessage {
    BrokerMessage {
        subject: msg.subject,
        body: msg.body,
        reply_to: msg.reply_to,
    }
}

fn to_wit(msg: BrokerMessage) -> types::BrokerMessage {
    types::BrokerMessage {
        subject: msg.subject,
        body: msg.body,
        reply_to: msg.reply_to,
    }
}

impl types::Host for CapabilityView {}

impl consumer::Host for CapabilityView {
    async fn request(
        &mut self,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<types::BrokerMessage, String>> {
        let reply = self
            .messaging(MessagingRequest::Request {
                subject,
                body,
                timeout_ms,
            })
            .await;
        Ok(match reply {
            Ok(Some(msg)) => Ok(to_wit(msg)),
            Ok(None) => Err("the provider answered a request with no message".into()),
            Err(e) => Err(e),
        })
    }

    async fn publish(&mut self, msg: types::BrokerMessage) -> wasmtime::Result<Result<(), String>> {
        let reply = self
            .messaging(MessagingRequest::Publish(to_wire(msg)))
            .await;
        Ok(reply.map(|_| ()))
    }
}
