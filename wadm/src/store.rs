//! Apps, their versions and their status in wadm's JetStream KV bucket.
//!
//! One key per app (`app.{name}`) holds every stored version and which one
//! is deployed, so a deploy and a put never disagree; writes go through
//! compare-and-set, so two wadm instances answering the API cannot lose
//! each other's updates. The leader writes `status.{name}`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use trellis_protocol::reply::Failure;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use trellis_lattice::LatticeError;
use trellis_lattice::wadm::WadmStore;
use trellis_protocol::AppName;
use trellis_protocol::wadm::{AppStatus, AppVersion, ImageResolution, VersionInfo};

use crate::manifest::{self, Manifest, VERSION_ANNOTATION};
use crate::model::{DeployedApp, Staged};
use crate::rollout::RolloutState;

/// How many versions an app keeps; the oldest undeployed ones go first.
/// It bounds the record, which must fit in one KV value.
pub const MAX_VERSIONS: usize = 50;

/// Most bytes one app record may take as stored JSON. The record is one
/// KV value, and a value over the server's max_payload (1 MiB by default)
/// cannot be written: every later `app put` would fail. Old versions are
/// dropped to stay under it, as they are by count.
pub const MAX_RECORD_BYTES: usize = 768 * 1024;

/// How often a compare-and-set write is retried when another writer won.
const CAS_ATTEMPTS: usize = 5;

/// Everything stored about one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    /// App name.
    pub name: AppName,
    /// Stored versions, oldest first.
    pub versions: Vec<StoredVersion>,
    /// The deployed version, if any.
    pub deployed: Option<AppVersion>,
    /// The staged rollout of the last deploy that had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutState>,
}

/// Parsed manifests, by app, version and the stored text's hash. Parsing
/// every deployed app's YAML on every reconcile round was most of a
/// round's work at 10,000 apps; a stored version does not change (the
/// hash covers an app deleted and stored again under the same version).
#[derive(Debug, Default)]
pub struct ManifestCache {
    parsed: HashMap<(AppName, AppVersion, u64), Manifest>,
    /// Entries used since the last [`ManifestCache::sweep`].
    used: HashSet<(AppName, AppVersion, u64)>,
}

impl ManifestCache {
    /// `record`'s deployed app, parsing only manifests not seen before.
    pub fn deployed_app(&mut self, record: &AppRecord) -> Option<Result<DeployedApp, String>> {
        record.deployed_app_with(|version| self.manifest_of(record, version))
    }

    /// The stored manifest of `record`'s `version`, parsed only if it was
    /// not seen before (the stager asks for rollout targets this way).
    pub fn manifest_of(
        &mut self,
        record: &AppRecord,
        version: &AppVersion,
    ) -> Result<Manifest, String> {
        let stored = record
            .version(version)
            .ok_or_else(|| format!("app {} has no stored version {version}", record.name))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        stored.manifest.hash(&mut hasher);
        let key = (record.name.clone(), version.clone(), hasher.finish());
        self.used.insert(key.clone());
        if let Some(manifest) = self.parsed.get(&key) {
            return Ok(manifest.clone());
        }
        let manifest = record.manifest_of(version)?;
        self.parsed.insert(key, manifest.clone());
        Ok(manifest)
    }

    /// Drops what was not used since the last sweep (undeployed apps, old
    /// versions), so the cache holds about one pass's manifests.
    pub fn sweep(&mut self) {
        let used = std::mem::take(&mut self.used);
        self.parsed.retain(|key, _| used.contains(key));
    }
}

/// One stored manifest version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredVersion {
    /// The version.
    pub version: AppVersion,
    /// The manifest, normalized YAML.
    pub manifest: String,
    /// When it was stored (RFC 3339).
    pub stored_at: String,
    /// How the CLI resolved the version's OCI images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageResolution>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The bucket could not be read or written.
    #[error(transparent)]
    Lattice(#[from] LatticeError),
    /// The request cannot be done as asked; the failure says what sort
    /// and why, and what to do.
    #[error("{0}")]
    Refused(Failure),
    /// Other writers kept winning the compare-and-set race.
    #[error("app {0} is being changed by someone else at the same time; try again")]
    Contended(AppName),
}

impl AppRecord {
    /// The newest version.
    pub fn latest(&self) -> Option<&StoredVersion> {
        self.versions.last()
    }

    /// The stored `version`.
    pub fn version(&self, version: &AppVersion) -> Option<&StoredVersion> {
        self.versions.iter().find(|v| &v.version == version)
    }

