//! The wadm API on `trellis.{lattice}.wadm.app.{op}` and what it answers.
//!
//! Manifests travel as YAML text: the protocol crate does not know the
//! manifest model (that is `trellis-wadm`'s), only that wadm validates it.
//! Replies use the control envelope ([`crate::control::Reply`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::AppName;

/// Annotation naming the app a workload or link belongs to.
pub const APP_ANNOTATION: &str = "trellis.dev/app";
/// Annotation naming the app version that last placed a workload or link.
pub const APP_VERSION_ANNOTATION: &str = "trellis.dev/app-version";
/// Annotation marking what wadm manages; wadm never touches anything without it.
pub const MANAGED_BY_ANNOTATION: &str = "trellis.dev/managed-by";
/// Value of [`MANAGED_BY_ANNOTATION`] on what wadm manages.
pub const MANAGED_BY_WADM: &str = "wadm";

/// Why a version string is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "app version `{0}` is not valid: use 1 to 64 visible characters without whitespace, e.g. `v1.2.0`"
)]
pub struct VersionError(String);

/// An app version (`metadata.annotations.version`, or generated).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppVersion(String);

impl AppVersion {
    /// Validates `value`.
    pub fn new(value: impl Into<String>) -> Result<Self, VersionError> {
        let value = value.into();
        let ok =
            !value.is_empty() && value.len() <= 64 && value.chars().all(|c| c.is_ascii_graphic());
        if ok {
            Ok(Self(value))
        } else {
            Err(VersionError(value))
        }
    }

    /// The version as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AppVersion {
    type Error = VersionError;
    fn try_from(s: String) -> Result<Self, VersionError> {
        Self::new(s)
    }
}

impl From<AppVersion> for String {
    fn from(v: AppVersion) -> String {
        v.0
    }
}

/// `put`: store a manifest version (it is not deployed by this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutRequest {
    /// The manifest as YAML, with images wadm can resolve (`nats://`,
    /// `builtin://`); the CLI uploads `file://` images and pulls OCI
    /// images, and rewrites them.
    pub manifest: String,
    /// How the CLI resolved the manifest's OCI images, kept with the
    /// version and shown by `status`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageResolution>,
}

impl PutRequest {
    /// A request for `manifest` with no OCI images resolved.
    pub fn new(manifest: String) -> Self {
        Self {
            manifest,
            images: Vec::new(),
        }
    }
}

/// Most resolved images one put may record (one per component at most).
pub const MAX_IMAGE_RESOLUTIONS: usize = 256;

/// One OCI image the CLI resolved at put time: what the manifest said,
/// the manifest digest it resolved to, and where the bytes now live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageResolution {
    /// The manifest component (`spec.components[].name`).
    pub component: String,
    /// The reference as written in the manifest.
    pub reference: String,
    /// The OCI manifest digest it resolved to (`sha256:HEX`).
    pub digest: String,
    /// The lattice artifact holding the component (`nats://...`).
    pub artifact: String,
}

/// Reply data of `put`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutReply {
    /// App name.
    pub name: AppName,
    /// The version stored (given or generated).
    pub version: AppVersion,
    /// False when exactly this version with the same content was stored before.
    pub created: bool,
}

/// Requests naming an app, and optionally one version: `get`, `deploy`,
/// `undeploy`, `delete`, `status`, `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRequest {
    /// App name.
    pub name: AppName,
    /// The version meant (`get`, `deploy`); the latest stored when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<AppVersion>,
}

/// Reply data of `get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetReply {
    /// App name.
    pub name: AppName,
    /// The version returned.
    pub version: AppVersion,
    /// The manifest as stored (YAML).
    pub manifest: String,
    /// Whether this is the deployed version.
    pub deployed: bool,
}

/// Reply data of `deploy` and `undeploy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployReply {
    /// App name.
    pub name: AppName,
    /// The version now deployed; `None` after `undeploy`.
    pub version: Option<AppVersion>,
}

/// One stored version (`history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The version.
    pub version: AppVersion,
    /// When it was stored (RFC 3339).
    pub stored_at: String,
    /// Whether it is the deployed version.
    pub deployed: bool,
}

/// `list` with a body: one page of the stored apps, by name. An empty
/// or `null` body (callers from before paging) gets every app as a plain
/// array instead, which fails once it outgrows one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppListRequest {
    /// Apps whose name sorts after this one: the `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<AppName>,
    /// Bytes of apps per page; wadm clamps it as hosts clamp inventory
    /// pages, and to what its NATS connection can send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_bytes: Option<usize>,
}

/// Reply data of a paged `list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPage {
    /// Apps of this page, by name.
    pub apps: Vec<AppSummary>,
    /// Where the next page starts; `None` on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<AppName>,
}

/// One app of `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSummary {
    /// App name.
    pub name: AppName,
    /// The newest stored version.
    pub latest_version: AppVersion,
    /// The deployed version, if any.
    pub deployed_version: Option<AppVersion>,
    /// Overall state.
    pub state: StatusState,
    /// Why, when failed or waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Where an app, component or trait stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    /// Everything asked for runs.
    Deployed,
    /// Commands are out to get there.
    Reconciling,
    /// Blocked on something else becoming ready (e.g. a link's target).
    Waiting,
    /// Cannot get there as things are; the message says why.
    Failed,
    /// Not deployed.
    Undeployed,
}

