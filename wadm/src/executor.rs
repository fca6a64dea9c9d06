//! Runs planned commands as control requests. A host replies once it has
//! done the work (and published its event), so a reply means done.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use trellis_lattice::{ControlError, Lattice};
use trellis_protocol::control::{DeleteLinkRequest, StopProviderRequest};
use trellis_protocol::inventory::HostInventory;
use trellis_protocol::{ControlVerb, HostId};

use crate::model::Command;
use crate::observer::HostTracker;

/// Reads `host`'s inventory (every page) into `tracker` (the only source
/// of what a host runs); a host that does not answer in `timeout` is left
/// as it was.
pub async fn read_host(
    lattice: &Lattice,
    tracker: &Mutex<HostTracker>,
    host: &HostId,
    timeout: Duration,
) {
    let inv: Result<Option<HostInventory>, _> =
        lattice.host_inventory(host, None, Some(timeout)).await;
    match inv {
        Ok(Some(inv)) => tracker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .inventory(&inv, Instant::now()),
        Ok(None) => {}
        Err(e) => tracing::debug!(%host, %e, "host inventory not read"),
    }
}

/// Bounds on commands: starting a component may fetch and compile it.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// For starts, updates and scales.
    pub workload_timeout: Duration,
    /// For links and configs.
    pub store_timeout: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            workload_timeout: Duration::from_secs(60),
            store_timeout: Duration::from_secs(10),
        }
    }
}

/// Sends `command` and waits for its reply.
pub async fn execute(
    lattice: &Lattice,
    command: &Command,
    config: &ExecutorConfig,
) -> Result<(), ControlError> {
    let slow = Some(config.workload_timeout);
    let fast = Some(config.store_timeout);
    match command {
        Command::PutConfig { name, values } => {
            send(lattice, ControlVerb::ConfigPut(name.clone()), values, fast).await
        }
        Command::ScaleComponent { host, request } => {
            send(
                lattice,
                ControlVerb::ComponentScale(host.clone()),
                request,
                slow,
            )
            .await
        }
        Command::UpdateComponent { host, request } => {
            send(
                lattice,
                ControlVerb::ComponentUpdate(host.clone()),
                request,
                slow,
            )
            .await
        }
        Command::StartProvider { host, request } => {
            send(
                lattice,
                ControlVerb::ProviderStart(host.clone()),
                request,
                slow,
            )
            .await
        }
        Command::StopProvider { host, provider_id } => {
            let request = StopProviderRequest {
                provider_id: provider_id.clone(),
            };
            send(
                lattice,
                ControlVerb::ProviderStop(host.clone()),
                &request,
                slow,
            )
            .await
        }
        Command::PutLink(link) => send(lattice, ControlVerb::LinkPut, link, fast).await,
        Command::DelLink(key) => {
            let request = DeleteLinkRequest {
                source_id: key.source_id.clone(),
                wit_namespace: key.wit_namespace.clone(),
                wit_package: key.wit_package.clone(),
                name: key.name.clone(),
            };
            send(lattice, ControlVerb::LinkDel, &request, fast).await
        }
    }
}

async fn send<T: serde::Serialize>(
    lattice: &Lattice,
    verb: ControlVerb,
    request: &T,
    timeout: Option<Duration>,
) -> Result<(), ControlError> {
    lattice
        .control::<_, serde_json::Value>(verb, request, timeout)
        .await
        .map(|_| ())
}
