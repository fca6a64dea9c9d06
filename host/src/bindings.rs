//! The host's one `bindgen!` site: the capability interfaces Trellis
//! implements beyond WASI and wasi:http (see `wit/world.wit`, world
//! `host-capabilities`). Implementations live in [`crate::capabilities`],
//! one file per interface.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "trellis:actors/host-capabilities",
    imports: { default: async | trappable },
    with: {
        "wasi:keyvalue/store.bucket": crate::capabilities::keyvalue::Bucket,
        "wasmcloud:secrets/store.secret": crate::capabilities::secrets::SecretHandle,
        "wasmcloud:bus/lattice@1.0.0.call-target-interface": crate::capabilities::bus::CallTarget,
        "wasmcloud:bus/lattice@2.0.0.call-target-interface": crate::capabilities::bus::CallTarget,
        // Blob values stream through wasi:io: the same stream resources as
        // wasmtime-wasi's, in the same table.
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:blobstore/container.container": crate::capabilities::blobstore::ContainerHandle,
        "wasi:blobstore/container.stream-object-names": crate::capabilities::blobstore::ObjectNames,
        "wasi:blobstore/types.outgoing-value": crate::capabilities::blobstore::OutgoingBlob,
        "wasi:blobstore/types.incoming-value": crate::capabilities::blobstore::IncomingBlob,
    },
});
