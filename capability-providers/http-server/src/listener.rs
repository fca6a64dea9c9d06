//! One listening socket and the connections it accepted.

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use trellis_lattice::rpc::CallContext;
use trellis_protocol::link::Link;
use trellis_protocol::{ComponentId, LinkName};
use trellis_provider_sdk::{ProviderContext, ProviderError};

use crate::convert;
use crate::settings::LinkSettings;

/// How long past a request's deadline the provider still waits for the
/// invoker's own answer.
const BACKSTOP_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// What a request needs to know; swapped in place when a link changes.
struct Route {
    target: ComponentId,
    settings: LinkSettings,
}

/// A listener; dropping it closes the socket and every connection.
pub(crate) struct Listener {
    address: SocketAddr,
    route: Arc<RwLock<Route>>,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    pub(crate) async fn bind(
        ctx: &ProviderContext,
        link: &Link,
        settings: LinkSettings,
    ) -> Result<Self, ProviderError> {
        let socket = TcpListener::bind(settings.address).await.map_err(|e| {
            ProviderError::Unavailable(format!(
                "cannot listen on {} for link {} -> {}: {e}",
                settings.address, link.source_id, link.target_id
            ))
        })?;
        let address = socket.local_addr().unwrap_or(settings.address);
        let route = Arc::new(RwLock::new(Route {
            target: link.target_id.clone(),
            settings,
        }));
        let task = tokio::spawn(accept_loop(
            socket,
            route.clone(),
            ctx.clone(),
            link.name.clone(),
        ));
        Ok(Self {
            address,
            route,
            task,
        })
    }

    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    pub(crate) fn retarget(&self, target: ComponentId, settings: LinkSettings) {
        *self.route.write().unwrap_or_else(PoisonError::into_inner) = Route { target, settings };
    }
}

async fn accept_loop(
    socket: TcpListener,
    route: Arc<RwLock<Route>>,
    ctx: ProviderContext,
    link_name: LinkName,
) {
    // Connections live in this task's JoinSet, so aborting the task (link
    // deleted) drops them all along with the socket.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = socket.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(%e, "accept failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let route = route.clone();
                let ctx = ctx.clone();
                let link_name = link_name.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        serve(req, route.clone(), ctx.clone(), link_name.clone())
                    });
                    if let Err(e) = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        tracing::debug!(%e, "connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(
    req: Request<Incoming>,
    route: Arc<RwLock<Route>>,
    ctx: ProviderContext,
    link_name: LinkName,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (target, settings) = {
        let route = route.read().unwrap_or_else(PoisonError::into_inner);
        (route.target.clone(), route.settings.clone())
    };
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, settings.max_body).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(convert::error_response(
                413,
                &format!("request body over {} bytes", settings.max_body),
            ));
        }
        Err(_) => return Ok(convert::error_response(400, "could not read request body")),
    };
    let request = convert::to_invocation(&parts, body);
    let call = CallContext::new(Some(ctx.provider_id.clone()), link_name, settings.timeout);
    // The invoker honours the deadline itself and says why it gave up
    // (busy, no instance, too slow); this outer bound only catches a path
    // that failed to, hence the grace.
    let reply = tokio::time::timeout(
        settings.timeout + BACKSTOP_GRACE,
        ctx.invoker.invoke_http(target, request, call),
    )
    .await;
    Ok(match reply {
        Ok(Ok(response)) => convert::from_invocation(response),
        Ok(Err(e)) => convert::error_response(e.kind.http_status(), &e.message),
        Err(_) => convert::error_response(504, "component did not answer in time"),
    })
}
