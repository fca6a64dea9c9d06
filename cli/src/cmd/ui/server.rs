//! The dashboard over HTTP/1: three embedded files, JSON from [`Api`] and
//! the live events as server-sent events from [`Feed`].
//!
//! Browsers are peers like any other, so the bounds of the metrics
//! endpoint (`trellis-metrics`) hold here too: connections are capped,
//! headers must arrive in time and every connection ends within a bound.
//! An event stream is long-lived by nature, so it gets its own, smaller
//! cap and a longer bound (the page's `EventSource` reconnects when one
//! ends, and picks up where it left off).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::api::Api;
use super::feed::{Feed, Subscription};

/// Connections served at once; more are closed at once. A page uses a
/// few (its refreshes and one event stream).
const MAX_CONNECTIONS: usize = 32;
/// Event streams open at once (one per open page).
pub(super) const MAX_EVENT_STREAMS: usize = 8;
/// How long a browser may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection without an event stream may stay open
/// (keep-alive included); the lattice calls behind a request end sooner.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest one event stream lasts; the page then opens a new one.
pub(super) const STREAM_LIFETIME: Duration = Duration::from_secs(4 * 60 * 60);
/// A comment line this often keeps idle streams (and proxies) awake and
/// finds pages that went away.
const KEEPALIVE: Duration = Duration::from_secs(15);

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// Only this origin's files and requests: event text that slipped into
/// markup could still not run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

type Body = BoxBody<Bytes, Infallible>;

/// What every connection shares.
pub(super) struct Shared {
    api: Api,
    feed: Feed,
    streams: Arc<Semaphore>,
    /// Bound to a loopback address: only requests that name the host by
    /// an IP address or `localhost`, so a web page elsewhere cannot read
    /// the dashboard through a DNS name rebound to 127.0.0.1.
    loopback: bool,
}

impl Shared {
    /// The state of a dashboard listening on `ip`.
    pub(super) fn new(api: Api, ip: IpAddr) -> Self {
        Self {
            api,
            feed: Feed::new(),
            streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
            loopback: ip.is_loopback(),
        }
    }

    /// The event fan-out (run by the server's task).
    pub(super) fn feed(&self) -> &Feed {
        &self.feed
    }
}

/// Serves connections from `listener` until the task is aborted, which
/// also ends every open connection.
pub(super) async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Owned here so that aborting this task aborts the connections too.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: try again shortly
                // rather than spin.
                tracing::warn!(%e, "dashboard could not accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        connections.spawn(serve(stream, shared.clone(), permit));
    }
}

/// One connection, until it closes or its deadline passes. An event
/// stream moves the deadline out (see [`events`]).
async fn serve(stream: TcpStream, shared: Arc<Shared>, permit: OwnedSemaphorePermit) {
    let deadline = Arc::new(Mutex::new(Instant::now() + CONNECTION_TIMEOUT));
    let service = {
        let deadline = deadline.clone();
        hyper::service::service_fn(move |request| {
            let shared = shared.clone();
            let deadline = deadline.clone();
            async move { Ok::<_, Infallible>(respond(&shared, &deadline, request).await) }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let read = |deadline: &Mutex<Instant>| *deadline.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let until = read(&deadline);
        tokio::select! {
            _ = &mut connection => break,
            () = tokio::time::sleep_until(until) => {
                if read(&deadline) <= Instant::now() {
                    break;
                }
            }
        }
    }
    drop(permit);
}

async fn respond(
    shared: &Shared,
    deadline: &Mutex<Instant>,
    request: Request<Incoming>,
) -> Response<Body> {
    if shared.loopback && !names_loopback(request.headers()) {
        return text(
            StatusCode::FORBIDDEN,
            "this dashboard answers requests for 127.0.0.1 or localhost only\n",
        );
    }
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
    }
    match request.uri().path() {
        "/" | "/index.html" => asset(INDEX_HTML, "text/html; charset=utf-8"),
        "/app.js" => asset(APP_JS, "text/javascript; charset=utf-8"),
        "/style.css" => asset(STYLE_CSS, "text/css; charset=utf-8"),
        "/api/info" => json(Ok(serde_json::json!({
            "lattice": shared.api.lattice_name(),
            "version": env!("CARGO_PKG_VERSION"),
        }))),
        "/api/hosts" => json(shared.api.hosts().await),
        "/api/apps" => json(shared.api.apps().await),
        "/api/links" => json(shared.api.links().await),
        "/api/events" => events(shared, deadline, request.headers()),
        _ => text(StatusCode::NOT_FOUND, "not found; the dashboard is on /\n"),
    }
}

/// Whether the `Host` header names the server by an IP address or as
/// `localhost` (a request without one is no browser's).
fn names_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    if host.starts_with('[') {
        // An IPv6 literal, `[::1]:9470`.
        return true;
    }
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    name.parse::<Ipv4Addr>().is_ok() || name.eq_ignore_ascii_case("localhost")
}

