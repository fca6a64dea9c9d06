//! `trellis wadm`: one wadm instance, until Ctrl-C or SIGTERM.

use std::time::Duration;

use trellis_wadm::WadmConfig;

use super::host::shutdown_signal;
use super::lattice_config;
use crate::app_args::WadmArgs;
use crate::args::GlobalArgs;

/// The wadm settings from the global flags and `args`.
pub(super) fn config(global: &GlobalArgs, args: &WadmArgs) -> anyhow::Result<WadmConfig> {
    let mut lattice = lattice_config(global)?;
    lattice.connection_name = "trellis-wadm".into();
    if args.lease_seconds == 0 || args.resync_seconds == 0 {
        anyhow::bail!("--lease-seconds and --resync-seconds must be at least 1");
    }
    Ok(WadmConfig {
        lattice,
        lease_ttl: Duration::from_secs(args.lease_seconds),
        resync_interval: Duration::from_secs(args.resync_seconds),
        command_interval: Duration::from_millis(args.command_interval_ms),
        partition_grace: Duration::from_secs(args.partition_grace_seconds),
        ..WadmConfig::default()
    })
}

/// Runs `trellis wadm`; with `--metrics-addr`, serves its metrics too
/// until it stops.
pub(super) async fn run(global: &GlobalArgs, args: WadmArgs) -> anyhow::Result<()> {
    let wadm = trellis_wadm::start(config(global, &args)?).await?;
    // Held until wadm stops: dropping the server stops serving.
    let _metrics = match args.metrics_addr {
        Some(addr) => match super::metrics::serve(addr, vec![wadm.metrics()]).await {
            Ok(server) => Some(server),
            Err(e) => {
                // Hand the lease over before failing.
                wadm.stop().await;
                return Err(e);
            }
        },
        None => None,
    };
    eprintln!(
        "wadm {} is running on lattice {}; Ctrl-C stops it.",
        wadm.id(),
        global.lattice
    );
    wadm.run_until(shutdown_signal()).await;
    Ok(())
}
