//! The provider over real sockets with a fake invoker: shared listeners,
//! conflicts, removal and the graceful drain.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use trellis_protocol::ComponentId;
use trellis_protocol::context::CallContext;
use trellis_protocol::invocation::{Body, HttpRequest, HttpResponse, InvocationReply};
use trellis_provider_sdk::{Invoker, LinkContext, Provider};

use crate::HttpServerProvider;
use crate::listener::Caller;

/// Answers `{target} {path}`; `/slow` first reports arrival, then waits.
struct FakeInvoker {
    arrived: mpsc::UnboundedSender<String>,
}

impl Invoker for FakeInvoker {
    fn invoke_http(
        &self,
        target: ComponentId,
        request: HttpRequest,
        _ctx: CallContext,
    ) -> BoxFuture<'static, InvocationReply<HttpResponse>> {
        let arrived = self.arrived.clone();
        async move {
            if request.path_with_query == "/slow" {
                let _ = arrived.send(target.to_string());
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(HttpResponse {
                status: 200,
                headers: vec![],
                body: Body::Inline(format!("{target} {}", request.path_with_query).into_bytes()),
            })
        }
        .boxed()
    }

    fn invoke_call(
        &self,
        target: ComponentId,
        _interface: trellis_protocol::link::InterfaceRef,
        _function: trellis_protocol::link::WitName,
        _request: trellis_protocol::call::CallRequest,
        _ctx: CallContext,
    ) -> BoxFuture<'static, InvocationReply<trellis_protocol::call::CallResponse>> {
        let refused = trellis_protocol::invocation::InvocationError::new(
            trellis_protocol::invocation::ErrorKind::Internal,
            format!("the http-server never calls {target} by function"),
        );
        futures::future::ready(Err(refused)).boxed()
    }
}

fn provider(config: &[(&str, &str)]) -> (HttpServerProvider, mpsc::UnboundedReceiver<String>) {
    let (arrived, rx) = mpsc::unbounded_channel();
    let p = HttpServerProvider::new();
    // Through `begin`, as `start` does, without a lattice connection.
    let caller = Caller {
        provider_id: ComponentId::new("web").unwrap(),
        invoker: Arc::new(FakeInvoker { arrived }),
    };
    let config = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    p.begin(caller, &config).unwrap();
    (p, rx)
}

fn link(name: &str, target: &str, config: &[(&str, &str)]) -> LinkContext {
    LinkContext {
        link: serde_json::from_value(serde_json::json!({
            "source_id": "web", "target_id": target, "name": name,
            "wit_namespace": "wasi", "wit_package": "http",
            "interfaces": ["incoming-handler"],
        }))
        .unwrap(),
        source_config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        target_config: Default::default(),
    }
}

fn free_address() -> String {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().to_string()
}

/// One `Connection: close` request; `(status, body)`, or `None` when the
/// connection is refused.
async fn get(address: &str, path: &str, host: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let status = raw.get(9..12).unwrap().parse().unwrap();
    let (_, body) = raw.split_once("\r\n\r\n").unwrap();
    Some((status, body.to_owned()))
}

#[tokio::test]
async fn path_routes_share_a_listener_and_conflicts_are_refused() {
    let address = free_address();
    let (p, _) = provider(&[("routing", "path"), ("address", &address)]);
    p.link_put(link("one", "app-one", &[("path", "/api")]))
        .await
        .unwrap();
    p.link_put(link("two", "app-two", &[("path", "/api/v2/")]))
        .await
        .unwrap();
    let ok = |body: &str| Some((200, body.to_owned()));
    assert_eq!(get(&address, "/api/x", "h").await, ok("app-one /api/x"));
    assert_eq!(
        get(&address, "/api/v2?q=1", "h").await,
        ok("app-two /api/v2?q=1")
    );
    let (status, body) = get(&address, "/apix", "h").await.unwrap();
    assert_eq!(
        (status, body.as_str()),
        (404, "no route for this request\n")
    );

    let err = p
        .link_put(link("three", "app-three", &[("path", "/api")]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("web -> app-three (name three)")
            && err.contains("web -> app-one (name one) already serves path /api"),
        "{err}"
    );
    assert_eq!(get(&address, "/api", "h").await, ok("app-one /api"));

    // Removing routes keeps the listener until the last one goes.
    p.link_del(link("one", "app-one", &[]).link).await.unwrap();
    assert_eq!(get(&address, "/api", "h").await.unwrap().0, 404);
    p.link_del(link("two", "app-two", &[]).link).await.unwrap();
    assert_eq!(get(&address, "/api/v2", "h").await, None);
}

#[tokio::test]
async fn host_routes_and_address_conflicts() {
    let address = free_address();
    let (p, _) = provider(&[("routing", "host"), ("address", &address)]);
    p.link_put(link("a", "app-a", &[("host", "a.test")]))
        .await
        .unwrap();
    p.link_put(link("b", "app-b", &[("host", "B.test")]))
        .await
        .unwrap();
    assert_eq!(get(&address, "/", "A.TEST:80").await.unwrap().1, "app-a /");
    assert_eq!(get(&address, "/", "b.test").await.unwrap().1, "app-b /");
    assert_eq!(get(&address, "/", "c.test").await.unwrap().0, 404);

    // routing=address: one link per address; the second is refused.
    let (p, _) = provider(&[]);
    let shared = free_address();
    p.link_put(link("a", "app-a", &[("address", &shared)]))
        .await
        .unwrap();
    let err = p
        .link_put(link("b", "app-b", &[("address", &shared)]))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("already serves every request"), "{err}");
    assert_eq!(get(&shared, "/", "x").await.unwrap().1, "app-a /");
    // Moving a link away and back rebinds cleanly.
    let other = free_address();
    p.link_put(link("a", "app-a", &[("address", &other)]))
        .await
        .unwrap();
    assert_eq!(get(&shared, "/", "x").await, None);
    p.link_put(link("a", "app-a", &[("address", &shared)]))
        .await
        .unwrap();
    assert_eq!(get(&shared, "/", "x").await.unwrap().1, "app-a /");
    assert_eq!(get(&other, "/", "x").await, None);
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let address = free_address();
    let (p, mut arrived) = provider(&[]);
    p.link_put(link("a", "app", &[("address", &address)]))
        .await
        .unwrap();
    let in_flight = tokio::spawn({
        let address = address.clone();
        async move { get(&address, "/slow", "x").await }
    });
    assert_eq!(arrived.recv().await.as_deref(), Some("app"));
    let started = tokio::time::Instant::now();
    p.shutdown().await;
    // The request finished (not cut off) and shutdown waited for it.
    assert_eq!(
        in_flight.await.unwrap(),
        Some((200, "app /slow".to_owned()))
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(get(&address, "/", "x").await, None);
}
