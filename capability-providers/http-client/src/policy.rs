//! A link's outbound policy: which destinations a component may reach, and
//! the limits of each request. Parsed once per link from its config; every
//! request is checked against it before any socket is opened.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;
use ipnet::IpNet;
use trellis_provider_sdk::outbound::OutboundError;

/// Config keys of an http-client link.
pub mod keys {
    /// Comma-separated `[scheme://]host[:port]` patterns.
    pub const ALLOWED_HOSTS: &str = "allowed_hosts";
    /// Comma-separated CIDRs (or addresses) never connected to; replaces
    /// the default list.
    pub const DENY_CIDRS: &str = "deny_cidrs";
    /// Bound on DNS, TCP and TLS together.
    pub const CONNECT_TIMEOUT_MS: &str = "connect_timeout_ms";
    /// Bound from request sent to response head.
    pub const FIRST_BYTE_TIMEOUT_MS: &str = "first_byte_timeout_ms";
    /// Bound on a stall of the response body.
    pub const BETWEEN_BYTES_TIMEOUT_MS: &str = "between_bytes_timeout_ms";
    /// Largest response body passed to the component.
    pub const MAX_RESPONSE_BYTES: &str = "max_response_bytes";
    /// Idle connections kept per destination.
    pub const POOL_MAX_IDLE_PER_HOST: &str = "pool_max_idle_per_host";
    /// How long an idle connection is kept.
    pub const POOL_IDLE_TIMEOUT_MS: &str = "pool_idle_timeout_ms";
    /// Comma-separated `HOST:PORT=IP:PORT`: connect to that address
    /// instead of resolving HOST (as curl's `--resolve`).
    pub const RESOLVE: &str = "resolve";
    /// A PEM file of CA certificates trusted besides the platform's.
    pub const CA_FILE: &str = "ca_file";

    /// Every key the provider reads.
    pub const ALL: &[&str] = &[
        ALLOWED_HOSTS,
        DENY_CIDRS,
        CONNECT_TIMEOUT_MS,
        FIRST_BYTE_TIMEOUT_MS,
        BETWEEN_BYTES_TIMEOUT_MS,
        MAX_RESPONSE_BYTES,
        POOL_MAX_IDLE_PER_HOST,
        POOL_IDLE_TIMEOUT_MS,
        RESOLVE,
        CA_FILE,
    ];
}

/// Addresses no component reaches unless a pattern names them literally:
/// the machine itself, link-local (cloud metadata services live there) and
/// "this network".
pub const DEFAULT_DENY_CIDRS: &[&str] = &[
    "127.0.0.0/8",
    "::1/128",
    "169.254.0.0/16",
    "fe80::/10",
    "0.0.0.0/8",
    "::/128",
    "::ffff:127.0.0.0/104",
];

/// At most this many patterns or CIDRs per key, so that a config cannot
/// make every request walk an unbounded list.
pub const MAX_RULES: usize = 256;

