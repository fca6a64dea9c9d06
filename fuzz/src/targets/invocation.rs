//! The binary invocation encoding (version byte + postcard).

use serde::Serialize;
use serde::de::DeserializeOwned;
use trellis_protocol::StreamId;
use trellis_protocol::invocation::{
    Body, ChunkReply, ChunkRequest, ErrorKind, Header, HttpRequest, HttpResponse, InvocationError,
    InvocationReply, decode, encode,
};
use trellis_protocol::keyvalue::{KvError, KvReply, KvRequest, KvResponse};

use crate::Target;

const DICT: &[&str] = &["\u{1}", "GET", "http", "/", "content-length"];

/// Whatever decodes re-encodes to bytes that decode to the same value.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(value) = decode::<T>(bytes) {
        let back: T = decode(&encode(&value))
            .unwrap_or_else(|e| panic!("re-encoded {value:?} does not decode: {e}"));
        assert_eq!(back, value, "postcard round trip changed the value");
    }
}

fn request(body: Body) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        scheme: "http".into(),
        authority: Some("localhost:8080".into()),
        path_with_query: "/echo?x=1".into(),
        headers: vec![Header {
            name: "content-type".into(),
            value: b"text/plain".to_vec(),
        }],
        body,
    }
}

fn stream(len: u64) -> Body {
    Body::Stream {
        stream: StreamId::new("0123456789abcdef0123456789abcdef").expect("valid stream id"),
        len,
    }
}

/// `invocation-http`.
pub(super) const HTTP: Target = Target {
    name: "invocation-http",
    about: "rpc payloads: HttpRequest, HttpResponse, InvocationReply<HttpResponse>",
    seeds: || {
        let response = HttpResponse {
            status: 200,
            headers: vec![],
            body: Body::Inline(b"hello".to_vec()),
        };
        vec![
            encode(&request(Body::Inline(b"hi".to_vec()))),
            encode(&request(stream(1 << 40))),
            encode(&request(stream(u64::MAX))),
            encode(&response),
            encode::<InvocationReply<HttpResponse>>(&Ok(response)),
            encode::<InvocationReply<HttpResponse>>(&Err(InvocationError::new(
                ErrorKind::Busy,
                "busy",
            ))),
        ]
    },
    dict: DICT,
    max_len: 4096,
    run: |bytes| {
        round_trip::<HttpRequest>(bytes);
        round_trip::<HttpResponse>(bytes);
        round_trip::<InvocationReply<HttpResponse>>(bytes);
    },
};

/// `invocation-chunk`.
pub(super) const CHUNK: Target = Target {
    name: "invocation-chunk",
    about: "body stream pulls and answers: ChunkRequest, ChunkReply",
    seeds: || {
        vec![
            encode(&ChunkRequest { offset: 0 }),
            encode(&ChunkRequest { offset: u64::MAX }),
            encode(&ChunkReply::Data(vec![1, 2, 3])),
            encode(&ChunkReply::Error("gone".into())),
        ]
    },
    dict: DICT,
    max_len: 4096,
    run: |bytes| {
        round_trip::<ChunkRequest>(bytes);
        round_trip::<ChunkReply>(bytes);
    },
};

/// `invocation-keyvalue`.
pub(super) const KEYVALUE: Target = Target {
    name: "invocation-keyvalue",
    about: "keyvalue rpc payloads: KvRequest, KvReply",
    seeds: || {
        vec![
            encode(&KvRequest::Open {
                bucket: String::new(),
            }),
            encode(&KvRequest::SetMany {
                bucket: "b".into(),
                items: vec![("k".into(), b"v".to_vec())],
            }),
            encode::<KvReply>(&Ok(KvResponse::Count(3))),
            encode::<KvReply>(&Ok(KvResponse::Value(Some(b"v".to_vec())))),
            encode::<KvReply>(&Err(KvError::NoSuchStore)),
        ]
    },
    dict: DICT,
    max_len: 4096,
    run: |bytes| {
        round_trip::<KvRequest>(bytes);
        round_trip::<KvReply>(bytes);
    },
};
