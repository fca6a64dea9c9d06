//! One listening socket, its routing table and the connections it
//! accepted, with a graceful drain when it closes.

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use trellis_protocol::context::CallContext;
use trellis_protocol::link::LinkKey;
use trellis_protocol::trace;
use trellis_protocol::{ComponentId, LinkName};
use trellis_provider_sdk::Invoker;
use trellis_telemetry::Kind;

use crate::convert;
use crate::routes::{Conflict, RouteTable, Rule};

/// How long past a request's deadline the provider still waits for the
/// invoker's own answer.
const BACKSTOP_GRACE: Duration = Duration::from_millis(500);

/// How long a closing listener lets in-flight requests finish before it
/// drops their connections.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Bound on a client sending a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause after a failed accept (e.g. out of file descriptors), so the loop
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Bound on the accept loop letting go of its socket once told to stop.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Who calls components on a request's behalf: the provider's id and the
/// host's invoker.
#[derive(Clone)]
pub(crate) struct Caller {
    pub(crate) provider_id: ComponentId,
    pub(crate) invoker: Arc<dyn Invoker>,
}

/// What serves the requests of one link.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) target: ComponentId,
    pub(crate) link_name: LinkName,
    pub(crate) timeout: Duration,
    pub(crate) max_body: usize,
}

type Table = RouteTable<LinkKey, Arc<Route>>;

/// A listener. [`Listener::close`] drains it; dropping it instead aborts
/// the socket and every connection at once.
pub(crate) struct Listener {
    address: SocketAddr,
    routes: Arc<RwLock<Table>>,
    stop: watch::Sender<bool>,
    closed: Option<oneshot::Receiver<()>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Listener {
    /// Binds `address` with an empty routing table.
    pub(crate) async fn bind(ctx: &Caller, address: SocketAddr) -> std::io::Result<Self> {
        let socket = TcpListener::bind(address).await?;
        let address = socket.local_addr().unwrap_or(address);
        let routes = Arc::new(RwLock::new(Table::default()));
        let (stop, stop_rx) = watch::channel(false);
        let (closed_tx, closed) = oneshot::channel();
        let task = tokio::spawn(accept_loop(
            socket,
            routes.clone(),
            ctx.clone(),
            stop_rx,
            closed_tx,
        ));
        Ok(Self {
            address,
            routes,
            stop,
            closed: Some(closed),
            task: Some(task),
        })
    }

    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Adds or replaces the route of `key`; see [`RouteTable::insert`].
    pub(crate) fn insert(
        &self,
        key: LinkKey,
        rule: Rule,
        route: Route,
    ) -> Result<(), Box<Conflict<LinkKey>>> {
        self.routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, rule, Arc::new(route))
            .map_err(Box::new)
    }

    /// Removes the route of `key`; true when no route is left.
    pub(crate) fn remove(&self, key: &LinkKey) -> bool {
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        routes.remove(key);
        routes.is_empty()
    }

    /// Stops accepting (the socket is closed when this returns) and starts
    /// draining; the returned task ends once every connection finished or
    /// [`DRAIN_TIMEOUT`] dropped the rest.
    pub(crate) async fn close(mut self) -> Option<JoinHandle<()>> {
        self.stop.send_replace(true);
        if let Some(closed) = self.closed.take() {
            // Err: the task already ended, and with it the socket.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, closed).await;
        }
        self.task.take()
    }
}

/// Resolves once the listener is told to stop (or is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn accept_loop(
    socket: TcpListener,
    routes: Arc<RwLock<Table>>,
    ctx: Caller,
    mut stop: watch::Receiver<bool>,
    closed: oneshot::Sender<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = socket.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(
                        stream,
                        routes.clone(),
                        ctx.clone(),
                        stop.clone(),
                    ));
                }
                Err(e) => {
                    tracing::warn!(%e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(socket);
    let _ = closed.send(());
    let busy = connections.len();
    let all_done = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, all_done).await.is_err() {
        tracing::warn!(
            busy,
            left = connections.len(),
            "http-server drain timed out; dropping the remaining connections"
        );
        connections.abort_all();
    }
}

/// Serves one connection; on stop, finishes the request in flight (if any)
/// and closes.
async fn connection(
    stream: TcpStream,
    routes: Arc<RwLock<Table>>,
    ctx: Caller,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req| serve(req, routes.clone(), ctx.clone()));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%e, "connection ended with an error");
    }
}

async fn serve(
    req: Request<Incoming>,
    routes: Arc<RwLock<Table>>,
    ctx: Caller,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let arrival = Instant::now();
    let route = {
        let host = req.uri().authority().map(|a| a.as_str()).or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        });
        routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .find(req.uri().path(), host)
            .cloned()
    };
    let Some(route) = route else {
        return Ok(convert::error_response(404, "no route for this request"));
    };
    let too_big =
        || convert::error_response(413, &format!("request body over {} bytes", route.max_body));
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > route.max_body as u64) {
        return Ok(too_big());
    }
    let (parts, body) = req.into_parts();
    let collected =
        tokio::time::timeout(route.timeout, Limited::new(body, route.max_body).collect()).await;
    let body = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Ok(too_big()),
        Ok(Err(_)) => return Ok(convert::error_response(400, "could not read request body")),
        Err(_) => {
            return Ok(convert::error_response(
                408,
                "request body not received in time",
            ));
        }
    };
    let request = convert::to_invocation(&parts, body);
    // This hop's span continues the client's trace (a malformed
    // `traceparent` starts a new one); the component's host opens its
    // own span under it (from the call context) and hands that to the
    // component as its `traceparent` header, replacing the client's.
    let caller = parts
        .headers
        .get(trace::HEADER)
        .and_then(|v| v.to_str().ok()?.parse::<trace::TraceParent>().ok());
    let mut span = trellis_telemetry::start("http request", Kind::Server, caller);
    if span.is_recording() {
        span.set("http.request.method", parts.method.to_string());
        span.set("url.path", parts.uri.path().to_owned());
        span.set("trellis.component", route.target.to_string());
    }
    let left = route.timeout.saturating_sub(arrival.elapsed());
    let call = CallContext::new(Some(ctx.provider_id.clone()), route.link_name.clone(), left)
        .traced(Some(span.context()));
    // The invoker honours the deadline itself and says why it gave up
    // (busy, no instance, too slow); this outer bound only catches a path
    // that failed to, hence the grace.
    let reply = tokio::time::timeout(
        left + BACKSTOP_GRACE,
        ctx.invoker.invoke_http(route.target.clone(), request, call),
    )
    .await;
    let response = match reply {
        Ok(Ok(response)) => convert::from_invocation(response),
        Ok(Err(e)) => convert::error_response(e.kind.http_status(), &e.message),
        Err(_) => convert::error_response(504, "component did not answer in time"),
    };
    let status = response.status().as_u16();
    span.set_i64("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.fail("server error");
    }
    Ok(response)
}
