//! `builtin://http-client`: components' outgoing HTTP
//! (`wasi:http/outgoing-handler`), denied unless a link allows it.
//!
//! A component reaches the network only through a link to this provider
//! (`trellis link put SRC http-client wasi http --interface
//! outgoing-handler --target-config NAME`); the link's config (merged over
//! the provider's own) is the policy of that component's requests:
//! `allowed_hosts` patterns, `deny_cidrs`, timeouts, the largest response
//! and the connection pool. Every request is checked before a socket is
//! opened, every address a name resolves to is checked again, redirects are
//! not followed (the guest's next request is checked like any other), and
//! TLS verifies against the platform's roots. docs/providers/http-client.md
//! has the keys and their defaults.
//!
//! - [`policy`]: parsing and checking the config.
//! - [`connector`]: resolving, checking and connecting (TCP, TLS).
//! - [`body`]: the response body under the link's limits.

pub mod body;
pub mod connector;
pub mod policy;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use trellis_protocol::control::ConfigValues;
use trellis_protocol::link::Link;
use trellis_protocol::{ComponentId, LinkName};
use trellis_provider_sdk::outbound::{OutboundBody, OutboundError, OutboundHttp, RequestTimeouts};
use trellis_provider_sdk::{Health, LinkContext, Provider, ProviderContext, ProviderError};

use crate::connector::Connector;
use crate::policy::Policy;

/// The image name hosts know this provider by.
pub const BUILTIN_NAME: &str = "http-client";

/// Bound on resolving the lattice's NATS server names at link time.
const NATS_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The policy and connection pool of one link.
struct LinkClient {
    policy: Arc<Policy>,
    client: Client<Connector, OutboundBody>,
}

#[derive(Default)]
struct Started {
    /// The provider's own config: defaults under every link's.
    config: ConfigValues,
    /// `host`/`port` of the lattice's NATS servers.
    nats: Vec<(String, u16)>,
}

/// The outbound HTTP provider.
#[derive(Default)]
pub struct HttpClientProvider {
    started: Mutex<Started>,
    links: RwLock<HashMap<(ComponentId, LinkName), Arc<LinkClient>>>,
}

impl HttpClientProvider {
    /// A provider not yet started.
    pub fn new() -> Self {
        Self::default()
    }

    fn client_for(&self, source: &ComponentId, name: &LinkName) -> Option<Arc<LinkClient>> {
        self.links
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(source.clone(), name.clone()))
            .cloned()
    }
}

/// Whether a link is one this provider serves: `wasi:http` from a
/// component to it.
fn is_outgoing(link: &Link) -> bool {
    link.wit_namespace.as_str() == "wasi" && link.wit_package.as_str() == "http"
}

/// Addresses of the NATS servers, names resolved now (a server reached by
/// name is refused by address).
async fn nats_addrs(servers: &[(String, u16)]) -> Vec<SocketAddr> {
    let mut addrs = Vec::new();
    for (host, port) in servers {
        let lookup = tokio::net::lookup_host((host.as_str(), *port));
        if let Ok(Ok(found)) = tokio::time::timeout(NATS_LOOKUP_TIMEOUT, lookup).await {
            addrs.extend(found.take(16));
        }
    }
    addrs
}

impl Provider for HttpClientProvider {
    fn start(&self, ctx: ProviderContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        // Checked now so that a bad provider-wide value fails the start,
        // not every link.
        if let Err(e) = Policy::from_config(&ctx.config, Vec::new()) {
            return futures::future::ready(Err(ProviderError::Config(e))).boxed();
        }
        *self.started.lock().unwrap_or_else(PoisonError::into_inner) = Started {
            config: ctx.config.clone(),
            nats: ctx.connection.nats_servers().to_vec(),
        };
        futures::future::ready(Ok(())).boxed()
    }

