//! Calls between hosts: the invocation envelope and its binary encoding.
//!
//! A message is one version byte ([`VERSION`]) followed by the postcard
//! encoding of the value. Postcard is compact, has a documented stable wire
//! format and writes byte strings as one length-prefixed copy, which matters
//! for bodies. Metadata that routers may want without decoding (source, link
//! name, trace id, deadline) travels in NATS headers named in [`header`].
//!
//! Bodies up to [`INLINE_BODY_MAX`] ride inside the message. Larger ones stay
//! with the side that has them and are pulled in [`CHUNK_SIZE`] pieces over a
//! `trellis.{lattice}.stream.{id}` subject, so no message exceeds the NATS
//! payload limit whatever the body size.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::id::StreamId;

/// Current encoding version; the first byte of every encoded message.
pub const VERSION: u8 = 1;

/// Largest body sent inline (NATS' default payload limit is 1 MiB).
pub const INLINE_BODY_MAX: usize = 512 * 1024;

/// Size of one pulled chunk of a streamed body.
pub const CHUNK_SIZE: usize = 512 * 1024;

/// Default cap on a streamed body a peer may ask this side to take in
/// (128 MiB, the http-server provider's default request body cap). A
/// streamed body's `len` is the sender's claim: a receiver refuses claims
/// above its cap before it allocates anything.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 128 * 1024 * 1024;

/// NATS header names of an invocation.
pub mod header {
    /// Id of the calling component or provider.
    pub const SOURCE: &str = "trellis-source";
    /// Link name the call was made through.
    pub const LINK_NAME: &str = "trellis-link-name";
    /// W3C trace context of the calling span (version 00), so that the
    /// callee's span joins the caller's trace; the header name is the W3C
    /// one, as wRPC and wasmCloud carry it over NATS.
    pub const TRACEPARENT: &str = crate::trace::HEADER;
    /// Absolute deadline, milliseconds since the Unix epoch.
    pub const DEADLINE_MS: &str = "trellis-deadline-ms";
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Empty input.
    #[error("empty invocation message")]
    Empty,
    /// Another version of the encoding.
    #[error("invocation encoding version {0} is not supported (this side speaks {VERSION})")]
    Version(u8),
    /// Bytes that are not a valid value.
    #[error("malformed invocation message: {0}")]
    Malformed(String),
}

/// Encodes `value` with the version prefix.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let out = vec![VERSION];
    // Serializing plain data into a Vec cannot fail: no IO, no maps with
    // non-string keys, no size limits.
    match postcard::to_extend(value, out) {
        Ok(v) => v,
        Err(e) => unreachable!("postcard encoding into a Vec failed: {e}"),
    }
}

/// Decodes a versioned message.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&VERSION, rest)) => {
            postcard::from_bytes(rest).map_err(|e| CodecError::Malformed(e.to_string()))
        }
        Some((&v, _)) => Err(CodecError::Version(v)),
    }
}

/// A request or response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// The whole body, inline.
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A large body the sender serves on `trellis.{lattice}.stream.{stream}`.
    Stream {
        /// Transfer id.
        stream: StreamId,
        /// Total length in bytes.
        len: u64,
    },
}

/// One header of an HTTP message (values may be non-UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Header name.
    pub name: String,
    /// Raw header value.
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
}

/// A `wasi:http/incoming-handler.handle` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Host header / authority.
    pub authority: Option<String>,
    /// Path and query, e.g. `/a?b=1`.
    pub path_with_query: String,
    /// Request headers in order.
    pub headers: Vec<Header>,
    /// Request body.
    pub body: Body,
}

impl HttpRequest {
    /// Replaces every `name` header (any case) with one `value`.
    pub fn set_header(&mut self, name: &str, value: String) {
        self.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
        self.headers.push(Header {
            name: name.to_owned(),
            value: value.into_bytes(),
        });
    }
}

/// The answer to an [`HttpRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers in order.
    pub headers: Vec<Header>,
    /// Response body.
    pub body: Body,
}

