//! `builtin://http-server`: serves components over HTTP.
//!
//! A link from this provider (source) to a component (target) on
//! `wasi:http/incoming-handler` adds a route on a listener at the link's
//! `address`; each request is handed to the component of the route it
//! matches through the host's invoker (in process when the component is
//! local, over NATS otherwise). The provider's `routing` config says how
//! links share an address: not at all (`address`, the default), by path
//! prefix (`path`) or by `Host` header (`host`). A listener closes, draining
//! its connections, when its last route goes.
//!
//! - [`settings`]: provider and per-link settings read from config.
//! - [`routes`]: the routing table of one listener (pure logic).
//! - `listener`: one socket, its connections and their drain.
//! - `convert`: hyper <-> invocation types.

mod convert;
mod listener;
pub mod routes;
pub mod settings;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use trellis_protocol::control::ConfigValues;
use trellis_protocol::link::{InterfaceRef, Link, LinkKey};
use trellis_provider_sdk::{Health, LinkContext, Provider, ProviderContext, ProviderError};

use crate::listener::{Caller, DRAIN_TIMEOUT, Listener, Route};
use crate::settings::{LinkSettings, ProviderSettings};

/// The image name hosts know this provider by.
pub const BUILTIN_NAME: &str = "http-server";

/// The HTTP server provider.
#[derive(Default)]
pub struct HttpServerProvider {
    started: Mutex<Option<(Caller, ProviderSettings)>>,
    /// Serializes link changes, which may await a bind or a close.
    state: tokio::sync::Mutex<State>,
}

/// Listeners by address, and where each link's route is.
#[derive(Default)]
struct State {
    listeners: HashMap<SocketAddr, Listener>,
    /// Address of each link's route, and how errors name the link.
    links: HashMap<LinkKey, (SocketAddr, String)>,
}

fn describe(link: &Link) -> String {
    format!(
        "link {} -> {} (name {})",
        link.source_id, link.target_id, link.name
    )
}

impl State {
    /// Puts the route of `link` on the listener at `settings.address`,
    /// binding it if needed and leaving a previous address.
    async fn place(
        &mut self,
        ctx: &Caller,
        link: &Link,
        settings: LinkSettings,
    ) -> Result<(), ProviderError> {
        let key = link.key();
        let address = settings.address;
        if self.links.get(&key).is_some_and(|(at, _)| *at != address) {
            // Close the old socket (if this was its last route) before
            // binding, so moving a link back to a previous address works.
            self.unroute(&key).await;
        }
        let listener = match self.listeners.entry(address) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let listener = Listener::bind(ctx, address).await.map_err(|e| {
                    ProviderError::Unavailable(format!(
                        "cannot listen on {address} for {}: {e}",
                        describe(link)
                    ))
                })?;
                tracing::info!(address = %listener.address(), "http-server listening");
                entry.insert(listener)
            }
        };
        let rule = settings.rule.clone();
        let route = Route {
            target: link.target_id.clone(),
            link_name: link.name.clone(),
            timeout: settings.timeout,
            max_body: settings.max_body,
        };
        listener
            .insert(key.clone(), rule.clone(), route)
            .map_err(|conflict| {
                let holder = self
                    .links
                    .get(&conflict.holder)
                    .map_or_else(|| "another link".to_owned(), |(_, d)| d.clone());
                ProviderError::Config(format!(
                    "{} cannot take {rule} on {address}: {holder} already serves {}; \
                     give one of them another path, host or address",
                    describe(link),
                    conflict.rule
                ))
            })?;
        self.links.insert(key, (address, describe(link)));
        tracing::info!(%address, %rule, target = %link.target_id, "http-server route added");
        Ok(())
    }

    /// Removes the route of `key`; closes its listener when it was the last
    /// one (the socket is gone on return, the drain goes on in the
    /// background).
    async fn unroute(&mut self, key: &LinkKey) -> Option<JoinHandle<()>> {
        let (address, _) = self.links.remove(key)?;
        let now_empty = self.listeners.get(&address)?.remove(key);
        if !now_empty {
            return None;
        }
        let listener = self.listeners.remove(&address)?;
        tracing::info!(%address, "http-server listener closed");
        listener.close().await
    }
}

impl HttpServerProvider {
    /// A provider with no listeners; call [`Provider::start`] next.
    pub fn new() -> Self {
        Self::default()
    }

    fn started(&self) -> Option<(Caller, ProviderSettings)> {
        self.started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the provider config; links apply from now on.
    fn begin(&self, caller: Caller, config: &ConfigValues) -> Result<(), ProviderError> {
        let settings = ProviderSettings::from_config(config)?;
        tracing::info!(routing = ?settings.routing, "http-server started");
        *self.started.lock().unwrap_or_else(PoisonError::into_inner) = Some((caller, settings));
        Ok(())
    }

    async fn apply_link(&self, link: LinkContext) -> Result<(), ProviderError> {
        let Some((ctx, provider)) = self.started() else {
            return Err(ProviderError::Unavailable("provider is not started".into()));
        };
        if link.link.source_id != ctx.provider_id
            || !link.link.covers(&InterfaceRef::http_incoming_handler())
        {
            return Ok(());
        }
        let mut state = self.state.lock().await;
        let placed = match LinkSettings::from_config(&link.link, &link.source_config, &provider) {
            Ok(settings) => state.place(&ctx, &link.link, settings).await,
            Err(e) => Err(e),
        };
        if placed.is_err() {
            // A link whose change is refused serves nothing until fixed.
            state.unroute(&link.link.key()).await;
        }
        placed
    }

    async fn remove_link(&self, link: Link) -> Result<(), ProviderError> {
        self.state.lock().await.unroute(&link.key()).await;
        Ok(())
    }

    async fn drain_all(&self) {
        let listeners: Vec<Listener> = {
            let mut state = self.state.lock().await;
            state.links.clear();
            state.listeners.drain().map(|(_, l)| l).collect()
        };
        let mut draining = Vec::new();
        for listener in listeners {
            draining.extend(listener.close().await);
        }
        // Each drain is bounded by DRAIN_TIMEOUT; this only guards that.
        let all = futures::future::join_all(draining);
        if tokio::time::timeout(DRAIN_TIMEOUT * 2, all).await.is_err() {
            tracing::warn!("http-server listeners did not finish draining");
        }
    }
}

impl Provider for HttpServerProvider {
    fn start(&self, ctx: ProviderContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        let caller = Caller {
            provider_id: ctx.provider_id,
            invoker: ctx.invoker,
        };
        futures::future::ready(self.begin(caller, &ctx.config)).boxed()
    }

    fn link_put(&self, link: LinkContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        self.apply_link(link).boxed()
    }

    fn link_del(&self, link: Link) -> BoxFuture<'_, Result<(), ProviderError>> {
        self.remove_link(link).boxed()
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        futures::future::ready(Health::Healthy).boxed()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.drain_all().boxed()
    }
}

/// A shareable provider handle, as hosts keep them.
pub fn builtin() -> Arc<dyn Provider> {
    Arc::new(HttpServerProvider::new())
}