    fn link_put(&self, link: LinkContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        async move {
            if !is_outgoing(&link.link) {
                return Err(ProviderError::Config(format!(
                    "http-client serves wasi:http (outgoing-handler) links, not {}:{}",
                    link.link.wit_namespace, link.link.wit_package
                )));
            }
            let (mut config, servers) = {
                let started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
                (started.config.clone(), started.nats.clone())
            };
            config.extend(link.source_config);
            config.extend(link.target_config);
            for key in config.keys() {
                if !policy::keys::ALL.contains(&key.as_str()) {
                    tracing::warn!(
                        source = %link.link.source_id,
                        key,
                        "http-client ignores this config key; it reads {}",
                        policy::keys::ALL.join(", ")
                    );
                }
            }
            let policy = Arc::new(
                Policy::from_config(&config, nats_addrs(&servers).await)
                    .map_err(ProviderError::Config)?,
            );
            let tls = policy
                .ca_file
                .as_deref()
                .map(connector::tls_config_with_ca_file)
                .transpose()
                .map_err(ProviderError::Config)?;
            let client = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(policy.pool_max_idle_per_host)
                .pool_idle_timeout(policy.pool_idle_timeout)
                .build(Connector {
                    policy: policy.clone(),
                    tls,
                });
            self.links
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(
                    (link.link.source_id.clone(), link.link.name.clone()),
                    Arc::new(LinkClient { policy, client }),
                );
            Ok(())
        }
        .boxed()
    }

    fn link_del(&self, link: Link) -> BoxFuture<'_, Result<(), ProviderError>> {
        self.links
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(link.source_id, link.name));
        futures::future::ready(Ok(())).boxed()
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        futures::future::ready(Health::Healthy).boxed()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        // Dropping the clients closes their idle connections.
        self.links
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        futures::future::ready(()).boxed()
    }

    fn outbound_http(&self) -> Option<&dyn OutboundHttp> {
        Some(self)
    }
}

impl OutboundHttp for HttpClientProvider {
    fn send(
        &self,
        source: &ComponentId,
        link_name: &LinkName,
        request: http::Request<OutboundBody>,
        timeouts: RequestTimeouts,
    ) -> BoxFuture<'static, Result<http::Response<OutboundBody>, OutboundError>> {
        let entry = self.client_for(source, link_name);
        let source = source.clone();
        async move {
            let entry = entry.ok_or_else(|| {
                OutboundError::Internal(format!(
                    "http-client has not applied the link from {source} yet (or refused its \
                     config: see `trellis link get`)"
                ))
            })?;
            let policy = &entry.policy;
            policy.check_uri(request.uri())?;
            let shorter = |asked: Option<Duration>, allowed: Duration| {
                asked.map_or(allowed, |asked| asked.min(allowed))
            };
            let first_byte = shorter(timeouts.first_byte, policy.first_byte_timeout);
            let stall = shorter(timeouts.between_bytes, policy.between_bytes_timeout);
            // The connector bounds the connection itself; this bounds the
            // whole wait for the response head.
            let response = tokio::time::timeout(
                policy.connect_timeout + first_byte,
                entry.client.request(request),
            )
            .await
            .map_err(|_| OutboundError::FirstByteTimeout(first_byte))?
            .map_err(client_error)?;
            let limit = policy.max_response_bytes;
            if let Some(length) = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                && length > limit
            {
                return Err(OutboundError::ResponseTooLarge(limit));
            }
            Ok(response.map(|incoming| body::Guarded::new(incoming, limit, stall).boxed_unsync()))
        }
        .boxed()
    }
}

/// The policy's or the connector's own error when it is the cause.
fn client_error(e: hyper_util::client::legacy::Error) -> OutboundError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = cause {
        if let Some(ours) = err.downcast_ref::<OutboundError>() {
            return ours.clone();
        }
        cause = err.source();
    }
    if e.is_connect() {
        OutboundError::Connect {
            destination: "the destination".into(),
            reason: e.to_string(),
        }
    } else {
        OutboundError::Protocol(format!("{e}: {}", source_chain(&e)))
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cause = e.source();
    while let Some(err) = cause {
        parts.push(err.to_string());
        cause = err.source();
    }
    parts.join(": ")
}
