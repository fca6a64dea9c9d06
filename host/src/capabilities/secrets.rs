//! `wasmcloud:secrets@0.1.0-draft` (`store`, `reveal`): a component reads
//! the secrets its scale request lists, by the names listed there, and
//! nothing else. Values are fetched and decrypted with the host's secrets
//! key on a name's first `get` and kept for the component's lifetime (or
//! until a rescale from wadm lists other secrets); a failed fetch is not
//! kept, so a secret stored later is found then.
//!
//! Link secrets reach providers the same way:
//! [`trellis_provider_sdk::secrets::link_with_secrets`] merges them into the
//! link config a provider receives (builtins here, external processes in
//! their own runtime, with the key the host hands them).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError, RwLock};

use trellis_lattice::Lattice;
use trellis_lattice::secrets::{SecretStore, SecretStoreError, SecretValue, SecretsKey};
use trellis_protocol::ComponentId;
use trellis_protocol::secret::SecretRef;
use wasmtime::component::Resource;

use super::bindings::wasmcloud::secrets::{reveal, store};
use crate::capabilities::CapabilityView;

use trellis_provider_sdk::secrets::NO_KEY;

/// An opened secret in an instance's resource table.
pub struct SecretHandle {
    value: SecretValue,
}

impl fmt::Debug for SecretHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretHandle")
            .field("value", &self.value)
            .finish()
    }
}

/// The secrets one component may read, and those it has read.
pub struct ComponentSecrets {
    refs: RwLock<Vec<SecretRef>>,
    lattice: Lattice,
    key: Option<SecretsKey>,
    store: tokio::sync::OnceCell<SecretStore>,
    opened: Mutex<HashMap<String, SecretValue>>,
}

impl fmt::Debug for ComponentSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentSecrets")
            .field("refs", &self.refs())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ComponentSecrets {
    /// The secrets `refs` names, read through `lattice` with `key`.
    pub fn new(lattice: Lattice, key: Option<SecretsKey>, refs: Vec<SecretRef>) -> Self {
        Self {
            refs: RwLock::new(refs),
            lattice,
            key,
            store: tokio::sync::OnceCell::new(),
            opened: Mutex::new(HashMap::new()),
        }
    }

    /// The references it was given.
    pub fn refs(&self) -> Vec<SecretRef> {
        self.refs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the references (a new app version may list others) and
    /// forgets every value opened so far.
    pub fn set_refs(&self, refs: Vec<SecretRef>) {
        let mut current = self.refs.write().unwrap_or_else(PoisonError::into_inner);
        if *current != refs {
            *current = refs;
            self.opened
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    async fn store(&self) -> Result<&SecretStore, SecretStoreError> {
        self.store
            .get_or_try_init(|| self.lattice.secret_store(self.key.clone()))
            .await
    }

    /// The value of the listed secret `name`, or what to tell the guest.
    async fn value(
        &self,
        id: &ComponentId,
        name: &str,
    ) -> Result<SecretValue, store::SecretsError> {
        let listed = self
            .refs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|r| r.name.as_str() == name)
            .cloned();
        let Some(r) = listed else {
            return Err(store::SecretsError::NotFound);
        };
        if self.key.is_none() {
            return Err(store::SecretsError::Upstream(NO_KEY.into()));
        }
        let cached = self
            .opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned();
        if let Some(value) = cached {
            return Ok(value);
        }
        // Not under the lock: two first `get`s may both fetch, which is
        // harmless, and a slow fetch never blocks a cached read.
        let fetched = match self.store().await {
            Ok(store) => store.resolve(&r).await,
            Err(e) => Err(e),
        };
        match fetched {
            Ok(value) => {
                self.opened
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(name.to_owned(), value.clone());
                Ok(value)
            }
            Err(e) => {
                tracing::warn!(component = %id, secret = %r.name, key = %r.key, error = %e, "secret not available");
                Err(match e {
                    SecretStoreError::Storage(_) => store::SecretsError::Io(e.to_string()),
                    _ => store::SecretsError::Upstream(e.to_string()),
                })
            }
        }
    }
}

impl store::Host for CapabilityView {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Resource<SecretHandle>, store::SecretsError>> {
        let caps = self.caps.clone();
        match caps.secrets.value(&caps.component_id, &key).await {
            Ok(value) => Ok(Ok(self.table.push(SecretHandle { value })?)),
            Err(e) => Ok(Err(e)),
        }
    }
}

impl store::HostSecret for CapabilityView {
    async fn drop(&mut self, secret: Resource<SecretHandle>) -> wasmtime::Result<()> {
        self.table.delete(secret)?;
        Ok(())
    }
}

impl reveal::Host for CapabilityView {
    async fn reveal(
        &mut self,
        secret: Resource<SecretHandle>,
    ) -> wasmtime::Result<store::SecretValue> {
        let value = &self.table.get(&secret)?.value;
        Ok(match value.as_str() {
            Some(text) => store::SecretValue::String(text.to_owned()),
            None => store::SecretValue::Bytes(value.as_bytes().to_vec()),
        })
    }
}
