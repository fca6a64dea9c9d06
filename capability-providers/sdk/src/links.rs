//! A process's view of the lattice's links and named configs, fed by
//! JetStream KV watches. Hosts and external provider processes both keep
//! one and pass every change on to their providers through a callback.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use futures::{Stream, StreamExt};
use trellis_lattice::LatticeError;
use trellis_lattice::store::{ConfigChange, LatticeStore, LinkChange, Revised};
use trellis_protocol::control::ConfigValues;
use trellis_protocol::link::{InterfaceRef, Link, LinkKey};
use trellis_protocol::{ComponentId, ConfigName, LinkName};

use crate::LinkContext;

/// Why [`LinkState::route`] found no link for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlinked {
    /// No link of that name for the interface's package.
    Missing,
    /// The package's link leaves the interface out.
    Uncovered {
        /// Where that link goes.
        target: ComponentId,
    },
}

impl Unlinked {
    /// What to tell the caller; `how` says what to link to and how (for
    /// a missing link).
    pub fn describe(
        &self,
        source: &ComponentId,
        name: &LinkName,
        interface: &InterfaceRef,
        how: &str,
    ) -> String {
        match self {
            Self::Missing => {
                format!("no link from {source} for {interface} (link name {name}); {how}")
            }
            Self::Uncovered { target } => format!(
                "the link from {source} to {target} (link name {name}) does not include \
                 {interface}; add --interface {} to it",
                interface.interface
            ),
        }
    }
}

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

    /// One named config as this host has applied it, if it has.
    pub fn config(&self, name: &ConfigName) -> Option<ConfigValues> {
        self.configs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
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

    /// The link a call of `interface` by `source` goes through under the
    /// link name `name`: one for the interface's package that covers it.
    pub fn route(
        &self,
        source: &ComponentId,
        name: &LinkName,
        interface: &InterfaceRef,
    ) -> Result<Link, Unlinked> {
        let key = LinkKey {
            source_id: source.clone(),
            wit_namespace: interface.namespace.clone(),
            wit_package: interface.package.clone(),
            name: name.clone(),
        };
        let link = self.get(&key).ok_or(Unlinked::Missing)?;
        if link.covers(interface) {
            Ok(link)
        } else {
            Err(Unlinked::Uncovered {
                target: link.target_id,
            })
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

    /// Every link and named config currently known, for a host that
    /// keeps them on disk to resume from while the lattice is unreachable.
    pub fn snapshot(&self) -> (Vec<Link>, Vec<(ConfigName, ConfigValues)>) {
        let links = self
            .links
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let configs = self
            .configs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, values)| (name.clone(), values.clone()))
            .collect();
        (links, configs)
    }

    /// Seeds the state from a saved snapshot (revisions stay 0: nothing
    /// from the lattice has been applied yet); the watches later replay
    /// the lattice's current values over it.
    pub fn restore(&self, links: Vec<Link>, configs: Vec<(ConfigName, ConfigValues)>) {
        for link in links {
            self.put_link(link);
        }
        self.configs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(configs);
    }

    pub(crate) fn put_link(&self, link: Link) {
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

/// What happened to a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Created or changed (including a change of one of its configs).
    Put,
    /// Deleted.
    Deleted,
}

/// Pause before re-opening a watch that ended (e.g. across a reconnect).
const REWATCH_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Follows the lattice's links and configs into `state`, calling
/// `on_change` for every link change (a config change counts as a change of
/// each link using it). A revision counts as applied once `on_change`
/// returned. The tasks run until aborted.
pub async fn track<F, Fut>(
    store: LatticeStore,
    state: Arc<LinkState>,
    on_change: F,
) -> Result<Vec<tokio::task::JoinHandle<()>>, LatticeError>
where
    F: Fn(Link, Notice) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Open both once up front so a process that cannot watch fails to start.
    let links = store.watch_links().await?;
    let configs = store.watch_config().await?;
    let on_change = Arc::new(on_change);
    let (store1, store2) = (store.clone(), store);
    let (state1, state2) = (state.clone(), state);
    let on_link = on_change.clone();
    let link_task = tokio::spawn(follow(
        "link",
        links,
        move || {
            let store = store1.clone();
            async move { store.watch_links().await }
        },
        move |revised: Revised<LinkChange>| {
            let (state, on_change) = (state1.clone(), on_link.clone());
            async move {
                match revised.change {
                    LinkChange::Put(link) => {
                        state.put_link(link.clone());
                        on_change(link, Notice::Put).await;
                    }
                    LinkChange::Deleted(key) => {
                        if let Some(link) = state.remove_link(&key) {
                            on_change(link, Notice::Deleted).await;
                        }
                    }
                }
                state
                    .links_applied
                    .fetch_max(revised.revision, Ordering::AcqRel);
            }
        },
    ));
    let config_task = tokio::spawn(follow(
        "config",
        configs,
        move || {
            let store = store2.clone();
            async move { store.watch_config().await }
        },
        move |revised: Revised<ConfigChange>| {
            let (state, on_change) = (state2.clone(), on_change.clone());
            async move {
                for link in state.apply_config(revised.change) {
                    on_change(link, Notice::Put).await;
                }
                state
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
    OpenFut: Future<Output = Result<S, LatticeError>>,
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
    fn a_restored_snapshot_resolves_like_the_original() {
        let state = LinkState::default();
        let link: Link = serde_json::from_str(
            r#"{"source_id":"http","target_id":"app","wit_namespace":"wasi","wit_package":"http",
                "interfaces":["incoming-handler"],"source_config":["web"]}"#,
        )
        .unwrap();
        state.put_link(link.clone());
        state.apply_config(ConfigChange::Put(name("web"), values(&[("address", "x")])));
        let (links, configs) = state.snapshot();
        let restored = LinkState::default();
        restored.restore(links, configs);
        assert_eq!(restored.get(&link.key()), Some(link.clone()));
        assert_eq!(
            restored.resolve(&[name("web")]),
            values(&[("address", "x")])
        );
        assert_eq!(
            restored.links_revision(),
            0,
            "nothing from the lattice applied yet"
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
