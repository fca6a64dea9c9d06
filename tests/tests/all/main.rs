//! End-to-end tests: real nats-server, `trellis` host processes, real
//! sockets and real components built from `actors/`. One binary, as in
//! wasmtime, so linking happens once.

#![allow(clippy::unwrap_used, reason = "test code: a panic is how a test fails")]

mod app_list;
mod app_validate;
mod artifacts;
mod auth;
mod bench_smoke;
mod blobstore;
mod calls;
mod claims;
mod cluster;
mod config_logging;
mod control_errors;
mod edge;
mod edge_offline;
mod events;
mod external;
mod fixture;
mod harness_smoke;
mod honest_status;
mod hostile;
mod hosts;
mod http;
mod keyvalue;
mod languages;
mod lifecycle;
mod limits;
mod managed_link;
mod mesh;
mod messaging;
mod metrics;
mod misbehave;
mod oci;
mod outbound;
mod rollout;
mod routing;
mod scale_sim;
mod secrets;
mod shutdown;
mod snapshot_reads;
mod spares;
mod starvation;
mod traces;
mod truncation;
mod trust;
mod ui;
mod up;
mod wadm;
mod wadm_compat;
mod wadm_examples;
mod wasi_p3;
mod wasmcloud_apps;
