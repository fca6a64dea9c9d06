//! wadm API request bodies (JSON), including the manifest a `put` carries.

use trellis_protocol::wadm::{AppRequest, PutRequest, RolloutRequest};

use super::json_round_trip;
use crate::Target;

/// `wadm-api`.
pub(super) const WADM_API: Target = Target {
    name: "wadm-api",
    about: "wadm API bodies: PutRequest (and its manifest), AppRequest, RolloutRequest",
    seeds: || {
        let manifest = include_str!("../../../examples/hello.yaml");
        vec![
            serde_json::to_vec(&serde_json::json!({ "manifest": manifest })).expect("json encodes"),
            br#"{"name":"hello","version":"v1"}"#.to_vec(),
            br#"{"name":"hello"}"#.to_vec(),
            br#"{"name":"hello","action":"pause"}"#.to_vec(),
            br#"{"name":"hello","action":"abort"}"#.to_vec(),
        ]
    },
    dict: &[
        "\"manifest\":",
        "\"name\":",
        "\"version\":",
        "\"action\":",
        "\\n",
    ],
    max_len: 16 * 1024,
    run: |bytes| {
        json_round_trip::<PutRequest>(bytes);
        json_round_trip::<AppRequest>(bytes);
        json_round_trip::<RolloutRequest>(bytes);
        if let Ok(put) = trellis_protocol::control::parse_request::<PutRequest>(bytes) {
            // What `put` does with the manifest before storing it.
            let _ = trellis_wadm::api::check_manifest(&put.manifest);
        }
    },
};
