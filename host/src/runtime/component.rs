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

    /// Whether calls of it get spare instances (see `warm`): when the
    /// runtime makes them and it has no HTTP handler (HTTP requests need
    /// an instance of their own kind).
    pub fn wants_spares(&self) -> bool {
        self.spares.enabled() && self.http.is_none()
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
}