/// Defaults of the limits (each overridable per link).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// See [`DEFAULT_CONNECT_TIMEOUT`].
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
/// See [`DEFAULT_CONNECT_TIMEOUT`].
pub const DEFAULT_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);
/// See [`DEFAULT_CONNECT_TIMEOUT`].
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 << 20;
/// See [`DEFAULT_CONNECT_TIMEOUT`].
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 8;
/// See [`DEFAULT_CONNECT_TIMEOUT`].
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which scheme a pattern allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemeRule {
    Any,
    Http,
    Https,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    Any,
    /// `*.suffix`: any name strictly below `suffix`.
    Below(String),
    Name(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortRule {
    Any,
    /// No port written: the scheme's default port.
    Default,
    Exact(u16),
}

/// One `allowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    scheme: SchemeRule,
    host: HostRule,
    port: PortRule,
}

/// A request's destination, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// TLS or not.
    pub https: bool,
    /// Lower-case name or IP literal (without brackets).
    pub host: String,
    /// Explicit or the scheme's default.
    pub port: u16,
    /// The host as an address, when it is an IP literal.
    pub ip: Option<IpAddr>,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        match self.ip {
            Some(IpAddr::V6(_)) => write!(f, "{scheme}://[{}]:{}", self.host, self.port),
            _ => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

/// What a request may do, for one link.
#[derive(Debug, Clone)]
pub struct Policy {
    allowed: Vec<Pattern>,
    deny: Vec<IpNet>,
    /// Addresses of the lattice's NATS servers: refused even when named.
    nats: Vec<SocketAddr>,
    /// `resolve` overrides: (lower-case host, port) -> address.
    resolve: Vec<(String, u16, SocketAddr)>,
    /// See [`keys::CA_FILE`].
    pub ca_file: Option<PathBuf>,
    /// See [`keys::CONNECT_TIMEOUT_MS`].
    pub connect_timeout: Duration,
    /// See [`keys::FIRST_BYTE_TIMEOUT_MS`].
    pub first_byte_timeout: Duration,
    /// See [`keys::BETWEEN_BYTES_TIMEOUT_MS`].
    pub between_bytes_timeout: Duration,
    /// See [`keys::MAX_RESPONSE_BYTES`].
    pub max_response_bytes: u64,
    /// See [`keys::POOL_MAX_IDLE_PER_HOST`].
    pub pool_max_idle_per_host: usize,
    /// See [`keys::POOL_IDLE_TIMEOUT_MS`].
    pub pool_idle_timeout: Duration,
}

impl Policy {
    /// Parses a link's config. `nats` are the lattice's server addresses.
    /// Every fault is named with its key and what to write instead.
    pub fn from_config(
        config: &BTreeMap<String, String>,
        nats: Vec<SocketAddr>,
    ) -> Result<Self, String> {
        let allowed = match config.get(keys::ALLOWED_HOSTS) {
            Some(list) => rules(list, keys::ALLOWED_HOSTS, parse_pattern)?,
            None => Vec::new(),
        };
        let deny = match config.get(keys::DENY_CIDRS) {
            Some(list) => rules(list, keys::DENY_CIDRS, parse_cidr)?,
            None => DEFAULT_DENY_CIDRS
                .iter()
                .map(|c| parse_cidr(c))
                .collect::<Result<_, _>>()?,
        };
        let resolve = match config.get(keys::RESOLVE) {
            Some(list) => rules(list, keys::RESOLVE, parse_resolve)?,
            None => Vec::new(),
        };
        let ca_file = match config.get(keys::CA_FILE).map(String::as_str) {
            None | Some("") => None,
            Some(path) if std::path::Path::new(path).is_absolute() => Some(PathBuf::from(path)),
            Some(path) => {
                return Err(format!(
                    "{}: `{path}` is not an absolute path; give the PEM file's full path",
                    keys::CA_FILE
                ));
            }
        };
        Ok(Self {
            allowed,
            deny,
            nats,
            resolve,
            ca_file,
            connect_timeout: millis(config, keys::CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT)?,
            first_byte_timeout: millis(
                config,
                keys::FIRST_BYTE_TIMEOUT_MS,
                DEFAULT_FIRST_BYTE_TIMEOUT,
            )?,
            between_bytes_timeout: millis(
                config,
                keys::BETWEEN_BYTES_TIMEOUT_MS,
                DEFAULT_BETWEEN_BYTES_TIMEOUT,
            )?,
            max_response_bytes: number(
                config,
                keys::MAX_RESPONSE_BYTES,
                DEFAULT_MAX_RESPONSE_BYTES,
            )?,
            pool_max_idle_per_host: number(
                config,
                keys::POOL_MAX_IDLE_PER_HOST,
                DEFAULT_POOL_MAX_IDLE_PER_HOST as u64,
            )? as usize,
            pool_idle_timeout: millis(
                config,
                keys::POOL_IDLE_TIMEOUT_MS,
                DEFAULT_POOL_IDLE_TIMEOUT,
            )?,
        })
    }

    /// Checks a request's URI against `allowed_hosts` (and, for an IP
    /// literal, the deny rules), before anything is resolved or connected.
    pub fn check_uri(&self, uri: &Uri) -> Result<Destination, OutboundError> {
        let destination = destination(uri)?;
        let Some(pattern) = self.allowed.iter().find(|p| p.matches(&destination)) else {
            let how = if self.allowed.is_empty() {
                "the link has no allowed_hosts; add one to its config, e.g. \
                 allowed_hosts=api.example.com or allowed_hosts=https://*.example.com"
                    .to_owned()
            } else {
                format!(
                    "no allowed_hosts pattern of the link matches; add `{}:{}` to it",
                    bracketed(&destination),
                    destination.port
                )
            };
            return Err(OutboundError::Denied {
                destination: destination.to_string(),
                reason: how,
            });
        };
        if let Some(ip) = destination.ip {
            // Naming the address in a pattern is the operator's say-so; a
            // wildcard is not.
            let named = pattern.host == HostRule::Ip(ip);
            self.check_addr(&destination, SocketAddr::new(ip, destination.port), named)?;
        }
        Ok(destination)
    }

    /// The address `resolve` names for the destination's host and port.
    pub fn resolved(&self, d: &Destination) -> Option<SocketAddr> {
        self.resolve
            .iter()
            .find(|(host, port, _)| d.ip.is_none() && *host == d.host && *port == d.port)
            .map(|(_, _, addr)| *addr)
    }

    /// Checks one address a name resolved to (or an IP literal): the
    /// lattice's NATS servers always refused, the deny CIDRs unless
    /// `named` (an allowed_hosts pattern names this very address).
    pub fn check_addr(
        &self,
        destination: &Destination,
        addr: SocketAddr,
        named: bool,
    ) -> Result<(), OutboundError> {
        let ip = canonical(addr.ip());
        if self
            .nats
            .iter()
            .any(|n| canonical(n.ip()) == ip && n.port() == addr.port())
        {
            return Err(OutboundError::IpProhibited {
                destination: destination.to_string(),
                reason: format!("{addr} is the lattice's NATS server"),
            });
        }
        if !named && let Some(net) = self.deny.iter().find(|net| net.contains(&ip)) {
            return Err(OutboundError::IpProhibited {
                destination: destination.to_string(),
                reason: format!(
                    "{ip} is in the denied range {net} (deny_cidrs); name the address itself \
                     in allowed_hosts (e.g. {}:{}) to reach it",
                    bracketed_ip(ip),
                    addr.port()
                ),
            });
        }
        Ok(())
    }
}

/// `::ffff:a.b.c.d` compares as `a.b.c.d`, so an IPv4-mapped address cannot
/// slip past an IPv4 rule.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn bracketed(d: &Destination) -> String {
    match d.ip {
        Some(ip) => bracketed_ip(ip),
        None => d.host.clone(),
    }
}

fn bracketed_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}

