//! `trellis host`.

use std::path::PathBuf;
use std::time::Duration;

use trellis_host::HostConfig;
use trellis_host::runtime::RuntimeConfig;

use super::{lattice_config, parse_pairs};
use crate::args::{GlobalArgs, HostArgs, HostFlags};

/// Host settings from flags.
pub(super) fn host_config(global: &GlobalArgs, flags: &HostFlags) -> anyhow::Result<HostConfig> {
    let cache_dir = flags
        .cache_dir
        .clone()
        .or_else(|| trellis_home().map(|home| home.join("cache")));
    let lattice = trellis_lattice::LatticeConfig {
        max_body_bytes: flags.max_body_mb.saturating_mul(1 << 20),
        ..lattice_config(global)?
    };
    Ok(HostConfig {
        lattice,
        name: flags.name.clone().unwrap_or_else(machine_name),
        labels: parse_pairs("--label", &flags.labels)?,
        heartbeat: Duration::from_millis(flags.heartbeat_ms.max(100)),
        seed_file: flags.seed_file.clone(),
        runtime: RuntimeConfig {
            max_execution: Duration::from_millis(flags.max_execution_ms.max(1)),
            max_memory_bytes: usize::try_from(flags.max_memory_mb.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            max_instances: flags.max_instances,
            max_response_bytes: usize::try_from(flags.max_response_mb.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            max_call_elements: usize::try_from(flags.max_call_mib.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            cache_dir,
            spare_instances: !flags.no_spare_instances,
            http_spare_instances: flags.http_spare_instances,
        },
        max_artifact_bytes: flags.max_artifact_mb.saturating_mul(1 << 20),
        allow_unsigned: flags.allow_unsigned,
        allow_outbound: flags.allow_outbound,
        trusted_issuers: flags.trust_issuers.clone(),
        site: flags.site.clone(),
        state_file: flags
            .state_file
            .clone()
            .or_else(|| default_state_file(flags)),
        metrics: flags.metrics_addr.is_some(),
        secrets_key: flags
            .secrets_key
            .as_deref()
            .map(trellis_lattice::secrets::SecretsKey::read_file)
            .transpose()?,
        ..HostConfig::default()
    })
}

/// A host at a site with a lasting identity keeps its record next to its
/// seed: the record belongs to that identity (a host with a new identity
/// has nothing to resume).
fn default_state_file(flags: &HostFlags) -> Option<PathBuf> {
    flags.site.as_ref()?;
    let seed = flags.seed_file.as_ref()?;
    let mut name = seed.file_name()?.to_os_string();
    name.push(".state.json");
    Some(seed.with_file_name(name))
}

/// `~/.trellis`, when there is a home directory.
pub(super) fn trellis_home() -> Option<PathBuf> {
    dirs::home_dir().map(|home| home.join(".trellis"))
}

fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "trellis-host".into())
}

/// After a stop signal a host or wadm process exits by then, stopped
/// cleanly or not (their own stop is bounded at 5 s).
const EXIT_DEADLINE: Duration = Duration::from_secs(8);

/// Resolves on the first SIGINT or SIGTERM and arms [`EXIT_DEADLINE`].
pub(super) async fn shutdown_signal() {
    shutdown_signal_then(EXIT_DEADLINE, || {}).await;
}

/// Resolves on the first SIGINT or SIGTERM. From then on the process exits
/// (status 1, after `before_exit`) when it is still running `deadline`
/// later or at a second signal: whatever a stop step waits for (a
/// nats-server that is gone, a stuck provider, a blocking thread the
/// runtime would wait for) cannot keep it alive.
pub(super) async fn shutdown_signal_then(
    deadline: Duration,
    before_exit: impl Fn() + Send + Sync + 'static,
) {
    trellis_provider_sdk::external::shutdown_signal().await;
    let before_exit = std::sync::Arc::new(before_exit);
    let at_deadline = before_exit.clone();
    // A plain thread: it fires even when every runtime worker is blocked.
    let _ = std::thread::Builder::new()
        .name("exit-deadline".into())
        .spawn(move || {
            std::thread::sleep(deadline);
            eprintln!("error: still running {deadline:?} after the stop signal; exiting anyway");
            at_deadline();
            std::process::exit(1);
        });
    tokio::spawn(async move {
        trellis_provider_sdk::external::shutdown_signal().await;
        eprintln!("error: second stop signal; exiting now");
        before_exit();
        std::process::exit(1);
    });
}

pub(super) async fn run(global: &GlobalArgs, args: HostArgs) -> anyhow::Result<()> {
    let config = host_config(global, &args.host)?;
    let host = trellis_host::start(config).await?;
    let telemetry = super::telemetry::install(&args.host, host.id().as_str())?;
    let _metrics = match args.host.metrics_addr {
        Some(addr) => Some(super::metrics::serve(addr, vec![Box::new(host.metrics())]).await?),
        None => None,
    };
    host.run_until(shutdown_signal()).await;
    super::telemetry::flush(telemetry).await;
    Ok(())
}
