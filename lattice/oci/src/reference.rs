//! [`ImageReference`]: an OCI reference as wasmCloud and Spin write them.

use std::fmt;
use std::str::FromStr;

/// Most bytes a reference may have; longer text is refused before parsing.
pub const MAX_REFERENCE_LEN: usize = 512;

/// The optional scheme some tools put before a reference.
pub const OCI_SCHEME: &str = "oci://";

/// Why a text is not an OCI reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not an OCI reference: {reason}; write REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST, e.g. ghcr.io/org/app:0.1.0"
)]
pub struct ReferenceError {
    /// The text as given (cut to a readable length).
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A fully qualified OCI reference: `REGISTRY/REPO[:TAG][@sha256:HEX]`.
///
/// The registry is always written out (a host with a dot or a port, or
/// `localhost`), as wasmCloud manifests do, so no Docker Hub default is
/// guessed. Without tag and digest the tag `latest` is meant, as with
/// every OCI tool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageReference {
    /// Parses `text`, with or without a leading `oci://`.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let fail = |reason: &str| ReferenceError {
            text: text.chars().take(80).collect(),
            reason: reason.to_owned(),
        };
        if text.len() > MAX_REFERENCE_LEN {
            return Err(fail(&format!(
                "it is {} bytes long, over the limit of {MAX_REFERENCE_LEN}",
                text.len()
            )));
        }
        let rest = text.strip_prefix(OCI_SCHEME).unwrap_or(text);
        if rest.contains("://") {
            return Err(fail("it has a scheme other than oci://"));
        }
        let (rest, digest) = match rest.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (rest, None),
        };
        if let Some(d) = digest {
            check_digest(d).map_err(|r| fail(&r))?;
        }
        let Some((registry, path)) = rest.split_once('/') else {
            return Err(fail("it names no registry (the part before the first `/`)"));
        };
        if !is_registry(registry) {
            return Err(fail(&format!(
                "`{registry}` is not a registry: a registry has a dot or a port, or is localhost"
            )));
        }
        check_host(registry).map_err(|r| fail(&r))?;
        // A tag's colon comes after the last slash; a port's before it.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
            _ => (path, None),
        };
        check_repository(repository).map_err(|r| fail(&r))?;
        if let Some(t) = tag {
            check_tag(t).map_err(|r| fail(&r))?;
        }
        Ok(Self {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// The registry, `host[:port]`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, when one was written.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The manifest digest (`sha256:HEX`), when one was written.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The same reference pinned to `digest` (keeping the tag for readers).
    pub fn with_digest(&self, digest: &str) -> Result<Self, ReferenceError> {
        check_digest(digest).map_err(|reason| ReferenceError {
            text: digest.chars().take(80).collect(),
            reason,
        })?;
        Ok(Self {
            digest: Some(digest.to_owned()),
            ..self.clone()
        })
    }

    /// The reference in oci-client's form.
    pub(crate) fn to_client(&self) -> oci_client::Reference {
        match (&self.tag, &self.digest) {
            (Some(tag), Some(digest)) => oci_client::Reference::with_tag_and_digest(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone(),
                digest.clone(),
            ),
            (None, Some(digest)) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                digest.clone(),
            ),
            (tag, None) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        }
    }
}

/// Whether the first path part names a registry rather than a Docker Hub
/// namespace: it has a dot or a port, or is `localhost`.
pub fn is_registry(part: &str) -> bool {
    part.contains('.') || part.contains(':') || part == "localhost"
}

fn check_host(registry: &str) -> Result<(), String> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (registry, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-']);
    if !host_ok {
        return Err(format!(
            "registry host `{host}` may only have letters, digits, dots and dashes"
        ));
    }
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |n| n == 0)
    {
        return Err(format!(
            "registry port `{p}` is not a number from 1 to 65535"
        ));
    }
    Ok(())
}

fn check_repository(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("the repository after the registry is empty".into());
    }
    for part in repo.split('/') {
        let ok = !part.is_empty()
            && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !ok {
            return Err(format!(
                "repository part `{part}` must be lowercase letters and digits, joined by `.`, `_` or `-`"
            ));
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag `{tag}` must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
        ))
    }
}

fn check_digest(digest: &str) -> Result<(), String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("digest `{digest}` must start with `sha256:`"))?;
    if hex.len() == 64 && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
        Ok(())
    } else {
        Err(format!(
            "digest `{digest}` must be `sha256:` and 64 lowercase hex digits"
        ))
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageReference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, ReferenceError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_what_wasmcloud_writes_and_round_trips() {
        let digest = format!("sha256:{HEX}");
        let cases = [
            "ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0".to_owned(),
            format!("ghcr.io/org/repo@{digest}"),
            format!("ghcr.io/org/repo:1.2@{digest}"),
            "localhost:5000/x:1".to_owned(),
            "localhost/x".to_owned(),
            "127.0.0.1:5000/demo/hello:0.1.0".to_owned(),
        ];
        for text in &cases {
            let r = ImageReference::parse(text).unwrap();
            assert_eq!(&r.to_string(), text);
            assert_eq!(ImageReference::parse(&r.to_string()).unwrap(), r);
        }
        let r = ImageReference::parse("oci://localhost:5000/x:1").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "x");
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.to_string(), "localhost:5000/x:1");
        let r = ImageReference::parse(&format!("ghcr.io/a/b:t@{digest}")).unwrap();
        assert_eq!((r.tag(), r.digest()), (Some("t"), Some(digest.as_str())));
    }

    #[test]
    fn refuses_with_reasons() {
        let cases = [
            ("oci://x", "names no registry"),
            ("wasmcloud/hello:1", "is not a registry"),
            ("ghcr.io/", "repository"),
            ("ghcr.io/Org/x", "lowercase"),
            ("ghcr.io/a/x:", "tag"),
            ("ghcr.io/a/x@sha256:abc", "64 lowercase hex"),
            ("ghcr.io/a/x@md5:abc", "sha256:"),
            ("ghcr.io:99999/a", "port"),
            ("https://ghcr.io/a", "scheme"),
        ];
        for (text, why) in cases {
            let err = ImageReference::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.contains("REGISTRY/REPO:TAG"), "{err}");
        }
        let long = format!("ghcr.io/{}", "a".repeat(600));
        let err = ImageReference::parse(&long).unwrap_err().to_string();
        assert!(err.contains("over the limit"), "{err}");
    }
}
