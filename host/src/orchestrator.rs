//! The host orchestrator: connects, starts the sub-managers, serves until
//! told to stop, then stops everything and says so.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use trellis_lattice::Lattice;
use trellis_protocol::control::AUTOMATIC_LABELS;
use trellis_protocol::event::data::{HostStarted, HostStopped};
use trellis_protocol::inventory::Labels;
use trellis_protocol::{EventType, HostId};

use crate::config::HostConfig;
use crate::context::{HostContext, HostInfo, Parts, VERSION, VerbJournal, publish};
use crate::identity::{Identity, IdentityError};
use crate::ports::nats::{LatticeDataPlane, LatticePorts};
use crate::resume::{self, Keeper};
use crate::runtime::{Runtime, RuntimeError};
use crate::store::{self, HostStore};
use crate::{control, heartbeat, link_watch};

/// The longest one step of stopping (a provider, the `host_stopped`
/// publish, the flush) may take.
const STOP_STEP: Duration = Duration::from_secs(2);
/// The longest stopping may take in all; then the host returns anyway.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Why a host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Identity problems.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Lattice connection or storage problems.
    #[error(transparent)]
    Lattice(#[from] trellis_lattice::LatticeError),
    /// Engine problems.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A label the user gave is invalid.
    #[error("label `{0}`: {1}")]
    Label(String, String),
    /// A trusted issuer that is not an account key.
    #[error(
        "--trust-issuer `{0}` is not an account public key (an `A...` key, as `trellis keys gen account` prints)"
    )]
    Issuer(String),
}

fn initial_labels(config: &HostConfig) -> Result<Labels, HostError> {
    let mut labels = BTreeMap::new();
    labels.insert("os".to_owned(), std::env::consts::OS.to_owned());
    labels.insert("arch".to_owned(), std::env::consts::ARCH.to_owned());
    for (key, value) in &config.labels {
        if AUTOMATIC_LABELS.contains(&key.as_str()) {
            return Err(HostError::Label(
                key.clone(),
                "is set by the host itself".into(),
            ));
        }
        if key.is_empty() {
            return Err(HostError::Label(
                key.clone(),
                "key must not be empty".into(),
            ));
        }
        labels.insert(key.clone(), value.clone());
    }
    // `--label` obeys the same bounds as `host.labels`.
    trellis_protocol::limits::check_labels(&labels)
        .map_err(|e| HostError::Label(String::from("--label"), e.to_string()))?;
    Ok(labels)
}

/// A started host; [`RunningHost::run_until`] serves until told to stop.
pub struct RunningHost {
    ctx: Arc<HostContext>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stopped: watch::Receiver<Option<String>>,
}

/// Starts a host: identity, lattice connection, runtime, subscriptions,
/// heartbeat. When this returns the host answers control requests.
pub async fn start(config: HostConfig) -> Result<RunningHost, HostError> {
    let identity = Identity::load_or_create(config.seed_file.as_deref())?;
    let labels = initial_labels(&config)?;
    if let Some(bad) = config.trusted_issuers.iter().find(|k| {
        trellis_claims::KeyKind::of_public_key(k) != Some(trellis_claims::KeyKind::Account)
    }) {
        return Err(HostError::Issuer(bad.clone()));
    }
    let mut lattice_config = config.lattice.clone();
    lattice_config.connection_name = format!("trellis-host {}", config.name);
    let lattice = Lattice::connect(&lattice_config).await?;
    // A host at a site must come up while its uplink (and so the hub's
    // JetStream) is down; any other host needs the buckets to start.
    let store = Arc::new(match config.site {
        Some(_) => match store::open_within(&lattice, config.jetstream_wait).await {
            Ok(store) => HostStore::opened(store),
            Err(e) => {
                tracing::warn!(%e, "the lattice's JetStream is unreachable; starting offline");
                HostStore::default()
            }
        },
        None => HostStore::opened(lattice.store().await?),
    });
    let keeper = config
        .state_file
        .clone()
        .map(|path| Arc::new(Keeper::new(path)));
    let runtime = Arc::new(Runtime::new(config.runtime.clone())?);
    let ports = Arc::new(LatticePorts::new(
        lattice.clone(),
        identity.id.clone(),
        config.discovery_window,
    ));
    let serving = lattice.clone();
    let (ctx, stopped) = HostContext::assemble(
        Parts {
            info: HostInfo {
                id: identity.id.clone(),
                name: config.name.clone(),
                labels: RwLock::new(labels),
                started: Instant::now(),
            },
            lattice,
            artifacts: store.clone(),
            store,
            events: ports.clone(),
            directory: ports,
            runtime,
            config,
            journal: keeper.clone().map(|k| k as Arc<dyn VerbJournal>),
        },
        |components| Arc::new(LatticeDataPlane::new(serving, components.clone())),
    );
    let mut tasks = match ctx.store.get() {
        Some(store) => link_watch::spawn_watchers(ctx.clone(), store.clone()).await?,
        None => {
            if let Some(keeper) = &keeper
                && let Some(state) = resume::load(keeper, &ctx)
            {
                resume::resume(&ctx, keeper, state).await;
            }
            vec![tokio::spawn(link_watch::reconnect(ctx.clone()))]
        }
    };
    tasks.push(link_watch::spawn_retries(ctx.clone()));
    if let Some(keeper) = keeper {
        tasks.push(tokio::spawn(keeper.run(ctx.clone())));
    }
    tasks.extend(control::serve(ctx.clone()).await?);
    tasks.push(tokio::spawn(heartbeat::run(ctx.clone())));
    ctx.lattice.flush().await?;
    publish(
        &ctx,
        EventType::HostStarted,
        HostStarted {
            host_id: ctx.info.id.clone(),
            name: ctx.info.name.clone(),
            labels: ctx.labels(),
            version: VERSION.into(),
        },
    )
    .await;
    tracing::info!(id = %ctx.info.id, name = %ctx.info.name, lattice = %ctx.lattice.name(), "host started");
    Ok(RunningHost {
        ctx,
        tasks,
        stopped,
    })
}

