//! Per-link settings, from the link's source config.

use std::net::SocketAddr;
use std::time::Duration;

use trellis_protocol::control::ConfigValues;
use trellis_protocol::link::Link;
use trellis_provider_sdk::ProviderError;

/// Default bound on one request, from arrival to the last response byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Default cap on a request body.
pub const DEFAULT_MAX_BODY: usize = 128 * 1024 * 1024;

/// Settings of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSettings {
    /// Where to listen (`address`).
    pub address: SocketAddr,
    /// Request timeout (`timeout_ms`).
    pub timeout: Duration,
    /// Request body cap (`max_body_bytes`).
    pub max_body: usize,
}

impl LinkSettings {
    /// Reads and checks the settings, naming the link and key at fault.
    pub fn from_config(link: &Link, config: &ConfigValues) -> Result<Self, ProviderError> {
        let at = || format!("link {} -> {}", link.source_id, link.target_id);
        let address = config.get("address").ok_or_else(|| {
            ProviderError::Config(format!(
                "{} has no `address` in its source config; add one, e.g. address=127.0.0.1:8080",
                at()
            ))
        })?;
        let address: SocketAddr = address.parse().map_err(|_| {
            ProviderError::Config(format!(
                "{}: address `{address}` is not IP:PORT (e.g. 127.0.0.1:8080)",
                at()
            ))
        })?;
        let number = |key: &str, default: u64| -> Result<u64, ProviderError> {
            config.get(key).map_or(Ok(default), |v| {
                v.parse().map_err(|_| {
                    ProviderError::Config(format!("{}: {key} `{v}` is not a whole number", at()))
                })
            })
        };
        Ok(Self {
            address,
            timeout: Duration::from_millis(number(
                "timeout_ms",
                DEFAULT_TIMEOUT.as_millis() as u64,
            )?),
            max_body: number("max_body_bytes", DEFAULT_MAX_BODY as u64)? as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        serde_json::from_str(
            r#"{"source_id":"http","target_id":"app","wit_namespace":"wasi",
                "wit_package":"http","interfaces":["incoming-handler"]}"#,
        )
        .unwrap()
    }

    fn config(pairs: &[(&str, &str)]) -> ConfigValues {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_when_only_address_is_given() {
        let s =
            LinkSettings::from_config(&link(), &config(&[("address", "127.0.0.1:8080")])).unwrap();
        assert_eq!(s.address, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.max_body, DEFAULT_MAX_BODY);
    }

    #[test]
    fn errors_name_the_link_and_the_key() {
        let err = LinkSettings::from_config(&link(), &config(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("http -> app") && err.contains("address=127.0.0.1:8080"),
            "{err}"
        );
        let err = LinkSettings::from_config(&link(), &config(&[("address", "localhost")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`localhost` is not IP:PORT"), "{err}");
        let err = LinkSettings::from_config(
            &link(),
            &config(&[("address", "127.0.0.1:1"), ("timeout_ms", "soon")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("timeout_ms `soon`"), "{err}");
    }
}
