//! A prepared component of any kind: what it exports and imports, its HTTP
//! handler if it has one, and what every call of its functions needs.

use std::sync::Arc;

use wasmtime::component::InstancePre;

use super::http::PreparedHttp;
use super::instance::Limits;
use super::interfaces::Interfaces;
use super::pool::InstancePool;
use super::spares::Spares;
use super::state::StoreState;
use super::warm::{Reuse, Warm};

/// A compiled, pre-linked component; cheap to clone.
#[derive(Clone)]
pub struct PreparedComponent {
    pub(super) pre: InstancePre<StoreState>,
    http: Option<PreparedHttp>,
    interfaces: Arc<Interfaces>,
    pub(super) pool: Arc<InstancePool>,
    pub(super) limits: Limits,
    /// The runtime's spare instance switch and counts (see `warm`).
    pub(super) spares: Arc<Spares>,
    concurrent: bool,
}

impl PreparedComponent {
    pub(super) fn new(
        pre: InstancePre<StoreState>,
        http: Option<PreparedHttp>,
        interfaces: Interfaces,
        pool: Arc<InstancePool>,
        limits: Limits,
        spares: Arc<Spares>,
        concurrent: bool,
    ) -> Self {
        Self {
            pre,
            http,
            interfaces: Arc::new(interfaces),
            pool,
            limits,
            spares,
            concurrent,
        }
    }

    /// Which engine runs it, for the log line that says it is ready:
    /// `concurrent` (component-model async) or `sync`.
    pub fn engine(&self) -> &'static str {
        if self.concurrent {
            "concurrent"
        } else {
            "sync"
        }
    }

    /// Its HTTP handler (`wasi:http` 0.2 or 0.3), if it exports one.
    pub fn http(&self) -> Option<&PreparedHttp> {
        self.http.as_ref()
    }

    /// What it exports and imports.
    pub fn interfaces(&self) -> &Interfaces {
        &self.interfaces
    }

    /// Function types of its custom interfaces (`component.types`), or
    /// why they cannot be listed.
    pub fn types(&self) -> Result<trellis_protocol::signature::ComponentTypes, String> {
        super::signature::component_types(self.pre.component())
    }

    /// The host's instance pool, which every call must be admitted to.
    pub fn pool(&self) -> &Arc<InstancePool> {
        &self.pool
    }

    /// Whether its invocations get spare instances (see `warm`): when the
    /// runtime makes them and it has no HTTP handler, or, if the runtime
    /// makes them for HTTP too, a 0.2 one (a 0.3 handler's requests need
    /// an instance of their own kind).
    pub fn wants_spares(&self) -> bool {
        match &self.http {
            None => self.spares.enabled(),
            Some(http) => self.spares.for_http() && http.takes_spares(),
        }
    }

    /// The runtime's spare counts, shared by every component.
    pub fn spares(&self) -> &Arc<Spares> {
        &self.spares
    }

    /// What the log line that says a component is ready names it by: its
    /// HTTP handler's WASI version, or that it has none.
    pub fn kind(&self) -> &'static str {
        match &self.http {
            Some(http) => http.wasi_http(),
            None => "none",
        }
    }

    /// A spare (see `warm`): a new store and instance under `slot`, ready
    /// for a call or request that has not come yet and able to serve as
    /// many calls as `reuse` allows a fresh one. Instantiation runs the
    /// component's start code under the usual limits.
    pub async fn spare<S>(
        &self,
        slot: S,
        caps: Arc<crate::capabilities::ComponentCaps>,
        reuse: Reuse,
    ) -> wasmtime::Result<Warm<S>> {
        let mut store = self.limits.new_store(self.pre.engine(), caps);
        let instance = self.pre.instantiate_async(&mut store).await?;
        self.spares.prepared_one();
        Ok(Warm::made_ahead(store, instance, reuse, slot))
    }
}
