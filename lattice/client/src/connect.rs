//! Connecting to the lattice.

use std::time::Duration;

use async_nats::jetstream;
use trellis_protocol::LatticeName;

use crate::error::LatticeError;

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
}

impl Default for LatticeConfig {
    fn default() -> Self {
        Self {
            nats_url: "nats://127.0.0.1:4222".into(),
            lattice: LatticeName::default_lattice(),
            connection_name: "trellis".into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
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
        let client = tokio::time::timeout(
            config.connect_timeout + Duration::from_secs(1),
            options.connect(config.nats_url.as_str()),
        )
        .await
        .map_err(|_| connect_err(format!("timed out after {:?}", config.connect_timeout)))?
        .map_err(|e| connect_err(e.to_string()))?;
        Ok(Self::from_client(client, config))
    }

    /// Wraps an existing connection.
    pub fn from_client(client: async_nats::Client, config: &LatticeConfig) -> Self {
        let js = jetstream::new(client.clone());
        Self {
            client,
            js,
            lattice: config.lattice.clone(),
            request_timeout: config.request_timeout,
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

    /// Flushes buffered publishes, bounded by the request timeout.
    pub async fn flush(&self) -> Result<(), LatticeError> {
        tokio::time::timeout(self.request_timeout, self.client.flush())
            .await
            .map_err(|_| LatticeError::nats("flush", "timed out"))?
            .map_err(|e| LatticeError::nats("flush", e))
    }
}
