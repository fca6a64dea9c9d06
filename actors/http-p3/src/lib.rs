//! `http_p3.wasm`: test actor exporting `wasi:http/handler@0.3.0`
//! (component-model async), built with the Spin SDK 7's `#[http_service]`.
//!
//! - `/echo`: streams the request body back as the response body.
//! - `/big?bytes=N`: streams `N` bytes (byte `i` is `i % 251`) in 64 KiB
//!   frames, produced while the response is being sent.
//! - `/loop`: spins forever; only the host's epoch deadline stops it.
//! - `/oom`: allocates 1 MiB buffers until allocation fails (a trap) or
//!   the host's memory cap stops it.
//! - anything else: `200` with `hello from WASI 0.3`.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    match path.as_str() {
        "/echo" => http::Response::new(request.into_body()).into_response(),
        "/big" => {
            let bytes = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("bytes="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(1 << 20);
            http::Response::new(Pattern { sent: 0, total: bytes }).into_response()
        }
        "/loop" => spin_forever(),
        "/oom" => exhaust_memory(),
        _ => "hello from WASI 0.3".into_response(),
    }
}

/// A body of `total` bytes of the `i % 251` pattern, made frame by frame.
struct Pattern {
    sent: u64,
    total: u64,
}

impl http_body::Body for Pattern {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let left = self.total - self.sent;
        if left == 0 {
            return Poll::Ready(None);
        }
        let n = left.min(64 << 10);
        let chunk: Vec<u8> = (self.sent..self.sent + n).map(|i| (i % 251) as u8).collect();
        self.sent += n;
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(chunk)))))
    }
}

fn spin_forever() -> ! {
    let mut x = 0u64;
    loop {
        x = core::hint::black_box(x.wrapping_add(1));
    }
}

fn exhaust_memory() -> ! {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        chunk[0] = held.len() as u8;
        held.push(core::hint::black_box(chunk));
    }
}
