//! The capability provider contract.
//!
//! A provider is started with its config and an [`Invoker`] for calling
//! components, is told about links that name it ([`Provider::link_put`] /
//! [`Provider::link_del`]), answers health checks and shuts down on request.
//! The same implementation runs builtin, inside a host process, where the
//! host's invoker calls local components in process and others over NATS.
//!
//! - [`links`]: following the lattice's links and config (hosts and
//!   external provider processes alike).
//! - [`outcomes`]: what providers said about links, and retries of the
//!   links they refused.
//! - [`blobstore`]: blob storage of components, streamed through a linked provider.
//! - [`external`]: running a provider as its own process under a host.
//! - [`metrics`]: an external provider process's Prometheus metrics.
//! - [`outbound`]: outgoing HTTP of components, sent by a linked provider.

use std::sync::Arc;

pub mod blobstore;
pub mod external;
pub mod links;
pub mod metrics;
pub mod outbound;
pub mod outcomes;
pub mod secrets;

use futures::future::BoxFuture;
use trellis_lattice::Lattice;
use trellis_protocol::call::{CallRequest, CallResponse};
use trellis_protocol::context::CallContext;
use trellis_protocol::control::ConfigValues;
use trellis_protocol::invocation::{HttpRequest, HttpResponse, InvocationReply};
use trellis_protocol::keyvalue::{KvError, KvReply, KvRequest};
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::link::{Link, LinkStatus};
use trellis_protocol::messaging::{MessagingReply, MessagingRequest};
use trellis_protocol::{ComponentId, LatticeName};

/// Failure of a provider operation, reported back to whoever asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The provider's or a link's config is wrong; the message says how.
    #[error("invalid config: {0}")]
    Config(String),
    /// A resource the provider needs (a port, a file) is unavailable.
    #[error("{0}")]
    Unavailable(String),
}

/// Health as a provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Working.
    Healthy,
    /// Not working, with the reason.
    Unhealthy(String),
}

/// How a provider calls components. Hosts implement it local-first.
pub trait Invoker: Send + Sync + 'static {
    /// Calls `wasi:http/incoming-handler.handle` on `target`.
    fn invoke_http(
        &self,
        target: ComponentId,
        request: HttpRequest,
        ctx: CallContext,
    ) -> BoxFuture<'static, InvocationReply<HttpResponse>>;

    /// Calls `interface.function` exported by `target` (e.g. a message
    /// handler).
    fn invoke_call(
        &self,
        target: ComponentId,
        interface: InterfaceRef,
        function: WitName,
        request: CallRequest,
        ctx: CallContext,
    ) -> BoxFuture<'static, InvocationReply<CallResponse>>;
}

/// What a provider gets at start.
#[derive(Clone)]
pub struct ProviderContext {
    /// The provider's id in the lattice.
    pub provider_id: ComponentId,
    /// The lattice it serves.
    pub lattice: LatticeName,
    /// Its merged named config.
    pub config: ConfigValues,
    /// For calling components.
    pub invoker: Arc<dyn Invoker>,
    /// The lattice connection of the process running the provider (for
    /// providers that keep their data in the lattice, e.g. JetStream KV).
    pub connection: Lattice,
}

/// A link that names the provider, with the named configs already resolved.
#[derive(Debug, Clone)]
pub struct LinkContext {
    /// The link.
    pub link: Link,
    /// Merged `source_config` values.
    pub source_config: ConfigValues,
    /// Merged `target_config` values.
    pub target_config: ConfigValues,
}

/// The provider contract.
pub trait Provider: Send + Sync + 'static {
    /// Starts the provider. Called once before any link.
    fn start(&self, ctx: ProviderContext) -> BoxFuture<'_, Result<(), ProviderError>>;

    /// A link naming this provider (as source or target) was created or
    /// changed (including a change of one of its configs). Providers that
    /// keep no per-link state need not override it.
    fn link_put(&self, link: LinkContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        let _ = link;
        Box::pin(futures::future::ready(Ok(())))
    }

    /// A link naming this provider was deleted.
    fn link_del(&self, link: Link) -> BoxFuture<'_, Result<(), ProviderError>> {
        let _ = link;
        Box::pin(futures::future::ready(Ok(())))
    }

    /// Current health.
    fn health(&self) -> BoxFuture<'_, Health>;

    /// How the links this provider follows by itself were taken (an
    /// external process reports them in its health replies). `None`: the
    /// host tells the provider about links and keeps the outcomes itself.
    fn own_link_status(&self) -> Option<Vec<LinkStatus>> {
        None
    }

    /// Why the provider does not serve right now, as last seen and without
    /// asking it (e.g. its process exited and waits to be restarted).
    fn failure(&self) -> Option<String> {
        None
    }

    /// Times the provider was restarted since it was started here (an
    /// external process that ended; one in process never is).
    fn restarts(&self) -> u64 {
        0
    }

    /// Stops serving and releases every resource.
    fn shutdown(&self) -> BoxFuture<'_, ()>;

    /// The provider's outgoing-HTTP side, if it sends components'
    /// `wasi:http/outgoing-handler` requests (only in process: the host
    /// hands it the guest's request as it streams).
    fn outbound_http(&self) -> Option<&dyn outbound::OutboundHttp> {
        None
    }

    /// The provider's blob storage side, if it stores components' blobs
    /// (only in process: values stream through the host).
    fn blobstore(&self) -> Option<&dyn blobstore::Blobstore> {
        None
    }

    /// Handles a `wasmcloud:messaging/consumer` call from component
    /// `source`. Only messaging providers override it.
    fn messaging(
        &self,
        source: Option<ComponentId>,
        request: MessagingRequest,
    ) -> BoxFuture<'_, MessagingReply> {
        let _ = (source, request);
        Box::pin(futures::future::ready(Err(
            "this provider does not implement wasmcloud:messaging".into(),
        )))
    }

    /// Handles a `wasi:keyvalue` call from component `source`. Only
    /// key-value providers override it.
    fn keyvalue(&self, source: Option<ComponentId>, request: KvRequest) -> BoxFuture<'_, KvReply> {
        let _ = (source, request);
        Box::pin(futures::future::ready(Err(KvError::Other(
            "this provider does not implement wasi:keyvalue".into(),
        ))))
    }
}

/// Serves the calls that components on other hosts send `provider` over
/// the lattice (key-value and messaging) until the task is aborted. Hosts
/// run it for their builtins; an external provider process for itself.
pub async fn serve_calls(
    lattice: &Lattice,
    id: &ComponentId,
    provider: Arc<dyn Provider>,
) -> Result<tokio::task::JoinHandle<()>, trellis_lattice::LatticeError> {
    let for_messaging = provider.clone();
    lattice
        .serve_provider(
            id,
            move |request, call| {
                let provider = provider.clone();
                async move { provider.keyvalue(call.source, request).await }
            },
            move |request, call| {
                let provider = for_messaging.clone();
                async move { provider.messaging(call.source, request).await }
            },
        )
        .await
}
