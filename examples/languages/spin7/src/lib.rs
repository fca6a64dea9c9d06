//! Hello world with the Spin Rust SDK 7 (WASI 0.3, `#[http_service]`).

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn hello(_request: Request) -> impl IntoResponse {
    "Hello from Spin SDK 7 (Rust, WASI 0.3)\n"
}
