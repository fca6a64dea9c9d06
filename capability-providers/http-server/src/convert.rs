//! Between hyper's types and the invocation types.

use bytes::Bytes;
use http::request::Parts;
use http_body_util::Full;
use hyper::Response;
use trellis_protocol::invocation::{Body, Header, HttpRequest, HttpResponse};

/// Headers that describe one hop's framing; hyper writes its own.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "upgrade"
    )
}

pub(crate) fn to_invocation(parts: &Parts, body: Bytes) -> HttpRequest {
    let authority = parts.uri.authority().map(|a| a.to_string()).or_else(|| {
        parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    });
    HttpRequest {
        method: parts.method.as_str().to_owned(),
        scheme: "http".into(),
        authority,
        path_with_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .filter(|(name, _)| !is_hop_by_hop(name.as_str()))
            .map(|(name, value)| Header {
                name: name.as_str().to_owned(),
                value: value.as_bytes().to_vec(),
            })
            .collect(),
        body: Body::Inline(body.into()),
    }
}

pub(crate) fn from_invocation(response: HttpResponse) -> Response<Full<Bytes>> {
    let body = match response.body {
        Body::Inline(bytes) => bytes,
        // The invoker always resolves streams before returning.
        Body::Stream { .. } => return error_response(500, "response body was not delivered"),
    };
    let mut builder = Response::builder().status(response.status);
    for header in response.headers {
        if is_hop_by_hop(&header.name) {
            continue;
        }
        builder = builder.header(header.name, header.value);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| error_response(500, "component sent an invalid response"))
}

/// A short plain-text error; never internals.
pub(crate) fn error_response(status: u16, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_keep_end_to_end_headers_only() {
        let (parts, ()) = hyper::Request::builder()
            .method("POST")
            .uri("/a/b?c=1")
            .header("host", "example.test:8080")
            .header("connection", "keep-alive")
            .header("x-app", "1")
            .body(())
            .unwrap()
            .into_parts();
        let req = to_invocation(&parts, Bytes::from_static(b"body"));
        assert_eq!(req.method, "POST");
        assert_eq!(req.path_with_query, "/a/b?c=1");
        assert_eq!(req.authority.as_deref(), Some("example.test:8080"));
        let names: Vec<&str> = req.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["host", "x-app"]);
        assert_eq!(req.body, Body::Inline(b"body".to_vec()));
    }

    #[test]
    fn guest_framing_headers_are_dropped_and_bad_status_is_contained() {
        let ok = from_invocation(HttpResponse {
            status: 201,
            headers: vec![
                Header {
                    name: "content-length".into(),
                    value: b"999".to_vec(),
                },
                Header {
                    name: "x-app".into(),
                    value: b"yes".to_vec(),
                },
            ],
            body: Body::Inline(b"hi".to_vec()),
        });
        assert_eq!(ok.status(), 201);
        assert!(ok.headers().get("content-length").is_none());
        assert_eq!(ok.headers()["x-app"], "yes");
        let bad = from_invocation(HttpResponse {
            status: 42,
            headers: vec![],
            body: Body::Inline(vec![]),
        });
        assert_eq!(bad.status(), 500);
    }
}