    /// The deployed version and its manifest, parsed; with the split of
    /// a staged rollout in progress.
    pub fn deployed_app(&self) -> Option<Result<DeployedApp, String>> {
        self.deployed_app_with(|version| self.manifest_of(version))
    }

    /// [`Self::deployed_app`], parsing with `manifest_of` (a cache).
    pub fn deployed_app_with(
        &self,
        mut manifest_of: impl FnMut(&AppVersion) -> Result<Manifest, String>,
    ) -> Option<Result<DeployedApp, String>> {
        let version = self.deployed.as_ref()?;
        Some((|| {
            let manifest = manifest_of(version)?;
            let staged = match &self.rollout {
                Some(r) if r.is_active() && &r.to == version && manifest.spec.rollout.is_some() => {
                    Some(Staged {
                        from: r.from.clone(),
                        from_manifest: manifest_of(&r.from)?,
                        through: r.stage,
                    })
                }
                _ => None,
            };
            Ok(DeployedApp {
                name: self.name.clone(),
                version: version.clone(),
                manifest,
                staged,
            })
        })())
    }

    /// The stored manifest of `version`, parsed.
    pub fn manifest_of(&self, version: &AppVersion) -> Result<Manifest, String> {
        let stored = self
            .version(version)
            .ok_or_else(|| format!("app {} has no stored version {version}", self.name))?;
        manifest::parse(&stored.manifest)
            .map_err(|e| format!("stored manifest {} {version} is corrupt: {e}", self.name))
    }

    /// Deploys `version`. When its manifest has `spec.rollout` and another
    /// version runs, the change goes stage by stage from the last version
    /// that ran everywhere; otherwise at once.
    pub fn deploy(&mut self, version: AppVersion) -> Result<(), String> {
        if self.deployed.as_ref() == Some(&version) {
            return Ok(());
        }
        let staged = self.manifest_of(&version)?.spec.rollout.is_some();
        // Mid-rollout, the version that ran everywhere is the old one.
        let settled = match &self.rollout {
            Some(r) if r.is_active() => Some(r.from.clone()),
            _ => self.deployed.clone(),
        };
        self.rollout = match settled {
            Some(from) if staged && from != version => {
                Some(RolloutState::start(from, version.clone()))
            }
            _ => None,
        };
        self.deployed = Some(version);
        Ok(())
    }

    /// Undeploys: nothing runs, no rollout goes on.
    pub fn undeploy(&mut self) {
        self.deployed = None;
        self.rollout = None;
    }

    /// Whether `version` must be kept: deployed, or the old side of an
    /// active rollout.
    fn in_use(&self, version: &AppVersion) -> bool {
        self.deployed.as_ref() == Some(version)
            || self
                .rollout
                .as_ref()
                .is_some_and(|r| r.is_active() && &r.from == version)
    }

    /// `history`: versions, oldest first.
    pub fn history(&self) -> Vec<VersionInfo> {
        self.versions
            .iter()
            .map(|v| VersionInfo {
                version: v.version.clone(),
                stored_at: v.stored_at.clone(),
                deployed: self.deployed.as_ref() == Some(&v.version),
            })
            .collect()
    }

    /// Adds a version of a valid manifest (`created` false when exactly it
    /// was stored before). A version without `metadata.annotations.version`
    /// gets one derived from its content, so putting it twice is harmless.
    pub fn put(
        record: Option<Self>,
        name: AppName,
        manifest: Manifest,
        now: &str,
    ) -> Result<(Self, AppVersion, bool), String> {
        Self::put_resolved(record, name, manifest, Vec::new(), now)
    }

