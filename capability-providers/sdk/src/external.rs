//! Running a provider as its own process, started and supervised by a host.
//!
//! The host passes everything in the environment ([`env`]). The process
//! connects to the lattice, starts the provider, follows the links that name
//! it, serves its invocations on the provider's rpc queue group, answers
//! health checks on `trellis.{lattice}.prov.{provider}.{host}.health`, and
//! shuts the provider down on SIGTERM or SIGINT.

use std::process::ExitCode;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use trellis_lattice::{Lattice, LatticeConfig};
use trellis_protocol::call::{CallRequest, CallResponse};
use trellis_protocol::context::CallContext;
use trellis_protocol::control::{ConfigValues, ProviderHealthReply};
use trellis_protocol::invocation::{HttpRequest, HttpResponse, InvocationReply};
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::{ComponentId, HostId, LatticeName, Subject};
use trellis_telemetry::TelemetryConfig;

use crate::links::{self, LinkState, Notice};
use crate::metrics::{METRICS_ADDR_KEY, ProviderCollector};
use crate::outcomes::{self, LinkOutcomes};
use crate::secrets::link_with_secrets;
use crate::{Health, Invoker, Provider, ProviderContext, ProviderError};
use trellis_lattice::secrets::SecretsKey;

/// Environment variables a host sets for an external provider process.
pub mod env {
    /// NATS URL of the lattice.
    pub const NATS_URL: &str = "TRELLIS_NATS_URL";
    /// Lattice name.
    pub const LATTICE: &str = "TRELLIS_LATTICE";
    /// The provider's id.
    pub const PROVIDER_ID: &str = "TRELLIS_PROVIDER_ID";
    /// The supervising host's id.
    pub const HOST_ID: &str = "TRELLIS_HOST_ID";
    /// The provider's merged config, as a JSON object of strings.
    pub const CONFIG: &str = "TRELLIS_PROVIDER_CONFIG";
    /// Set (to `1`) when stdin is a pipe from the host that is never
    /// written: its end (EOF) means the host is gone, however it died.
    pub const HOST_PIPE: &str = "TRELLIS_HOST_PIPE";
    /// The lattice's secrets key (its text form), when the host has one:
    /// the process resolves its links' secrets itself.
    pub const SECRETS_KEY: &str = "TRELLIS_PROVIDER_SECRETS_KEY";
    /// Where the host exports spans (its full OTLP traces URL), when it
    /// does: the process exports its own spans there.
    pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    /// The host's trace sampling ratio (0 to 1).
    pub const TRACE_SAMPLING: &str = "TRELLIS_TRACE_SAMPLING";
}

/// Why an external provider could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    /// A required environment variable is missing or invalid.
    #[error(
        "{var}: {reason} (this program is started by a Trellis host: `trellis start provider file://...`)"
    )]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Lattice connection or subscription failure.
    #[error(transparent)]
    Lattice(#[from] trellis_lattice::LatticeError),
    /// The provider refused to start.
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

fn var(name: &'static str) -> Result<String, ExternalError> {
    std::env::var(name).map_err(|_| ExternalError::Env {
        var: name,
        reason: "not set".into(),
    })
}

fn parsed<T, E: std::fmt::Display>(
    name: &'static str,
    r: Result<T, E>,
) -> Result<T, ExternalError> {
    r.map_err(|e| ExternalError::Env {
        var: name,
        reason: e.to_string(),
    })
}

/// Calls components over the lattice (an external process has none of its own).
struct LatticeInvoker(Lattice);

impl Invoker for LatticeInvoker {
    fn invoke_http(
        &self,
        target: ComponentId,
        request: HttpRequest,
        ctx: CallContext,
    ) -> BoxFuture<'static, InvocationReply<HttpResponse>> {
        let lattice = self.0.clone();
        async move { lattice.invoke_http(&target, request, &ctx).await }.boxed()
    }

    fn invoke_call(
        &self,
        target: ComponentId,
        interface: InterfaceRef,
        function: WitName,
        request: CallRequest,
        ctx: CallContext,
    ) -> BoxFuture<'static, InvocationReply<CallResponse>> {
        let lattice = self.0.clone();
        async move {
            lattice
                .call(&target, &interface, &function, &request, &ctx)
                .await
        }
        .boxed()
    }
}

