//! `http_fetch.wasm`: an actor that makes outbound HTTP requests. It exports
//! `wasi:http/incoming-handler` and imports `wasi:http/outgoing-handler`
//! (a plain `wasi:http/proxy` component), so every request it sends passes
//! through the host, which decides which destinations are allowed.
//!
//! Routes:
//! - `GET /`: `200`, body `http-fetch`.
//! - `GET /fetch?url=URL[&follow=N]`: `URL` is form-decoded (`+`, `%XX`) and
//!   must be `http://` or `https://`, a host (name, IPv4 address or
//!   bracketed IPv6 address), an optional port (1-65535), then an optional
//!   path and query; a fragment is dropped. The actor sends `GET URL`
//!   (empty body, no headers) through `outgoing-handler.handle`.
//!   - If the upstream answers `301`, `302`, `303`, `307` or `308` with a
//!     `location` header and fewer than `N` redirects have been followed,
//!     it sends a new `GET` to the location: an absolute `http(s)://` URL, a
//!     path beginning with `/` (same scheme and authority as the request that
//!     was redirected), or `//authority/path` (same scheme). `N` defaults to
//!     3 and may be at most 10; `follow=0` never follows.
//!   - The first response that is not followed is the final one: `200` with
//!     `x-upstream-status: <its status>`, the upstream `content-type` (or
//!     `application/octet-stream` without one) and the upstream body, read in
//!     full. A body over 16 MiB (16777216 bytes) answers `502` with
//!     `upstream body too large` instead.
//!   - If `handle` fails, the response future resolves to an error, or
//!     reading the body (or its trailers) fails: `502` with body
//!     `outbound error: <code>`, where `<code>` is the `Debug` form of the
//!     `wasi:http` `error-code` without the `ErrorCode::` prefix that the
//!     generated `Debug` adds, e.g. `ConnectionRefused`,
//!     `HttpRequestDenied` or `InternalError(Some("..."))`.
//!   - A missing `url`, a malformed `URL` (the body names the problem) or a
//!     `follow` that is not a number from 0 to 10: `400`. A redirect whose
//!     location is not UTF-8, is malformed or is a relative reference of
//!     another form: `502`, body `bad redirect location ...`.
//! - anything else (other paths or methods): `404`, body `not found`.
//!
//! Text bodies are `text/plain` without a trailing newline.

use actor_common::bindings::wasi::http::outgoing_handler;
use actor_common::bindings::wasi::http::types::{
    ErrorCode, IncomingResponse, OutgoingRequest, Scheme, http_error_code,
};
use actor_common::{
    Fields, Guest, IncomingBody, IncomingRequest, MAX_CHUNK, Method, ResponseOutparam, StreamError,
    path_and_query, query_param, query_param_decoded, respond,
};

/// Redirects followed when the request gives no `follow`.
const DEFAULT_FOLLOW: u32 = 3;
/// Largest accepted `follow`.
const MAX_FOLLOW: u32 = 10;
/// Largest upstream body relayed (16 MiB); the whole body is held in memory.
const MAX_BODY: usize = 16 * 1024 * 1024;

const TEXT: &[(&str, &[u8])] = &[("content-type", b"text/plain")];

/// A status and plain-text body for a reply that is not the upstream's.
type Failure = (u16, String);

struct HttpFetch;

impl Guest for HttpFetch {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let (path, query) = path_and_query(&request);
        if !matches!(request.method(), Method::Get) {
            return respond(response_out, 404, TEXT, b"not found");
        }
        match path.as_str() {
            "/" => respond(response_out, 200, TEXT, b"http-fetch"),
            "/fetch" => match fetch(query.as_deref()) {
                Ok(upstream) => {
                    let status = upstream.status.to_string();
                    let content_type = upstream
                        .content_type
                        .unwrap_or_else(|| b"application/octet-stream".to_vec());
                    respond(
                        response_out,
                        200,
                        &[
                            ("x-upstream-status", status.as_bytes()),
                            ("content-type", &content_type),
                        ],
                        &upstream.body,
                    );
                }
                Err((status, message)) => respond(response_out, status, TEXT, message.as_bytes()),
            },
            _ => respond(response_out, 404, TEXT, b"not found"),
        }
    }
}

/// The final upstream response, read in full.
struct Upstream {
    status: u16,
    content_type: Option<Vec<u8>>,
    body: Vec<u8>,
}

/// A parsed `http(s)` URL, split the way `outgoing-request` takes it.
#[derive(Debug, Clone, PartialEq)]
struct Url {
    https: bool,
    /// `host[:port]` exactly as written.
    authority: String,
    /// Always begins with `/`.
    path_with_query: String,
}

