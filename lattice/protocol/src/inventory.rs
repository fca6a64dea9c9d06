//! What a host runs. `host.inventory` replies and `host_heartbeat` events
//! carry the same [`HostInventory`], so a reader needs one parser.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

// Most readers (hosts, wadm, events) know the type by this path.
pub use crate::annotations::Annotations;
use crate::id::{ComponentId, ConfigName, HostId, LatticeName};
use crate::link::LinkStatus;

/// Labels of a host (`os`, `arch`, and whatever the operator adds).
pub type Labels = BTreeMap<String, String>;

/// One scaled component on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentDescription {
    /// Component id.
    pub id: ComponentId,
    /// Image reference as given by the user (`file://...`, `nats://...`).
    pub image: String,
    /// sha256 of the component bytes, hex.
    pub digest: String,
    /// Upper bound of concurrent instances.
    pub max: u32,
    /// Calls one instance may serve before it is replaced; 0 and 1 both
    /// mean a fresh instance per call (the default). See
    /// [`ScaleComponentRequest::reuse`](crate::control::ScaleComponentRequest::reuse).
    #[serde(default, skip_serializing_if = "fresh_per_call")]
    pub reuse: u32,
    /// Named configs given at scale time.
    #[serde(default)]
    pub config: Vec<ConfigName>,
    /// Annotations given at scale time.
    #[serde(default)]
    pub annotations: Annotations,
    /// Invocations since its code or annotations (its app version) last
    /// changed: what a staged rollout judges a new version by.
    #[serde(default)]
    pub stats: InvocationStats,
    /// Interfaces (and functions) it exports, as the component names them,
    /// versions included (`example:pong/pingpong@0.1.0`); at most
    /// [`MAX_LISTED_INTERFACES`](crate::limits::MAX_LISTED_INTERFACES).
    #[serde(default)]
    pub exports: Vec<String>,
    /// Interfaces it imports, likewise.
    #[serde(default)]
    pub imports: Vec<String>,
}

/// Counts of handled invocations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationStats {
    /// Invocations that got an answer or an error.
    pub invocations: u64,
    /// Of those, the ones that failed: a trap, a timeout, no answer, or an
    /// HTTP status of 500 or above.
    pub failures: u64,
}

impl InvocationStats {
    /// What was counted since `earlier` (a snapshot of the same counters);
    /// counters that were reset in between count from zero.
    pub fn since(self, earlier: InvocationStats) -> InvocationStats {
        if self.invocations < earlier.invocations || self.failures < earlier.failures {
            return self;
        }
        InvocationStats {
            invocations: self.invocations - earlier.invocations,
            failures: self.failures - earlier.failures,
        }
    }

    /// Adds `other` to these counts.
    pub fn add(&mut self, other: InvocationStats) {
        self.invocations = self.invocations.saturating_add(other.invocations);
        self.failures = self.failures.saturating_add(other.failures);
    }
}

/// One running provider on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderDescription {
    /// Provider id.
    pub id: ComponentId,
    /// Image reference (`builtin://http-server`, ...).
    pub image: String,
    /// Named configs given at start.
    #[serde(default)]
    pub config: Vec<ConfigName>,
    /// Annotations given at start.
    #[serde(default)]
    pub annotations: Annotations,
    /// Why it does not serve right now (e.g. its process exited and waits
    /// for a restart); absent while it works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Everything a host runs, plus who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInventory {
    /// Host id (public key).
    pub id: HostId,
    /// Human name.
    pub name: String,
    /// Lattice the host belongs to.
    pub lattice: LatticeName,
    /// Host labels.
    pub labels: Labels,
    /// Trellis version of the host.
    pub version: String,
    /// Seconds since the host started.
    pub uptime_seconds: u64,
    /// Milliseconds between heartbeats; a reader that misses three of them
    /// may take the host for gone. 0 when unknown (older hosts).
    #[serde(default)]
    pub heartbeat_ms: u64,
    /// The edge site the host runs at (behind a leaf node), if any. A
    /// host at a site that goes quiet is taken for cut off, not dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Revision of the lattice's links bucket this host has applied: a
    /// link written at revision R is live here once this is >= R, so a
    /// writer can learn that from heartbeats instead of asking every host.
    /// 0 when unknown (older hosts).
    #[serde(default)]
    pub links_revision: u64,
    /// The same for the named config bucket.
    #[serde(default)]
    pub config_revision: u64,
    /// Components, sorted by id.
    pub components: Vec<ComponentDescription>,
    /// Providers, sorted by id.
    pub providers: Vec<ProviderDescription>,
    /// Set when this is one page of a bigger inventory (a paged
    /// `host.inventory` reply or a heartbeat of a host that runs a lot):
    /// ask `host.inventory` with this cursor for the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<InventoryCursor>,
    /// How this host's providers took the links that name them, one entry
    /// per (link, provider), sorted. A link is up on this host only when
    /// its entry says `applied`. Carried by the first page only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_status: Vec<LinkStatus>,
}

