//! Trellis traces: one span per hop of a request (the HTTP listener, the
//! component's invocation, each call it makes, the provider or component
//! that answers it), joined by W3C trace context and exported over
//! OTLP/HTTP (protobuf) by the OpenTelemetry SDK.
//!
//! - [`config`]: where spans go and which traces are kept.
//! - [`install`]: sets up this process's exporter once; the returned
//!   [`Telemetry`] flushes what is queued when the process stops.
//! - [`span`]: [`start`] a span under a caller's context, read the context
//!   its callees get, and end it by dropping it.
//!
//! Without [`install`] (or without an endpoint) spans record nothing and
//! cost a few random bytes each: the context still flows, so a host that
//! does export joins the same trace.

pub mod config;
mod install;
pub mod span;

pub use config::{TelemetryConfig, TelemetryError};
pub use install::{Telemetry, exporting, install};
pub use span::{Kind, Span, start};
