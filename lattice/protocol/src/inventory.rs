//! What a host runs. `host.inventory` replies and `host_heartbeat` events
//! carry the same [`HostInventory`], so a reader needs one parser.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::{ComponentId, ConfigName, HostId, LatticeName};
use crate::link::LinkStatus;

/// Annotations attached by whoever started a workload (wadm puts the app here).
pub type Annotations = BTreeMap<String, String>;

/// Labels of a host (`os`, `arch`, and whatever the operator adds).
pub type Labels = BTreeMap<String, String>;

/// One scaled component on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentDescription {
    /// Component id.
    pub id: ComponentId,
    /// Image reference as given by the user (`file://...`, `nats://...`).
    pub image: String,
    /// sha256 of the component bytes, hex.
    pub digest: String,
    /// Upper bound of concurrent instances.
    pub max: u32,
    /// Named configs given at scale time.
    #[serde(default)]
    pub config: Vec<ConfigName>,
    /// Annotations given at scale time.
    #[serde(default)]
    pub annotations: Annotations,
    /// Invocations since its code or annotations (its app version) last
    /// changed: what a staged rollout judges a new version by.
    #[serde(default)]
    pub stats: InvocationStats,
}

/// Counts of handled invocations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationStats {
    /// Invocations that got an answer or an error.
    pub invocations: u64,
    /// Of those, the ones that failed: a trap, a timeout, no answer, or an
    /// HTTP status of 500 or above.
    pub failures: u64,
}

impl InvocationStats {
    /// What was counted since `earlier` (a snapshot of the same counters);
    /// counters that were reset in between count from zero.
    pub fn since(self, earlier: InvocationStats) -> InvocationStats {
        if self.invocations < earlier.invocations || self.failures < earlier.failures {
            return self;
        }
        InvocationStats {
            invocations: self.invocations - earlier.invocations,
            failures: self.failures - earlier.failures,
        }
    }

    /// Adds `other` to these counts.
    pub fn add(&mut self, other: InvocationStats) {
        self.invocations = self.invocations.saturating_add(other.invocations);
        self.failures = self.failures.saturating_add(other.failures);
    }
}

/// One running provider on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderDescription {
    /// Provider id.
    pub id: ComponentId,
    /// Image reference (`builtin://http-server`, ...).
    pub image: String,
    /// Named configs given at start.
    #[serde(default)]
    pub config: Vec<ConfigName>,
    /// Annotations given at start.
    #[serde(default)]
    pub annotations: Annotations,
    /// Why it does not serve right now (e.g. its process exited and waits
    /// for a restart); absent while it works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Everything a host runs, plus who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInventory {
    /// Host id (public key).
    pub id: HostId,
    /// Human name.
    pub name: String,
    /// Lattice the host belongs to.
    pub lattice: LatticeName,
    /// Host labels.
    pub labels: Labels,
    /// Trellis version of the host.
    pub version: String,
    /// Seconds since the host started.
    pub uptime_seconds: u64,
    /// Milliseconds between heartbeats; a reader that misses three of them
    /// may take the host for gone. 0 when unknown (older hosts).
    #[serde(default)]
    pub heartbeat_ms: u64,
    /// The edge site the host runs at (behind a leaf node), if any. A
    /// host at a site that goes quiet is taken for cut off, not dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Components, sorted by id.
    pub components: Vec<ComponentDescription>,
    /// Providers, sorted by id.
    pub providers: Vec<ProviderDescription>,
    /// How this host's providers took the links that name them, one entry
    /// per (link, provider), sorted. A link is up on this host only when
    /// its entry says `applied`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_status: Vec<LinkStatus>,
}
