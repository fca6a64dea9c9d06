//! `trellis host`.

use std::path::PathBuf;
use std::time::Duration;

use trellis_host::HostConfig;
use trellis_host::runtime::RuntimeConfig;

use super::{lattice_config, parse_pairs};
use crate::args::{GlobalArgs, HostArgs, HostFlags};

/// Host settings from flags.
pub fn host_config(global: &GlobalArgs, flags: &HostFlags) -> anyhow::Result<HostConfig> {
    let cache_dir = flags
        .cache_dir
        .clone()
        .or_else(|| trellis_home().map(|home| home.join("cache")));
    Ok(HostConfig {
        lattice: lattice_config(global)?,
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
            cache_dir,
        },
        max_artifact_bytes: flags.max_artifact_mb.saturating_mul(1 << 20),
        allow_unsigned: flags.allow_unsigned,
        trusted_issuers: flags.trust_issuers.clone(),
        site: flags.site.clone(),
        ..HostConfig::default()
    })
}

/// `~/.trellis`, when there is a home directory.
pub fn trellis_home() -> Option<PathBuf> {
    dirs::home_dir().map(|home| home.join(".trellis"))
}

fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "trellis-host".into())
}

pub use trellis_provider_sdk::external::shutdown_signal;

pub async fn run(global: &GlobalArgs, args: HostArgs) -> anyhow::Result<()> {
    let config = host_config(global, &args.host)?;
    trellis_host::run(config, shutdown_signal()).await?;
    Ok(())
}
