//! The lattice-wide side of the sim: one watcher of the links and config
//! buckets for every sim host, and one queue-group subscriber answering
//! `link.*` and `config.*` as a host of the queue group does (without the
//! barrier and the unknown-id scan, see the module above).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_nats::Message;
use futures::StreamExt;
use trellis_lattice::Lattice;
use trellis_lattice::store::{ConfigChange, LatticeStore, LinkChange};
use trellis_protocol::control::{
    DeleteLinkRequest, Failure, LinkListRequest, LinkPage, PutLinkRequest, parse_request,
};
use trellis_protocol::event::data::ConfigChanged;
use trellis_protocol::link::{Link, LinkKey, LinkStatus};
use trellis_protocol::subject::pattern;
use trellis_protocol::{ComponentId, ConfigName, ControlVerb, EventType, HostId, Subject, limits};

use super::{NETWORK_TIMEOUT, Outcome, data, encode_reply, page_limit};

/// Links as stored (by storage key), when each was seen, and which
/// providers or components each names.
#[derive(Default)]
struct Links {
    by_key: BTreeMap<String, (Link, u64)>,
    naming: BTreeMap<ComponentId, BTreeSet<String>>,
}

impl Links {
    fn put(&mut self, link: Link, at_unix_ms: u64) {
        let key = link.key().storage_key();
        self.delete(&key);
        for id in [&link.source_id, &link.target_id] {
            self.naming
                .entry(id.clone())
                .or_default()
                .insert(key.clone());
        }
        self.by_key.insert(key, (link, at_unix_ms));
    }

    fn delete(&mut self, key: &str) {
        let Some((old, _)) = self.by_key.remove(key) else {
            return;
        };
        for id in [&old.source_id, &old.target_id] {
            if let Some(keys) = self.naming.get_mut(id) {
                keys.remove(key);
                if keys.is_empty() {
                    self.naming.remove(id);
                }
            }
        }
    }
}

/// What every sim host has applied: the buckets as last watched.
#[derive(Default)]
pub(super) struct LatticeView {
    links: RwLock<Links>,
    links_revision: AtomicU64,
    config_revision: AtomicU64,
}

impl LatticeView {
    pub(super) fn links_revision(&self) -> u64 {
        self.links_revision.load(Ordering::Acquire)
    }

    pub(super) fn config_revision(&self) -> u64 {
        self.config_revision.load(Ordering::Acquire)
    }

    /// One applied entry per (link, provider) for the `providers` a host
    /// runs, sorted as the host sorts them.
    pub(super) fn link_status<'a>(
        &self,
        providers: impl Iterator<Item = &'a ComponentId>,
    ) -> Vec<LinkStatus> {
        let links = self.links.read().unwrap_or_else(PoisonError::into_inner);
        let mut all = Vec::new();
        for provider in providers {
            let Some(keys) = links.naming.get(provider) else {
                continue;
            };
            for key in keys {
                if let Some((link, at_unix_ms)) = links.by_key.get(key) {
                    all.push(LinkStatus {
                        link: link.key(),
                        provider_id: provider.clone(),
                        applied: true,
                        error: None,
                        attempts: 1,
                        at_unix_ms: *at_unix_ms,
                    });
                }
            }
        }
        all.sort_by(|a, b| (&a.provider_id, &a.link).cmp(&(&b.provider_id, &b.link)));
        all
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Follows both buckets into `view` (replaying what is stored first).
pub(super) async fn watch(
    store: LatticeStore,
    view: Arc<LatticeView>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let links = tokio::time::timeout(NETWORK_TIMEOUT, store.watch_links())
        .await
        .context("watching the links bucket timed out")??;
    let configs = tokio::time::timeout(NETWORK_TIMEOUT, store.watch_config())
        .await
        .context("watching the config bucket timed out")??;
    let link_view = view.clone();
    let links = tokio::spawn(async move {
        let mut links = std::pin::pin!(links);
        while let Some(revised) = links.next().await {
            {
                let mut all = link_view
                    .links
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                match revised.change {
                    LinkChange::Put(link) => all.put(link, now_unix_ms()),
                    LinkChange::Deleted(key) => all.delete(&key),
                }
            }
            link_view
                .links_revision
                .fetch_max(revised.revision, Ordering::AcqRel);
        }
    });
    let configs = tokio::spawn(async move {
        let mut configs = std::pin::pin!(configs);
        while let Some(revised) = configs.next().await {
            // Config values matter to no sim: only the revision is kept.
            let (ConfigChange::Put(..) | ConfigChange::Deleted(_)) = revised.change;
            view.config_revision
                .fetch_max(revised.revision, Ordering::AcqRel);
        }
    });
    Ok(vec![links, configs])
}

/// Subscribes the lattice-wide verbs in the control queue group and
/// answers each request in its own task; events name `source` (the first
/// sim host) as the host that handled them.
pub(super) async fn serve(
    lattice: Lattice,
    store: LatticeStore,
    source: HostId,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let group = pattern::control_queue_group(lattice.name());
    let wide = Arc::new(Wide {
        lattice: lattice.clone(),
        store,
        source,
    });
    let mut tasks = Vec::new();
    for subject in pattern::lattice_wide_control(lattice.name()) {
        let mut sub = tokio::time::timeout(
            NETWORK_TIMEOUT,
            lattice
                .nats()
                .queue_subscribe(subject.clone(), group.clone()),
        )
        .await
        .with_context(|| format!("subscribing to {subject} timed out"))??;
        let wide = wide.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                tokio::spawn(wide.clone().dispatch(msg));
            }
        }));
    }
    Ok(tasks)
}

