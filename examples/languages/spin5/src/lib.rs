//! Hello world with the Spin Rust SDK 5 (WASI 0.2, `#[http_component]`).

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn hello(_request: Request) -> anyhow::Result<impl IntoResponse> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("Hello from Spin SDK 5 (Rust, WASI 0.2)\n")
        .build())
}
