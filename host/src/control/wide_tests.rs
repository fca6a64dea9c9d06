//! The lattice-wide verbs (links, named config) against in-memory ports:
//! what is stored, what is announced, what the barrier waits for, and
//! which kind each refusal has. No nats-server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use trellis_protocol::control::{FailureKind, LinkPage};
use trellis_protocol::link::Link;
use trellis_protocol::{ComponentId, ConfigName, EventType, limits};

use super::wide::Wide;
use super::{config, link};
use crate::ports::memory::{MemoryDirectory, MemoryEvents, MemoryStore};

/// How long a test's barrier waits for hosts that never catch up.
const BARRIER: Duration = Duration::from_millis(500);

struct Ports {
    store: Arc<MemoryStore>,
    events: MemoryEvents,
    directory: MemoryDirectory,
    local: Vec<ComponentId>,
}

impl Ports {
    /// Two hosts that apply every change after `catch_up_after` pings;
    /// `local` run on this host.
    fn new(catch_up_after: u32, local: &[&str]) -> Self {
        let store = Arc::new(MemoryStore::default());
        Self {
            directory: MemoryDirectory::new(&["a", "b"], store.clone(), catch_up_after),
            store,
            events: MemoryEvents::default(),
            local: local
                .iter()
                .map(|id| ComponentId::new(*id).unwrap())
                .collect(),
        }
    }

    fn wide(&self) -> Wide<'_> {
        Wide {
            store: self.store.as_ref(),
            events: &self.events,
            directory: &self.directory,
            runs_here: Box::new(move |id| self.local.contains(id)),
            page_limit: limits::INVENTORY_PAGE_BYTES,
            barrier_timeout: BARRIER,
        }
    }

    fn event_types(&self) -> Vec<EventType> {
        self.events.seen().into_iter().map(|(t, _)| t).collect()
    }
}

