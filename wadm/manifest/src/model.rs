//! What the reconciler reads and writes, with no IO: the deployed apps,
//! the observed lattice, and the commands that move one toward the other.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use trellis_protocol::control::{
    ConfigValues, ScaleComponentRequest, StartProviderRequest, UpdateComponentRequest,
};
use trellis_protocol::inventory::{
    Annotations, ComponentDescription, HostInventory, Labels, ProviderDescription,
};
use trellis_protocol::link::{Link, LinkKey};
use trellis_protocol::signature::ComponentTypes;
use trellis_protocol::wadm::{
    APP_ANNOTATION, APP_VERSION_ANNOTATION, AppVersion, MANAGED_BY_ANNOTATION, MANAGED_BY_WADM,
};
use trellis_protocol::{AppName, ComponentId, ConfigName, HostId};

use crate::manifest::Manifest;

/// An app with the version that should run.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedApp {
    /// App name.
    pub name: AppName,
    /// Deployed version.
    pub version: AppVersion,
    /// The manifest of that version (images already in the lattice).
    pub manifest: Manifest,
    /// A staged rollout in progress: not every host runs `version` yet.
    pub staged: Option<Staged>,
}

/// The split of a staged rollout: hosts in stages up to `through` (of the
/// deployed manifest's `spec.rollout`) run the deployed version, the rest
/// keep `from`.
#[derive(Debug, Clone, PartialEq)]
pub struct Staged {
    /// The version being replaced.
    pub from: AppVersion,
    /// Its manifest.
    pub from_manifest: Manifest,
    /// The last stage that runs the new version.
    pub through: usize,
}

/// How a provider on a host took a link: applied, or refused with the
/// provider's reason.
pub type LinkOutcome = Result<(), String>;

/// What one host runs, as last seen.
#[derive(Debug, Clone, PartialEq)]
pub struct HostView {
    /// Host name (for messages).
    pub name: String,
    /// Host labels.
    pub labels: Labels,
    /// Components it runs (their `stats` left out: counts are not state).
    pub components: Vec<ComponentDescription>,
    /// Providers it runs (with `failure` when one does not serve).
    pub providers: Vec<ProviderDescription>,
    /// What its providers said about the links naming them, by link and
    /// provider (tries and times left out: a retry that fails the same
    /// way changes nothing).
    pub link_status: BTreeMap<(LinkKey, ComponentId), LinkOutcome>,
    /// The links revision the host has applied (its heartbeats say; 0 for
    /// hosts too old to say). Kept current from heartbeats without a
    /// re-read: it only tells whether a stored link is live there yet.
    pub links_revision: u64,
    /// False while the host is cut off (an edge site's host gone quiet,
    /// within its grace period): what it runs still counts, but it gets
    /// no commands.
    pub reachable: bool,
    /// Its last heartbeat is overdue (by a fifth of an interval): it may
    /// be gone and not noticed yet, so new instances go elsewhere first.
    /// Set on the copies the planner gets, never in the tracker's own.
    pub late: bool,
}

impl Default for HostView {
    fn default() -> Self {
        Self {
            name: String::new(),
            labels: Labels::default(),
            components: Vec::new(),
            providers: Vec::new(),
            link_status: BTreeMap::new(),
            links_revision: 0,
            reachable: true,
            late: false,
        }
    }
}

impl From<&HostInventory> for HostView {
    fn from(inv: &HostInventory) -> Self {
        Self {
            name: inv.name.clone(),
            labels: inv.labels.clone(),
            components: inv
                .components
                .iter()
                .map(|c| ComponentDescription {
                    // Counts live in the tracker; imports no plan reads
                    // (a third of a view's memory at 10,000 apps).
                    stats: Default::default(),
                    imports: Vec::new(),
                    ..c.clone()
                })
                .collect(),
            providers: inv.providers.clone(),
            link_status: inv
                .link_status
                .iter()
                .map(|s| {
                    let outcome = match (&s.error, s.applied) {
                        (_, true) => Ok(()),
                        (Some(error), false) => Err(error.clone()),
                        (None, false) => Err("the provider did not apply it".into()),
                    };
                    ((s.link.clone(), s.provider_id.clone()), outcome)
                })
                .collect(),
            links_revision: inv.links_revision,
            reachable: true,
            late: false,
        }
    }
}

impl HostView {
    /// How the name reads in messages: the host's name, else its id.
    pub fn describe(&self, id: &HostId) -> String {
        if self.name.is_empty() {
            id.to_string()
        } else {
            self.name.clone()
        }
    }
}

