//! Listings of whole buckets (links, configs, wadm's values) are one
//! streamed read against a real nats-server: every current value with the
//! revision it was stored at, deleted keys left out, an empty bucket empty,
//! and more values than one flow-control window.

use std::collections::BTreeMap;

use trellis_lattice::{Lattice, LatticeConfig};
use trellis_protocol::control::ConfigValues;
use trellis_protocol::link::Link;
use trellis_protocol::{ConfigName, LatticeName};
use trellis_tests::{NatsServer, unique_lattice};

fn link(source: &str, name: &str) -> anyhow::Result<Link> {
    Ok(serde_json::from_value(serde_json::json!({
        "source_id": source, "target_id": "kv", "name": name,
        "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"],
    }))?)
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_listings_return_every_current_value_with_its_revision() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let client = Lattice::connect(&LatticeConfig {
        nats_url: nats.url(),
        lattice: LatticeName::new(unique_lattice("snapshot"))?,
        ..LatticeConfig::default()
    })
    .await?;
    let store = client.store().await?;
    assert!(store.list_links_revised().await?.is_empty());
    assert!(store.list_configs().await?.is_empty());

    // Links: a replaced one shows its second revision, a deleted one none.
    let first = link("a", "default")?;
    store.put_link(&first).await?;
    let mut replaced = first.clone();
    replaced
        .interfaces
        .push(trellis_protocol::link::WitName::new("atomics")?);
    let replaced_at = store.put_link(&replaced).await?;
    let gone = link("b", "default")?;
    store.put_link(&gone).await?;
    store.del_link(&gone.key()).await?;
    let kept = link("c", "other")?;
    let kept_at = store.put_link(&kept).await?;
    let links = store.list_links_revised().await?;
    let listed: Vec<(Link, u64)> = links.into_iter().map(|l| (l.change, l.revision)).collect();
    assert_eq!(listed, vec![(replaced, replaced_at), (kept, kept_at)]);

    // Configs: 1,500 of them (more than one flow-control window), one
    // deleted, all read back exactly, in name order.
    let mut want = BTreeMap::new();
    for i in 0..1500 {
        let name = ConfigName::new(format!("cfg-{i:04}"))?;
        let values: ConfigValues = [("i".to_owned(), i.to_string())].into_iter().collect();
        store.put_config(&name, &values).await?;
        want.insert(name, values);
    }
    let deleted = ConfigName::new("cfg-0007")?;
    assert!(store.del_config(&deleted).await?.is_some());
    want.remove(&deleted);
    let configs = store.list_configs().await?;
    assert_eq!(configs.len(), 1499);
    assert_eq!(configs, want.into_iter().collect::<Vec<_>>());

    // wadm's bucket: only the keys under the filter, each with its revision.
    let wadm = client.wadm_store().await?;
    assert!(wadm.values::<String>("app.>").await?.is_empty());
    let one = wadm.put("app.one", &"first".to_owned()).await?;
    wadm.put("status.one", &"not an app".to_owned()).await?;
    let two = wadm.put("app.two", &"second".to_owned()).await?;
    wadm.put("app.three", &"third".to_owned()).await?;
    wadm.delete("app.three").await?;
    let values: Vec<(String, String, u64)> = wadm
        .values::<String>("app.>")
        .await?
        .into_iter()
        .map(|(k, v)| (k, v.value, v.revision))
        .collect();
    assert_eq!(
        values,
        vec![
            ("app.one".into(), "first".into(), one),
            ("app.two".into(), "second".into(), two),
        ]
    );
    Ok(())
}