struct Wide {
    lattice: Lattice,
    store: LatticeStore,
    source: HostId,
}

impl Wide {
    async fn dispatch(self: Arc<Self>, msg: Message) {
        let Some(reply_to) = msg.reply else { return };
        let body = &msg.payload[..];
        let outcome = match msg.subject.as_str().parse::<Subject>() {
            Ok(Subject::Control { verb, .. }) => match verb {
                ControlVerb::LinkPut => self.put_link(body).await,
                ControlVerb::LinkDel => self.del_link(body).await,
                ControlVerb::LinkList => self.list_links(body).await,
                ControlVerb::ConfigPut(name) => self.put_config(&name, body).await,
                ControlVerb::ConfigGet(name) => self.get_config(&name).await,
                ControlVerb::ConfigDel(name) => self.del_config(&name).await,
                // The queue group's patterns take `ctl.host.ping` too; the
                // ping subscription answers it, so stay quiet, as the
                // host does for a verb another route owns.
                _ => return,
            },
            Ok(other) => Err(Failure::invalid(format!(
                "`{other}` is not a control subject"
            ))),
            Err(e) => Err(Failure::invalid(e.to_string())),
        };
        let max = self.lattice.nats().server_info().max_payload;
        let payload = encode_reply(outcome, max);
        if let Err(e) = self.lattice.nats().publish(reply_to, payload.into()).await {
            tracing::warn!(%e, "sim could not send a lattice-wide reply");
        }
    }

    async fn publish<T: serde::Serialize>(&self, event: EventType, data: T) {
        if let Err(e) = self
            .lattice
            .publish_event(event, self.source.as_str(), data)
            .await
        {
            tracing::warn!(%e, %event, "sim could not publish an event");
        }
    }

    async fn put_link(&self, body: &[u8]) -> Outcome {
        let PutLinkRequest { link, force, .. } = parse_request(body)?;
        link.validate().map_err(Failure::invalid)?;
        limits::check_link(&link).map_err(|e| {
            Failure::invalid(format!(
                "link {} -> {} on {}:{} refused: {e}",
                link.source_id, link.target_id, link.wit_namespace, link.wit_package
            ))
        })?;
        let existing = bounded("get link", self.store.get_link(&link.key())).await?;
        if let Some(existing) = existing
            && !force
        {
            existing
                .may_be_replaced_by(&link)
                .map_err(Failure::conflict)?;
        }
        bounded("put link", self.store.put_link(&link)).await?;
        self.publish(EventType::LinkPut, &link).await;
        data(link)
    }

    async fn del_link(&self, body: &[u8]) -> Outcome {
        let request: DeleteLinkRequest = parse_request(body)?;
        let key = LinkKey {
            source_id: request.source_id,
            wit_namespace: request.wit_namespace,
            wit_package: request.wit_package,
            name: request.name,
        };
        match bounded("delete link", self.store.del_link(&key)).await? {
            Some((link, _revision)) => {
                self.publish(EventType::LinkDeleted, &link).await;
                data(link)
            }
            None => Err(Failure::not_found(format!(
                "no link from {} on {}:{} named {}",
                key.source_id, key.wit_namespace, key.wit_package, key.name
            ))),
        }
    }

    async fn list_links(&self, body: &[u8]) -> Outcome {
        let links = bounded("list links", self.store.list_links()).await?;
        match body {
            b"" | b"null" => data(links),
            _ => {
                let mut request: LinkListRequest = parse_request(body)?;
                let limit = page_limit(&self.lattice);
                request.page_bytes = Some(request.page_bytes.map_or(limit, |b| b.min(limit)));
                data(LinkPage::of(links, &request))
            }
        }
    }

    async fn put_config(&self, name: &ConfigName, body: &[u8]) -> Outcome {
        let (values, _no_wait) = trellis_protocol::control::PutConfigRequest::parse(body)
            .map_err(|e| e.context(format!("config {name}")))?
            .into_parts();
        limits::check_config_values(name, &values).map_err(|e| Failure::invalid(e.to_string()))?;
        bounded("put config", self.store.put_config(name, &values)).await?;
        self.publish(EventType::ConfigSet, ConfigChanged { name: name.clone() })
            .await;
        data(values)
    }

    async fn get_config(&self, name: &ConfigName) -> Outcome {
        match bounded("get config", self.store.get_config(name)).await? {
            Some(values) => data(values),
            None => Err(Failure::not_found(format!("no config named {name}"))),
        }
    }

    async fn del_config(&self, name: &ConfigName) -> Outcome {
        if bounded("delete config", self.store.del_config(name))
            .await?
            .is_none()
        {
            return Err(Failure::not_found(format!("no config named {name}")));
        }
        self.publish(
            EventType::ConfigDeleted,
            ConfigChanged { name: name.clone() },
        )
        .await;
        Ok(serde_json::Value::Null)
    }
}

/// A bucket operation within [`NETWORK_TIMEOUT`], its error as a reply.
async fn bounded<T>(
    what: &str,
    op: impl Future<Output = Result<T, trellis_lattice::LatticeError>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(NETWORK_TIMEOUT, op).await {
        Ok(result) => result.map_err(|e| Failure::unavailable(e.to_string())),
        Err(_) => Err(Failure::unavailable(format!(
            "{what} took over {NETWORK_TIMEOUT:?}; is the lattice's JetStream up?"
        ))),
    }
}