impl StatusState {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployed => "deployed",
            Self::Reconciling => "reconciling",
            Self::Waiting => "waiting",
            Self::Failed => "failed",
            Self::Undeployed => "undeployed",
        }
    }

    /// The state of a whole made of parts in these states: any failure
    /// fails it, then anything in motion, then anything blocked.
    pub fn combine(states: impl IntoIterator<Item = StatusState>) -> StatusState {
        let mut worst = StatusState::Deployed;
        for s in states {
            let rank = |s: StatusState| match s {
                Self::Failed => 4,
                Self::Reconciling => 3,
                Self::Waiting => 2,
                Self::Undeployed => 1,
                Self::Deployed => 0,
            };
            if rank(s) > rank(worst) {
                worst = s;
            }
        }
        worst
    }
}

impl fmt::Display for StatusState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Status of one trait of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraitStatus {
    /// Trait type (`spreadscaler`, `daemonscaler`, `link`).
    pub kind: String,
    /// Its state.
    pub state: StatusState,
    /// Why, when not deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Status of one component of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentStatus {
    /// Name in the manifest.
    pub name: String,
    /// Lattice id.
    pub id: String,
    /// Combined state of its traits.
    pub state: StatusState,
    /// Status of each trait, in manifest order.
    pub traits: Vec<TraitStatus>,
}

/// Status of an app (the `status` reply and the `app_status` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    /// App name.
    pub name: AppName,
    /// The version this status is about (the deployed one), if any.
    pub version: Option<AppVersion>,
    /// Combined state.
    pub state: StatusState,
    /// The first reason found, when failed or waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Per component.
    #[serde(default)]
    pub components: Vec<ComponentStatus>,
    /// The staged rollout of the last deploy, while it runs and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
    /// The OCI images of this version and what they resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageResolution>,
}

/// Where a staged rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutPhase {
    /// The current stage's hosts are being moved to the new version.
    Rolling,
    /// The current stage runs the new version; waiting out the bake time.
    Baking,
    /// Held, by hand or by `on_failure: pause`; `resume` or `abort`.
    Paused,
    /// Failed or aborted: the old version runs everywhere again.
    RolledBack,
    /// Every stage passed: the new version runs everywhere.
    Done,
}

impl RolloutPhase {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rolling => "rolling",
            Self::Baking => "baking",
            Self::Paused => "paused",
            Self::RolledBack => "rolled_back",
            Self::Done => "done",
        }
    }
}

impl fmt::Display for RolloutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Progress of a staged rollout (in [`AppStatus`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutStatus {
    /// The version being replaced.
    pub from: AppVersion,
    /// The version rolled out.
    pub to: AppVersion,
    /// Where it stands.
    pub phase: RolloutPhase,
    /// Name of the current stage.
    pub stage: String,
    /// Index of the current stage, from 0.
    pub stage_index: usize,
    /// Number of stages.
    pub stages: usize,
    /// Hosts running the app that run `to` now.
    pub hosts_updated: u32,
    /// Hosts running the app.
    pub hosts_total: u32,
    /// Why it failed, was rolled back or paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What `rollout` asks of a staged rollout in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutAction {
    /// Hold at the current stage.
    Pause,
    /// Go on from a pause (the stage bakes again).
    Resume,
    /// Put the old version back everywhere.
    Abort,
}

/// `rollout`: steer the staged rollout of an app by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutRequest {
    /// App name.
    pub name: AppName,
    /// What to do.
    pub action: RolloutAction,
}

impl AppStatus {
    /// The status of an app that is not deployed.
    pub fn undeployed(name: AppName) -> Self {
        Self {
            name,
            version: None,
            state: StatusState::Undeployed,
            message: None,
            components: Vec::new(),
            rollout: None,
            images: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_reject_whitespace_and_empty() {
        assert!(AppVersion::new("v1.2.0").is_ok());
        for bad in ["", "v 1", "v1\n", &"x".repeat(65)] {
            let err = AppVersion::new(bad).unwrap_err().to_string();
            assert!(err.contains("e.g."), "{err}");
        }
    }

    #[test]
    fn states_combine_worst_first() {
        use StatusState::*;
        assert_eq!(StatusState::combine([]), Deployed);
        assert_eq!(StatusState::combine([Deployed, Waiting]), Waiting);
        assert_eq!(StatusState::combine([Waiting, Reconciling]), Reconciling);
        assert_eq!(
            StatusState::combine([Reconciling, Failed, Deployed]),
            Failed
        );
        let json = serde_json::to_string(&Failed).unwrap();
        assert_eq!(json, "\"failed\"");
    }

    #[test]
    fn records_without_images_still_read_and_write_none() {
        let put: PutRequest = serde_json::from_str(r#"{"manifest":"m"}"#).unwrap();
        assert_eq!(put, PutRequest::new("m".into()));
        assert_eq!(serde_json::to_string(&put).unwrap(), r#"{"manifest":"m"}"#);
        let old = r#"{"name":"a","version":null,"state":"undeployed"}"#;
        let status: AppStatus = serde_json::from_str(old).unwrap();
        assert!(status.images.is_empty());
    }
}