/// Where the next page of an inventory starts. Ids, not offsets, so a
/// component stopped between two pages shifts nothing: components come
/// first, then providers, each sorted by id. Cursors order as pages do
/// (every component cursor before every provider cursor), so a reader can
/// insist that each page moves forward.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "in", content = "after", rename_all = "snake_case")]
pub enum InventoryCursor {
    /// Components whose id sorts after this one, then every provider.
    Components(ComponentId),
    /// Providers whose id sorts after this one (all of them with `None`).
    Providers(Option<ComponentId>),
}

impl HostInventory {
    /// The page of this (full) inventory that starts at `cursor` and
    /// holds about `page_bytes` of components and providers: always at
    /// least one entry, so every page makes progress (an entry is bounded
    /// by [`crate::limits`], far below a message). `next` says where the
    /// following page starts, and is `None` on the last page.
    pub fn page(&self, cursor: Option<&InventoryCursor>, page_bytes: usize) -> HostInventory {
        let (components, providers): (&[ComponentDescription], &[ProviderDescription]) =
            match cursor {
                None => (&self.components, &self.providers),
                Some(InventoryCursor::Components(after)) => {
                    let from = self.components.partition_point(|c| &c.id <= after);
                    (&self.components[from..], &self.providers)
                }
                Some(InventoryCursor::Providers(after)) => {
                    let from = after
                        .as_ref()
                        .map_or(0, |a| self.providers.partition_point(|p| &p.id <= a));
                    (&[], &self.providers[from..])
                }
            };
        // Link outcomes ride on the first page only, and count against it.
        let link_status = if cursor.is_none() {
            self.link_status.clone()
        } else {
            Vec::new()
        };
        let mut used = if link_status.is_empty() {
            0
        } else {
            json_len(&link_status)
        };
        let mut page = HostInventory {
            components: Vec::new(),
            providers: Vec::new(),
            next: None,
            link_status,
            ..self.clone_header()
        };
        for c in components {
            let len = json_len(c);
            if !page.components.is_empty() && used + len > page_bytes {
                page.next = page
                    .components
                    .last()
                    .map(|last| InventoryCursor::Components(last.id.clone()));
                return page;
            }
            used += len;
            page.components.push(c.clone());
        }
        for p in providers {
            let len = json_len(p);
            let empty = page.components.is_empty() && page.providers.is_empty();
            if !empty && used + len > page_bytes {
                page.next = Some(InventoryCursor::Providers(
                    page.providers.last().map(|last| last.id.clone()),
                ));
                return page;
            }
            used += len;
            page.providers.push(p.clone());
        }
        page
    }

    /// Everything but the component and provider lists.
    fn clone_header(&self) -> HostInventory {
        HostInventory {
            id: self.id.clone(),
            name: self.name.clone(),
            lattice: self.lattice.clone(),
            labels: self.labels.clone(),
            version: self.version.clone(),
            uptime_seconds: self.uptime_seconds,
            heartbeat_ms: self.heartbeat_ms,
            site: self.site.clone(),
            links_revision: self.links_revision,
            config_revision: self.config_revision,
            components: Vec::new(),
            providers: Vec::new(),
            next: None,
            link_status: Vec::new(),
        }
    }

