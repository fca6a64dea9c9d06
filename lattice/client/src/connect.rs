//! Connecting to the lattice.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream;
use trellis_protocol::LatticeName;

use crate::error::LatticeError;

/// Credentials and TLS for the NATS connection, and where the lattice's
/// JetStream state lives; empty means none and the defaults. These travel
/// together to external provider processes ([`auth_env`]).
#[derive(Debug, Clone, Default)]
pub struct NatsAuth {
    /// A `.creds` file (JWT + nkey seed), as issued by NATS operators.
    pub creds_file: Option<PathBuf>,
    /// User name (with `password`).
    pub user: Option<String>,
    /// Password (with `user`).
    pub password: Option<String>,
    /// A file holding a user nkey seed (`SU...`).
    pub nkey_file: Option<PathBuf>,
    /// CA certificate (PEM) to verify the server with; turns TLS on.
    pub tls_ca: Option<PathBuf>,
    /// JetStream domain of the lattice's storage. Set on edge sites whose
    /// local nats-server is a leaf node with its own JetStream domain, so
    /// that links, config and artifacts still come from the hub's.
    pub js_domain: Option<String>,
    /// Replicas of the lattice's buckets (links, config, wadm, artifacts,
    /// keyvalue-nats) when they are created, and the least an existing one
    /// is scaled up to; `None` means 1. More than 1 needs a JetStream
    /// cluster with at least that many servers (`docs/nats-cluster.md`).
    pub js_replicas: Option<usize>,
}

/// How to reach a lattice.
#[derive(Debug, Clone)]
pub struct LatticeConfig {
    /// NATS server URL(s), comma separated: every server of a cluster, so
    /// the connection fails over to another when one goes away.
    pub nats_url: String,
    /// Lattice name (first token of every subject).
    pub lattice: LatticeName,
    /// Name this connection shows in the NATS server's monitoring.
    pub connection_name: String,
    /// Bound on the initial connection.
    pub connect_timeout: Duration,
    /// Default bound on a control request.
    pub request_timeout: Duration,
    /// Credentials and TLS.
    pub auth: NatsAuth,
    /// Largest streamed body (request or response) this connection takes
    /// in from a peer; a larger claimed length is refused before anything
    /// is allocated.
    pub max_body_bytes: u64,
}