    /// [`AppRecord::put`], keeping how the version's OCI images were
    /// resolved (`images`) with it.
    pub fn put_resolved(
        record: Option<Self>,
        name: AppName,
        mut manifest: Manifest,
        images: Vec<ImageResolution>,
        now: &str,
    ) -> Result<(Self, AppVersion, bool), String> {
        let version = match manifest.version() {
            Some(v) => AppVersion::new(v).map_err(|e| e.to_string())?,
            None => {
                let yaml = serde_yaml::to_string(&manifest).map_err(|e| e.to_string())?;
                let digest = hex::encode(Sha256::digest(yaml.as_bytes()));
                let generated =
                    AppVersion::new(format!("sha-{}", &digest[..12])).map_err(|e| e.to_string())?;
                manifest
                    .metadata
                    .annotations
                    .insert(VERSION_ANNOTATION.into(), generated.to_string());
                generated
            }
        };
        let yaml = serde_yaml::to_string(&manifest).map_err(|e| e.to_string())?;
        let mut record = record.unwrap_or(Self {
            name,
            versions: Vec::new(),
            deployed: None,
            rollout: None,
        });
        if let Some(existing) = record.version(&version) {
            if existing.manifest == yaml {
                return Ok((record, version, false));
            }
            return Err(format!(
                "version {version} of app {} is already stored with other content, and versions never change; \
                 set metadata.annotations.version to a new version",
                record.name
            ));
        }
        record.versions.push(StoredVersion {
            version: version.clone(),
            manifest: yaml,
            stored_at: now.to_owned(),
            images,
        });
        let new = record.versions.len() - 1;
        record.evict(new)?;
        Ok((record, version, true))
    }

    /// Drops the oldest versions that are not in use (and not the one just
    /// put, at `new`) until at most [`MAX_VERSIONS`] remain and the record
    /// fits in [`MAX_RECORD_BYTES`]; refuses when it cannot fit even then.
    fn evict(&mut self, new: usize) -> Result<(), String> {
        let mut new = new;
        loop {
            let size = serde_json::to_vec(&*self).map_or(usize::MAX, |v| v.len());
            if self.versions.len() <= MAX_VERSIONS && size <= MAX_RECORD_BYTES {
                return Ok(());
            }
            let removable = self
                .versions
                .iter()
                .enumerate()
                .position(|(i, v)| i != new && !self.in_use(&v.version));
            match removable {
                Some(i) => {
                    self.versions.remove(i);
                    if i < new {
                        new -= 1;
                    }
                }
                None if size > MAX_RECORD_BYTES => {
                    let version = &self.versions[new].version;
                    return Err(format!(
                        "version {version} of app {} does not fit: with the versions in use the stored app \
                         would be {} KiB, over the limit of {} KiB; make the manifest smaller",
                        self.name,
                        size / 1024,
                        MAX_RECORD_BYTES / 1024
                    ));
                }
                None => return Ok(()),
            }
        }
    }
}

fn app_key(name: &AppName) -> String {
    format!("app.{name}")
}

fn status_key(name: &AppName) -> String {
    format!("{STATUS_PREFIX}{name}")
}

/// Key prefix of the statuses the leader writes.
const STATUS_PREFIX: &str = "status.";

/// Key prefix of app records.
pub const APP_PREFIX: &str = "app.";

/// wadm's state in the lattice.
#[derive(Clone)]
pub struct AppStore {
    kv: WadmStore,
}

impl AppStore {
    /// Wraps the lattice's wadm bucket.
    pub fn new(kv: WadmStore) -> Self {
        Self { kv }
    }

    /// The bucket, for the lease.
    pub fn bucket(&self) -> &WadmStore {
        &self.kv
    }

    /// The record of `name`.
    pub async fn get(&self, name: &AppName) -> Result<Option<AppRecord>, StoreError> {
        Ok(self
            .kv
            .get::<AppRecord>(&app_key(name))
            .await?
            .map(|v| v.value))
    }

    /// Every app record, by name, in one streamed read (a round trip per
    /// record made each reconcile round wait most of a second at 10,000
    /// apps).
    pub async fn list(&self) -> Result<Vec<AppRecord>, StoreError> {
        self.all(APP_PREFIX).await
    }