    /// Appends the next page to what was read so far.
    pub fn extend_with(&mut self, page: HostInventory) {
        self.components.extend(page.components);
        self.providers.extend(page.providers);
        self.link_status.extend(page.link_status);
        self.next = page.next;
    }
}

/// Bytes of `value`'s JSON form, plus one for the separating comma.
fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len()) + 1
}

/// Whether a reuse count means a fresh instance per call (0 or 1): the
/// default, left out of descriptions.
fn fresh_per_call(reuse: &u32) -> bool {
    *reuse <= 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::HostId;

    fn inventory(components: usize, providers: usize) -> HostInventory {
        let component = |i: usize| ComponentDescription {
            id: ComponentId::new(format!("c{i:05}")).unwrap(),
            image: format!("nats://ART/sha256-{}", "a".repeat(64)),
            digest: "a".repeat(64),
            max: 1,
            reuse: 1,
            config: Vec::new(),
            annotations: Annotations::new(),
            stats: InvocationStats::default(),
            exports: Vec::new(),
            imports: Vec::new(),
        };
        let provider = |i: usize| ProviderDescription {
            id: ComponentId::new(format!("p{i:03}")).unwrap(),
            image: "builtin://http-server".into(),
            config: Vec::new(),
            annotations: Annotations::new(),
            failure: None,
        };
        HostInventory {
            id: HostId::new(format!("N{}", "A".repeat(55))).unwrap(),
            name: "h".into(),
            lattice: LatticeName::new("l").unwrap(),
            labels: Labels::new(),
            version: "0".into(),
            uptime_seconds: 1,
            heartbeat_ms: 1000,
            site: None,
            links_revision: 0,
            config_revision: 0,
            components: (0..components).map(component).collect(),
            providers: (0..providers).map(provider).collect(),
            next: None,
            link_status: Vec::new(),
        }
    }

    fn read_all(full: &HostInventory, page_bytes: usize) -> (HostInventory, usize) {
        let mut all = full.page(None, page_bytes);
        let mut pages = 1;
        while let Some(cursor) = all.next.clone() {
            let page = full.page(Some(&cursor), page_bytes);
            let bytes = serde_json::to_vec(&page).unwrap().len();
            assert!(bytes < page_bytes + 2048, "page of {bytes} bytes");
            all.extend_with(page);
            pages += 1;
        }
        (all, pages)
    }

    #[test]
    fn ten_thousand_components_page_under_the_budget_and_read_back_whole() {
        let full = inventory(10_000, 3);
        let unpaged = serde_json::to_vec(&full).unwrap().len();
        assert!(
            unpaged > 1 << 20,
            "unpaged it would not fit a message: {unpaged}"
        );
        let (all, pages) = read_all(&full, crate::limits::INVENTORY_PAGE_BYTES);
        assert!(pages > 4, "{pages} pages");
        assert_eq!(all, full);
    }

    #[test]
    fn small_pages_cross_from_components_to_providers() {
        let full = inventory(5, 4);
        let (all, pages) = read_all(&full, 1);
        assert_eq!(pages, 9, "one entry per page at the smallest size");
        assert_eq!(all, full);
        let (all, pages) = read_all(&inventory(0, 0), 1024);
        assert_eq!((all.components.len(), pages), (0, 1));
    }

    #[test]
    fn every_next_cursor_is_past_the_one_before() {
        let full = inventory(40, 12);
        let mut cursor: Option<InventoryCursor> = None;
        loop {
            let page = full.page(cursor.as_ref(), 1);
            match page.next {
                Some(next) => {
                    assert!(cursor.as_ref().is_none_or(|c| &next > c), "{next:?}");
                    cursor = Some(next);
                }
                None => break,
            }
        }
        assert!(matches!(cursor, Some(InventoryCursor::Providers(_))));
    }

    #[test]
    fn a_component_removed_between_pages_shifts_nothing() {
        let mut full = inventory(6, 0);
        let first = full.page(None, 1);
        let cursor = first.next.clone().unwrap();
        full.components.remove(0);
        let second = full.page(Some(&cursor), 1);
        assert_eq!(second.components[0].id.as_str(), "c00001");
    }
}
