//! Host settings. Data only: the CLI fills it from flags.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use trellis_lattice::LatticeConfig;

use crate::runtime::RuntimeConfig;

/// Everything a host needs to start.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// How to reach the lattice.
    pub lattice: LatticeConfig,
    /// Human name (defaults to the machine's hostname in the CLI).
    pub name: String,
    /// Labels besides the automatic `os` and `arch`.
    pub labels: BTreeMap<String, String>,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// Seed file keeping the host's identity across restarts; `None` means
    /// a new identity each start.
    pub seed_file: Option<PathBuf>,
    /// Runtime limits and compile cache location.
    pub runtime: RuntimeConfig,
    /// Largest artifact the host fetches.
    pub max_artifact_bytes: u64,
    /// Run components without claims.
    pub allow_unsigned: bool,
    /// Development only: components with no http-client link send
    /// outgoing HTTP anywhere the host can reach (with a link, its policy
    /// still applies).
    pub allow_outbound: bool,
    /// Account public keys (`A...`) whose signatures this host accepts.
    pub trusted_issuers: Vec<String>,
    /// How long a scatter-gather waits for hosts (link validation).
    pub discovery_window: Duration,
    /// The edge site this host runs at, if it is behind a leaf node
    /// (reported in the inventory; wadm gives such hosts a grace period
    /// when they go quiet).
    pub site: Option<String>,
    /// Whether invocations are timed into latency histograms (on when the
    /// host serves metrics; counts are kept either way).
    pub metrics: bool,
    /// Where the host records what it runs (workloads, their links and
    /// config) so that it can resume them when it starts while the
    /// lattice's JetStream is unreachable; `None` keeps no record.
    pub state_file: Option<PathBuf>,
    /// How long a host with a `site` waits for the lattice's JetStream at
    /// start before it starts offline (and bound of each later attempt).
    pub jetstream_wait: Duration,
    /// The lattice's secrets key; without one, components and links that
    /// name secrets get an error saying so.
    pub secrets_key: Option<trellis_lattice::secrets::SecretsKey>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            lattice: LatticeConfig::default(),
            name: "trellis-host".into(),
            labels: BTreeMap::new(),
            heartbeat: Duration::from_secs(5),
            seed_file: None,
            runtime: RuntimeConfig::default(),
            max_artifact_bytes: 64 << 20,
            allow_unsigned: false,
            allow_outbound: false,
            trusted_issuers: Vec::new(),
            discovery_window: Duration::from_millis(500),
            site: None,
            metrics: false,
            state_file: None,
            jetstream_wait: Duration::from_secs(3),
            secrets_key: None,
        }
    }
}
