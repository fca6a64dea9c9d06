//! A plain HTTP/1.1 client over real sockets (reqwest, no TLS, no proxy).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Time limit for one request.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(120);

/// Response as `(status, headers, body)`; header names are lower-case, in
/// the order received (repeated headers appear repeatedly).
pub type HttpResponse = (u16, Vec<(String, String)>, Vec<u8>);

/// A fresh client: no pooled connections survive the call, so the helpers
/// are safe to use from any (per-test) tokio runtime.
fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .build()
        .context("building HTTP client")
}

/// Sends `method url` with `headers` and `body`, time-limited to 120 s.
pub async fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> anyhow::Result<HttpResponse> {
    request_with_timeout(method, url, headers, body, HTTP_TIMEOUT).await
}

async fn request_with_timeout(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout: Duration,
) -> anyhow::Result<HttpResponse> {
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .with_context(|| format!("invalid HTTP method {method:?}"))?;
    let mut req = client(timeout)?.request(method.clone(), url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if !body.is_empty() || method == reqwest::Method::POST || method == reqwest::Method::PUT {
        req = req.body(body);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    read_response(resp, &format!("{method} {url}")).await
}

/// Status, headers and the whole body of `resp`.
async fn read_response(resp: reqwest::Response, what: &str) -> anyhow::Result<HttpResponse> {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp
        .bytes()
        .await
        .with_context(|| format!("reading body of {what}"))?
        .to_vec();
    Ok((status, headers, body))
}

/// `GET url`, time-limited to 120 s.
pub async fn http_get(url: &str) -> anyhow::Result<HttpResponse> {
    http_request("GET", url, &[], Vec::new()).await
}

/// `POST url` with `body`, time-limited to 120 s.
pub async fn http_post(url: &str, body: Vec<u8>) -> anyhow::Result<HttpResponse> {
    http_request("POST", url, &[], body).await
}

/// `POST url` with `body` sent as a chunked stream of `chunk`-byte pieces
/// (no content-length), time-limited to 120 s.
pub async fn http_post_chunked(
    url: &str,
    body: Vec<u8>,
    chunk: usize,
) -> anyhow::Result<HttpResponse> {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(chunk.max(1)).map(|c| Ok(c.to_vec())).collect();
    let stream = reqwest::Body::wrap_stream(futures::stream::iter(pieces));
    let resp = client(HTTP_TIMEOUT)?
        .post(url)
        .body(stream)
        .send()
        .await
        .with_context(|| format!("POST {url} (chunked)"))?;
    read_response(resp, &format!("POST {url} (chunked)")).await
}

/// First value of header `name` (case-insensitive) in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Polls `GET url` (every 200 ms, each attempt bounded by the time left)
/// until it answers with `expect_status`, returning that response; errors
/// at `timeout` with the last status or connection error seen.
pub async fn wait_for_http(
    url: &str,
    expect_status: u16,
    timeout: Duration,
) -> anyhow::Result<HttpResponse> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no attempt made");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("GET {url} did not return {expect_status} within {timeout:?}; last: {last}");
        }
        let attempt = left.min(Duration::from_secs(30));
        match request_with_timeout("GET", url, &[], Vec::new(), attempt).await {
            Ok(resp) if resp.0 == expect_status => return Ok(resp),
            Ok((status, _, body)) => {
                last = format!(
                    "status {status}, body {:?}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                );
            }
            Err(err) => last = format!("{err:#}"),
        }
        tokio::time::sleep(Duration::from_millis(200).min(left)).await;
    }
}
