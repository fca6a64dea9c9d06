//! What each instance's `Store` holds.

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capabilities::outbound::OutboundHooks;
use crate::capabilities::{CapabilityView, ComponentCaps};

/// Per-instance state. A fresh one per invocation, so nothing leaks between
/// requests.
pub(crate) struct StoreState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    /// Outgoing requests through the component's http-client link.
    outbound: OutboundHooks,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) caps: CapabilityView,
    /// When this invocation's execution time is up; calls the guest makes
    /// of other components get what is left of it.
    pub(crate) deadline: std::time::Instant,
}

impl StoreState {
    /// Sandbox defaults: no preopened directories, no environment, no
    /// sockets (wasmtime-wasi denies them unless allowed), stdio to the
    /// host's so guest panics show in its log.
    pub(crate) fn new(
        max_memory_bytes: usize,
        deadline: std::time::Instant,
        caps: std::sync::Arc<ComponentCaps>,
    ) -> Self {
        let wasi = WasiCtx::builder().inherit_stdout().inherit_stderr().build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            outbound: OutboundHooks::new(caps.clone()),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(max_memory_bytes)
                .trap_on_grow_failure(false)
                .build(),
            caps: CapabilityView {
                caps,
                table: ResourceTable::new(),
                link_names: Default::default(),
            },
            deadline,
        }
    }
}

impl StoreState {
    /// What `wasi:blobstore` calls see: the capabilities and the WASI
    /// table its streams share with `wasi:io`.
    pub(crate) fn blob_view(&mut self) -> crate::capabilities::blobstore::BlobView<'_> {
        self.caps.blob_view(&mut self.table)
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}
