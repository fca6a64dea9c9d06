//! Application manifests: types, parsing and validation. No IO here.
//!
//! [`parse`] turns YAML into a [`Manifest`] (shape errors carry a line and
//! column); [`parse_report`] reads as much as it can and lists every shape
//! problem; [`validate`] then lists every rule's [`Problem`] at once, each
//! with the path of the field at fault; [`warnings`] what is read but not
//! acted on as written.

mod humanize;
mod image;
mod parse;
mod providers;
mod rollout;
mod types;
mod validate;
mod warnings;

#[cfg(test)]
mod compat_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

pub use humanize::humanize;
pub use image::{BUILTIN_PROVIDERS, ImageRef};
pub use parse::{check, parse_report};
pub use providers::builtin_for_image;
pub use rollout::{
    DEFAULT_BAKE_SECONDS, DEFAULT_MAX_ERROR_RATE, HealthProbe, OnFailure, Rollout, Stage,
};
pub use types::{
    API_VERSION, Component, ComponentKind, ConfigRef, DAEMONSCALER, DaemonScalerProperties, KIND,
    LINK, LinkProperties, LinkSource, LinkTarget, Manifest, Metadata, Policy, Properties, RawTrait,
    SECRET_POLICY_TYPE, SHARED_ANNOTATION, SPREADSCALER, SecretProperties, SecretRef,
    SharedComponentRef, Spec, Spread, SpreadScalerProperties, Trait, VERSION_ANNOTATION,
};
pub use validate::{MAX_INSTANCES, SECRET_BACKENDS, component_path, validate};
pub use warnings::warnings;

/// Why a manifest could not be read or parsed at all.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not YAML, or YAML that does not have the manifest's shape.
    #[error("{message}")]
    Syntax {
        /// serde_yaml's description, including the position when known.
        message: String,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
    },
    /// The manifest file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// One thing wrong with a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where, e.g. `spec.components[1] (http).traits[1] (link).properties.target.name`.
    pub path: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Parses a YAML manifest. Only shape errors fail here; rules are checked
/// by [`validate`].
pub fn parse(yaml: &str) -> Result<Manifest, ManifestError> {
    serde_yaml::from_str(yaml).map_err(|e| {
        let location = e.location();
        ManifestError::Syntax {
            message: e.to_string(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
        }
    })
}