impl Pattern {
    fn matches(&self, d: &Destination) -> bool {
        let scheme = match self.scheme {
            SchemeRule::Any => true,
            SchemeRule::Http => !d.https,
            SchemeRule::Https => d.https,
        };
        let port = match self.port {
            PortRule::Any => true,
            PortRule::Default => d.port == if d.https { 443 } else { 80 },
            PortRule::Exact(p) => d.port == p,
        };
        let host = match &self.host {
            HostRule::Any => true,
            HostRule::Ip(ip) => d.ip.map(canonical) == Some(canonical(*ip)),
            HostRule::Name(name) => d.ip.is_none() && d.host == *name,
            HostRule::Below(suffix) => {
                d.ip.is_none()
                    && d.host.len() > suffix.len() + 1
                    && d.host.ends_with(suffix.as_str())
                    && d.host.as_bytes()[d.host.len() - suffix.len() - 1] == b'.'
            }
        };
        scheme && port && host
    }
}

/// The destination of an absolute request URI.
pub fn destination(uri: &Uri) -> Result<Destination, OutboundError> {
    let https = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => true,
        Some(s) if s.eq_ignore_ascii_case("http") => false,
        Some(other) => {
            return Err(OutboundError::InvalidUri(format!(
                "scheme `{other}` is not supported; use http or https"
            )));
        }
        None => return Err(OutboundError::InvalidUri(format!("`{uri}` has no scheme"))),
    };
    let Some(authority) = uri.authority() else {
        return Err(OutboundError::InvalidUri(format!("`{uri}` has no host")));
    };
    let raw = authority.host();
    let unbracketed = raw
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(raw);
    let ip = unbracketed.parse::<IpAddr>().ok();
    let host = match ip {
        Some(ip) => ip.to_string(),
        None => unbracketed.trim_end_matches('.').to_ascii_lowercase(),
    };
    if host.is_empty() {
        return Err(OutboundError::InvalidUri(format!("`{uri}` has no host")));
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(Destination {
        https,
        host,
        port,
        ip,
    })
}

