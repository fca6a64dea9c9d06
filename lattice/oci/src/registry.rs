//! [`Registry`]: pull, push and login against OCI registries.

use std::future::Future;
use std::path::PathBuf;

use futures::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol, ImageLayer};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use sha2::{Digest as _, Sha256};

use crate::config::{CredentialSource, RegistryConfig, store_credentials};
use crate::{
    ACCEPTED_LAYER_MEDIA_TYPES, ImageReference, OCI_MANIFEST_MEDIA_TYPE, OciError,
    WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE,
};

/// A component pulled from a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The wasm layer's bytes (digest and size checked).
    pub bytes: Vec<u8>,
    /// The manifest digest (`sha256:HEX`) the reference resolved to.
    pub manifest_digest: String,
    /// The reference pinned to that digest.
    pub reference_with_digest: ImageReference,
}

/// A client for OCI registries, configured once.
pub struct Registry {
    config: RegistryConfig,
    client: Client,
}

impl Registry {
    /// A client for `config`; nothing is contacted yet.
    pub fn new(config: RegistryConfig) -> Self {
        // reqwest (without its own provider) takes the process default;
        // ring is the one the workspace builds. An earlier install (by
        // this or anything else in the process) stands.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(config.insecure.clone()),
            connect_timeout: Some(config.timeout),
            read_timeout: Some(config.timeout),
            // Wasm artifacts in an index are picked by their wasm
            // platform, or taken when the index has only one entry.
            platform_resolver: Some(Box::new(|entries| {
                let wasm = entries.iter().find(|e| {
                    e.platform
                        .as_ref()
                        .is_some_and(|p| p.architecture.to_string() == "wasm")
                });
                let only = (entries.len() == 1).then(|| &entries[0]);
                wasm.or(only).map(|e| e.digest.clone())
            })),
            ..ClientConfig::default()
        });
        Self { config, client }
    }

    /// The configuration in use.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    async fn auth(&self, registry: &str) -> Result<RegistryAuth, OciError> {
        let login = match self.config.credential_source(registry)? {
            Some(CredentialSource::Stored(user, password)) => Some((user, password)),
            Some(CredentialSource::Helper(name)) => {
                crate::helper::get(&name, registry, self.config.timeout, false).await?
            }
            Some(CredentialSource::DefaultHelper(name)) => {
                crate::helper::get(&name, registry, self.config.timeout, true).await?
            }
            None => None,
        };
        Ok(match login {
            Some((user, password)) => RegistryAuth::Basic(user, password),
            None => RegistryAuth::Anonymous,
        })
    }

    /// Runs one registry exchange under the configured timeout, sorting
    /// its error.
    async fn bounded<T>(
        &self,
        reference: &ImageReference,
        what: &str,
        call: impl Future<Output = Result<T, oci_client::errors::OciDistributionError>>,
    ) -> Result<T, OciError> {
        let registry = reference.registry();
        match tokio::time::timeout(self.config.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(OciError::from_client(
                registry,
                &reference.to_string(),
                what,
                e,
            )),
            Err(_) => Err(OciError::Timeout {
                registry: registry.to_owned(),
                what: what.to_owned(),
                timeout: self.config.timeout,
            }),
        }
    }

    /// Pulls the wasm component `reference` names: resolves the manifest,
    /// picks its wasm layer, and downloads it within the size limit,
    /// checking its digest.
    pub async fn pull(&self, reference: &ImageReference) -> Result<Pulled, OciError> {
        let what = format!("pull of {reference}");
        let auth = self.auth(reference.registry()).await?;
        let client_ref = reference.to_client();
        let (manifest, manifest_digest) = self
            .bounded(
                reference,
                &what,
                self.client.pull_image_manifest(&client_ref, &auth),
            )
            .await?;
        let reference_with_digest = reference.with_digest(&manifest_digest)?;
        let Some(layer) = manifest
            .layers
            .iter()
            .find(|l| ACCEPTED_LAYER_MEDIA_TYPES.contains(&l.media_type.as_str()))
        else {
            let found: Vec<&str> = manifest
                .layers
                .iter()
                .map(|l| l.media_type.as_str())
                .collect();
            return Err(OciError::NoWasmLayer {
                reference: reference.to_string(),
                found: found.join(", "),
                accepted: ACCEPTED_LAYER_MEDIA_TYPES.join(", "),
            });
        };
        let limit = self.config.max_artifact_bytes;
        let too_large = |size: u64| OciError::TooLarge {
            reference: reference.to_string(),
            size,
            limit,
        };
        let announced = u64::try_from(layer.size).unwrap_or(u64::MAX);
        if announced > limit {
            return Err(too_large(announced));
        }
        let download = async {
            let mut stream = self.client.pull_blob_stream(&client_ref, layer).await?;
            if let Some(length) = stream.content_length
                && length > limit
            {
                return Ok(Err(too_large(length)));
            }
            let mut bytes = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                if (bytes.len() + chunk.len()) as u64 > limit {
                    return Ok(Err(too_large((bytes.len() + chunk.len()) as u64)));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(Ok(bytes))
        };
        let bytes = self.bounded(reference, &what, download).await??;
        let actual = sha256_digest(&bytes);
        if actual != layer.digest {
            return Err(OciError::DigestMismatch {
                reference: reference.to_string(),
                expected: layer.digest.clone(),
                actual,
            });
        }
        Ok(Pulled {
            bytes,
            manifest_digest,
            reference_with_digest,
        })
    }

    /// Pushes `bytes` as a wasm component to `reference` in the layout
    /// wasmCloud's current tools write (one `application/wasm` layer, a
    /// `application/vnd.wasm.config.v0+json` config); returns the manifest
    /// digest.
    pub async fn push(
        &self,
        reference: &ImageReference,
        bytes: Vec<u8>,
    ) -> Result<String, OciError> {
        let what = format!("push of {reference}");
        let limit = self.config.max_artifact_bytes;
        if bytes.len() as u64 > limit {
            return Err(OciError::TooLarge {
                reference: reference.to_string(),
                size: bytes.len() as u64,
                limit,
            });
        }
        let auth = self.auth(reference.registry()).await?;
        let client_ref = reference.to_client();
        let layer_digest = sha256_digest(&bytes);
        let layer_size = bytes.len() as i64;
        // A fixed creation time keeps the manifest digest a function of
        // the bytes alone, so pushing the same component twice is a no-op.
        let config = serde_json::to_vec(&serde_json::json!({
            "created": "1970-01-01T00:00:00Z",
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [layer_digest],
        }))
        .expect("a JSON literal serializes");
        let config_digest = sha256_digest(&config);
        let manifest = OciImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_owned()),
            config: OciDescriptor {
                media_type: WASM_CONFIG_MEDIA_TYPE.to_owned(),
                digest: config_digest.clone(),
                size: config.len() as i64,
                ..OciDescriptor::default()
            },
            layers: vec![OciDescriptor {
                media_type: WASM_LAYER_MEDIA_TYPE.to_owned(),
                digest: layer_digest.clone(),
                size: layer_size,
                ..OciDescriptor::default()
            }],
            subject: None,
            artifact_type: None,
            annotations: None,
        };
        let body = serde_json::to_vec(&manifest).map_err(|e| OciError::Registry {
            registry: reference.registry().to_owned(),
            what: what.clone(),
            detail: format!("cannot encode the manifest: {e}"),
        })?;
        let manifest_digest = sha256_digest(&body);
        let layer = ImageLayer::new(bytes, WASM_LAYER_MEDIA_TYPE.to_owned(), None);
        self.client
            .store_auth_if_needed(reference.registry(), &auth)
            .await;
        self.bounded(
            reference,
            &what,
            self.client
                .auth(&client_ref, &auth, RegistryOperation::Push),
        )
        .await?;
        self.bounded(
            reference,
            &what,
            self.client
                .push_blob(&client_ref, layer.data, &layer_digest),
        )
        .await?;
        self.bounded(
            reference,
            &what,
            self.client.push_blob(&client_ref, config, &config_digest),
        )
        .await?;
        let content_type = OCI_MANIFEST_MEDIA_TYPE
            .parse()
            .expect("the manifest media type is a valid header value");
        self.bounded(
            reference,
            &what,
            self.client
                .push_manifest_raw(&client_ref, body, content_type),
        )
        .await?;
        Ok(manifest_digest)
    }

    /// Checks `user`/`password` against `registry` with an authenticated
    /// request, then stores them in the docker config.json (returned).
    pub async fn login(
        &self,
        registry: &str,
        user: &str,
        password: &str,
    ) -> Result<PathBuf, OciError> {
        let path = self
            .config
            .docker_config_path()
            .or_else(crate::config::default_docker_config)
            .ok_or(OciError::NoDockerConfig)?;
        // A repository nobody pushes to: the check needs a name, not content.
        let probe = ImageReference::parse(&format!("{registry}/trellis-login-check:latest"))?;
        let probe_ref = probe.to_client();
        let auth = RegistryAuth::Basic(user.to_owned(), password.to_owned());
        // A fresh client, so no token cached from earlier calls vouches
        // for these credentials.
        let checker = Registry::new(RegistryConfig {
            credentials: crate::Credentials::Anonymous,
            ..self.config.clone()
        });
        let refused = |e: OciError| match e {
            OciError::Unauthorized { registry, .. } => OciError::LoginRefused {
                registry,
                user: user.to_owned(),
            },
            other => other,
        };
        let token = checker
            .bounded(
                &probe,
                "login",
                checker
                    .client
                    .auth(&probe_ref, &auth, RegistryOperation::Pull),
            )
            .await
            .map_err(refused)?;
        // A token registry checked the password when it issued a token; a
        // basic-auth registry is asked for a manifest: with good
        // credentials it says "unknown", with bad ones 401.
        if token.is_none() {
            match checker
                .bounded(
                    &probe,
                    "login",
                    checker.client.fetch_manifest_digest(&probe_ref, &auth),
                )
                .await
            {
                Ok(_) | Err(OciError::NotFound { .. }) => {}
                Err(e) => return Err(refused(e)),
            }
        }
        store_credentials(&path, registry, user, password)?;
        Ok(path)
    }
}

/// `sha256:HEX` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
