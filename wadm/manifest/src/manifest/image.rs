//! `properties.image` references.

use std::fmt;

/// Names accepted after `builtin://`.
pub const BUILTIN_PROVIDERS: &[&str] = &[
    "http-server",
    "http-client",
    "messaging-nats",
    "blobstore-fs",
    "blobstore-nats",
    "keyvalue-sled",
    "keyvalue-nats",
];

/// A parsed `properties.image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `file://PATH`; a relative PATH is relative to the manifest's folder.
    File(String),
    /// `nats://BUCKET/KEY`: an artifact already pushed into the lattice.
    Nats(String),
    /// `builtin://NAME` (or wasmCloud's `wasmcloud+builtin://NAME`): a
    /// provider compiled into the host.
    Builtin(String),
    /// An OCI reference, `REGISTRY/REPO[:TAG][@sha256:HEX]`, written bare
    /// (as wasmCloud manifests do) or after `oci://`; held without the
    /// scheme. The CLI pulls it when it deploys.
    Oci(String),
}

/// What an image may be, for error messages.
const ACCEPTED: &str = "use an OCI reference (REGISTRY/REPO:TAG, e.g. ghcr.io/org/app:0.1.0, or oci://...), \
     file://PATH, the nats:// reference `trellis push FILE` prints, or builtin://NAME for a provider";

impl ImageRef {
    /// Splits `image` into scheme and rest; the error says what is accepted.
    pub fn parse(image: &str) -> Result<Self, String> {
        let Some((scheme, rest)) = image.split_once("://") else {
            return oci_reference(image)
                .map(|r| Self::Oci(r.to_owned()))
                .map_err(|why| format!("image `{image}` is not supported: {why}; {ACCEPTED}"));
        };
        if rest.is_empty() {
            return Err(format!(
                "image `{image}` names nothing after `{scheme}://`; {ACCEPTED}"
            ));
        }
        match scheme {
            "file" => Ok(Self::File(rest.to_owned())),
            "nats" => Ok(Self::Nats(rest.to_owned())),
            "builtin" | "wasmcloud+builtin" => Ok(Self::Builtin(rest.to_owned())),
            "oci" => oci_reference(rest)
                .map(|r| Self::Oci(r.to_owned()))
                .map_err(|why| {
                    format!("image `{image}` is not an OCI reference: {why}; {ACCEPTED}")
                }),
            _ => Err(format!(
                "image `{image}` has unknown scheme `{scheme}://`; {ACCEPTED}"
            )),
        }
    }
}

/// Checks the shape of an OCI reference, `REGISTRY/REPO[:TAG][@sha256:HEX]`,
/// whose registry part has a dot or a port or is `localhost`. The CLI's
/// registry client parses it fully before it pulls; this only tells a
/// reference from a typo, without IO.
fn oci_reference(text: &str) -> Result<&str, String> {
    let (name, digest) = match text.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (text, None),
    };
    let Some((registry, repo)) = name.split_once('/') else {
        return Err("it has no scheme and no REGISTRY/ part".into());
    };
    let is_registry = registry.contains('.') || registry.contains(':') || registry == "localhost";
    if !is_registry {
        return Err(format!(
            "`{registry}` is not a registry (a registry has a dot or a port, or is localhost)"
        ));
    }
    let registry_ok = registry
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
    let repo_ok = !repo.is_empty()
        && !repo.starts_with(':')
        && repo
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c))
        && repo.split('/').all(|part| !part.is_empty());
    if !registry_ok || !repo_ok {
        return Err("a reference is REGISTRY/REPO[:TAG][@sha256:HEX]".into());
    }
    if let Some(d) = digest {
        let hex = d.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("digest `{d}` is not sha256: and 64 hex digits"));
        }
    }
    Ok(text)
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "file://{p}"),
            Self::Nats(p) => write!(f, "nats://{p}"),
            Self::Builtin(p) => write!(f, "builtin://{p}"),
            Self::Oci(r) => write!(f, "oci://{r}"),
        }
    }
}
