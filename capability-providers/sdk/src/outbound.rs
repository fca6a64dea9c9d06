//! Outgoing HTTP through a linked provider: the contract between a host
//! (which owns the guest's `wasi:http/outgoing-handler` calls) and the
//! provider that decides whether and how each request leaves the machine.
//!
//! The types carry no wasmtime type, so that providers build without the
//! runtime; the host maps [`OutboundError`] to `wasi:http`'s `error-code`.

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::combinators::UnsyncBoxBody;
use std::time::Duration;
use trellis_protocol::{ComponentId, LinkName};

/// A request or response body crossing the host/provider boundary.
pub type OutboundBody = UnsyncBoxBody<Bytes, OutboundError>;

/// Timeouts the guest asked for (`wasi:http` request options). A provider
/// may only shorten what its link allows, never lengthen it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestTimeouts {
    /// Until the connection is up (DNS, TCP and TLS).
    pub connect: Option<Duration>,
    /// From the request sent to the response's head.
    pub first_byte: Option<Duration>,
    /// Between two frames of the response body.
    pub between_bytes: Option<Duration>,
}

/// Why an outgoing request failed. Each variant maps to one `wasi:http`
/// `error-code`, so that guests can tell a refusal from a network fault.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// The link's `allowed_hosts` do not include the destination; nothing
    /// was sent.
    #[error("outbound HTTP to {destination} is not allowed: {reason}")]
    Denied {
        /// `scheme://host:port` of the request.
        destination: String,
        /// Which rule refused it and how to allow it.
        reason: String,
    },
    /// The destination resolved only to addresses the link denies
    /// (loopback, link-local, the lattice's NATS server, `deny_cidrs`).
    #[error("outbound HTTP to {destination} is not allowed: {reason}")]
    IpProhibited {
        /// `host:port` of the request.
        destination: String,
        /// The refused address and the rule.
        reason: String,
    },
    /// The URI has no host, or a scheme other than http/https.
    #[error("invalid outbound request URI: {0}")]
    InvalidUri(String),
    /// The name did not resolve.
    #[error("DNS lookup of {host} failed: {reason}")]
    Dns {
        /// The name looked up.
        host: String,
        /// Resolver's message.
        reason: String,
    },
    /// The resolver did not answer in time.
    #[error("DNS lookup of {0} timed out")]
    DnsTimeout(String),
    /// Nobody listens there.
    #[error("connection to {0} refused")]
    ConnectionRefused(String),
    /// The connection did not come up within the connect timeout.
    #[error("connection to {0} timed out")]
    ConnectionTimeout(String),
    /// The connection failed for another reason.
    #[error("connection to {destination} failed: {reason}")]
    Connect {
        /// `host:port`.
        destination: String,
        /// What the OS said.
        reason: String,
    },
    /// The TLS handshake failed (certificate not trusted, name mismatch,
    /// protocol error).
    #[error("TLS with {destination} failed: {reason}")]
    Tls {
        /// `host:port`.
        destination: String,
        /// What rustls said.
        reason: String,
        /// Whether the server's certificate was the problem.
        certificate: bool,
    },
    /// No response head within the first-byte timeout.
    #[error("no response within {0:?}")]
    FirstByteTimeout(Duration),
    /// The response body stalled longer than the between-bytes timeout.
    #[error("response body stalled for more than {0:?}")]
    BetweenBytesTimeout(Duration),
    /// The response body is larger than the link's `max_response_bytes`.
    #[error("response body larger than {0} bytes (the link's max_response_bytes)")]
    ResponseTooLarge(u64),
    /// The server broke the HTTP protocol or closed the connection.
    #[error("HTTP protocol error: {0}")]
    Protocol(String),
    /// Reading the guest's request body failed.
    #[error("request body: {0}")]
    RequestBody(String),
    /// Anything else (the provider's own fault).
    #[error("{0}")]
    Internal(String),
}

/// A provider that sends components' outgoing HTTP requests.
pub trait OutboundHttp: Send + Sync {
    /// Sends `request` for `source`, under the policy of its link named
    /// `link_name`. Fails before any connection when the policy refuses.
    fn send(
        &self,
        source: &ComponentId,
        link_name: &LinkName,
        request: http::Request<OutboundBody>,
        timeouts: RequestTimeouts,
    ) -> BoxFuture<'static, Result<http::Response<OutboundBody>, OutboundError>>;
}