/// Handles `/fetch`: sends the request and follows redirects up to the limit.
fn fetch(query: Option<&str>) -> Result<Upstream, Failure> {
    let url = query_param_decoded(query, "url")
        .map_err(|e| (400, e))?
        .ok_or_else(|| (400, "missing query parameter url".to_string()))?;
    let follow = match query_param(query, "follow") {
        None => DEFAULT_FOLLOW,
        Some(n) => n
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= MAX_FOLLOW)
            .ok_or_else(|| {
                (
                    400,
                    format!("query parameter follow must be a number from 0 to {MAX_FOLLOW}"),
                )
            })?,
    };
    let mut url = parse_url(&url).map_err(|e| (400, format!("malformed url: {e}")))?;
    let mut followed = 0;
    loop {
        // The host may still refuse what `parse_url` let through; that is
        // the caller's URL at first, but the upstream's fault on a redirect.
        let request = build_request(&url).map_err(|e| {
            if followed == 0 {
                (400, format!("malformed url: {e}"))
            } else {
                (502, format!("bad redirect location: {e}"))
            }
        })?;
        let response = send(request).map_err(outbound_error)?;
        let status = response.status();
        if followed < follow
            && matches!(status, 301 | 302 | 303 | 307 | 308)
            && let Some(location) = response_header(&response, "location")
        {
            let location = String::from_utf8(location)
                .map_err(|_| (502, "bad redirect location: not UTF-8".to_string()))?;
            url = resolve_location(&url, &location)
                .map_err(|e| (502, format!("bad redirect location {location:?}: {e}")))?;
            followed += 1;
            continue;
        }
        let content_type = response_header(&response, "content-type");
        let body = read_response_body(response)?;
        return Ok(Upstream {
            status,
            content_type,
            body,
        });
    }
}

/// Parses an absolute `http://` or `https://` URL.
fn parse_url(url: &str) -> Result<Url, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} does not start with http:// or https://"))?;
    let https = if scheme.eq_ignore_ascii_case("http") {
        false
    } else if scheme.eq_ignore_ascii_case("https") {
        true
    } else {
        return Err(format!(
            "unsupported scheme {scheme:?} (only http and https)"
        ));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    check_authority(authority)?;
    Ok(Url {
        https,
        authority: authority.to_string(),
        path_with_query: path_with_query(tail)?,
    })
}

/// Checks `host[:port]`; userinfo is refused rather than sent as a host.
fn check_authority(authority: &str) -> Result<(), String> {
    if authority.is_empty() {
        return Err("no host".to_string());
    }
    if authority.contains('@') {
        return Err("user info (user@host) is not supported".to_string());
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("unterminated IPv6 address in host {authority:?}"))?;
        if ip.is_empty()
            || !ip
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(format!("invalid IPv6 address [{ip}]"));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("unexpected {after:?} after IPv6 address [{ip}]"))?,
            ),
        };
        (None, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(authority), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() {
            return Err("no host".to_string());
        }
        // RFC 3986 reg-name characters: anything else would be smuggled into
        // the request's authority.
        if let Some(c) = host
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-._~%!$&'()*+,;=".contains(*c)))
        {
            return Err(format!("invalid character {c:?} in host {host:?}"));
        }
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p != 0 && port.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err(format!("invalid port {port:?}")),
        }
    }
    Ok(())
}

/// The path and query to send for the part of a URL after its authority
/// (empty, or starting with `/` or `?`).
fn path_with_query(tail: &str) -> Result<String, String> {
    // Fragments are for the client; they are never sent.
    let tail = tail.split_once('#').map_or(tail, |(before, _)| before);
    if let Some(c) = tail.chars().find(|c| *c == ' ' || c.is_control()) {
        return Err(format!(
            "{c:?} in path or query (it must be percent-encoded)"
        ));
    }
    Ok(if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    })
}

/// Resolves a redirect's `location` against the URL that was redirected.
fn resolve_location(base: &Url, location: &str) -> Result<Url, String> {
    if location.starts_with("//") {
        let scheme = if base.https { "https:" } else { "http:" };
        parse_url(&format!("{scheme}{location}"))
    } else if location.starts_with('/') {
        Ok(Url {
            https: base.https,
            authority: base.authority.clone(),
            path_with_query: path_with_query(location)?,
        })
    } else if location.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic())
    }) {
        parse_url(location)
    } else {
        Err("only absolute URLs and paths beginning with / are followed".to_string())
    }
}

/// An outgoing `GET` for `url` with no headers and an empty body.
fn build_request(url: &Url) -> Result<OutgoingRequest, String> {
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_method(&Method::Get)
        .map_err(|()| "GET refused".to_string())?;
    let scheme = if url.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "scheme refused".to_string())?;
    request
        .set_authority(Some(&url.authority))
        .map_err(|()| format!("invalid authority {:?}", url.authority))?;
    request
        .set_path_with_query(Some(&url.path_with_query))
        .map_err(|()| format!("invalid path and query {:?}", url.path_with_query))?;
    Ok(request)
}