/// Runs `provider` until SIGTERM/SIGINT, as configured by a host; the
/// spans still queued for export are sent before it returns.
pub async fn run(provider: Arc<dyn Provider>) -> Result<(), ExternalError> {
    let lattice_name = parsed(env::LATTICE, LatticeName::new(var(env::LATTICE)?))?;
    let provider_id = parsed(env::PROVIDER_ID, ComponentId::new(var(env::PROVIDER_ID)?))?;
    let host_id = parsed(env::HOST_ID, HostId::new(var(env::HOST_ID)?))?;
    let telemetry = trellis_telemetry::install(&TelemetryConfig {
        endpoint: std::env::var(env::OTLP_ENDPOINT)
            .ok()
            .filter(|e| !e.is_empty()),
        sampling: match std::env::var(env::TRACE_SAMPLING) {
            Ok(text) => parsed(env::TRACE_SAMPLING, text.parse::<f64>())?,
            Err(_) => 1.0,
        },
        service_name: "trellis-provider".into(),
        instance_id: format!("{provider_id}@{host_id}"),
        ..TelemetryConfig::default()
    })
    .map_err(|e| ExternalError::Env {
        var: env::OTLP_ENDPOINT,
        reason: e.to_string(),
    })?;
    let served = serve(provider, lattice_name, provider_id, host_id).await;
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    served
}

/// [`run`] once its environment is read.
async fn serve(
    provider: Arc<dyn Provider>,
    lattice_name: LatticeName,
    provider_id: ComponentId,
    host_id: HostId,
) -> Result<(), ExternalError> {
    let config: ConfigValues = match std::env::var(env::CONFIG) {
        Ok(json) => parsed(env::CONFIG, serde_json::from_str(&json))?,
        Err(_) => ConfigValues::new(),
    };
    let secrets_key = match std::env::var(env::SECRETS_KEY) {
        Ok(text) => Some(parsed(
            env::SECRETS_KEY,
            SecretsKey::parse(&text, env::SECRETS_KEY),
        )?),
        Err(_) => None,
    };
    let metrics_addr = match config.get(METRICS_ADDR_KEY) {
        Some(text) => Some(text.parse::<std::net::SocketAddr>().map_err(|e| {
            ExternalError::Env {
                var: env::CONFIG,
                reason: format!(
                    "{METRICS_ADDR_KEY} `{text}` is not an address ({e}); give IP:PORT, e.g. \
                     127.0.0.1:9471"
                ),
            }
        })?),
        None => None,
    };
    let lattice = Lattice::connect(&LatticeConfig {
        nats_url: var(env::NATS_URL)?,
        lattice: lattice_name.clone(),
        connection_name: format!("trellis-provider {provider_id}"),
        auth: trellis_lattice::connect::auth_env::from_env(),
        ..LatticeConfig::default()
    })
    .await?;
    provider
        .start(ProviderContext {
            provider_id: provider_id.clone(),
            lattice: lattice_name.clone(),
            config,
            invoker: Arc::new(LatticeInvoker(lattice.clone())),
            connection: lattice.clone(),
        })
        .await?;
    // Served until this returns (the server stops when dropped).
    let _metrics = match metrics_addr {
        Some(addr) => {
            let mut registry = trellis_metrics::Registry::default();
            registry.register_collector(Box::new(ProviderCollector {
                provider_id: provider_id.clone(),
                host_id: host_id.clone(),
                lattice: lattice.clone(),
                provider: provider.clone(),
            }));
            let server = trellis_metrics::MetricsServer::start(addr, Arc::new(registry))
                .await
                .map_err(|e| ExternalError::Env {
                    var: env::CONFIG,
                    reason: format!("{METRICS_ADDR_KEY}: {e}"),
                })?;
            tracing::info!(addr = %server.addr(), "serving Prometheus metrics");
            Some(server)
        }
        None => None,
    };

    let state = Arc::new(LinkState::default());
    let outcomes = Arc::new(LinkOutcomes::default());
    let (p, id) = (provider.clone(), provider_id.clone());
    let (link_state, link_outcomes) = (state.clone(), outcomes.clone());
    let (link_lattice, link_key) = (lattice.clone(), secrets_key.clone());
    let mut tasks = links::track(
        lattice.store().await?,
        state.clone(),
        move |link, notice| {
            let (p, id, state, outcomes) = (
                p.clone(),
                id.clone(),
                link_state.clone(),
                link_outcomes.clone(),
            );
            let (lattice, key) = (link_lattice.clone(), link_key.clone());
            async move {
                if link.source_id != id && link.target_id != id {
                    return;
                }
                let _order = outcomes.serialize().await;
                match notice {
                    Notice::Put => {
                        let context = state.context(&link);
                        let result = match link_with_secrets(&lattice, key.as_ref(), context).await
                        {
                            Ok(context) => p.link_put(context).await,
                            Err(e) => Err(e),
                        };
                        outcomes.put(&id, link.key(), &result);
                    }
                    Notice::Deleted => {
                        let key = link.key();
                        if let Err(e) = p.link_del(link).await {
                            tracing::warn!(%e, "provider could not remove a link");
                        }
                        outcomes.deleted(&id, &key);
                    }
                }
            }
        },
    )
    .await?;
    let retried = provider.clone();
    let retry_lattice = lattice.clone();
    tasks.push(outcomes::spawn_retries(
        outcomes.clone(),
        state,
        move |_, link| {
            let (provider, lattice, key) =
                (retried.clone(), retry_lattice.clone(), secrets_key.clone());
            async move {
                Some(
                    match link_with_secrets(&lattice, key.as_ref(), link).await {
                        Ok(link) => provider.link_put(link).await,
                        Err(e) => Err(e),
                    },
                )
            }
        },
    ));
    tasks.push(crate::serve_calls(&lattice, &provider_id, provider.clone()).await?);
    // Health last: a host treats the first healthy answer as "ready", so
    // everything above must be in place by then.
    let health_subject = Subject::ProviderHealth {
        lattice: lattice_name,
        provider: provider_id.clone(),
        host: host_id,
    };
    let mut health = lattice
        .nats()
        .subscribe(health_subject.to_string())
        .await
        .map_err(|e| trellis_lattice::LatticeError::nats("subscribe health", e))?;
    lattice.flush().await?;
    tracing::info!(provider = %provider_id, "external provider ready");
    let health_provider = provider.clone();
    let nats = lattice.nats().clone();
    tasks.push(tokio::spawn(async move {
        while let Some(msg) = health.next().await {
            let Some(reply) = msg.reply else { continue };
            let (healthy, message) = match health_provider.health().await {
                Health::Healthy => (true, None),
                Health::Unhealthy(why) => (false, Some(why)),
            };
            let answer = ProviderHealthReply {
                healthy,
                message,
                links: outcomes.statuses(),
            };
            let body = serde_json::to_vec(&answer).unwrap_or_default();
            let _ = nats.publish(reply, body.into()).await;
        }
    }));

    tokio::select! {
        () = shutdown_signal() => {}
        () = host_gone() => {
            tracing::warn!(provider = %provider_id, "the supervising host is gone (its pipe closed)");
        }
    }
    tracing::info!(provider = %provider_id, "external provider stopping");
    for task in &tasks {
        task.abort();
    }
    // Bounded: with nats-server gone neither would ever finish, and a
    // provider told to stop must stop.
    if tokio::time::timeout(STOP_STEP, provider.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(provider = %provider_id, "provider did not stop within {STOP_STEP:?}");
    }
    let _ = tokio::time::timeout(STOP_STEP, lattice.flush()).await;
    Ok(())
}

