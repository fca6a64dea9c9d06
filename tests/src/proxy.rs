//! A TCP proxy that can cut, slow down and restore a link (e.g. an edge
//! site's leaf connection), counting the bytes it carried each way.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Default)]
struct State {
    cut: AtomicBool,
    delay_ms: AtomicU64,
    up: AtomicU64,
    down: AtomicU64,
    connections: Mutex<Vec<AbortHandle>>,
}

/// A running proxy on 127.0.0.1 (tasks on the caller's tokio runtime);
/// it stops when dropped.
pub struct Proxy {
    port: u16,
    state: Arc<State>,
    accept: AbortHandle,
}

impl Proxy {
    /// Listens on a free port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the proxy")?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State::default());
        let accept_state = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if accept_state.cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let conn_state = accept_state.clone();
                let task = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        let _ = pipe(client, server, conn_state).await;
                    }
                });
                accept_state
                    .connections
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(task.abort_handle());
            }
        });
        Ok(Proxy {
            port,
            state,
            accept: accept.abort_handle(),
        })
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Drops every connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for c in self
            .state
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            c.abort();
        }
    }

    /// Lets connections through again, without delay.
    pub fn restore(&self) {
        self.state.delay_ms.store(0, Ordering::SeqCst);
        self.state.cut.store(false, Ordering::SeqCst);
    }

    /// Holds every chunk of data this long before passing it on, each way
    /// (a slow uplink); zero passes at once.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Bytes carried (client to target, target to client) so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.state.up.load(Ordering::SeqCst),
            self.state.down.load(Ordering::SeqCst),
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn pipe(client: TcpStream, server: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::select! {
        r = pump(cr, sw, &state, &state.up) => r,
        r = pump(sr, cw, &state, &state.down) => r,
    }
}

/// Copies one direction until it closes, holding each chunk for the
/// current delay and counting it in `carried`.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    state: &State,
    carried: &AtomicU64,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let ms = state.delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        to.write_all(&buf[..n]).await?;
        carried.fetch_add(n as u64, Ordering::SeqCst);
    }
}