impl RunningHost {
    /// The host's id.
    pub fn id(&self) -> &HostId {
        &self.ctx.info.id
    }

    /// Its Prometheus metrics, to register with a
    /// [`trellis_metrics::Registry`].
    pub fn metrics(&self) -> crate::metrics::HostCollector {
        crate::metrics::HostCollector::new(&self.ctx)
    }

    /// Serves until `shutdown` resolves or a `host.stop` request arrives,
    /// then stops providers and components and publishes `host_stopped`.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) {
        let reason = tokio::select! {
            () = shutdown => "signal".to_owned(),
            changed = self.stopped.wait_for(Option::is_some) => changed
                .ok()
                .and_then(|r| r.clone())
                .unwrap_or_else(|| "stop requested".into()),
        };
        let ctx = self.ctx;
        tracing::info!(%reason, "host stopping");
        for task in &self.tasks {
            task.abort();
        }
        // Every step is bounded: with nats-server gone a publish or flush
        // would wait for a reconnect that never comes, and a stuck provider
        // must not keep the process alive.
        let stopping = async {
            // All at once: one after another, a few slow providers would
            // use up the deadline before the last one heard anything.
            let stops = ctx.providers.drain().into_iter().map(|provider| async move {
                let id = provider.description.id.clone();
                if tokio::time::timeout(STOP_STEP, provider.provider.shutdown())
                    .await
                    .is_err()
                {
                    tracing::warn!(provider = %id, "provider did not stop within {STOP_STEP:?}; leaving it");
                }
            });
            futures::future::join_all(stops).await;
            ctx.components.clear();
            let said = tokio::time::timeout(
                STOP_STEP,
                publish(
                    &ctx,
                    EventType::HostStopped,
                    HostStopped {
                        host_id: ctx.info.id.clone(),
                        name: ctx.info.name.clone(),
                        reason,
                    },
                ),
            )
            .await;
            if said.is_err() {
                tracing::warn!("could not publish host_stopped within {STOP_STEP:?}");
            }
            match tokio::time::timeout(STOP_STEP, ctx.lattice.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(%e, "could not flush host_stopped"),
                Err(_) => tracing::warn!("could not flush host_stopped within {STOP_STEP:?}"),
            }
        };
        if tokio::time::timeout(STOP_DEADLINE, stopping).await.is_err() {
            tracing::warn!("host stop took over {STOP_DEADLINE:?}; stopping anyway");
        }
        tracing::info!(id = %ctx.info.id, "host stopped");
    }
}

/// Starts a host and serves until `shutdown` or a `host.stop` request.
pub async fn run(config: HostConfig, shutdown: impl Future<Output = ()>) -> Result<(), HostError> {
    start(config).await?.run_until(shutdown).await;
    Ok(())
}