/// The lattice as last seen: live hosts only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Hosts considered alive.
    pub hosts: BTreeMap<HostId, HostView>,
    /// Every link of the lattice.
    pub links: Vec<Link>,
    /// The links bucket revision each link was stored at, where known: a
    /// link is live on a host once the host's `links_revision` reaches it.
    pub link_revisions: BTreeMap<LinkKey, u64>,
    /// The named configs the deployed apps define, as stored now.
    pub configs: BTreeMap<ConfigName, ConfigValues>,
    /// Deployed apps whose stored record could not be turned into a plan
    /// input this pass: what they run is left alone, never torn down.
    pub unreadable: BTreeSet<AppName>,
    /// Function types of the components at the ends of component-to-
    /// component links, by digest, where a host told them.
    pub types: BTreeMap<String, ComponentTypes>,
    /// Whether hosts may be missing from `hosts` because the observer has
    /// only just started listening: a placement no host meets then waits
    /// instead of failing.
    pub hosts_settling: bool,
}

/// Which app component a command works for (errors are reported there).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owner {
    /// App name.
    pub app: AppName,
    /// Component name in the manifest.
    pub component: String,
}

/// One control command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `config.put.{name}`.
    PutConfig {
        /// Config name.
        name: ConfigName,
        /// Its entries.
        values: ConfigValues,
    },
    /// `component.scale.{host}` (max 0 stops).
    ScaleComponent {
        /// Target host.
        host: HostId,
        /// The request.
        request: ScaleComponentRequest,
    },
    /// `component.update.{host}`.
    UpdateComponent {
        /// Target host.
        host: HostId,
        /// The request.
        request: UpdateComponentRequest,
    },
    /// `provider.start.{host}`.
    StartProvider {
        /// Target host.
        host: HostId,
        /// The request.
        request: StartProviderRequest,
    },
    /// `provider.stop.{host}`.
    StopProvider {
        /// Target host.
        host: HostId,
        /// Provider id.
        provider_id: ComponentId,
    },
    /// `link.put`.
    PutLink(Link),
    /// `link.del`.
    DelLink(LinkKey),
}

impl Command {
    /// The host the command goes to, if it goes to one.
    pub fn host(&self) -> Option<&HostId> {
        match self {
            Self::ScaleComponent { host, .. }
            | Self::UpdateComponent { host, .. }
            | Self::StartProvider { host, .. }
            | Self::StopProvider { host, .. } => Some(host),
            Self::PutConfig { .. } | Self::PutLink(_) | Self::DelLink(_) => None,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PutConfig { name, .. } => write!(f, "put config {name}"),
            Self::ScaleComponent { host, request } => write!(
                f,
                "scale component {} to {} on host {host}",
                request.component_id, request.max
            ),
            Self::UpdateComponent { host, request } => write!(
                f,
                "update component {} to {} on host {host}",
                request.component_id, request.image
            ),
            Self::StartProvider { host, request } => write!(
                f,
                "start provider {} ({}) on host {host}",
                request.provider_id, request.image
            ),
            Self::StopProvider { host, provider_id } => {
                write!(f, "stop provider {provider_id} on host {host}")
            }
            Self::PutLink(link) => write!(
                f,
                "put link {} -> {} ({}:{})",
                link.source_id, link.target_id, link.wit_namespace, link.wit_package
            ),
            Self::DelLink(key) => write!(
                f,
                "delete link of {} ({}:{} {})",
                key.source_id, key.wit_namespace, key.wit_package, key.name
            ),
        }
    }
}

/// A command and whom it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The command.
    pub command: Command,
    /// The app component it works for; `None` for clean-up of what no
    /// deployed app wants any more.
    pub owner: Option<Owner>,
}

/// Whether wadm manages what carries `annotations`.
pub fn is_managed(annotations: &Annotations) -> bool {
    annotations.get(MANAGED_BY_ANNOTATION).map(String::as_str) == Some(MANAGED_BY_WADM)
}

/// The app whose annotations these are, if any.
pub fn app_of(annotations: &Annotations) -> Option<&str> {
    annotations.get(APP_ANNOTATION).map(String::as_str)
}

/// Whether wadm manages this thing for an app it cannot read this pass
/// (see [`Observed::unreadable`]); such things are left as they are.
pub fn is_frozen(annotations: &Annotations, observed: &Observed) -> bool {
    app_of(annotations).is_some_and(|app| observed.unreadable.iter().any(|u| u.as_str() == app))
}

/// The annotations wadm puts on a workload of `app` at `version`.
pub fn workload_annotations(app: &AppName, version: &AppVersion) -> Annotations {
    let mut a = link_annotations(app);
    a.insert(APP_VERSION_ANNOTATION.into(), version.to_string());
    a
}

/// The annotations wadm puts on a link of `app`. Links carry no version so
/// that a new version with the same links does not re-put them.
pub fn link_annotations(app: &AppName) -> Annotations {
    [
        (MANAGED_BY_ANNOTATION.to_owned(), MANAGED_BY_WADM.to_owned()),
        (APP_ANNOTATION.to_owned(), app.to_string()),
    ]
    .into_iter()
    .collect()
}
