//! `builtin://http-server`: serves components over HTTP.
//!
//! A link from this provider (source) to a component (target) on
//! `wasi:http/incoming-handler` opens a listener on the link's source config
//! `address`; each request is handed to the component through the host's
//! invoker (in process when the component is local, over NATS otherwise).
//! Deleting the link closes the listener and its connections.
//!
//! - [`settings`]: per-link settings read from config.
//! - [`listener`]: one listener and its connections.
//! - [`convert`]: hyper <-> invocation types.

mod convert;
mod listener;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::FutureExt;
use futures::future::BoxFuture;
use trellis_protocol::link::{InterfaceRef, Link, LinkKey};
use trellis_provider_sdk::{Health, LinkContext, Provider, ProviderContext, ProviderError};

use crate::listener::Listener;
use crate::settings::LinkSettings;

/// The image name hosts know this provider by.
pub const BUILTIN_NAME: &str = "http-server";

/// The HTTP server provider.
#[derive(Default)]
pub struct HttpServerProvider {
    ctx: Mutex<Option<ProviderContext>>,
    listeners: Mutex<HashMap<LinkKey, Listener>>,
}

impl HttpServerProvider {
    /// A provider with no listeners; call [`Provider::start`] next.
    pub fn new() -> Self {
        Self::default()
    }

    fn context(&self) -> Option<ProviderContext> {
        self.ctx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn apply_link(&self, link: LinkContext) -> Result<(), ProviderError> {
        let Some(ctx) = self.context() else {
            return Err(ProviderError::Unavailable("provider is not started".into()));
        };
        if link.link.source_id != ctx.provider_id
            || !link.link.covers(&InterfaceRef::http_incoming_handler())
        {
            return Ok(());
        }
        let settings = LinkSettings::from_config(&link.link, &link.source_config)?;
        let key = link.link.key();
        // Same address: keep the socket and swap what it serves.
        let unchanged = {
            let listeners = self
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            listeners
                .get(&key)
                .is_some_and(|l| l.address() == settings.address)
        };
        if unchanged {
            let listeners = self
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(l) = listeners.get(&key) {
                l.retarget(link.link.target_id.clone(), settings);
            }
            return Ok(());
        }
        // A different address: close the old socket before binding the new
        // one, so moving a link back to a previous address works.
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
        let listener = Listener::bind(&ctx, &link.link, settings).await?;
        tracing::info!(
            address = %listener.address(),
            target = %link.link.target_id,
            "http-server listening"
        );
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, listener);
        Ok(())
    }
}

impl Provider for HttpServerProvider {
    fn start(&self, ctx: ProviderContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        *self.ctx.lock().unwrap_or_else(PoisonError::into_inner) = Some(ctx);
        futures::future::ready(Ok(())).boxed()
    }

    fn link_put(&self, link: LinkContext) -> BoxFuture<'_, Result<(), ProviderError>> {
        self.apply_link(link).boxed()
    }

    fn link_del(&self, link: Link) -> BoxFuture<'_, Result<(), ProviderError>> {
        let removed = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&link.key());
        if let Some(listener) = removed {
            tracing::info!(address = %listener.address(), "http-server listener closed");
        }
        futures::future::ready(Ok(())).boxed()
    }

    fn health(&self) -> BoxFuture<'_, Health> {
        futures::future::ready(Health::Healthy).boxed()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        futures::future::ready(()).boxed()
    }
}

/// A shareable provider handle, as hosts keep them.
pub fn builtin() -> Arc<dyn Provider> {
    Arc::new(HttpServerProvider::new())
}
