//! `GET /metrics` over HTTP/1: OpenMetrics text of a registry. Scrapers
//! are peers like any other: connections are bounded in number, headers
//! must arrive in time and every connection ends within a bound.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Scrapes served at once; more connections are closed at once.
const MAX_CONNECTIONS: usize = 32;
/// How long a scraper may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest one connection may stay open (keep-alive included).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// The content type of OpenMetrics text, which Prometheus asks for first.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why metrics could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The address could not be bound.
    #[error("cannot serve metrics on {addr}: {source}; pass a free address with --metrics-addr")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A metric could not be written (a collector failed).
    #[error("cannot encode metrics")]
    Encode(#[source] std::fmt::Error),
}

/// The registry's metrics as OpenMetrics text.
pub fn encode(registry: &Registry) -> Result<String, MetricsError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).map_err(MetricsError::Encode)?;
    Ok(text)
}

/// A running metrics endpoint; stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Serves `registry` on `addr` (port 0 picks a free one).
    pub async fn start(addr: SocketAddr, registry: Arc<Registry>) -> Result<Self, MetricsError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let task = tokio::spawn(accept(listener, registry));
        tracing::info!(%addr, "serving metrics on /metrics");
        Ok(Self { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, registry: Arc<Registry>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: try again shortly
                // rather than spin.
                tracing::warn!(%e, "metrics endpoint could not accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let registry = registry.clone();
                async move { Ok::<_, Infallible>(respond(&registry, &request)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
            drop(permit);
        });
    }
}

fn respond(registry: &Registry, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = content_type.parse() {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    };
    if request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found; metrics are on /metrics\n".into(),
        );
    }
    if request.method() != Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "use GET\n".into(),
        );
    }
    match encode(registry) {
        Ok(text) => reply(StatusCode::OK, CONTENT_TYPE, text),
        Err(e) => {
            tracing::warn!(%e, "metrics could not be encoded");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("{e}\n"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get(addr: SocketAddr, request: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_metrics_on_get_metrics_only() {
        let mut registry = Registry::default();
        let counter = Counter::<u64>::default();
        registry.register("scrapes_seen", "Scrapes seen.", counter.clone());
        counter.inc_by(7);
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), Arc::new(registry))
            .await
            .unwrap();
        let close = "Connection: close\r\n\r\n";
        let ok = get(
            server.addr(),
            &format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{close}"),
        )
        .await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains("application/openmetrics-text"), "{ok}");
        assert!(
            ok.contains("scrapes_seen_total 7\n") && ok.ends_with("# EOF\n"),
            "{ok}"
        );
        let missing = get(
            server.addr(),
            &format!("GET / HTTP/1.1\r\nHost: x\r\n{close}"),
        )
        .await;
        assert!(
            missing.starts_with("HTTP/1.1 404") && missing.contains("/metrics"),
            "{missing}"
        );
        let post = get(
            server.addr(),
            &format!("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n{close}"),
        )
        .await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    }

    #[tokio::test]
    async fn a_taken_address_names_the_flag() {
        let first = MetricsServer::start("127.0.0.1:0".parse().unwrap(), Arc::default())
            .await
            .unwrap();
        let err = MetricsServer::start(first.addr(), Arc::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("--metrics-addr"), "{err}");
    }
}
