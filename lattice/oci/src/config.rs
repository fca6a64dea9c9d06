//! [`RegistryConfig`] and the docker `config.json` credentials store.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::OciError;

/// The artifact size limit hosts apply by default (`HostConfig::max_artifact_bytes`).
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 64 << 20;

/// Bound on one registry exchange (a manifest, a blob, a login check).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Most bytes of a docker `config.json` read; a larger one is refused.
const MAX_DOCKER_CONFIG_BYTES: u64 = 1 << 20;

/// Where registry credentials come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// The docker `config.json` at `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`.
    #[default]
    DockerConfig,
    /// The docker `config.json` at this path.
    DockerConfigAt(PathBuf),
    /// No credentials: anonymous pulls only.
    Anonymous,
}

/// How the client talks to registries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Registries (`host:port` as written in references) spoken to over
    /// plain HTTP; every other one over HTTPS.
    pub insecure: Vec<String>,
    /// Where credentials come from.
    pub credentials: Credentials,
    /// Bound on each registry exchange.
    pub timeout: Duration,
    /// Largest artifact pulled or pushed.
    pub max_artifact_bytes: u64,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            credentials: Credentials::default(),
            timeout: DEFAULT_TIMEOUT,
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
        }
    }
}

impl RegistryConfig {
    /// Whether `registry` is spoken to over plain HTTP.
    pub fn is_insecure(&self, registry: &str) -> bool {
        self.insecure.iter().any(|r| r == registry)
    }

    /// The docker `config.json` path in use, if any.
    pub fn docker_config_path(&self) -> Option<PathBuf> {
        match &self.credentials {
            Credentials::DockerConfig => default_docker_config(),
            Credentials::DockerConfigAt(path) => Some(path.clone()),
            Credentials::Anonymous => None,
        }
    }

    /// Where the login for `registry` is, if anywhere. As docker does, a
    /// helper named for the registry in `credHelpers` comes first; unlike
    /// docker, a login stored in `auths` (what `trellis registry login`
    /// writes) comes before the `credsStore` default helper, so a login
    /// made here is the one used.
    pub fn credential_source(&self, registry: &str) -> Result<Option<CredentialSource>, OciError> {
        let Some(path) = self.docker_config_path() else {
            return Ok(None);
        };
        let Some(doc) = read_docker_config(&path)? else {
            return Ok(None);
        };
        let bad = |what: String| OciError::DockerConfig {
            path: path.clone(),
            reason: what,
        };
        let helper_name = |value: &serde_json::Value, field: String| match value.as_str() {
            Some(name) => Ok(name.to_owned()),
            None => Err(bad(format!("{field} is not a string"))),
        };
        if let Some((key, name)) = entry_for(&doc, "credHelpers", registry) {
            let name = helper_name(name, format!("credHelpers.\"{key}\""))?;
            return Ok(Some(CredentialSource::Helper(name)));
        }
        if let Some((key, entry)) = entry_for(&doc, "auths", registry) {
            let bad = |what: &str| bad(format!("auths.\"{key}\" {what}"));
            if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
                let decoded = STANDARD
                    .decode(auth.trim())
                    .map_err(|_| bad("has an `auth` that is not base64"))?;
                let text = String::from_utf8(decoded)
                    .map_err(|_| bad("has an `auth` that is not UTF-8"))?;
                let (user, password) = text
                    .split_once(':')
                    .ok_or_else(|| bad("has an `auth` that is not base64 of user:password"))?;
                return Ok(Some(CredentialSource::Stored(
                    user.to_owned(),
                    password.to_owned(),
                )));
            }
            let field = |k: &str| entry.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            if let Some((user, password)) = field("username").zip(field("password")) {
                return Ok(Some(CredentialSource::Stored(user, password)));
            }
            // An empty entry is what docker leaves when a helper holds
            // the login: fall through to it.
        }
        match doc.get("credsStore") {
            Some(name) => {
                let name = helper_name(name, "credsStore".into())?;
                Ok(Some(CredentialSource::DefaultHelper(name)))
            }
            None => Ok(None),
        }
    }
}

/// Where a registry's login is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// In the config.json itself: user and password (or token).
    Stored(String, String),
    /// With the credential helper `docker-credential-NAME` that
    /// `credHelpers` names for this registry.
    Helper(String),
    /// With the `credsStore` helper, the default for every registry; when
    /// it is not installed (a config.json copied from a desktop), public
    /// images still pull anonymously.
    DefaultHelper(String),
}

/// The entry for `registry` in `section` of the config.json (`auths`,
/// `credHelpers`) and the key it is under: the registry's name, or for
/// Docker Hub also the URL docker writes.
fn entry_for<'a>(
    doc: &'a serde_json::Value,
    section: &str,
    registry: &'a str,
) -> Option<(&'a str, &'a serde_json::Value)> {
    const DOCKER_HUB: &str = "https://index.docker.io/v1/";
    let hub = matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
    .then_some(DOCKER_HUB);
    let section = doc.get(section)?;
    std::iter::once(registry)
        .chain(hub)
        .find_map(|key| section.get(key).map(|entry| (key, entry)))
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_docker_config() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join("config.json")),
        _ => dirs::home_dir().map(|h| h.join(".docker").join("config.json")),
    }
}