/// The live events: the recent ones the page has not seen, then each new
/// one, as `text/event-stream`.
fn events(shared: &Shared, deadline: &Mutex<Instant>, headers: &HeaderMap) -> Response<Body> {
    let Ok(permit) = shared.streams.clone().try_acquire_owned() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{MAX_EVENT_STREAMS} event streams are open already; close a dashboard tab\n"),
        );
    };
    // A reconnecting EventSource says the last id it saw.
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let end = Instant::now() + STREAM_LIFETIME;
    *deadline.lock().unwrap_or_else(PoisonError::into_inner) = end + CONNECTION_TIMEOUT;
    let body = event_stream(shared.feed.subscribe(last_seen), end, permit);
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(headers);
    response
}

/// The frames of one event stream, until `end`; holds `permit` while open.
fn event_stream(subscription: Subscription, end: Instant, permit: OwnedSemaphorePermit) -> Body {
    struct Stream {
        backlog: std::vec::IntoIter<Bytes>,
        subscription: Subscription,
        end: Instant,
        keepalive: tokio::time::Interval,
        _permit: OwnedSemaphorePermit,
    }
    // How long the browser waits before it reconnects, then the backlog.
    let mut backlog = vec![Bytes::from_static(b"retry: 3000\n\n")];
    backlog.extend(subscription.backlog.iter().cloned());
    let state = Stream {
        backlog: backlog.into_iter(),
        subscription,
        end,
        keepalive: tokio::time::interval_at(Instant::now() + KEEPALIVE, KEEPALIVE),
        _permit: permit,
    };
    let frames = futures::stream::unfold(state, |mut s| async move {
        let frame = match s.backlog.next() {
            Some(frame) => frame,
            None => tokio::select! {
                () = tokio::time::sleep_until(s.end) => return None,
                _ = s.keepalive.tick() => Bytes::from_static(b": keepalive\n\n"),
                next = s.subscription.live.recv() => match next {
                    Ok(frame) => frame,
                    // Too slow a reader: say how many it missed, go on.
                    Err(RecvError::Lagged(missed)) => {
                        Bytes::from(format!("event: lagged\ndata: {missed}\n\n"))
                    }
                    Err(RecvError::Closed) => return None,
                },
            },
        };
        Some((frame, s))
    })
    .map(|frame| Ok::<_, Infallible>(Frame::data(frame)));
    BodyExt::boxed(StreamBody::new(frames))
}

/// A JSON reply, or a 502 whose `error` the page shows in the panel.
fn json<T: Serialize>(result: anyhow::Result<T>) -> Response<Body> {
    let (status, body) = match result.and_then(|value| Ok(serde_json::to_vec(&value)?)) {
        Ok(body) => (StatusCode::OK, body),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            serde_json::json!({ "error": format!("{e:#}") })
                .to_string()
                .into_bytes(),
        ),
    };
    let mut response = full(status, body, "application/json");
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn asset(body: &'static str, content_type: &'static str) -> Response<Body> {
    full(StatusCode::OK, body.as_bytes().to_vec(), content_type)
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    full(
        status,
        body.as_bytes().to_vec(),
        "text/plain; charset=utf-8",
    )
}

fn full(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure(headers);
    response
}

/// Headers every reply carries: the CSP, no type sniffing, no referrer.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_host(host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        headers
    }

    #[test]
    fn only_addresses_and_localhost_pass_on_loopback() {
        for ok in [
            "127.0.0.1:9470",
            "localhost:9470",
            "LOCALHOST",
            "[::1]:9470",
            "10.0.0.2",
        ] {
            assert!(names_loopback(&with_host(ok)), "{ok}");
        }
        for bad in [
            "evil.example:9470",
            "127.0.0.1.nip.io:9470",
            "localhost.evil",
        ] {
            assert!(!names_loopback(&with_host(bad)), "{bad}");
        }
        assert!(names_loopback(&HeaderMap::new()));
    }

    #[test]
    fn the_assets_are_embedded_and_name_each_other() {
        assert!(INDEX_HTML.contains("src=\"app.js\"") && INDEX_HTML.contains("href=\"style.css\""));
        // Peer text goes in as text: the page never parses markup it builds.
        assert!(!APP_JS.contains("innerHTML") && !APP_JS.contains("insertAdjacentHTML"));
        // Nothing from elsewhere: no CDN, no web fonts.
        for file in [INDEX_HTML, APP_JS, STYLE_CSS] {
            assert!(file.lines().count() < 800);
        }
        assert!(!INDEX_HTML.contains("=\"http") && !INDEX_HTML.contains("=\"//"));
        assert!(!STYLE_CSS.contains("url(") && !STYLE_CSS.contains("@import"));
        assert!(!APP_JS.contains("import ") && !APP_JS.contains("('http"));
    }
}