/// The longest one step of an external provider's stop may take.
const STOP_STEP: std::time::Duration = std::time::Duration::from_secs(2);

/// Resolves when the host that started this process is gone: its stdin
/// pipe (see [`env::HOST_PIPE`]) reached end of file. A host killed with
/// SIGKILL cannot stop its providers; this is how they learn of it and do
/// not live on as orphans. Never resolves for a process started by hand.
async fn host_gone() {
    if std::env::var(env::HOST_PIPE).as_deref() != Ok("1") {
        return std::future::pending().await;
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // A plain thread: reading stdin blocks, and it lives as long as the
    // pipe. The host never writes; anything read is ignored.
    let watcher = std::thread::Builder::new()
        .name("host-pipe".into())
        .spawn(move || {
            let mut buf = [0u8; 64];
            let mut stdin = std::io::stdin();
            while let Ok(n) = std::io::Read::read(&mut stdin, &mut buf) {
                if n == 0 {
                    break;
                }
            }
            let _ = tx.send(());
        });
    match watcher {
        Ok(_) => {
            let _ = rx.await;
        }
        Err(e) => {
            tracing::warn!(%e, "cannot watch the host pipe; only signals stop this provider");
            std::future::pending::<()>().await;
        }
    }
}

/// Resolves on SIGINT or SIGTERM (for the `main` of long-running processes).
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// The whole `main` of a provider binary: logging to stderr, a runtime, and
/// [`run`]; a failure is printed and becomes a non-zero exit.
pub fn main(provider: Arc<dyn Provider>) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(provider));
    // Dropping a runtime waits for its blocking threads without a bound.
    runtime.shutdown_timeout(STOP_STEP);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
