//! Control request bodies (JSON) and control subjects, as a host gets them.

use trellis_protocol::Subject;
use trellis_protocol::control::{
    ConfigValues, DeleteLinkRequest, LabelsRequest, ProbeComponentRequest, ScaleComponentRequest,
    StartProviderRequest, StopHostRequest, StopProviderRequest, UpdateComponentRequest,
};
use trellis_protocol::link::Link;

use super::json_round_trip;
use crate::Target;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

const SEEDS: &[&str] = &[
    r#"{"component_id":"hello","image":"file://x.wasm","artifact":{"bucket":"ART","name":"sha256-SHA","sha256":"SHA"},"max":4,"config":["c1"],"annotations":{"trellis.app":"a"}}"#,
    r#"{"component_id":"hello","max":0}"#,
    r#"{"component_id":"hello","image":"i","artifact":{"bucket":"ART","name":"n","sha256":"SHA"}}"#,
    r#"{"component_id":"hello","path":"/healthz","timeout_ms":1000}"#,
    r#"{"provider_id":"http","image":"builtin://http-server","config":["a"],"annotations":{}}"#,
    r#"{"provider_id":"ext","image":"file://p","artifact":{"bucket":"B","name":"n","sha256":"SHA"},"claims":"e30.e30.sig"}"#,
    r#"{"provider_id":"http"}"#,
    r#"{"put":{"zone":"edge"},"delete":["old"]}"#,
    r#"{"timeout_ms":5000}"#,
    r#"{"source_id":"http","wit_namespace":"wasi","wit_package":"http","name":"default"}"#,
    r#"{"source_id":"http","target_id":"hello","name":"web","wit_namespace":"wasi","wit_package":"http","interfaces":["incoming-handler"],"source_config":["cfg"],"target_config":[],"annotations":{"a":"b"}}"#,
    r#"{"address":"127.0.0.1:8080","max_body_bytes":"1024"}"#,
    "trellis.default.ctl.component.scale.NBCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRSTUVW",
    "trellis.default.ctl.config.put.web-cfg",
    "trellis.lat.ctl.host.ping",
];

/// `control`.
pub(super) const CONTROL: Target = Target {
    name: "control",
    about: "every control request body a host parses, and control subjects",
    seeds: || {
        SEEDS
            .iter()
            .map(|s| s.replace("SHA", SHA).into_bytes())
            .collect()
    },
    dict: &[
        "\"component_id\":",
        "\"artifact\":",
        "\"sha256\":",
        "\"max\":",
        "\"annotations\":",
        "\"interfaces\":",
        ".ctl.",
        ".rpc.",
        "*",
        ">",
        SHA,
    ],
    max_len: 8192,
    run: |bytes| {
        json_round_trip::<ScaleComponentRequest>(bytes);
        json_round_trip::<UpdateComponentRequest>(bytes);
        json_round_trip::<ProbeComponentRequest>(bytes);
        json_round_trip::<StartProviderRequest>(bytes);
        json_round_trip::<StopProviderRequest>(bytes);
        json_round_trip::<LabelsRequest>(bytes);
        json_round_trip::<StopHostRequest>(bytes);
        json_round_trip::<DeleteLinkRequest>(bytes);
        json_round_trip::<Link>(bytes);
        json_round_trip::<ConfigValues>(bytes);
        // A digest that parses is safe to use as a file name.
        if let Ok(r) = trellis_protocol::control::parse_request::<ScaleComponentRequest>(bytes)
            && let Some(artifact) = r.artifact
        {
            let d = artifact.sha256.as_str();
            assert!(
                d.len() == 64 && d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "digest {d:?} parsed"
            );
        }
        // Subjects come from NATS as text; a host parses each it receives.
        if let Ok(text) = std::str::from_utf8(bytes)
            && let Ok(subject) = text.parse::<Subject>()
        {
            let again = subject.to_string();
            let back: Subject = again
                .parse()
                .unwrap_or_else(|e| panic!("subject {again} does not parse back: {e}"));
            assert_eq!(back.to_string(), again);
        }
    },
};