/// Why an invocation failed, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// No instance of the target exists.
    NotFound,
    /// All instances are busy and none freed up in time.
    Busy,
    /// The guest trapped (panic, out of memory, ...).
    Trapped,
    /// The guest ran past its execution deadline.
    DeadlineExceeded,
    /// The caller's deadline passed before an answer came.
    Timeout,
    /// The request could not be decoded or was refused.
    BadRequest,
    /// Anything else on the callee's side.
    Internal,
}

impl ErrorKind {
    /// The HTTP status a server should answer with for this failure.
    pub fn http_status(self) -> u16 {
        match self {
            Self::NotFound | Self::Busy | Self::DeadlineExceeded => 503,
            Self::Timeout => 504,
            Self::BadRequest => 400,
            Self::Trapped | Self::Internal => 500,
        }
    }
}

/// A failed invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct InvocationError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Short, user-facing reason; never internals.
    pub message: String,
}

impl InvocationError {
    /// Builds an error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The reply to an invocation.
pub type InvocationReply<T> = Result<T, InvocationError>;

/// A pull of one piece of a streamed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRequest {
    /// Byte offset into the body.
    pub offset: u64,
}

/// The answer to a [`ChunkRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkReply {
    /// Up to [`CHUNK_SIZE`] bytes from the requested offset.
    Data(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The stream is gone or the offset is out of range.
    Error(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request(body: Body) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            scheme: "http".into(),
            authority: Some("localhost:8080".into()),
            path_with_query: "/echo?x=1".into(),
            headers: vec![Header {
                name: "x-bin".into(),
                value: vec![0xff, 0x00],
            }],
            body,
        }
    }

    #[test]
    fn round_trip_with_version_byte() {
        let req = request(Body::Inline(b"hello".to_vec()));
        let bytes = encode(&req);
        assert_eq!(bytes[0], VERSION);
        assert_eq!(decode::<HttpRequest>(&bytes).unwrap(), req);
        let streamed = request(Body::Stream {
            stream: StreamId::new("s1").unwrap(),
            len: 64 << 20,
        });
        assert_eq!(decode::<HttpRequest>(&encode(&streamed)).unwrap(), streamed);
    }

    #[test]
    fn bodies_are_not_inflated() {
        let body = vec![7u8; 100_000];
        let bytes = encode(&request(Body::Inline(body)));
        assert!(bytes.len() < 100_100, "{} bytes", bytes.len());
    }

    #[test]
    fn wrong_version_and_garbage_are_errors() {
        let mut bytes = encode(&request(Body::Inline(vec![])));
        bytes[0] = 9;
        assert_eq!(decode::<HttpRequest>(&bytes), Err(CodecError::Version(9)));
        assert_eq!(decode::<HttpRequest>(&[]), Err(CodecError::Empty));
        assert!(matches!(
            decode::<HttpRequest>(&[VERSION, 0xff, 0xff]),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn replies_round_trip() {
        let ok: InvocationReply<HttpResponse> = Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body: Body::Inline(b"hi".to_vec()),
        });
        assert_eq!(
            decode::<InvocationReply<HttpResponse>>(&encode(&ok)).unwrap(),
            ok
        );
        let err: InvocationReply<HttpResponse> = Err(InvocationError::new(
            ErrorKind::NotFound,
            "no instance of x",
        ));
        assert_eq!(
            decode::<InvocationReply<HttpResponse>>(&encode(&err)).unwrap(),
            err
        );
        assert_eq!(ErrorKind::NotFound.http_status(), 503);
    }

    proptest! {
        #[test]
        fn arbitrary_requests_round_trip(
            method in "[A-Z]{1,7}",
            path in "/[a-z0-9/?=&]{0,40}",
            body in proptest::collection::vec(any::<u8>(), 0..2048),
            hv in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let req = HttpRequest {
                method,
                scheme: "http".into(),
                authority: None,
                path_with_query: path,
                headers: vec![Header { name: "h".into(), value: hv }],
                body: Body::Inline(body),
            };
            prop_assert_eq!(decode::<HttpRequest>(&encode(&req)).unwrap(), req);
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode::<HttpRequest>(&bytes);
            let _ = decode::<InvocationReply<HttpResponse>>(&bytes);
        }
    }
}
