//! The process's one tracer: built from [`TelemetryConfig`] by [`install`],
//! read by every [`crate::start`].

use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider};

use crate::config::{TelemetryConfig, TelemetryError};

/// The tracer spans start from; unset while nothing exports. A process
/// has one exporter, as it has one log: hosts, providers and wadm run as
/// their own processes.
static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// The installed tracer with where it exports and at which sampling
/// ratio: set together, so no reader sees one without the other.
struct Installed {
    tracer: SdkTracer,
    url: String,
    sampling: f64,
}

/// The installed tracer, if any.
pub(crate) fn tracer() -> Option<&'static SdkTracer> {
    INSTALLED.get().map(|installed| &installed.tracer)
}

/// The endpoint and sampling ratio this process exports with, if it
/// does: a host hands them to the provider processes it starts, so that
/// their spans join the same traces.
pub fn exporting() -> Option<(&'static str, f64)> {
    INSTALLED
        .get()
        .map(|installed| (installed.url.as_str(), installed.sampling))
}

/// Owns the exporter: [`Telemetry::shutdown`] sends what is still queued.
#[derive(Debug)]
#[must_use = "dropping it without shutdown loses the spans still queued"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Sets up span export for this process as `config` says. Without an
/// endpoint nothing is installed and spans stay unrecorded.
///
/// The SDK batches spans on its own thread, in a queue of at most 2048
/// (a full queue drops new spans rather than grow), and posts each batch
/// with `config.export_timeout`; `OTEL_BSP_SCHEDULE_DELAY` (ms, default
/// 5000) sets how often a batch goes out.
pub fn install(config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
    let Some(url) = config.traces_url()? else {
        return Ok(Telemetry { provider: None });
    };
    let url_for_children = url.clone();
    if INSTALLED.get().is_some() {
        return Err(TelemetryError::AlreadyInstalled);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .with_timeout(config.export_timeout)
        .build()
        .map_err(|e| TelemetryError::Exporter {
            endpoint: url,
            message: e.to_string(),
        })?;
    let resource = Resource::builder_empty()
        .with_service_name(config.service_name.clone())
        .with_attributes([
            KeyValue::new("service.instance.id", config.instance_id.clone()),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        ])
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter).build())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sampling,
        ))))
        .with_resource(resource)
        .build();
    let installed = Installed {
        tracer: provider.tracer("trellis"),
        url: url_for_children,
        sampling: config.sampling,
    };
    INSTALLED
        .set(installed)
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(Telemetry {
        provider: Some(provider),
    })
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends the queued spans and stops the exporter. Blocks (at most the
    /// export timeout): call it from a blocking context.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(%e, "could not send the last spans");
        }
    }
}
