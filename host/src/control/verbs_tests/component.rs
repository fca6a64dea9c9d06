//! `component.scale`, `component.update`, `component.call`,
//! `component.types`, `component.probe`.

use trellis_protocol::control::FailureKind;
use trellis_protocol::inventory::ComponentDescription;
use trellis_protocol::{ComponentId, ControlVerb, EventType};

use super::{TestHost, calc, failed};

fn described(data: serde_json::Value) -> ComponentDescription {
    serde_json::from_value(data).expect("a component description")
}

#[tokio::test]
async fn scale_starts_rescales_and_stops_and_says_so() {
    let host = TestHost::new().await;
    let id = ComponentId::new("calc").unwrap();
    let artifact = host.artifacts.upload("calc", &calc(0));

    let started = described(host.scale("calc", &artifact, 2).await.unwrap());
    assert_eq!(
        (started.max, started.digest.as_str()),
        (2, artifact.sha256.as_str())
    );
    assert!(host.ctx.components.get(&id).is_some());
    assert_eq!(host.data_plane.served(), vec![(id.clone(), true)]);
    let scaled = host.last(EventType::ComponentScaled);
    assert_eq!(
        (scaled["max"].as_u64(), scaled["artifact"].as_str()),
        (Some(2), Some("fetched"))
    );
    assert_eq!(host.add(3, 4).await, Ok("7".to_owned()));

    // Same bytes, new bound: no fetch, no second subscription.
    let rescaled = described(host.scale("calc", &artifact, 5).await.unwrap());
    assert_eq!(rescaled.max, 5);
    assert_eq!(host.artifacts.fetches(), 1);
    assert_eq!(host.data_plane.served().len(), 1);
    assert_eq!(
        host.last(EventType::ComponentScaled)["max"].as_u64(),
        Some(5)
    );

    host.scale("calc", &artifact, 0).await.unwrap();
    assert!(host.ctx.components.get(&id).is_none());
    assert_eq!(
        host.last(EventType::ComponentScaled)["max"].as_u64(),
        Some(0)
    );
    tokio::task::yield_now().await;
    assert_eq!(
        host.data_plane.served(),
        vec![(id, false)],
        "stopped serving"
    );
    assert_eq!(host.add(3, 4).await, Err(FailureKind::NotFound));

    // Started again: the bytes come from the disk cache.
    host.scale("calc", &artifact, 1).await.unwrap();
    assert_eq!(host.artifacts.fetches(), 1);
    assert_eq!(
        host.last(EventType::ComponentScaled)["artifact"].as_str(),
        Some("cache")
    );
}

#[tokio::test]
async fn scale_refuses_other_bytes_for_a_running_id_and_stopping_what_is_not_running() {
    let host = TestHost::new().await;
    let first = host.artifacts.upload("calc", &calc(0));
    let other = host.artifacts.upload("calc-2", &calc(1));
    host.scale("calc", &first, 1).await.unwrap();
    let conflict = failed(host.scale("calc", &other, 1).await, FailureKind::Conflict);
    assert!(conflict.message.contains("update"), "{}", conflict.message);
    assert_eq!(
        host.add(1, 1).await,
        Ok("2".to_owned()),
        "the old bytes still run"
    );
    failed(host.scale("absent", &first, 0).await, FailureKind::NotFound);
}

#[tokio::test]
async fn scale_failures_name_their_kind_and_are_announced() {
    let host = TestHost::new().await;
    // Never uploaded: the store cannot give it.
    let missing = {
        let scratch = crate::ports::memory::MemoryArtifacts::default();
        scratch.upload("missing", &calc(0))
    };
    let failure = failed(
        host.scale("calc", &missing, 1).await,
        FailureKind::Unavailable,
    );
    assert!(
        failure.message.contains("cannot fetch"),
        "{}",
        failure.message
    );
    let announced = host.last(EventType::ComponentScaleFailed);
    assert_eq!(announced["component_id"], "calc");

    let core = host.artifacts.upload("core", b"\0asm\x01\0\0\0");
    let failure = failed(host.scale("calc", &core, 1).await, FailureKind::Invalid);
    assert!(failure.message.contains("component"), "{}", failure.message);
    assert!(host.ctx.components.descriptions().is_empty());
    assert!(host.data_plane.served().is_empty(), "nothing was served");
}

