//! Settings: the provider's own (from its start config) and per link (from
//! the link's source config).

use std::net::SocketAddr;
use std::time::Duration;

use trellis_protocol::control::ConfigValues;
use trellis_protocol::link::Link;
use trellis_provider_sdk::ProviderError;

use crate::routes::{Rule, normalize_host};

/// Default bound on one request, from arrival to the last response byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Default cap on a request body.
pub const DEFAULT_MAX_BODY: usize = 128 * 1024 * 1024;

/// Where a link listens when neither it nor the provider names an address:
/// wasmCloud's http-server default, so its manifests serve unchanged.
pub const DEFAULT_ADDRESS: &str = "0.0.0.0:8000";

/// The value of `key`, whatever its case: wasmCloud's manifests write
/// `ADDRESS` as often as `address`. An exact match wins over others.
fn get<'a>(config: &'a ConfigValues, key: &str) -> Option<&'a String> {
    config.get(key).or_else(|| {
        config
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// `address`, else `port` alone (on all interfaces, as wasmCloud does).
fn address_of(config: &ConfigValues, at: &str) -> Result<Option<SocketAddr>, ProviderError> {
    if let Some(address) = get(config, "address") {
        return parse_address(address, at).map(Some);
    }
    let Some(port) = get(config, "port") else {
        return Ok(None);
    };
    let port: u16 = port.parse().map_err(|_| {
        ProviderError::Config(format!(
            "{at}: port `{port}` is not a port number (1-65535); or give address=IP:PORT"
        ))
    })?;
    Ok(Some(SocketAddr::from(([0, 0, 0, 0], port))))
}

/// How requests arriving on one address are told apart (`routing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Routing {
    /// One link per address; every request there goes to it (default).
    #[default]
    Address,
    /// Links share an address; the longest matching `path` prefix wins.
    Path,
    /// Links share an address; the `Host` header picks the link.
    Host,
}

/// Settings of the provider, from the config it was started with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Routing mode (`routing`).
    pub routing: Routing,
    /// Address for links whose source config names none (`address`).
    pub default_address: Option<SocketAddr>,
}

impl ProviderSettings {
    /// Reads and checks the provider config.
    pub fn from_config(config: &ConfigValues) -> Result<Self, ProviderError> {
        let routing = match get(config, "routing").map(String::as_str) {
            None | Some("address") => Routing::Address,
            Some("path") => Routing::Path,
            Some("host") => Routing::Host,
            Some(other) => {
                return Err(ProviderError::Config(format!(
                    "http-server: routing `{other}` is not one of address, path, host"
                )));
            }
        };
        let default_address = address_of(config, "http-server provider config")?;
        Ok(Self {
            routing,
            default_address,
        })
    }
}

/// Settings of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSettings {
    /// Where to listen (`address`, else the provider's).
    pub address: SocketAddr,
    /// Which requests on that address are this link's (`path` / `host`).
    pub rule: Rule,
    /// Request timeout (`timeout_ms`).
    pub timeout: Duration,
    /// Request body cap (`max_body_bytes`).
    pub max_body: usize,
}

impl LinkSettings {
    /// Reads and checks the settings, naming the link and key at fault.
    pub fn from_config(
        link: &Link,
        config: &ConfigValues,
        provider: &ProviderSettings,
    ) -> Result<Self, ProviderError> {
        let at = format!("link {} -> {}", link.source_id, link.target_id);
        let address = match (address_of(config, &at)?, provider.default_address) {
            (Some(address), _) | (None, Some(address)) => address,
            (None, None) => parse_address(DEFAULT_ADDRESS, &at)?,
        };
        let rule = match provider.routing {
            Routing::Address => Rule::Any,
            Routing::Path => Rule::Prefix(parse_path(get(config, "path"), &at)?),
            Routing::Host => Rule::Host(parse_host(get(config, "host"), &at)?),
        };
        let number = |key: &str, default: u64| -> Result<u64, ProviderError> {
            get(config, key).map_or(Ok(default), |v| {
                v.parse().map_err(|_| {
                    ProviderError::Config(format!("{at}: {key} `{v}` is not a whole number"))
                })
            })
        };
        Ok(Self {
            address,
            rule,
            timeout: Duration::from_millis(number(
                "timeout_ms",
                DEFAULT_TIMEOUT.as_millis() as u64,
            )?),
            max_body: usize::try_from(number("max_body_bytes", DEFAULT_MAX_BODY as u64)?)
                .unwrap_or(usize::MAX),
        })
    }
}

