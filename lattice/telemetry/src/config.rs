//! What an operator chooses: the collector's address, the share of new
//! traces kept, and who this process is in the exported data.

use std::time::Duration;

/// Where spans go and which are kept.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// OTLP/HTTP endpoint (`http://collector:4318`, or the full
    /// `.../v1/traces` URL); `None` exports nothing.
    pub endpoint: Option<String>,
    /// The share of traces this process starts that are recorded, 0.0 to
    /// 1.0. A trace continued from a caller follows the caller's choice
    /// (its sampled flag), so one request is kept whole or not at all.
    pub sampling: f64,
    /// `service.name` of the exported spans (`trellis-host`, ...).
    pub service_name: String,
    /// `service.instance.id`: which host or process sent a span.
    pub instance_id: String,
    /// Bound on one export request to the collector.
    pub export_timeout: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            sampling: 1.0,
            service_name: "trellis".into(),
            instance_id: String::new(),
            export_timeout: Duration::from_secs(10),
        }
    }
}

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The endpoint is not a plain-HTTP URL.
    #[error(
        "OTLP endpoint `{0}` is not an http:// URL; give the collector's OTLP/HTTP address, \
         e.g. http://127.0.0.1:4318 (TLS is not supported: run a collector beside the host)"
    )]
    Endpoint(String),
    /// The sampling ratio is outside 0..=1.
    #[error("trace sampling {0} is not between 0 and 1 (0 records nothing, 1 every trace)")]
    Sampling(f64),
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter for `{endpoint}`: {message}")]
    Exporter {
        /// The endpoint it was built for.
        endpoint: String,
        /// The SDK's reason.
        message: String,
    },
    /// A second install in one process.
    #[error("tracing is already set up in this process")]
    AlreadyInstalled,
}

impl TelemetryConfig {
    /// The traces URL to post to: the endpoint as given when it names a
    /// path, else the endpoint with OTLP's `/v1/traces` (as the
    /// specification builds it from `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn traces_url(&self) -> Result<Option<String>, TelemetryError> {
        if !(0.0..=1.0).contains(&self.sampling) {
            return Err(TelemetryError::Sampling(self.sampling));
        }
        let Some(endpoint) = self.endpoint.as_deref() else {
            return Ok(None);
        };
        let rest = endpoint
            .strip_prefix("http://")
            .filter(|rest| !rest.is_empty() && !rest.starts_with('/'))
            .ok_or_else(|| TelemetryError::Endpoint(endpoint.to_owned()))?;
        Ok(Some(match rest.find('/') {
            Some(slash) if rest.len() > slash + 1 => endpoint.to_owned(),
            Some(_) => format!("{endpoint}v1/traces"),
            None => format!("{endpoint}/v1/traces"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(endpoint: &str) -> Result<Option<String>, TelemetryError> {
        TelemetryConfig {
            endpoint: Some(endpoint.to_owned()),
            ..TelemetryConfig::default()
        }
        .traces_url()
    }

    #[test]
    fn a_bare_endpoint_gets_the_traces_path() {
        let want = "http://127.0.0.1:4318/v1/traces";
        assert_eq!(url("http://127.0.0.1:4318").unwrap().as_deref(), Some(want));
        assert_eq!(
            url("http://127.0.0.1:4318/").unwrap().as_deref(),
            Some(want)
        );
        assert_eq!(url(want).unwrap().as_deref(), Some(want));
        assert_eq!(
            url("http://c:4318/custom/path").unwrap().as_deref(),
            Some("http://c:4318/custom/path")
        );
    }

    #[test]
    fn bad_endpoints_and_ratios_are_named() {
        for bad in ["https://c:4318", "c:4318", "http://", "http:///v1/traces"] {
            let err = url(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
        let err = TelemetryConfig {
            sampling: 1.5,
            ..TelemetryConfig::default()
        }
        .traces_url()
        .unwrap_err();
        assert!(err.to_string().contains("1.5"), "{err}");
        assert_eq!(TelemetryConfig::default().traces_url().unwrap(), None);
    }
}
