//! OCI registries for Trellis: wasm components as OCI artifacts, the way
//! wasmCloud (`wash push`) and Spin publish them.
//!
//! [`Registry::pull`] resolves a reference to its manifest digest and
//! downloads the wasm layer (size and digest checked); [`Registry::push`]
//! writes the `application/wasm` layout; [`Registry::login`] checks
//! credentials and keeps them in the docker `config.json`, where pulls
//! and pushes read them.

mod config;
mod error;
mod helper;
mod reference;
mod registry;

pub use config::{
    CredentialSource, Credentials, DEFAULT_MAX_ARTIFACT_BYTES, DEFAULT_TIMEOUT, RegistryConfig,
    default_docker_config, store_credentials,
};
pub use error::OciError;
pub use reference::{ImageReference, MAX_REFERENCE_LEN, OCI_SCHEME, ReferenceError, is_registry};
pub use registry::{Pulled, Registry, sha256_digest};

/// The layer media type of the OCI Wasm WG layout (`oci-wasm`, current wasmCloud, Spin).
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The config media type written with [`WASM_LAYER_MEDIA_TYPE`].
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The layer media type older wasmCloud tools wrote.
pub const LEGACY_WASMCLOUD_LAYER_MEDIA_TYPE: &str =
    "application/vnd.module.wasm.content.layer.v1+wasm";
/// The layer media type of the Wasm WG's earlier draft (`wasm-to-oci`).
pub const DRAFT_WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// The OCI image manifest media type.
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Layer media types a pull accepts as the component.
pub const ACCEPTED_LAYER_MEDIA_TYPES: &[&str] = &[
    WASM_LAYER_MEDIA_TYPE,
    LEGACY_WASMCLOUD_LAYER_MEDIA_TYPE,
    DRAFT_WASM_LAYER_MEDIA_TYPE,
];
