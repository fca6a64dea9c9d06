//! Host implementations of the capability interfaces, one file per
//! interface, and the per-component context they share.
//!
//! - [`keyvalue`]: `wasi:keyvalue` store, atomics and batch, routed by link.
//! - [`logging`]: `wasi:logging` into the host's log.
//! - [`blobstore`]: `wasi:blobstore` through a linked provider on this host, streamed.
//! - [`bus`]: `wasmcloud:bus/lattice` (1.0.0, 2.0.0): link names chosen at run time.
//! - [`config`]: `wasi:config` (0.2.0-rc.1 and both 0.2.0-draft shapes).
//! - [`messaging`]: `wasmcloud:messaging/consumer`, routed by link.
//! - [`outbound`]: `wasi:http/outgoing-handler` through a linked http-client.
//! - [`secrets`]: `wasmcloud:secrets` (store, reveal): the secrets a component was given.
//! - [`route`]: the provider behind a capability link, local first.

pub mod blobstore;
pub mod bus;
pub mod config;
pub mod keyvalue;
pub mod logging;
pub mod messaging;
pub mod outbound;
pub mod route;
pub mod secrets;

use std::sync::Arc;

use trellis_protocol::{ComponentId, ConfigName, LinkName};

use crate::calls::CallRouter;
use trellis_provider_sdk::links::LinkState;

/// The host's one `bindgen!` site: the capability interfaces Trellis
/// implements beyond WASI and wasi:http (see `wit/world.wit`, world
/// `host-capabilities`). Private, so the generated items stay this
/// module's business; the files beside it implement one interface each.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "trellis:actors/host-capabilities",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::keyvalue::Bucket,
            "wasmcloud:secrets/store.secret": super::secrets::SecretHandle,
            "wasmcloud:bus/lattice@1.0.0.call-target-interface": super::bus::CallTarget,
            "wasmcloud:bus/lattice@2.0.0.call-target-interface": super::bus::CallTarget,
            // Blob values stream through wasi:io: the same stream resources as
            // wasmtime-wasi's, in the same table.
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:blobstore/container.container": super::blobstore::ContainerHandle,
            "wasi:blobstore/container.stream-object-names": super::blobstore::ObjectNames,
            "wasi:blobstore/types.outgoing-value": super::blobstore::OutgoingBlob,
            "wasi:blobstore/types.incoming-value": super::blobstore::IncomingBlob,
        },
    });
}

/// What a component's instances need to reach their capabilities. One per
/// scaled component, shared by all its instances.
pub struct ComponentCaps {
    /// The component's id (the source of its links).
    pub component_id: ComponentId,
    /// Link name used for capability calls (`default`).
    pub link_name: LinkName,
    /// Named configs given at scale time, resolved live on every call.
    pub config: Vec<ConfigName>,
    /// Links and config of the lattice.
    pub links: Arc<LinkState>,
    /// Where key-value and messaging calls go.
    pub providers: Arc<route::ProviderRouter>,
    /// Where calls of imported custom interfaces go.
    pub calls: Arc<CallRouter>,
    /// Where outgoing HTTP requests go.
    pub outbound: Arc<outbound::OutboundRouter>,
    /// The secrets the component may read.
    pub secrets: Arc<secrets::ComponentSecrets>,
}

/// Adds every capability interface to a linker.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut CapabilityView,
) -> wasmtime::Result<()> {
    use bindings::{wasi, wasmcloud};
    wasi::keyvalue::store::add_to_linker::<T, HasCaps>(linker, get)?;
    wasi::keyvalue::atomics::add_to_linker::<T, HasCaps>(linker, get)?;
    wasi::keyvalue::batch::add_to_linker::<T, HasCaps>(linker, get)?;
    wasi::logging::logging::add_to_linker::<T, HasCaps>(linker, get)?;
    wasi::config0_2_0_rc_1::store::add_to_linker::<T, HasCaps>(linker, get)?;
    wasi::config0_2_0_draft::store::add_to_linker::<T, HasCaps>(linker, get)?;
    wasi::config0_2_0_draft::runtime::add_to_linker::<T, HasCaps>(linker, get)?;
    wasmcloud::bus1_0_0::lattice::add_to_linker::<T, HasCaps>(linker, get)?;
    wasmcloud::bus2_0_0::lattice::add_to_linker::<T, HasCaps>(linker, get)?;
    wasmcloud::messaging::types::add_to_linker::<T, HasCaps>(linker, get)?;
    wasmcloud::messaging::consumer::add_to_linker::<T, HasCaps>(linker, get)?;
    wasmcloud::secrets::store::add_to_linker::<T, HasCaps>(linker, get)?;
    wasmcloud::secrets::reveal::add_to_linker::<T, HasCaps>(linker, get)?;
    Ok(())
}

/// Per-instance capability state: the component's context and the
/// instance's open key-value buckets.
pub struct CapabilityView {
    /// The component's context.
    pub caps: Arc<ComponentCaps>,
    /// Open buckets of this instance.
    pub table: wasmtime::component::ResourceTable,
    /// Link names this instance chose per interface (`wasmcloud:bus`).
    pub link_names: std::collections::HashMap<trellis_protocol::link::InterfaceRef, LinkName>,
}

/// Marker tying the generated `add_to_linker` functions to [`CapabilityView`].
pub struct HasCaps;

impl wasmtime::component::HasData for HasCaps {
    type Data<'a> = &'a mut CapabilityView;
}