    /// Every value whose key starts with `prefix`, by key, in one
    /// streamed read.
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let filter = format!("{prefix}>");
        Ok(self
            .kv
            .values::<T>(&filter)
            .await?
            .into_iter()
            .map(|(_, v)| v.value)
            .collect())
    }

    /// Changes the record of `name` with `change` (which sees the current
    /// record and returns the new one, `None` to delete, or a refusal),
    /// retrying when another writer got in between.
    pub async fn modify<T>(
        &self,
        name: &AppName,
        mut change: impl FnMut(Option<AppRecord>) -> Result<(Option<AppRecord>, T), Failure>,
    ) -> Result<T, StoreError> {
        let key = app_key(name);
        for _ in 0..CAS_ATTEMPTS {
            let current = self.kv.get::<AppRecord>(&key).await?;
            let revision = current.as_ref().map(|v| v.revision);
            let (next, out) = change(current.map(|v| v.value)).map_err(StoreError::Refused)?;
            let written = match (next, revision) {
                (Some(record), None) => self.kv.create(&key, &record).await?.is_some(),
                (Some(record), Some(rev)) => self.kv.update(&key, &record, rev).await?.is_some(),
                (None, Some(_)) => {
                    self.kv.delete(&key).await?;
                    self.kv.delete(&status_key(name)).await?;
                    true
                }
                (None, None) => true,
            };
            if written {
                return Ok(out);
            }
        }
        Err(StoreError::Contended(name.clone()))
    }

    /// The last status the leader wrote for `name`.
    pub async fn status(&self, name: &AppName) -> Result<Option<AppStatus>, StoreError> {
        Ok(self
            .kv
            .get::<AppStatus>(&status_key(name))
            .await?
            .map(|v| v.value))
    }

    /// Every status the leader wrote, by app, in one streamed read.
    pub async fn statuses(&self) -> Result<BTreeMap<AppName, AppStatus>, StoreError> {
        let statuses: Vec<AppStatus> = self.all(STATUS_PREFIX).await?;
        Ok(statuses.into_iter().map(|s| (s.name.clone(), s)).collect())
    }

    /// Records the status of an app.
    pub async fn put_status(&self, status: &AppStatus) -> Result<(), StoreError> {
        self.kv.put(&status_key(&status.name), status).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: Option<&str>, instances: u32) -> Manifest {
        let annotations = version.map_or(String::new(), |v| {
            format!("annotations: {{ version: {v} }}")
        });
        manifest::parse(&format!(
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: web, {annotations} }}
spec:
  components:
    - name: hello
      type: component
      properties: {{ image: "nats://A/sha256-{}" }}
      traits: [ {{ type: spreadscaler, properties: {{ instances: {instances} }} }} ]
"#,
            "a".repeat(64)
        ))
        .unwrap()
    }

    fn name() -> AppName {
        AppName::new("web").unwrap()
    }

    #[test]
    fn versions_are_immutable_and_repeats_are_harmless() {
        let (r, v, created) = AppRecord::put(None, name(), manifest(Some("v1"), 1), "t0").unwrap();
        assert!(created);
        assert_eq!(v.as_str(), "v1");
        let (r, _, created) =
            AppRecord::put(Some(r), name(), manifest(Some("v1"), 1), "t1").unwrap();
        assert!(!created);
        assert_eq!(r.versions.len(), 1);
        let err =
            AppRecord::put(Some(r.clone()), name(), manifest(Some("v1"), 2), "t2").unwrap_err();
        assert!(err.contains("new version"), "{err}");
        let (r, _, _) = AppRecord::put(Some(r), name(), manifest(Some("v2"), 2), "t3").unwrap();
        assert_eq!(r.latest().unwrap().version.as_str(), "v2");
        assert_eq!(r.history().len(), 2);
    }

    #[test]
    fn missing_versions_come_from_the_content() {
        let (r, v1, _) = AppRecord::put(None, name(), manifest(None, 1), "t").unwrap();
        assert!(v1.as_str().starts_with("sha-"), "{v1}");
        let (r, again, created) = AppRecord::put(Some(r), name(), manifest(None, 1), "t").unwrap();
        assert_eq!((again, created), (v1.clone(), false));
        let (r, v2, _) = AppRecord::put(Some(r), name(), manifest(None, 3), "t").unwrap();
        assert_ne!(v1, v2);
        // The stored manifest names its version.
        let stored = manifest::parse(&r.version(&v2).unwrap().manifest).unwrap();
        assert_eq!(stored.version(), Some(v2.as_str()));
    }

    #[test]
    fn old_versions_are_dropped_but_never_the_deployed_one() {
        let (mut r, first, _) = AppRecord::put(None, name(), manifest(Some("v0"), 1), "t").unwrap();
        r.deployed = Some(first.clone());
        for i in 1..=MAX_VERSIONS {
            let v = format!("v{i}");
            r = AppRecord::put(Some(r), name(), manifest(Some(&v), 1), "t")
                .unwrap()
                .0;
        }
        assert_eq!(r.versions.len(), MAX_VERSIONS);
        assert!(r.version(&first).is_some());
        assert!(r.version(&AppVersion::new("v1").unwrap()).is_none());
    }

    #[test]
    fn old_versions_are_dropped_by_size_but_never_the_deployed_one() {
        // Each version carries ~100 KiB (a long description annotation).
        let big = |v: &str| {
            let mut m = manifest(Some(v), 1);
            m.metadata.annotations.insert(
                "description".into(),
                format!("{v}-{}", "d".repeat(100 * 1024)),
            );
            m
        };
        let (mut r, first, _) = AppRecord::put(None, name(), big("v0"), "t").unwrap();
        r.deployed = Some(first.clone());
        for i in 1..=20 {
            r = AppRecord::put(Some(r), name(), big(&format!("v{i}")), "t")
                .unwrap()
                .0;
            let size = serde_json::to_vec(&r).unwrap().len();
            assert!(size <= MAX_RECORD_BYTES, "{size} bytes after v{i}");
        }
        assert!(r.versions.len() < 10, "{} versions kept", r.versions.len());
        assert!(r.version(&first).is_some(), "the deployed version stays");
        assert_eq!(r.latest().unwrap().version.as_str(), "v20");
        // A version that cannot fit next to the deployed one is refused.
        let mut huge = manifest(Some("v99"), 1);
        huge.metadata
            .annotations
            .insert("description".into(), "h".repeat(MAX_RECORD_BYTES));
        let err = AppRecord::put(Some(r), name(), huge, "t").unwrap_err();
        assert!(err.contains("v99") && err.contains("KiB"), "{err}");
    }

    #[test]
    fn the_manifest_cache_parses_once_and_sees_a_changed_text() {
        let (mut r, first, _) = AppRecord::put(None, name(), manifest(Some("v1"), 1), "t").unwrap();
        r.deploy(first).unwrap();
        let mut cache = ManifestCache::default();
        let a = cache.deployed_app(&r).unwrap().unwrap();
        assert_eq!(a, r.deployed_app().unwrap().unwrap());
        assert_eq!(cache.parsed.len(), 1);
        cache.sweep();
        assert_eq!(cache.deployed_app(&r).unwrap().unwrap(), a);
        assert_eq!(cache.parsed.len(), 1, "served from the cache");
        // The stager asks by version (a rollout's target): the same entry.
        let deployed = r.deployed.clone().unwrap();
        assert_eq!(cache.manifest_of(&r, &deployed).unwrap(), a.manifest);
        assert_eq!(cache.parsed.len(), 1, "served from the cache");
        // Same version, other text (deleted and stored again): parsed anew.
        r.versions[0].manifest = r.versions[0]
            .manifest
            .replace("instances: 1", "instances: 3");
        let b = cache.deployed_app(&r).unwrap().unwrap();
        assert_ne!(a, b);
        assert_eq!(b, r.deployed_app().unwrap().unwrap());
        // Unused since the last sweep: dropped.
        cache.sweep();
        cache.sweep();
        assert!(cache.parsed.is_empty());
    }

    fn with_rollout(version: &str) -> Manifest {
        let mut m = manifest(Some(version), 1);
        m.spec.rollout = Some(
            serde_yaml::from_str("stages: [ { name: canary, max_hosts: 1 }, { name: rest } ]")
                .unwrap(),
        );
        m
    }

    #[test]
    fn a_deploy_with_a_rollout_stages_from_what_ran_everywhere() {
        let v = |s: &str| AppVersion::new(s).unwrap();
        let (mut r, _, _) = AppRecord::put(None, name(), with_rollout("v1"), "t").unwrap();
        for next in ["v2", "v3"] {
            r = AppRecord::put(Some(r), name(), with_rollout(next), "t")
                .unwrap()
                .0;
        }
        // The first deploy has nothing to stage from.
        r.deploy(v("v1")).unwrap();
        assert_eq!(r.rollout, None);
        r.deploy(v("v2")).unwrap();
        let staged = r.deployed_app().unwrap().unwrap().staged.unwrap();
        assert_eq!((staged.from.as_str(), staged.through), ("v1", 0));
        // v3 in the middle of v1 -> v2: from v1, which still runs somewhere.
        r.deploy(v("v3")).unwrap();
        let rollout = r.rollout.clone().unwrap();
        assert_eq!((rollout.from.as_str(), rollout.to.as_str()), ("v1", "v3"));
        // Back to v1 during that rollout: at once, no rollout.
        r.deploy(v("v1")).unwrap();
        assert_eq!(r.rollout, None);
        assert!(r.deployed_app().unwrap().unwrap().staged.is_none());
        r.undeploy();
        assert_eq!((r.deployed.clone(), r.rollout.clone()), (None, None));
    }
}
