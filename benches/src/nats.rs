//! Bare NATS helpers shared by the rows that talk to nats-server directly
//! (mesh, messaging) and the responders they measure against.

use anyhow::Context;
use async_nats::Client;

use crate::load::REQUEST_TIMEOUT;

/// Connects to NATS, bounded.
pub(crate) async fn connect(url: &str) -> anyhow::Result<Client> {
    let options = async_nats::ConnectOptions::new().connection_timeout(REQUEST_TIMEOUT);
    tokio::time::timeout(REQUEST_TIMEOUT, options.connect(url))
        .await
        .context("connecting to NATS timed out")?
        .context("connecting to NATS")
}

/// Flushes `client`, bounded.
pub(crate) async fn flush(client: &Client) -> anyhow::Result<()> {
    tokio::time::timeout(REQUEST_TIMEOUT, client.flush())
        .await
        .context("NATS flush timed out")?
        .context("NATS flush")
}

/// Aborts a task when dropped (the responder outlives no measurement).
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