impl Default for LatticeConfig {
    fn default() -> Self {
        Self {
            nats_url: "nats://127.0.0.1:4222".into(),
            lattice: LatticeName::default_lattice(),
            connection_name: "trellis".into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            auth: NatsAuth::default(),
            max_body_bytes: trellis_protocol::invocation::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// A connection to one lattice.
#[derive(Clone, Debug)]
pub struct Lattice {
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) lattice: LatticeName,
    pub(crate) request_timeout: Duration,
    /// The server's message at the first permissions violation.
    denied: tokio::sync::watch::Receiver<Option<String>>,
    pub(crate) js_replicas: usize,
    pub(crate) max_body_bytes: u64,
    /// `host`/`port` of each configured NATS server.
    servers: std::sync::Arc<[(String, u16)]>,
    /// How the invocations sent through this connection ended.
    pub(crate) rpc_stats: std::sync::Arc<crate::stats::RpcStats>,
    /// The provider calls this connection answered.
    pub(crate) served_stats: std::sync::Arc<crate::stats::ServedStats>,
}

impl Lattice {
    /// Connects, failing fast (within `connect_timeout`) when nobody listens.
    pub async fn connect(config: &LatticeConfig) -> Result<Self, LatticeError> {
        let connect_err = |reason: String| LatticeError::Connect {
            url: config.nats_url.clone(),
            reason,
        };
        let servers = server_addrs(&config.nats_url).map_err(connect_err)?;
        js_replicas(&config.auth).map_err(connect_err)?;
        // Reconnects go on for ever, across every listed (and discovered)
        // server, never waiting more than RECONNECT_DELAY_MAX between
        // attempts: a cluster that lost one node is back within a second.
        let options = async_nats::ConnectOptions::new()
            .name(&config.connection_name)
            .connection_timeout(config.connect_timeout)
            .request_timeout(Some(config.request_timeout))
            .max_reconnects(None)
            .reconnect_delay_callback(reconnect_delay);
        let (denied_tx, denied) = tokio::sync::watch::channel(None);
        // A publish or subscribe the credentials do not allow is dropped by
        // the server with only an -ERR; keep it, so that a request that then
        // never gets its reply can say why.
        let options = options.event_callback(move |event| {
            let denied = denied_tx.clone();
            async move {
                if let async_nats::Event::ServerError(async_nats::ServerError::Other(text)) = event
                    && text.to_ascii_lowercase().contains("permissions violation")
                {
                    tracing::warn!(%text, "the NATS server denied a publish or subscribe");
                    denied.send_if_modified(|first| match first {
                        Some(_) => false,
                        None => {
                            *first = Some(text);
                            true
                        }
                    });
                }
            }
        });
        let options = apply_auth(options, &config.auth)
            .await
            .map_err(connect_err)?;
        let client = tokio::time::timeout(
            config.connect_timeout + Duration::from_secs(1),
            options.connect(servers),
        )
        .await
        .map_err(|_| connect_err(format!("timed out after {:?}", config.connect_timeout)))?
        .map_err(|e| {
            let text = e.to_string();
            // rustls failures surface as IO errors; name the flag anyway.
            let tls = text.contains("certificate") || text.to_ascii_lowercase().contains("tls");
            connect_err(match e.kind() {
                _ if tls => format!(
                    "TLS failed ({e}); pass the CA that signed the server's certificate with --nats-tls-ca"
                ),
                async_nats::ConnectErrorKind::AuthorizationViolation
                | async_nats::ConnectErrorKind::Authentication => format!(
                    "the server refused the credentials ({e}); pass credentials it accepts with \
                     --nats-user/--nats-password, --nats-creds or --nats-nkey"
                ),
                _ => format!(
                    "{e}. Is nats-server running? Start a local lattice with `trellis up`, \
                     or pass --nats-url"
                ),
            })
        })?;
        Ok(Self {
            denied,
            ..Self::from_client(client, config)
        })
    }

    /// Wraps an existing connection.
    pub fn from_client(client: async_nats::Client, config: &LatticeConfig) -> Self {
        let js = match &config.auth.js_domain {
            Some(domain) => jetstream::with_domain(client.clone(), domain),
            None => jetstream::new(client.clone()),
        };
        Self {
            client,
            js,
            lattice: config.lattice.clone(),
            request_timeout: config.request_timeout,
            denied: tokio::sync::watch::channel(None).1,
            js_replicas: config.auth.js_replicas.unwrap_or(1).clamp(1, MAX_REPLICAS),
            max_body_bytes: config.max_body_bytes,
            servers: server_addrs(&config.nats_url)
                .unwrap_or_default()
                .iter()
                .map(|a| (a.host().to_owned(), a.port()))
                .collect(),
            rpc_stats: Default::default(),
            served_stats: Default::default(),
        }
    }

    /// How the invocations sent through this connection (and its clones)
    /// ended: answered, timed out, no responders, failed.
    pub fn rpc_stats(&self) -> &crate::stats::RpcStats {
        &self.rpc_stats
    }

    /// The provider calls this connection (and its clones) answered.
    pub fn served_stats(&self) -> &crate::stats::ServedStats {
        &self.served_stats
    }

    /// The JetStream context of this connection (with its domain), for
    /// providers that keep or read their data in the lattice's JetStream.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The NATS servers this connection was configured with, as `host` and
    /// `port` (e.g. for an outbound-HTTP policy that keeps components away
    /// from the lattice's own server).
    pub fn nats_servers(&self) -> &[(String, u16)] {
        &self.servers
    }

    /// Resolves, with the server's message, once the server has denied
    /// this connection a publish or subscribe (its credentials lack the
    /// permission); never resolves for a connection without one.
    pub async fn permission_denied(&self) -> String {
        let mut denied = self.denied.clone();
        let text = match denied.wait_for(Option::is_some).await {
            Ok(text) => text.clone(),
            Err(_) => None,
        };
        match text {
            Some(text) => text,
            None => std::future::pending().await,
        }
    }

    /// Replicas the lattice's buckets are created with (and scaled up to).
    pub fn js_replicas(&self) -> usize {
        self.js_replicas
    }

    /// The lattice name.
    pub fn name(&self) -> &LatticeName {
        &self.lattice
    }

    /// The underlying NATS client (for subscriptions).
    pub fn nats(&self) -> &async_nats::Client {
        &self.client
    }

    /// The default control request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The largest streamed body this connection takes in.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_body_bytes
    }

    /// Flushes buffered publishes, bounded by the request timeout.
    pub async fn flush(&self) -> Result<(), LatticeError> {
        tokio::time::timeout(self.request_timeout, self.client.flush())
            .await
            .map_err(|_| LatticeError::nats("flush", "timed out"))?
            .map_err(|e| LatticeError::nats("flush", e))
    }
}

/// Most replicas JetStream keeps of a stream.
pub const MAX_REPLICAS: usize = 5;

/// Longest pause between two reconnect attempts.
const RECONNECT_DELAY_MAX: Duration = Duration::from_secs(1);

/// The first attempt right away, then 50 ms doubling up to
/// [`RECONNECT_DELAY_MAX`] (async-nats' default grows to 4 s, too slow to
/// fail over within the few seconds a cluster needs).
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(8);
    (Duration::from_millis(50) * 2u32.pow(doublings)).min(RECONNECT_DELAY_MAX)
}