#[tokio::test]
async fn unsigned_components_are_refused_by_a_host_that_wants_signatures() {
    let host = TestHost::with(|_| {}).await;
    let artifact = host.artifacts.upload("calc", &calc(0));
    let failure = failed(host.scale("calc", &artifact, 1).await, FailureKind::Refused);
    assert!(failure.message.contains("refused"), "{}", failure.message);
    assert!(host.ctx.components.descriptions().is_empty());
}

#[tokio::test]
async fn update_swaps_the_code_of_a_running_component_only() {
    let host = TestHost::new().await;
    let old = host.artifacts.upload("calc", &calc(0));
    let new = host.artifacts.upload("calc-v2", &calc(100));
    let update = |artifact: &trellis_protocol::control::ArtifactRef| {
        serde_json::json!({
            "component_id": "calc", "image": "file://calc-v2.wasm", "artifact": artifact,
        })
    };
    failed(
        host.run(ControlVerb::ComponentUpdate(host.host()), update(&new))
            .await,
        FailureKind::NotFound,
    );
    host.scale("calc", &old, 2).await.unwrap();
    let updated = described(
        host.run(ControlVerb::ComponentUpdate(host.host()), update(&new))
            .await
            .unwrap(),
    );
    assert_eq!(
        (updated.digest.as_str(), updated.max),
        (new.sha256.as_str(), 2)
    );
    assert_eq!(host.add(3, 4).await, Ok("107".to_owned()));
    assert_eq!(
        host.data_plane.served().len(),
        1,
        "still the one subscription"
    );
}

#[tokio::test]
async fn call_checks_its_arguments_and_names_what_is_missing() {
    let host = TestHost::new().await;
    assert_eq!(host.add(1, 2).await, Err(FailureKind::NotFound));
    let artifact = host.artifacts.upload("calc", &calc(0));
    host.scale("calc", &artifact, 1).await.unwrap();
    let call = |function: &str, args: serde_json::Value| {
        serde_json::json!({
            "component_id": "calc", "interface": "test:calc/math", "function": function,
            "call": {"args": {"Wave": args}, "wave": true}, "timeout_ms": 5000,
        })
    };
    let verb = || ControlVerb::ComponentCall(host.host());
    failed(
        host.run(verb(), call("sub", serde_json::json!(["1", "2"])))
            .await,
        FailureKind::NotFound,
    );
    failed(
        host.run(verb(), call("add", serde_json::json!(["one", "2"])))
            .await,
        FailureKind::Invalid,
    );
    let too_many: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    failed(
        host.run(verb(), call("add", serde_json::json!(too_many)))
            .await,
        FailureKind::Invalid,
    );
}

#[tokio::test]
async fn types_lists_the_functions_of_a_running_component() {
    let host = TestHost::new().await;
    let verb = || ControlVerb::ComponentTypes(host.host());
    failed(
        host.run(verb(), serde_json::json!({"component_id": "calc"}))
            .await,
        FailureKind::NotFound,
    );
    let artifact = host.artifacts.upload("calc", &calc(0));
    host.scale("calc", &artifact, 1).await.unwrap();
    let types = host
        .run(verb(), serde_json::json!({"component_id": "calc"}))
        .await
        .unwrap()
        .to_string();
    assert!(
        types.contains("test:calc/math") && types.contains("add"),
        "{types}"
    );
}

#[tokio::test]
async fn probe_needs_a_running_http_component_and_an_absolute_path() {
    let host = TestHost::new().await;
    let verb = || ControlVerb::ComponentProbe(host.host());
    let probe =
        |path: &str| serde_json::json!({"component_id": "calc", "path": path, "timeout_ms": 1000});
    failed(
        host.run(verb(), probe("healthz")).await,
        FailureKind::Invalid,
    );
    failed(
        host.run(verb(), probe("/healthz")).await,
        FailureKind::NotFound,
    );
    let artifact = host.artifacts.upload("calc", &calc(0));
    host.scale("calc", &artifact, 1).await.unwrap();
    let failure = failed(
        host.run(verb(), probe("/healthz")).await,
        FailureKind::Unavailable,
    );
    assert!(
        failure.message.contains("probe of calc"),
        "{}",
        failure.message
    );
}
