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
        "wasmcloud:bus/lattice@1.0.0.call-target-interface": crate::capabilities::bus::CallTarget,
        "wasmcloud:bus/lattice@2.0.0.call-target-interface": crate::capabilities::bus::CallTarget,
    },
});