/// Parses a comma-separated list of NATS server URLs (async-nats takes one
/// URL per address, so "a,b,c" must be split here).
pub fn server_addrs(urls: &str) -> Result<Vec<async_nats::ServerAddr>, String> {
    let addrs = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| {
            url.parse::<async_nats::ServerAddr>()
                .map_err(|e| format!("`{url}` is not a NATS server URL ({e})"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err("no NATS server URL given; pass --nats-url nats://HOST:PORT[,...]".into());
    }
    Ok(addrs)
}

/// Checks the configured replica count.
fn js_replicas(auth: &NatsAuth) -> Result<(), String> {
    match auth.js_replicas {
        Some(n) if !(1..=MAX_REPLICAS).contains(&n) => Err(format!(
            "--js-replicas {n} is out of range: JetStream keeps 1 to {MAX_REPLICAS} replicas"
        )),
        _ => Ok(()),
    }
}

/// Applies credentials and TLS to connection options.
async fn apply_auth(
    mut options: async_nats::ConnectOptions,
    auth: &NatsAuth,
) -> Result<async_nats::ConnectOptions, String> {
    if let Some(path) = &auth.creds_file {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| format!("cannot read --nats-creds {}: {e}", path.display()))?;
    }
    match (&auth.user, &auth.password) {
        (Some(user), Some(password)) => {
            options = options.user_and_password(user.clone(), password.clone());
        }
        (None, None) => {}
        _ => return Err("--nats-user and --nats-password go together".into()),
    }
    if let Some(path) = &auth.nkey_file {
        let seed = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --nats-nkey {}: {e}", path.display()))?;
        options = options.nkey(seed.trim().to_owned());
    }
    if let Some(ca) = &auth.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    Ok(options)
}

/// Environment variables that pass a connection's credentials to a child
/// process (an external provider), and back.
pub mod auth_env {
    use super::NatsAuth;

    /// `.creds` file path.
    pub const CREDS: &str = "TRELLIS_NATS_CREDS";
    /// User name.
    pub const USER: &str = "TRELLIS_NATS_USER";
    /// Password.
    pub const PASSWORD: &str = "TRELLIS_NATS_PASSWORD";
    /// Nkey seed file path.
    pub const NKEY: &str = "TRELLIS_NATS_NKEY";
    /// CA certificate path.
    pub const TLS_CA: &str = "TRELLIS_NATS_TLS_CA";
    /// JetStream domain.
    pub const JS_DOMAIN: &str = "TRELLIS_JS_DOMAIN";
    /// Replicas of the lattice's buckets.
    pub const JS_REPLICAS: &str = "TRELLIS_JS_REPLICAS";

    /// The variables to set for `auth`.
    pub fn to_env(auth: &NatsAuth) -> Vec<(&'static str, String)> {
        let path = |p: &std::path::PathBuf| p.display().to_string();
        [
            (CREDS, auth.creds_file.as_ref().map(path)),
            (USER, auth.user.clone()),
            (PASSWORD, auth.password.clone()),
            (NKEY, auth.nkey_file.as_ref().map(path)),
            (TLS_CA, auth.tls_ca.as_ref().map(path)),
            (JS_DOMAIN, auth.js_domain.clone()),
            (JS_REPLICAS, auth.js_replicas.map(|n| n.to_string())),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }

    /// Reads the variables back.
    pub fn from_env() -> NatsAuth {
        let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        NatsAuth {
            creds_file: var(CREDS).map(Into::into),
            user: var(USER),
            password: var(PASSWORD),
            nkey_file: var(NKEY).map(Into::into),
            tls_ca: var(TLS_CA).map(Into::into),
            js_domain: var(JS_DOMAIN),
            // A bad value is caught by `Lattice::connect`'s range check.
            js_replicas: var(JS_REPLICAS).map(|n| n.parse().unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_list_becomes_one_address_per_server() {
        let addrs =
            server_addrs("nats://127.0.0.1:4222, nats://127.0.0.1:4223,,127.0.0.1:4224").unwrap();
        let ports: Vec<u16> = addrs.iter().map(|a| a.port()).collect();
        assert_eq!(ports, [4222, 4223, 4224]);
        assert!(server_addrs(" , ").unwrap_err().contains("--nats-url"));
        let err = server_addrs("nats://ok:1,http://bad:2").unwrap_err();
        assert!(err.contains("`http://bad:2`"), "{err}");
    }

    #[test]
    fn reconnects_start_at_once_and_wait_at_most_a_second() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        assert_eq!(reconnect_delay(2), Duration::from_millis(50));
        assert_eq!(reconnect_delay(3), Duration::from_millis(100));
        assert_eq!(reconnect_delay(6), Duration::from_millis(800));
        assert_eq!(reconnect_delay(7), RECONNECT_DELAY_MAX);
        assert_eq!(reconnect_delay(usize::MAX), RECONNECT_DELAY_MAX);
    }

    #[test]
    fn replicas_out_of_range_are_refused_and_travel_by_env() {
        let auth = |n| NatsAuth {
            js_replicas: Some(n),
            ..NatsAuth::default()
        };
        assert!(js_replicas(&auth(0)).is_err());
        assert!(js_replicas(&auth(6)).unwrap_err().contains("1 to 5"));
        assert!(js_replicas(&auth(3)).is_ok());
        assert!(js_replicas(&NatsAuth::default()).is_ok());
        let env = auth_env::to_env(&auth(3));
        assert!(env.contains(&(auth_env::JS_REPLICAS, "3".to_owned())));
    }
}
