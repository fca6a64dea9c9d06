//! `trellis ui` (and `trellis up --ui`): a small read-only web dashboard
//! of one lattice, served on 127.0.0.1 by default. The page polls JSON
//! for hosts, apps and links and follows the lattice's events as
//! server-sent events; it changes nothing, so it needs no login beyond
//! who can reach the address.
//!
//! Bottom up: [`api`] reads the lattice (bounded calls, errors as data),
//! [`feed`] fans the events out to the open pages, [`server`] is the
//! bounded HTTP/1 server with the embedded page (`assets/`).

mod api;
mod feed;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use trellis_lattice::Lattice;

use crate::args::{GlobalArgs, UiArgs};

/// A running dashboard; stops (with its open connections) when dropped.
pub(super) struct UiServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl UiServer {
    /// Connects to the lattice the global flags name and serves the
    /// dashboard of it on `addr` (port 0 picks a free one).
    pub(super) async fn start(global: &GlobalArgs, addr: SocketAddr) -> anyhow::Result<Self> {
        // Its own connection, without the one-shot commands' exit on a
        // denied permission: a denied call shows in its panel instead.
        let config = trellis_lattice::LatticeConfig {
            connection_name: "trellis-ui".into(),
            request_timeout: api::CALL_TIMEOUT,
            ..super::lattice_config(global)?
        };
        let lattice = Lattice::connect(&config).await?;
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot serve the dashboard on {addr}; pass a free address with --addr")
        })?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(server::Shared::new(
            api::Api::new(lattice.clone()),
            addr.ip(),
        ));
        let task = tokio::spawn(async move {
            tokio::join!(
                server::accept(listener, shared.clone()),
                shared.feed().run(&lattice)
            );
        });
        tracing::info!(%addr, "serving the dashboard");
        Ok(Self { addr, task })
    }

    /// The page's URL.
    pub(super) fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for UiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `trellis ui`: serves until Ctrl-C. Prints `ui=URL` on stdout (for
/// scripts; with `--addr 127.0.0.1:0` it names the port picked).
pub(super) async fn run(global: &GlobalArgs, args: UiArgs) -> anyhow::Result<()> {
    let server = UiServer::start(global, args.addr).await?;
    println!("ui={}", server.url());
    eprintln!(
        "Dashboard of lattice {} on {} (Ctrl-C stops it).",
        global.lattice,
        server.url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    Ok(())
}
