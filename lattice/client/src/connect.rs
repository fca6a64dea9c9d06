//! Connecting to the lattice.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream;
use trellis_protocol::LatticeName;

use crate::error::LatticeError;

/// Credentials and TLS for the NATS connection; empty means none.
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
}

/// How to reach a lattice.
#[derive(Debug, Clone)]
pub struct LatticeConfig {
    /// NATS server URL(s), comma separated.
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
    pub(crate) max_body_bytes: u64,
}

impl Lattice {
    /// Connects, failing fast (within `connect_timeout`) when nobody listens.
    pub async fn connect(config: &LatticeConfig) -> Result<Self, LatticeError> {
        let connect_err = |reason: String| LatticeError::Connect {
            url: config.nats_url.clone(),
            reason,
        };
        let options = async_nats::ConnectOptions::new()
            .name(&config.connection_name)
            .connection_timeout(config.connect_timeout)
            .request_timeout(Some(config.request_timeout));
        let options = apply_auth(options, &config.auth)
            .await
            .map_err(connect_err)?;
        let client = tokio::time::timeout(
            config.connect_timeout + Duration::from_secs(1),
            options.connect(config.nats_url.as_str()),
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
        Ok(Self::from_client(client, config))
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
            max_body_bytes: config.max_body_bytes,
        }
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
        }
    }
}
