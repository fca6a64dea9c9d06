//! `wasi:http/outgoing-handler` (WASI 0.2 and 0.3): a component's
//! outgoing requests go to the http-client provider its link names, which
//! applies the link's policy; without a link they are refused, unless the
//! host runs with `allow_outbound` (development).

use std::sync::Arc;

use http_body_util::BodyExt;
use trellis_protocol::link::InterfaceRef;
use trellis_protocol::trace;
use trellis_protocol::{ComponentId, LinkName};
use trellis_provider_sdk::outbound::{OutboundBody, OutboundError, RequestTimeouts};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::capabilities::ComponentCaps;
use crate::providers::Providers;
use crate::spans;
use trellis_provider_sdk::links::LinkState;

/// What a response future of the hooks resolves to.
type Sent = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
>;

/// Finds the provider behind a component's outgoing-HTTP link.
pub struct OutboundRouter {
    links: Arc<LinkState>,
    providers: Arc<Providers>,
    /// Development mode: unlinked requests go out unchecked.
    allow_unlinked: bool,
}

impl OutboundRouter {
    /// A router over this host's links and providers; `allow_unlinked`
    /// keeps wasmtime's unrestricted client for components with no link.
    pub fn new(links: Arc<LinkState>, providers: Arc<Providers>, allow_unlinked: bool) -> Self {
        Self {
            links,
            providers,
            allow_unlinked,
        }
    }

