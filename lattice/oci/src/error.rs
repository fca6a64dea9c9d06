//! [`OciError`]: what went wrong with a registry, and what to do.

use std::path::PathBuf;
use std::time::Duration;

use crate::reference::ReferenceError;

/// Why a pull, push or login failed. Each names the registry or reference
/// and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference text is not valid.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The registry wants credentials, or refused the ones sent.
    #[error(
        "registry {registry} refused {what}: not authorized; run `trellis registry login {registry}` \
         (credentials are read from the docker config.json)"
    )]
    Unauthorized {
        /// The registry.
        registry: String,
        /// What was asked (`pull of REF`, `push of REF`, `login`).
        what: String,
    },
    /// Login: the registry refused the user and password given.
    #[error(
        "registry {registry} refused the login of `{user}`: check the user name and password (or token)"
    )]
    LoginRefused {
        /// The registry.
        registry: String,
        /// The user name tried.
        user: String,
    },
    /// HTTPS was spoken to a plain-HTTP registry (or the TLS handshake failed).
    #[error(
        "registry {registry}: TLS failed ({detail}); if it is a plain-HTTP registry use \
         `--allow-insecure {registry}`"
    )]
    Tls {
        /// The registry.
        registry: String,
        /// The client's error.
        detail: String,
    },
    /// The registry could not be reached.
    #[error("registry {registry} cannot be reached ({detail}); check the address and that it runs")]
    Unreachable {
        /// The registry.
        registry: String,
        /// The client's error.
        detail: String,
    },
    /// The reference names nothing in the registry.
    #[error("{reference} does not exist in its registry ({detail}); check the repository and tag")]
    NotFound {
        /// The reference.
        reference: String,
        /// The registry's words.
        detail: String,
    },
    /// The manifest has no layer this host can run.
    #[error(
        "{reference} has no wasm layer: its layers are [{found}], accepted are [{accepted}]; \
         push the component with `trellis push oci://{reference} FILE` or `wash push`"
    )]
    NoWasmLayer {
        /// The reference.
        reference: String,
        /// Media types of the layers found.
        found: String,
        /// Media types accepted.
        accepted: String,
    },
    /// The artifact is larger than allowed.
    #[error(
        "{reference} is {size} bytes, over the limit of {limit} bytes; hosts refuse artifacts \
         this large (raise the hosts' --max-artifact-mb first)"
    )]
    TooLarge {
        /// The reference.
        reference: String,
        /// Its size (as announced, or as much as was read).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes received do not hash to the digest asked for.
    #[error(
        "{reference}: the layer's bytes hash to {actual}, not {expected}; the registry sent something else"
    )]
    DigestMismatch {
        /// The reference.
        reference: String,
        /// The digest in the manifest.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The registry did not answer in time.
    #[error("registry {registry} did not answer {what} within {timeout:?}; try again, or check it")]
    Timeout {
        /// The registry.
        registry: String,
        /// What was asked.
        what: String,
        /// The bound.
        timeout: Duration,
    },
    /// The registry answered with an error not covered above.
    #[error("registry {registry} failed {what}: {detail}")]
    Registry {
        /// The registry.
        registry: String,
        /// What was asked.
        what: String,
        /// The client's error.
        detail: String,
    },
    /// The docker config.json cannot be read or written.
    #[error("docker config {}: {reason}", path.display())]
    DockerConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A docker credential helper named in the config.json failed.
    #[error("credential helper {program} for registry {registry}: {reason}")]
    CredentialHelper {
        /// The helper program (`docker-credential-NAME`).
        program: String,
        /// The registry asked about.
        registry: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// Login has no place to keep the credentials.
    #[error("no docker config.json location: set DOCKER_CONFIG or HOME")]
    NoDockerConfig,
}

impl OciError {
    /// Sorts an oci-client error into what the user can act on.
    pub(crate) fn from_client(
        registry: &str,
        reference: &str,
        what: &str,
        e: oci_client::errors::OciDistributionError,
    ) -> Self {
        use oci_client::errors::{OciDistributionError as E, OciErrorCode};
        let detail = chain(&e);
        let registry = registry.to_owned();
        let what = what.to_owned();
        let lower = detail.to_lowercase();
        match &e {
            E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => {
                return Self::Unauthorized { registry, what };
            }
            E::ImageManifestNotFoundError(_) => {
                return Self::NotFound {
                    reference: reference.to_owned(),
                    detail,
                };
            }
            E::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    return Self::Unauthorized { registry, what };
                }
                if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    return Self::NotFound {
                        reference: reference.to_owned(),
                        detail,
                    };
                }
            }
            E::ServerError { code, .. } if *code == 401 || *code == 403 => {
                return Self::Unauthorized { registry, what };
            }
            E::ServerError { code: 404, .. } => {
                return Self::NotFound {
                    reference: reference.to_owned(),
                    detail,
                };
            }
            _ => {}
        }
        let tls_words = [
            "tls",
            "certificate",
            "corrupt message",
            "invalidcontenttype",
            "handshake",
        ];
        if tls_words.iter().any(|w| lower.contains(w)) {
            return Self::Tls { registry, detail };
        }
        let unreachable_words = ["connection refused", "dns", "connect", "unreachable"];
        if unreachable_words.iter().any(|w| lower.contains(w)) {
            return Self::Unreachable { registry, detail };
        }
        if lower.contains("401") || lower.contains("unauthorized") {
            return Self::Unauthorized { registry, what };
        }
        Self::Registry {
            registry,
            what,
            detail,
        }
    }
}

/// The error and its sources, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
