//! `host.ping`, `host.inventory`, `host.stop`, `host.labels`.

use trellis_protocol::ControlVerb;
use trellis_protocol::control::{FailureKind, PingReply};
use trellis_protocol::inventory::HostInventory;

use super::{TestHost, calc, failed};

#[tokio::test]
async fn ping_says_who_the_host_is_and_what_it_runs() {
    let host = TestHost::new().await;
    let artifact = host.artifacts.upload("calc", &calc(0));
    host.scale("calc", &artifact, 2).await.unwrap();
    let reply: PingReply =
        serde_json::from_value(host.run_raw(ControlVerb::HostPing, b"").await.unwrap()).unwrap();
    assert_eq!(reply.id, host.host());
    assert_eq!(reply.name, "test-host");
    assert_eq!(reply.labels.get("os").map(String::as_str), Some("linux"));
    assert_eq!((reply.components, reply.providers), (1, 0));
    assert!(reply.allow_unsigned);
}

#[tokio::test]
async fn inventory_lists_components_with_their_interfaces_for_every_old_body_form() {
    let host = TestHost::new().await;
    let artifact = host.artifacts.upload("calc", &calc(0));
    host.scale("calc", &artifact, 3).await.unwrap();
    for body in [&b""[..], b"null", b"{}"] {
        let inventory: HostInventory = serde_json::from_value(
            host.run_raw(ControlVerb::HostInventory(host.host()), body)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(inventory.id, host.host());
        assert_eq!(inventory.components.len(), 1, "body {body:?}");
        let component = &inventory.components[0];
        assert_eq!((component.id.as_str(), component.max), ("calc", 3));
        assert_eq!(component.exports, vec!["test:calc/math".to_owned()]);
        assert!(inventory.next.is_none(), "one page holds it all");
    }
    failed(
        host.run_raw(ControlVerb::HostInventory(host.host()), b"{\"cursor\": 7")
            .await,
        FailureKind::Invalid,
    );
}

#[tokio::test]
async fn stop_asks_the_orchestrator_to_stop_and_a_malformed_stop_does_not() {
    let host = TestHost::new().await;
    failed(
        host.run_raw(ControlVerb::HostStop(host.host()), b"[1, 2]")
            .await,
        FailureKind::Invalid,
    );
    assert!(
        host.stopped.borrow().is_none(),
        "a refused stop stops nothing"
    );
    host.run_raw(ControlVerb::HostStop(host.host()), b"")
        .await
        .unwrap();
    // The request is made before the reply: nothing to wait for.
    assert!(host.stopped.has_changed().unwrap());
    assert_eq!(host.stopped.borrow().as_deref(), Some("host.stop request"));
}

#[tokio::test]
async fn labels_are_put_and_deleted_and_automatic_ones_are_kept() {
    let host = TestHost::new().await;
    let verb = || ControlVerb::HostLabels(host.host());
    let labels = host
        .run(
            verb(),
            serde_json::json!({"put": {"zone": "edge", "tier": "a"}}),
        )
        .await
        .unwrap();
    assert_eq!(labels["zone"], "edge");
    host.run(verb(), serde_json::json!({"delete": ["tier"]}))
        .await
        .unwrap();
    let now = host.ctx.labels();
    assert_eq!(now.get("zone").map(String::as_str), Some("edge"));
    assert!(!now.contains_key("tier"));
    failed(
        host.run(verb(), serde_json::json!({"delete": ["os"]}))
            .await,
        FailureKind::Invalid,
    );
    assert_eq!(
        host.ctx.labels().get("os").map(String::as_str),
        Some("linux")
    );
}