    /// Sends `request` for `source` through its link named `link_name`.
    async fn send(
        &self,
        source: &ComponentId,
        link_name: &LinkName,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Sent {
        let interface = InterfaceRef::http_outgoing_handler();
        let link = match self.links.route(source, link_name, &interface) {
            Ok(link) => link,
            Err(_) if self.allow_unlinked => {
                let (response, io) =
                    wasmtime_wasi_http::default_send_request(request, options).await?;
                return Ok((response.map(BodyExt::boxed_unsync), Box::new(io)));
            }
            Err(unlinked) => {
                let how = format!(
                    "start builtin://http-client on this host and link it: trellis link put \
                     {source} HTTP_CLIENT wasi http --interface outgoing-handler \
                     --target-config CONFIG (with allowed_hosts in CONFIG)"
                );
                let why = format!(
                    "outbound HTTP is not linked: {}",
                    unlinked.describe(source, link_name, &interface, &how)
                );
                tracing::warn!(component = %source, uri = %request.uri(), "{why}");
                return Err(Error::InternalError(Some(why)));
            }
        };
        let target = link.target_id;
        let Some(provider) = self.providers.get(&target) else {
            let why = format!(
                "outbound HTTP of {source} is linked to {target}, which does not run on this \
                 host; the http-client provider must run on every host that runs {source} \
                 (in a wadm manifest: a daemonscaler, or spread with the component)"
            );
            tracing::warn!(component = %source, "{why}");
            return Err(Error::InternalError(Some(why)));
        };
        let Some(client) = provider.provider.outbound_http() else {
            let why = format!(
                "outbound HTTP of {source} is linked to {target}, which is not an http-client \
                 provider; link it to builtin://http-client"
            );
            return Err(Error::InternalError(Some(why)));
        };
        let uri = request.uri().clone();
        let request = request.map(|body| {
            body.map_err(|e| OutboundError::RequestBody(e.to_string()))
                .boxed_unsync()
        });
        let timeouts = RequestTimeouts {
            connect: options.and_then(|o| o.connect_timeout),
            first_byte: options.and_then(|o| o.first_byte_timeout),
            between_bytes: options.and_then(|o| o.between_bytes_timeout),
        };
        match client.send(source, link_name, request, timeouts).await {
            Ok(response) => {
                let response =
                    response.map(|body: OutboundBody| body.map_err(to_wasi).boxed_unsync());
                // The pooled client drives the connection itself.
                Ok((response, Box::new(std::future::ready(Ok(())))))
            }
            Err(e) => {
                if matches!(
                    e,
                    OutboundError::Denied { .. } | OutboundError::IpProhibited { .. }
                ) {
                    tracing::warn!(component = %source, %uri, link = %link_name, "{e}");
                }
                Err(to_wasi(e))
            }
        }
    }
}

/// The `wasi:http` error code a guest sees. Refusals carry no text in
/// their standard codes, so the host log has the reason.
fn to_wasi(e: OutboundError) -> Error {
    match e {
        OutboundError::Denied { .. } => Error::HttpRequestDenied,
        OutboundError::IpProhibited { .. } => Error::DestinationIpProhibited,
        OutboundError::InvalidUri(_) => Error::HttpRequestUriInvalid,
        OutboundError::Dns { reason, .. } => Error::DnsError {
            rcode: Some(reason),
            info_code: None,
        },
        OutboundError::DnsTimeout(_) => Error::DnsTimeout,
        OutboundError::ConnectionRefused(_) => Error::ConnectionRefused,
        OutboundError::ConnectionTimeout(_) => Error::ConnectionTimeout,
        OutboundError::Connect { .. } => Error::DestinationUnavailable,
        OutboundError::Tls {
            certificate: true, ..
        } => Error::TlsCertificateError,
        OutboundError::Tls { .. } => Error::TlsProtocolError,
        OutboundError::FirstByteTimeout(_) => Error::ConnectionReadTimeout,
        OutboundError::BetweenBytesTimeout(_) => Error::ConnectionReadTimeout,
        OutboundError::ResponseTooLarge(limit) => Error::HttpResponseBodySize(Some(limit)),
        OutboundError::Protocol(_) => Error::HttpProtocolError,
        other => Error::InternalError(Some(other.to_string())),
    }
}

/// Names the request in its span and, unless the guest chose a trace
/// context of its own, gives the server the span's `traceparent`.
fn traced(request: &mut http::Request<WasiBody>, span: &mut trellis_telemetry::Span) {
    if span.is_recording() {
        span.set("http.request.method", request.method().to_string());
        span.set("url.full", request.uri().to_string());
    }
    let headers = request.headers_mut();
    if !headers.contains_key(trace::HEADER)
        && let Ok(value) = http::HeaderValue::from_str(&span.context().to_string())
    {
        headers.insert(trace::HEADER, value);
    }
}

/// The `wasi:http` hooks of one instance: its outgoing requests go
/// through the component's link.
pub struct OutboundHooks {
    caps: Arc<ComponentCaps>,
}

impl OutboundHooks {
    /// Hooks for an instance of the component `caps` describes.
    pub fn new(caps: Arc<ComponentCaps>) -> Self {
        Self { caps }
    }
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        // `fut` reports the guest's consumption of the response; nothing
        // here waits for it.
        drop(fut);
        let caps = self.caps.clone();
        // The span starts here, inside the invocation: wasmtime may send
        // the request from a task of its own, where the invocation's
        // context is not current.
        let mut span = spans::client("http outbound", &caps.component_id, &caps.link_name);
        let mut request = request;
        traced(&mut request, &mut span);
        // And for the same reason the send runs as part of the invocation
        // again: what wasmtime-wasi-http logs about it ("connect error")
        // names the component (crate::log_format).
        // The invocation's own id, shared; only a send from outside one
        // (none is) would need its own.
        let component = spans::component().unwrap_or_else(|| Arc::new(caps.component_id.clone()));
        let trace = span.context();
        let send = async move {
            let sent = caps
                .outbound
                .send(&caps.component_id, &caps.link_name, request, options)
                .await;
            match &sent {
                Ok((response, _)) => {
                    span.set_i64(
                        "http.response.status_code",
                        i64::from(response.status().as_u16()),
                    );
                }
                Err(e) => span.fail(format!("{e:?}")),
            }
            sent
        };
        Box::new(spans::within(trace, component, send))
    }
}