/// Sends `request` and blocks until the response head arrives.
fn send(request: OutgoingRequest) -> Result<IncomingResponse, ErrorCode> {
    let future = outgoing_handler::handle(request, None)?;
    loop {
        match future.get() {
            Some(Ok(result)) => return result,
            // Only a second `get` after a `Some` sees this; the loop returns
            // on the first one.
            Some(Err(())) => {
                return Err(ErrorCode::InternalError(Some(
                    "response already taken".to_string(),
                )));
            }
            None => future.subscribe().block(),
        }
    }
}

/// The first value of response header `name`, if present.
fn response_header(response: &IncomingResponse, name: &str) -> Option<Vec<u8>> {
    // The fields are a child of the response: this scope drops them before
    // the response can be consumed or dropped.
    let headers = response.headers();
    headers.get(name).into_iter().next()
}

/// Reads the whole response body (at most [`MAX_BODY`] bytes) and checks
/// that its trailers arrive without error.
fn read_response_body(response: IncomingResponse) -> Result<Vec<u8>, Failure> {
    let too_large = || (502, "upstream body too large".to_string());
    let hint = response_header(&response, "content-length")
        .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if hint > MAX_BODY as u64 {
        return Err(too_large());
    }
    let body = response
        .consume()
        .map_err(|()| outbound_error(internal("response body already consumed")))?;
    let stream = body
        .stream()
        .map_err(|()| outbound_error(internal("response body stream already taken")))?;
    let mut data = Vec::with_capacity(hint as usize);
    loop {
        match stream.blocking_read(MAX_CHUNK as u64) {
            Ok(chunk) if data.len() + chunk.len() > MAX_BODY => return Err(too_large()),
            Ok(chunk) => data.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                let code = http_error_code(&e).unwrap_or_else(|| internal(&e.to_debug_string()));
                return Err(outbound_error(code));
            }
        }
    }
    // The stream is a child of the body: drop it before finishing the body.
    drop(stream);
    let trailers = IncomingBody::finish(body);
    loop {
        match trailers.get() {
            Some(Ok(Ok(_))) => return Ok(data),
            Some(Ok(Err(code))) => return Err(outbound_error(code)),
            Some(Err(())) => return Err(outbound_error(internal("trailers already taken"))),
            None => trailers.subscribe().block(),
        }
    }
}

/// An `internal-error` carrying `message`.
fn internal(message: &str) -> ErrorCode {
    ErrorCode::InternalError(Some(message.to_string()))
}

/// The `502` reply for a `wasi:http` error.
fn outbound_error(code: ErrorCode) -> Failure {
    let debug = format!("{code:?}");
    // The generated `Debug` prefixes the type name (`ErrorCode::DnsTimeout`);
    // without it the text reads like the WIT case.
    let debug = debug.strip_prefix("ErrorCode::").unwrap_or(&debug);
    (502, format!("outbound error: {debug}"))
}

actor_common::export_http_actor!(HttpFetch);

// Host-side unit tests: `cargo test --target x86_64-unknown-linux-gnu -p http-fetch`
// (the workspace builds for wasm32-wasip2 by default).
#[cfg(test)]
mod tests {
    use super::{Url, parse_url, resolve_location};

    fn url(https: bool, authority: &str, path_with_query: &str) -> Url {
        Url {
            https,
            authority: authority.to_string(),
            path_with_query: path_with_query.to_string(),
        }
    }

    #[test]
    fn parses_http_and_https_urls() {
        assert_eq!(
            parse_url("http://example.com"),
            Ok(url(false, "example.com", "/"))
        );
        assert_eq!(
            parse_url("HTTPS://example.com:8443/a/b?c=d#frag"),
            Ok(url(true, "example.com:8443", "/a/b?c=d"))
        );
        assert_eq!(
            parse_url("http://127.0.0.1:8080?x=1"),
            Ok(url(false, "127.0.0.1:8080", "/?x=1"))
        );
        assert_eq!(
            parse_url("http://[::1]:9000/p"),
            Ok(url(false, "[::1]:9000", "/p"))
        );
    }

    #[test]
    fn rejects_malformed_urls() {
        for bad in [
            "example.com/path",
            "ftp://example.com/",
            "http://",
            "http:///path",
            "http://user@host/",
            "http://host:/",
            "http://host:0/",
            "http://host:65536/",
            "http://host:8x/",
            "http://ho st/",
            "http://[::1/",
            "http://[::1]x/",
            "http://host/a b",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn resolves_redirect_locations() {
        let base = url(true, "a.example:444", "/old?q=1");
        assert_eq!(
            resolve_location(&base, "/new?x=y"),
            Ok(url(true, "a.example:444", "/new?x=y"))
        );
        assert_eq!(
            resolve_location(&base, "//b.example/p"),
            Ok(url(true, "b.example", "/p"))
        );
        assert_eq!(
            resolve_location(&base, "http://c.example:81"),
            Ok(url(false, "c.example:81", "/"))
        );
        assert!(resolve_location(&base, "relative/path").is_err());
        assert!(resolve_location(&base, "mailto:x@y").is_err());
        assert!(resolve_location(&base, "ftp://x/").is_err());
    }
}