fn parse_address(value: &str, at: &str) -> Result<SocketAddr, ProviderError> {
    value.parse().map_err(|_| {
        ProviderError::Config(format!(
            "{at}: address `{value}` is not IP:PORT (e.g. 127.0.0.1:8080)"
        ))
    })
}

/// `/api/` and `/api` are the same prefix; the root stays `/`.
fn parse_path(value: Option<&String>, at: &str) -> Result<String, ProviderError> {
    let Some(value) = value else {
        return Ok("/".into());
    };
    if !value.starts_with('/') || value.contains(['?', '#']) || value.contains(char::is_whitespace)
    {
        return Err(ProviderError::Config(format!(
            "{at}: path `{value}` must start with / and hold no query (e.g. path=/api)"
        )));
    }
    let trimmed = value.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_owned())
}

fn parse_host(value: Option<&String>, at: &str) -> Result<String, ProviderError> {
    let host = value.map(|v| normalize_host(v)).unwrap_or_default();
    if host.is_empty() || host.contains(['/', ' ']) {
        return Err(ProviderError::Config(format!(
            "{at}: routing=host needs a `host` in the link's source config, e.g. host=app.example.com"
        )));
    }
    Ok(host)
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

    fn provider(pairs: &[(&str, &str)]) -> ProviderSettings {
        ProviderSettings::from_config(&config(pairs)).unwrap()
    }

    fn err(link_cfg: &[(&str, &str)], provider_cfg: &[(&str, &str)]) -> String {
        LinkSettings::from_config(&link(), &config(link_cfg), &provider(provider_cfg))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_apply_when_only_address_is_given() {
        let s = LinkSettings::from_config(
            &link(),
            &config(&[("address", "127.0.0.1:8080")]),
            &ProviderSettings::default(),
        )
        .unwrap();
        assert_eq!(s.address, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.rule, Rule::Any);
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.max_body, DEFAULT_MAX_BODY);
    }

    #[test]
    fn wasmcloud_spellings_and_default_address_are_read() {
        let s = |pairs: &[(&str, &str)]| {
            LinkSettings::from_config(&link(), &config(pairs), &ProviderSettings::default())
                .unwrap()
        };
        assert_eq!(s(&[]).address, DEFAULT_ADDRESS.parse().unwrap());
        assert_eq!(
            s(&[("ADDRESS", "127.0.0.1:9")]).address,
            "127.0.0.1:9".parse().unwrap()
        );
        assert_eq!(
            s(&[("port", "8081")]).address,
            "0.0.0.0:8081".parse().unwrap()
        );
        assert_eq!(s(&[("Timeout_MS", "5")]).timeout, Duration::from_millis(5));
        let p = provider(&[("PORT", "9001")]);
        assert_eq!(p.default_address, Some("0.0.0.0:9001".parse().unwrap()));
        assert!(err(&[("port", "http")], &[]).contains("port `http`"));
    }

    #[test]
    fn errors_name_the_link_and_the_key() {
        let e = err(&[("address", "localhost")], &[]);
        assert!(e.contains("http -> app"), "{e}");
        assert!(e.contains("`localhost` is not IP:PORT"), "{e}");
        let e = err(&[("address", "127.0.0.1:1"), ("timeout_ms", "soon")], &[]);
        assert!(e.contains("timeout_ms `soon`"), "{e}");
        let e = err(
            &[("path", "api")],
            &[("routing", "path"), ("address", "127.0.0.1:1")],
        );
        assert!(e.contains("path `api` must start with /"), "{e}");
        let e = err(&[], &[("routing", "host"), ("address", "127.0.0.1:1")]);
        assert!(e.contains("needs a `host`"), "{e}");
    }

    #[test]
    fn provider_config_sets_mode_and_default_address() {
        assert_eq!(provider(&[]), ProviderSettings::default());
        let p = provider(&[("routing", "path"), ("address", "127.0.0.1:9000")]);
        assert_eq!(p.routing, Routing::Path);
        let s = LinkSettings::from_config(&link(), &config(&[("path", "/api/")]), &p).unwrap();
        assert_eq!(s.address, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(s.rule, Rule::Prefix("/api".into()));
        let s = LinkSettings::from_config(&link(), &config(&[]), &p).unwrap();
        assert_eq!(s.rule, Rule::Prefix("/".into()));
        let p = provider(&[("routing", "host"), ("address", "127.0.0.1:9000")]);
        let s =
            LinkSettings::from_config(&link(), &config(&[("host", "App.Test:80")]), &p).unwrap();
        assert_eq!(s.rule, Rule::Host("app.test".into()));
        let e = ProviderSettings::from_config(&config(&[("routing", "round-robin")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("routing `round-robin`"), "{e}");
    }
}
