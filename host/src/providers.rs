//! Providers running in this host.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use trellis_protocol::ComponentId;
use trellis_protocol::inventory::ProviderDescription;
use trellis_provider_sdk::Provider;

/// Image scheme of providers compiled into the host.
pub const BUILTIN_SCHEME: &str = "builtin://";

/// A provider compiled into the host, by the name after `builtin://`.
pub fn builtin(image: &str) -> Result<Arc<dyn Provider>, String> {
    let Some(name) = image.strip_prefix(BUILTIN_SCHEME) else {
        return Err(format!(
            "provider image `{image}` is not supported: use builtin://NAME or file://PATH \
             (an executable the CLI uploads)"
        ));
    };
    match name {
        trellis_provider_http_server::BUILTIN_NAME => Ok(trellis_provider_http_server::builtin()),
        trellis_provider_keyvalue_sled::BUILTIN_NAME => {
            Ok(Arc::new(trellis_provider_keyvalue_sled::SledProvider::new()))
        }
        trellis_provider_keyvalue_nats::BUILTIN_NAME => Ok(Arc::new(
            trellis_provider_keyvalue_nats::NatsKvProvider::new(),
        )),
        trellis_provider_blobstore_fs::BUILTIN_NAME => Ok(Arc::new(
            trellis_provider_blobstore_fs::FsBlobProvider::new(),
        )),
        trellis_provider_blobstore_nats::BUILTIN_NAME => Ok(Arc::new(
            trellis_provider_blobstore_nats::NatsBlobProvider::new(),
        )),
        trellis_provider_messaging_nats::BUILTIN_NAME => Ok(Arc::new(
            trellis_provider_messaging_nats::NatsMessagingProvider::new(),
        )),
        trellis_provider_http_client::BUILTIN_NAME => Ok(Arc::new(
            trellis_provider_http_client::HttpClientProvider::new(),
        )),
        other => Err(format!(
            "unknown builtin provider `{other}`; available: builtin://http-server, \
             builtin://http-client, builtin://messaging-nats, builtin://blobstore-fs, \
             builtin://blobstore-nats, \
             builtin://keyvalue-sled, \
             builtin://keyvalue-nats"
        )),
    }
}

/// One running provider.
#[derive(Clone)]
pub struct RunningProvider {
    /// What it is.
    pub description: ProviderDescription,
    /// The implementation.
    pub provider: Arc<dyn Provider>,
    /// A builtin's NATS subscription for calls from other hosts (an
    /// external process serves its own); ends with the last clone.
    pub rpc: Option<Arc<AbortOnDrop>>,
    /// Whether it runs as its own process (its supervisor reports its
    /// lifecycle events).
    pub external: bool,
}

/// A task aborted when this handle is dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The providers of this host, by id.
#[derive(Default)]
pub struct Providers {
    by_id: RwLock<HashMap<ComponentId, RunningProvider>>,
}

impl Providers {
    /// The provider with `id`.
    pub fn get(&self, id: &ComponentId) -> Option<RunningProvider> {
        self.by_id
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Adds a started provider.
    pub fn insert(&self, provider: RunningProvider) {
        self.by_id
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(provider.description.id.clone(), provider);
    }

    /// Removes a provider (the caller shuts it down).
    pub fn remove(&self, id: &ComponentId) -> Option<RunningProvider> {
        self.by_id
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
    }

    /// All providers, sorted by id.
    pub fn all(&self) -> Vec<RunningProvider> {
        let mut all: Vec<_> = self
            .by_id
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.description.id.cmp(&b.description.id));
        all
    }

    /// Removes and returns every provider (host shutdown).
    pub fn drain(&self) -> Vec<RunningProvider> {
        self.by_id
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, p)| p)
            .collect()
    }
}