fn link_body(source: &str, target: &str, extra: serde_json::Value) -> Vec<u8> {
    let mut body = serde_json::json!({
        "source_id": source, "target_id": target,
        "wit_namespace": "wasi", "wit_package": "keyvalue",
        "interfaces": ["store"],
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    serde_json::to_vec(&body).unwrap()
}

fn kind(outcome: super::Outcome) -> FailureKind {
    outcome.expect_err("the verb must fail").kind
}

#[tokio::test]
async fn a_link_put_is_stored_announced_and_waits_until_every_host_has_it() {
    let ports = Ports::new(3, &["http", "kv"]);
    let reply = link::put(
        &ports.wide(),
        &link_body("http", "kv", serde_json::json!({})),
    )
    .await
    .unwrap();
    let stored: Link = serde_json::from_value(reply).unwrap();
    assert_eq!(ports.store.links(), [stored]);
    assert_eq!(ports.event_types(), [EventType::LinkPut]);
    // The reply went out once the hosts reported the new revision.
    assert!(
        ports.directory.pings() >= 3,
        "{} pings",
        ports.directory.pings()
    );
}

#[tokio::test]
async fn a_link_to_an_id_nobody_runs_is_not_found_and_nothing_is_stored() {
    let ports = Ports::new(1, &["http"]);
    let outcome = link::put(
        &ports.wide(),
        &link_body("http", "ghost", serde_json::json!({})),
    )
    .await;
    let failure = outcome.expect_err("ghost runs nowhere");
    assert_eq!(failure.kind, FailureKind::NotFound);
    assert!(failure.message.contains("ghost"), "{}", failure.message);
    assert!(ports.store.links().is_empty());
    assert!(ports.event_types().is_empty());
}

#[tokio::test]
async fn a_link_to_another_target_conflicts_unless_forced() {
    let ports = Ports::new(1, &["http", "kv", "kv2"]);
    let wide = ports.wide();
    link::put(&wide, &link_body("http", "kv", serde_json::json!({})))
        .await
        .unwrap();
    let to_kv2 = link_body("http", "kv2", serde_json::json!({}));
    assert_eq!(kind(link::put(&wide, &to_kv2).await), FailureKind::Conflict);
    assert_eq!(ports.store.links()[0].target_id.as_str(), "kv");
    let forced = link_body("http", "kv2", serde_json::json!({"force": true}));
    link::put(&wide, &forced).await.unwrap();
    assert_eq!(ports.store.links().len(), 1);
    assert_eq!(ports.store.links()[0].target_id.as_str(), "kv2");
}

#[tokio::test]
async fn malformed_link_and_config_bodies_are_invalid() {
    let ports = Ports::new(1, &[]);
    let wide = ports.wide();
    assert_eq!(
        kind(link::put(&wide, b"{not json").await),
        FailureKind::Invalid
    );
    assert_eq!(kind(link::del(&wide, b"").await), FailureKind::Invalid);
    let name = ConfigName::new("settings").unwrap();
    assert_eq!(
        kind(config::put(&wide, &name, br#"{"a": 1}"#).await),
        FailureKind::Invalid
    );
    assert!(ports.store.links().is_empty() && ports.event_types().is_empty());
}

#[tokio::test]
async fn deleting_a_link_announces_it_and_a_missing_one_is_not_found() {
    let ports = Ports::new(1, &["http", "kv"]);
    let wide = ports.wide();
    link::put(&wide, &link_body("http", "kv", serde_json::json!({})))
        .await
        .unwrap();
    let del = serde_json::to_vec(&serde_json::json!({
        "source_id": "http", "wit_namespace": "wasi", "wit_package": "keyvalue",
    }))
    .unwrap();
    link::del(&wide, &del).await.unwrap();
    assert!(ports.store.links().is_empty());
    assert_eq!(
        ports.event_types(),
        [EventType::LinkPut, EventType::LinkDeleted]
    );
    assert_eq!(kind(link::del(&wide, &del).await), FailureKind::NotFound);
}

#[tokio::test]
async fn a_link_listing_pages_within_this_hosts_limit() {
    let ports = Ports::new(0, &[]);
    for i in 0..40 {
        let link: Link =
            serde_json::from_slice(&link_body(&format!("s{i:02}"), "t", serde_json::json!({})))
                .unwrap();
        crate::ports::LinkConfigStore::put_link(ports.store.as_ref(), &link)
            .await
            .unwrap();
    }
    let mut wide = ports.wide();
    let all: Vec<Link> = serde_json::from_value(link::list(&wide, b"").await.unwrap()).unwrap();
    assert_eq!(all.len(), 40);
    // The caller asks for huge pages; the host's limit wins.
    wide.page_limit = limits::MIN_INVENTORY_PAGE_BYTES;
    let page: LinkPage = serde_json::from_value(
        link::list(&wide, br#"{"page_bytes": 100000000}"#)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        !page.links.is_empty() && page.links.len() < 40,
        "{}",
        page.links.len()
    );
    assert!(page.next.is_some());
}

#[tokio::test]
async fn config_put_get_del_round_trip_with_events_and_not_found() {
    let ports = Ports::new(1, &[]);
    let wide = ports.wide();
    let name = ConfigName::new("settings").unwrap();
    config::put(&wide, &name, br#"{"greeting": "hi"}"#)
        .await
        .unwrap();
    let got = config::get(&wide, &name).await.unwrap();
    assert_eq!(got, serde_json::json!({"greeting": "hi"}));
    config::del(&wide, &name).await.unwrap();
    assert_eq!(kind(config::get(&wide, &name).await), FailureKind::NotFound);
    assert_eq!(kind(config::del(&wide, &name).await), FailureKind::NotFound);
    assert_eq!(
        ports.event_types(),
        [EventType::ConfigSet, EventType::ConfigDeleted]
    );
}

#[tokio::test]
async fn the_barrier_gives_up_in_time_and_the_change_stays_stored() {
    // Hosts that never catch up: the reply still comes, after the barrier.
    let ports = Ports::new(u32::MAX, &[]);
    let name = ConfigName::new("settings").unwrap();
    let started = Instant::now();
    config::put(&ports.wide(), &name, br#"{"a": "1"}"#)
        .await
        .unwrap();
    assert!(started.elapsed() >= BARRIER, "{:?}", started.elapsed());
    assert_eq!(ports.store.revision(), 1);
    assert_eq!(ports.event_types(), [EventType::ConfigSet]);
    // A no-wait put does not ask the hosts at all.
    let pings = ports.directory.pings();
    let no_wait = br#"{"values": {"a": "2"}, "no_wait": true}"#;
    config::put(&ports.wide(), &name, no_wait).await.unwrap();
    assert_eq!(ports.directory.pings(), pings);
}
