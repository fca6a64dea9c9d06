//! End-to-end test harness for Trellis.
//!
//! Starts real processes (a throwaway `nats-server`, `trellis host`
//! instances, `trellis` CLI invocations) and talks to them over real
//! sockets. Every wait is bounded; every process is killed and reaped on
//! drop. The harness never builds anything: `scripts/test.sh` builds the
//! binaries and actors first (a nested cargo build would deadlock on the
//! build lock).
//!
//! ```no_run
//! use trellis_tests::*;
//! # fn main() -> anyhow::Result<()> {
//! let nats = NatsServer::start()?;
//! let lattice = unique_lattice("demo");
//! let host = Host::spawn(&nats, HostOpts { lattice: lattice.clone(), name: "a".into(), ..Default::default() })?;
//! let cli = Cli::new(&nats, &lattice);
//! let hosts = cli.run(&["get", "hosts"])?.ok()?.json()?;
//! # let _ = (host, hosts); Ok(()) }
//! ```

mod chromium;
mod cli;
mod cluster;
mod host;
mod http;
mod manifests;
mod nats;
mod otlp;
mod paths;
mod process;
mod prometheus;
mod proxy;
mod registry;
mod sites;
mod wadm;

pub mod sim;

pub use chromium::{Chromium, chromium_bin};
pub use cli::{CLI_TIMEOUT, Cli, CliOutput};
pub use cluster::{CLUSTER_SIZE, NatsCluster};
pub use host::{Host, HostOpts, find_started_id};
pub use http::{
    HTTP_TIMEOUT, HttpResponse, header, http_get, http_post, http_post_chunked, http_request,
    wait_for_http,
};
pub use manifests::HelloApp;
pub use nats::{NATS_SERVER_MIN_VERSION, NatsServer, nats_server_bin};
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use paths::{
    actor, actor_dir, free_port, target_dir, trellis_bin, unique_lattice, workspace_root,
};
pub use process::Process;
pub use prometheus::{Prometheus, prometheus_bin, samples, scrape, scrape_one};
pub use proxy::Proxy;
pub use registry::{OciRegistry, docker_registry_bin};
pub use sites::{EdgeSite, UpSite, nats_config};
pub use wadm::Wadm;

/// Installs a `tracing` subscriber writing to the test output (filter from
/// `RUST_LOG`, default `info`). Safe to call any number of times.
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