fn rules<T>(list: &str, key: &str, parse: fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    let entries: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.len() > MAX_RULES {
        return Err(format!(
            "{key} has {} entries; at most {MAX_RULES} are allowed (use wildcards such as \
             *.example.com)",
            entries.len()
        ));
    }
    entries
        .into_iter()
        .map(|e| parse(e).map_err(|why| format!("{key}: `{e}` {why}")))
        .collect()
}

fn parse_pattern(text: &str) -> Result<Pattern, String> {
    let (scheme, rest) = match text.split_once("://") {
        Some((s, rest)) => (
            match s.to_ascii_lowercase().as_str() {
                "http" => SchemeRule::Http,
                "https" => SchemeRule::Https,
                "*" => SchemeRule::Any,
                _ => return Err("has a scheme other than http, https or *".into()),
            },
            rest,
        ),
        None => (SchemeRule::Any, text),
    };
    if rest.contains('/') {
        return Err("has a path; write only [scheme://]host[:port]".into());
    }
    // `[v6]:port`, `[v6]`, `host:port`, `host`.
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (ip, after) = inner
            .split_once(']')
            .ok_or("opens `[` without closing it")?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("has text after `]`")?),
        };
        (ip, port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let port = match port {
        None => PortRule::Default,
        Some("*") => PortRule::Any,
        Some(p) => PortRule::Exact(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or("has a port that is not 1-65535 or *")?,
        ),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = if host == "*" {
        HostRule::Any
    } else if let Some(suffix) = host.strip_prefix("*.") {
        if suffix.is_empty() || suffix.contains('*') {
            return Err("has a wildcard other than a leading `*.`".into());
        }
        HostRule::Below(suffix.to_owned())
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        HostRule::Ip(ip)
    } else if host.is_empty()
        || host.contains('*')
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err("is not a host name, IP address, `*` or `*.domain`".into());
    } else {
        HostRule::Name(host)
    };
    Ok(Pattern { scheme, host, port })
}

/// `HOST:PORT=IP:PORT`.
fn parse_resolve(text: &str) -> Result<(String, u16, SocketAddr), String> {
    let bad =
        || format!("`{text}` is not HOST:PORT=IP:PORT (e.g. api.example.com:443=10.0.0.5:8443)");
    let (name, addr) = text.split_once('=').ok_or_else(bad)?;
    let (host, port) = name.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let addr: SocketAddr = addr.trim().parse().map_err(|_| bad())?;
    let host = host.trim().to_ascii_lowercase();
    if host.is_empty() || host.parse::<IpAddr>().is_ok() || host.contains(['/', '[', ']']) {
        return Err(bad());
    }
    Ok((host, port, addr))
}

fn parse_cidr(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| "is not a CIDR (e.g. 10.0.0.0/8) or an IP address".to_owned())
}

fn number(config: &BTreeMap<String, String>, key: &str, default: u64) -> Result<u64, String> {
    match config.get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("{key}: `{v}` is not a whole number")),
    }
}

fn millis(
    config: &BTreeMap<String, String>,
    key: &str,
    default: Duration,
) -> Result<Duration, String> {
    let default_ms = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
    match number(config, key, default_ms)? {
        0 => Err(format!(
            "{key}: 0 would fail every request; give milliseconds > 0"
        )),
        ms => Ok(Duration::from_millis(ms)),
    }
}

#[cfg(test)]
mod tests;