/// The parsed file, or `None` when it does not exist.
fn read_docker_config(path: &Path) -> Result<Option<serde_json::Value>, OciError> {
    let fail = |reason: String| OciError::DockerConfig {
        path: path.to_owned(),
        reason,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e.to_string())),
    };
    if meta.len() > MAX_DOCKER_CONFIG_BYTES {
        return Err(fail(format!(
            "it is {} bytes, over the limit of {MAX_DOCKER_CONFIG_BYTES}",
            meta.len()
        )));
    }
    let text = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let doc: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| fail(format!("it is not JSON: {e}")))?;
    if !doc.is_object() {
        return Err(fail("it is not a JSON object".into()));
    }
    Ok(Some(doc))
}

/// Stores `user:password` for `registry` in the docker config at `path`,
/// keeping every other entry; the file is created 0600 and replaced
/// atomically, so a crash never leaves half a file.
pub fn store_credentials(
    path: &Path,
    registry: &str,
    user: &str,
    password: &str,
) -> Result<(), OciError> {
    let fail = |reason: String| OciError::DockerConfig {
        path: path.to_owned(),
        reason,
    };
    let mut doc = read_docker_config(path)?.unwrap_or_else(|| serde_json::json!({}));
    let auths = doc
        .as_object_mut()
        .expect("read_docker_config returns objects")
        .entry("auths")
        .or_insert_with(|| serde_json::json!({}));
    let Some(auths) = auths.as_object_mut() else {
        return Err(fail("its `auths` is not an object".into()));
    };
    let auth = STANDARD.encode(format!("{user}:{password}"));
    auths.insert(registry.to_owned(), serde_json::json!({ "auth": auth }));
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(|e| fail(format!("cannot create its folder: {e}")))?;
    let text = serde_json::to_vec_pretty(&doc).map_err(|e| fail(e.to_string()))?;
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = private_file(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(format!("cannot write it: {e}")));
    }
    Ok(())
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_reads_credentials_keeping_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.json");
        let config = RegistryConfig {
            credentials: Credentials::DockerConfigAt(path.clone()),
            ..RegistryConfig::default()
        };
        assert_eq!(config.credential_source("r.example:5000").unwrap(), None);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"auths":{"other.io":{"auth":"dTpw"}},"credsStore":"x"}"#,
        )
        .unwrap();
        store_credentials(&path, "r.example:5000", "me", "s:ecret").unwrap();
        assert_eq!(
            config.credential_source("r.example:5000").unwrap(),
            Some(CredentialSource::Stored("me".into(), "s:ecret".into()))
        );
        assert_eq!(
            config.credential_source("other.io").unwrap(),
            Some(CredentialSource::Stored("u".into(), "p".into()))
        );
        // Not in auths: the default helper.
        assert_eq!(
            config.credential_source("third.io").unwrap(),
            Some(CredentialSource::DefaultHelper("x".into()))
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["credsStore"], "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn helpers_are_found_as_docker_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"ecr.io":{"auth":"dTpw"},"https://index.docker.io/v1/":{}},
                "credHelpers":{"ecr.io":"ecr-login","bad.io":7},"credsStore":"desktop"}"#,
        )
        .unwrap();
        let config = RegistryConfig {
            credentials: Credentials::DockerConfigAt(path),
            ..RegistryConfig::default()
        };
        let helper = |name: &str| Some(CredentialSource::Helper(name.into()));
        let default = || Some(CredentialSource::DefaultHelper("desktop".into()));
        // A registry's own helper before its stored login.
        assert_eq!(
            config.credential_source("ecr.io").unwrap(),
            helper("ecr-login")
        );
        // Docker Hub's empty entry (a helper holds it) and unknown
        // registries go to the default helper.
        assert_eq!(config.credential_source("docker.io").unwrap(), default());
        assert_eq!(config.credential_source("gcr.io").unwrap(), default());
        let err = config.credential_source("bad.io").unwrap_err().to_string();
        assert!(
            err.contains("credHelpers.\"bad.io\" is not a string"),
            "{err}"
        );
    }

    #[test]
    fn a_broken_config_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{"r.io":{"auth":"***"}}}"#).unwrap();
        let config = RegistryConfig {
            credentials: Credentials::DockerConfigAt(path.clone()),
            ..RegistryConfig::default()
        };
        let err = config.credential_source("r.io").unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("base64"),
            "{err}"
        );
        std::fs::write(&path, "nope").unwrap();
        let err = store_credentials(&path, "r.io", "u", "p")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not JSON"), "{err}");
    }
}
