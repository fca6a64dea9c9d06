//! `provider.start`, `provider.stop`.

use trellis_protocol::control::FailureKind;
use trellis_protocol::{ComponentId, ControlVerb, EventType};

use super::{TestHost, calc, failed};

fn start(id: &str, image: &str) -> serde_json::Value {
    serde_json::json!({"provider_id": id, "image": image})
}

#[tokio::test]
async fn a_builtin_provider_starts_once_and_stops() {
    let host = TestHost::new().await;
    let verb = || ControlVerb::ProviderStart(host.host());
    let id = ComponentId::new("outbound").unwrap();
    host.run(verb(), start("outbound", "builtin://http-client"))
        .await
        .unwrap();
    assert!(host.ctx.providers.get(&id).is_some());
    assert_eq!(
        host.last(EventType::ProviderStarted)["provider_id"],
        "outbound"
    );
    failed(
        host.run(verb(), start("outbound", "builtin://http-client"))
            .await,
        FailureKind::Conflict,
    );

    let stop = || ControlVerb::ProviderStop(host.host());
    host.run(stop(), serde_json::json!({"provider_id": "outbound"}))
        .await
        .unwrap();
    assert!(host.ctx.providers.get(&id).is_none());
    assert_eq!(
        host.last(EventType::ProviderStopped)["provider_id"],
        "outbound"
    );
    failed(
        host.run(stop(), serde_json::json!({"provider_id": "outbound"}))
            .await,
        FailureKind::NotFound,
    );
}

#[tokio::test]
async fn providers_are_refused_for_unknown_images_and_ids_components_hold() {
    let host = TestHost::new().await;
    let verb = || ControlVerb::ProviderStart(host.host());
    let failure = failed(
        host.run(verb(), start("p", "builtin://no-such-provider"))
            .await,
        FailureKind::Invalid,
    );
    assert!(
        failure.message.contains("no-such-provider"),
        "{}",
        failure.message
    );
    failed(
        host.run(verb(), start("p", "docker://nginx")).await,
        FailureKind::Invalid,
    );
    let artifact = host.artifacts.upload("calc", &calc(0));
    host.scale("calc", &artifact, 1).await.unwrap();
    failed(
        host.run(verb(), start("calc", "builtin://http-client"))
            .await,
        FailureKind::Conflict,
    );
    assert!(host.ctx.providers.all().is_empty());
    assert!(
        !host.event_types().contains(&EventType::ProviderStarted),
        "nothing started, nothing announced"
    );
}
