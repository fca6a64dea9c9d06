//! This host's view of the lattice's links and named configs, fed by
//! JetStream KV watches, and the push of changes to local providers.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use futures::StreamExt;
use trellis_lattice::store::{ConfigChange, LinkChange};
use trellis_protocol::control::ConfigValues;
use trellis_protocol::link::Link;
use trellis_protocol::{ComponentId, ConfigName};
use trellis_provider_sdk::LinkContext;

use crate::host::HostContext;

/// Links by storage key and configs by name, as last seen in the lattice.
#[derive(Default)]
pub struct LinkState {
    links: RwLock<HashMap<String, Link>>,
    configs: RwLock<HashMap<ConfigName, ConfigValues>>,
}

impl LinkState {
    /// Merges named configs in order (later names win); unknown names add
    /// nothing.
    pub fn resolve(&self, names: &[ConfigName]) -> ConfigValues {
        let configs = self.configs.read().unwrap_or_else(PoisonError::into_inner);
        let mut merged = ConfigValues::new();
        for name in names {
            match configs.get(name) {
                Some(values) => merged.extend(values.clone()),
                None => tracing::debug!(config = %name, "named config not (yet) known"),
            }
        }
        merged
    }

    /// A link with its configs resolved, as providers receive it.
    pub fn context(&self, link: &Link) -> LinkContext {
        LinkContext {
            source_config: self.resolve(&link.source_config),
            target_config: self.resolve(&link.target_config),
            link: link.clone(),
        }
    }

    /// Links in which `id` is the source or the target.
    pub fn involving(&self, id: &ComponentId) -> Vec<Link> {
        self.links
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|l| &l.source_id == id || &l.target_id == id)
            .cloned()
            .collect()
    }

    fn put_link(&self, link: Link) {
        self.links
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(link.key().storage_key(), link);
    }

    fn remove_link(&self, key: &str) -> Option<Link> {
        self.links
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key)
    }

    /// Records a config change; returns the links that use that config.
    fn apply_config(&self, change: ConfigChange) -> Vec<Link> {
        let name = {
            let mut configs = self.configs.write().unwrap_or_else(PoisonError::into_inner);
            match change {
                ConfigChange::Put(name, values) => {
                    configs.insert(name.clone(), values);
                    name
                }
                ConfigChange::Deleted(name) => {
                    configs.remove(&name);
                    name
                }
            }
        };
        self.links
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|l| l.source_config.contains(&name) || l.target_config.contains(&name))
            .cloned()
            .collect()
    }
}

/// What happened to a link, as local providers are told.
#[derive(Clone, Copy)]
pub(crate) enum Notice {
    /// Created or changed.
    Put,
    /// Deleted.
    Deleted,
}

/// Tells the local providers named by `link` (source or target) about it.
pub(crate) async fn notify(ctx: &HostContext, link: &Link, notice: Notice) {
    for id in [&link.source_id, &link.target_id] {
        let Some(p) = ctx.providers.get(id) else {
            continue;
        };
        let result = match notice {
            Notice::Put => p.provider.link_put(ctx.links.context(link)).await,
            Notice::Deleted => p.provider.link_del(link.clone()).await,
        };
        if let Err(e) = result {
            tracing::warn!(provider = %id, %e, "provider could not apply link change");
        }
    }
}

/// Follows the lattice's links and configs until the streams end or the
/// tasks are aborted at shutdown.
pub(crate) async fn spawn_watchers(
    ctx: Arc<HostContext>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, trellis_lattice::LatticeError> {
    let mut links = Box::pin(ctx.store.watch_links().await?);
    let mut configs = Box::pin(ctx.store.watch_config().await?);
    let link_ctx = ctx.clone();
    let link_task = tokio::spawn(async move {
        while let Some(change) = links.next().await {
            match change {
                LinkChange::Put(link) => {
                    link_ctx.links.put_link(link.clone());
                    notify(&link_ctx, &link, Notice::Put).await;
                }
                LinkChange::Deleted(key) => {
                    if let Some(link) = link_ctx.links.remove_link(&key) {
                        notify(&link_ctx, &link, Notice::Deleted).await;
                    }
                }
            }
        }
    });
    let config_task = tokio::spawn(async move {
        while let Some(change) = configs.next().await {
            for link in ctx.links.apply_config(change) {
                notify(&ctx, &link, Notice::Put).await;
            }
        }
    });
    Ok(vec![link_task, config_task])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> ConfigName {
        ConfigName::new(n).unwrap()
    }

    fn values(pairs: &[(&str, &str)]) -> ConfigValues {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn later_configs_win_and_unknown_ones_add_nothing() {
        let state = LinkState::default();
        state.apply_config(ConfigChange::Put(
            name("base"),
            values(&[("a", "1"), ("b", "1")]),
        ));
        state.apply_config(ConfigChange::Put(name("over"), values(&[("b", "2")])));
        let merged = state.resolve(&[name("base"), name("missing"), name("over")]);
        assert_eq!(merged, values(&[("a", "1"), ("b", "2")]));
        state.apply_config(ConfigChange::Deleted(name("over")));
        assert_eq!(
            state.resolve(&[name("base"), name("over")]),
            values(&[("a", "1"), ("b", "1")])
        );
    }

    #[test]
    fn config_changes_report_the_links_that_use_them() {
        let state = LinkState::default();
        let link: Link = serde_json::from_str(
            r#"{"source_id":"http","target_id":"app","wit_namespace":"wasi","wit_package":"http",
                "interfaces":["incoming-handler"],"source_config":["web"]}"#,
        )
        .unwrap();
        state.put_link(link.clone());
        let touched = state.apply_config(ConfigChange::Put(name("web"), values(&[])));
        assert_eq!(touched, vec![link.clone()]);
        assert!(
            state
                .apply_config(ConfigChange::Put(name("other"), values(&[])))
                .is_empty()
        );
        assert_eq!(
            state.involving(&ComponentId::new("app").unwrap()),
            vec![link]
        );
        assert!(state.remove_link("http.wasi.http.default").is_some());
    }
}
