//! This host's view of the lattice's links and named configs, fed by
//! JetStream KV watches, and the push of changes to local providers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use futures::{Stream, StreamExt};
use trellis_lattice::store::{ConfigChange, LinkChange, Revised};
use trellis_protocol::control::ConfigValues;
use trellis_protocol::link::{Link, LinkKey};
use trellis_protocol::{ComponentId, ConfigName};
use trellis_provider_sdk::LinkContext;

use crate::host::HostContext;

/// Links by storage key and configs by name, as last seen in the lattice.
#[derive(Default)]
pub struct LinkState {
    links: RwLock<HashMap<String, Link>>,
    configs: RwLock<HashMap<ConfigName, ConfigValues>>,
    links_applied: AtomicU64,
    config_applied: AtomicU64,
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

    /// The links revision this host has fully applied (providers told).
    pub fn links_revision(&self) -> u64 {
        self.links_applied.load(Ordering::Acquire)
    }

    /// The config revision this host has fully applied.
    pub fn config_revision(&self) -> u64 {
        self.config_applied.load(Ordering::Acquire)
    }

    /// The link stored under `key`, if any.
    pub fn get(&self, key: &LinkKey) -> Option<Link> {
        self.links
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key.storage_key())
            .cloned()
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

/// Pause before re-opening a watch that ended (e.g. across a reconnect).
const REWATCH_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Follows the lattice's links and configs until the tasks are aborted at
/// shutdown.
pub(crate) async fn spawn_watchers(
    ctx: Arc<HostContext>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, trellis_lattice::LatticeError> {
    // Open both once up front so a host that cannot watch fails to start.
    let links = ctx.store.watch_links().await?;
    let configs = ctx.store.watch_config().await?;
    let (c1, c2, c3, c4) = (ctx.clone(), ctx.clone(), ctx.clone(), ctx);
    let link_task = tokio::spawn(follow(
        "link",
        links,
        move || {
            let ctx = c1.clone();
            async move { ctx.store.watch_links().await }
        },
        move |revised: Revised<LinkChange>| {
            let ctx = c2.clone();
            async move {
                apply_link_change(&ctx, revised.change).await;
                // Only now, with providers told, is the revision applied.
                ctx.links
                    .links_applied
                    .fetch_max(revised.revision, Ordering::AcqRel);
            }
        },
    ));
    let config_task = tokio::spawn(follow(
        "config",
        configs,
        move || {
            let ctx = c3.clone();
            async move { ctx.store.watch_config().await }
        },
        move |revised: Revised<ConfigChange>| {
            let ctx = c4.clone();
            async move {
                for link in ctx.links.apply_config(revised.change) {
                    notify(&ctx, &link, Notice::Put).await;
                }
                ctx.links
                    .config_applied
                    .fetch_max(revised.revision, Ordering::AcqRel);
            }
        },
    ));
    Ok(vec![link_task, config_task])
}

/// Applies every item of a KV watch; a watch that ends (e.g. across a
/// reconnect) is re-opened after [`REWATCH_DELAY`], and its replay of the
/// current values re-syncs this host.
async fn follow<T, S, Open, OpenFut, Apply, ApplyFut>(
    what: &'static str,
    first: S,
    open: Open,
    mut apply: Apply,
) where
    S: Stream<Item = T>,
    Open: Fn() -> OpenFut,
    OpenFut: Future<Output = Result<S, trellis_lattice::LatticeError>>,
    Apply: FnMut(T) -> ApplyFut,
    ApplyFut: Future<Output = ()>,
{
    let mut next = Some(first);
    loop {
        let stream = match next.take() {
            Some(stream) => stream,
            None => match open().await {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(%e, "cannot watch {what}s; retrying");
                    tokio::time::sleep(REWATCH_DELAY).await;
                    continue;
                }
            },
        };
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            apply(item).await;
        }
        tracing::warn!("{what} watch ended; re-opening");
        tokio::time::sleep(REWATCH_DELAY).await;
    }
}

async fn apply_link_change(ctx: &HostContext, change: LinkChange) {
    match change {
        LinkChange::Put(link) => {
            ctx.links.put_link(link.clone());
            notify(ctx, &link, Notice::Put).await;
        }
        LinkChange::Deleted(key) => {
            if let Some(link) = ctx.links.remove_link(&key) {
                notify(ctx, &link, Notice::Deleted).await;
            }
        }
    }
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
