//! `--otlp-endpoint` and `--trace-sampling`: span export for a host
//! process (`trellis host`, `trellis up`).

use anyhow::Context;
use trellis_telemetry::{Telemetry, TelemetryConfig};

use crate::args::HostFlags;

/// Sets up span export as the flags say, naming this host in every span.
pub(super) fn install(flags: &HostFlags, host_id: &str) -> anyhow::Result<Telemetry> {
    let config = TelemetryConfig {
        endpoint: flags.otlp_endpoint.clone().filter(|e| !e.is_empty()),
        sampling: flags.trace_sampling,
        service_name: "trellis-host".into(),
        instance_id: host_id.to_owned(),
        ..TelemetryConfig::default()
    };
    let telemetry = trellis_telemetry::install(&config).context("--otlp-endpoint")?;
    if telemetry.exporting() {
        tracing::info!(endpoint = ?config.endpoint, sampling = config.sampling, "exporting spans");
    }
    Ok(telemetry)
}

/// Sends the spans still queued, off the async threads (the exporter
/// blocks for at most its timeout).
pub(super) async fn flush(telemetry: Telemetry) {
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
}
