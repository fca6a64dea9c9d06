//! wadm's picture of the hosts: who is alive, what each runs.
//!
//! What a host runs is taken only from direct `host.inventory` replies.
//! Heartbeats and workload events only say "this host may have changed"
//! (it is marked dirty and re-read before the next plan), because a
//! heartbeat sent before a command ran can arrive after its reply, and
//! planning from it would repeat the command. Heartbeats do keep hosts
//! alive: one silent for [`MISSED_HEARTBEATS`] heartbeats is gone, unless
//! it runs at an edge site: then it is only cut off (`unreachable`) until
//! the partition grace has passed too. Invocation counts are taken from
//! heartbeats as well as inventories; they are counters, not state.
//!
//! A host that runs more than fits in one message heartbeats only the first
//! page of its inventory (`next` is set): such a heartbeat is compared with
//! the start of what we hold, and its counts update only the components it
//! carries; [`crate::executor::read_host`] reads every page.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use trellis_protocol::inventory::{HostInventory, InvocationStats, Labels};
use trellis_protocol::{ComponentId, HostId};

use crate::model::HostView;

/// Heartbeats a host may miss before it counts as gone (or, at an edge
/// site, unreachable).
pub const MISSED_HEARTBEATS: u32 = 3;

/// A host whose heartbeat is this many intervals late (but not yet
/// [`MISSED_HEARTBEATS`]) is asked directly: a host that is gone has no
/// subscriber, so the request fails at once and the host is forgotten
/// about two heartbeats sooner. Halves of an interval, as integers.
pub const PROBE_AFTER_HALF_BEATS: u32 = 3;

#[derive(Debug)]
struct Tracked {
    view: HostView,
    stats: BTreeMap<ComponentId, InvocationStats>,
    site: Option<String>,
    last_seen: Instant,
    heartbeat: Duration,
    dirty: bool,
    /// Asked directly since it was last heard from (see [`HostTracker::overdue`]).
    probed: bool,
}

impl Tracked {
    fn new(inv: &HostInventory, heartbeat: Duration, now: Instant, dirty: bool) -> Self {
        Self {
            view: HostView::from(inv),
            stats: stats_of(inv),
            site: inv.site.clone(),
            last_seen: now,
            heartbeat,
            dirty,
            probed: false,
        }
    }

    fn silent(&self, now: Instant) -> bool {
        now.duration_since(self.last_seen) > self.heartbeat * MISSED_HEARTBEATS
    }

    /// Overdue by a fifth of an interval: jitter is far less, a lost host
    /// is that late within about one interval.
    fn overdue(&self, now: Instant) -> bool {
        now.duration_since(self.last_seen) > self.heartbeat * 6 / 5
    }

    fn late(&self, now: Instant) -> bool {
        now.duration_since(self.last_seen) > self.heartbeat * PROBE_AFTER_HALF_BEATS / 2
    }
}

fn stats_of(inv: &HostInventory) -> BTreeMap<ComponentId, InvocationStats> {
    inv.components
        .iter()
        .map(|c| (c.id.clone(), c.stats))
        .collect()
}

/// Whether `page` (the first page of an inventory) matches the start of
/// `view`: same labels and link outcomes (the first page carries them all),
/// and its components and providers are the first ones of the view's.
fn starts_like(view: &HostView, page: &HostView) -> bool {
    view.labels == page.labels
        && view.link_status == page.link_status
        && view.components.starts_with(&page.components)
        && (page.providers.is_empty()
            || (view.components.len() == page.components.len()
                && view.providers.starts_with(&page.providers)))
}

/// What [`HostTracker::prune`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Hosts forgotten.
    pub gone: Vec<HostId>,
    /// Edge hosts that just went quiet and now count as unreachable.
    pub unreachable: Vec<HostId>,
}

impl Pruned {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.gone.is_empty() && self.unreachable.is_empty()
    }
}

/// Hosts as last seen.
#[derive(Debug)]
pub struct HostTracker {
    hosts: BTreeMap<HostId, Tracked>,
    default_heartbeat: Duration,
    partition_grace: Duration,
}

impl HostTracker {
    /// An empty tracker; hosts that do not say their heartbeat interval are
    /// assumed to use `default_heartbeat`; quiet edge hosts are kept as
    /// unreachable for `partition_grace` after their missed heartbeats.
    pub fn new(default_heartbeat: Duration, partition_grace: Duration) -> Self {
        Self {
            hosts: BTreeMap::new(),
            default_heartbeat,
            partition_grace,
        }
    }

    fn heartbeat_of(&self, inv: &HostInventory) -> Duration {
        match inv.heartbeat_ms {
            0 => self.default_heartbeat,
            ms => Duration::from_millis(ms),
        }
    }

    /// A fresh inventory (a reply to `host.inventory`): the truth, now.
    pub fn inventory(&mut self, inv: &HostInventory, now: Instant) {
        let heartbeat = self.heartbeat_of(inv);
        let mut tracked = Tracked::new(inv, heartbeat, now, false);
        // A heartbeat may have told a newer applied revision already.
        if let Some(before) = self.hosts.get(&inv.id) {
            tracked.view.links_revision =
                tracked.view.links_revision.max(before.view.links_revision);
        }
        self.hosts.insert(inv.id.clone(), tracked);
    }

    /// A heartbeat: the host lives. Returns whether it is new or its
    /// content differs from what we hold (then it gets re-read), or it
    /// applied newer links (worth a pass, not a re-read).
    pub fn heartbeat(&mut self, inv: &HostInventory, now: Instant) -> bool {
        let heartbeat = self.heartbeat_of(inv);
        match self.hosts.get_mut(&inv.id) {
            Some(t) => {
                // Back from a partition: re-read before trusting the view.
                let returned = !t.view.reachable;
                t.view.reachable = true;
                t.last_seen = now;
                t.probed = false;
                t.heartbeat = heartbeat;
                t.site = inv.site.clone();
                // The applied links revision only grows; taking it from the
                // heartbeat needs no re-read, but may settle a link status.
                let advanced = inv.links_revision > t.view.links_revision;
                if advanced {
                    t.view.links_revision = inv.links_revision;
                }
                let mut page = HostView::from(inv);
                page.links_revision = t.view.links_revision;
                let differs = if inv.next.is_some() {
                    t.stats.extend(stats_of(inv));
                    returned || !starts_like(&t.view, &page)
                } else {
                    t.stats = stats_of(inv);
                    returned || t.view != page
                };
                t.dirty |= differs;
                differs || advanced
            }
            None => {
                self.hosts
                    .insert(inv.id.clone(), Tracked::new(inv, heartbeat, now, true));
                true
            }
        }
    }

    /// A host announced itself; re-read it before planning.
    pub fn started(&mut self, host: &HostId, labels: Labels, now: Instant) {
        let heartbeat = self.default_heartbeat;
        let t = self.hosts.entry(host.clone()).or_insert_with(|| Tracked {
            view: HostView::default(),
            stats: BTreeMap::new(),
            site: None,
            last_seen: now,
            heartbeat,
            dirty: true,
            probed: false,
        });
        t.view.labels = labels;
        t.view.reachable = true;
        t.last_seen = now;
        t.probed = false;
        t.dirty = true;
    }

    /// Something changed on `host` (a workload event): re-read it.
    pub fn touched(&mut self, host: &HostId) {
        if let Some(t) = self.hosts.get_mut(host) {
            t.dirty = true;
        }
    }

    /// A link between `ends` changed: re-read every host running a
    /// provider among them (they report whether the provider applied it).
    /// Walks the hosts in place: copying every view per command was most
    /// of wadm's CPU at 1,000 hosts.
    pub fn touch_providers(&mut self, ends: &[ComponentId]) {
        for t in self.hosts.values_mut() {
            if t.view.providers.iter().any(|p| ends.contains(&p.id)) {
                t.dirty = true;
            }
        }
    }

    /// The host said it stopped.
    pub fn stopped(&mut self, host: &HostId) {
        self.hosts.remove(host);
    }

    /// A request to `host` found no subscriber: the host is gone (killed,
    /// or its connection dropped) even if its last heartbeat is recent.
    /// Forgetting it now, rather than after [`MISSED_HEARTBEATS`], keeps
    /// wadm from placing work on it meanwhile. A host at an edge site is
    /// only unreachable: a cut link looks the same, and its share stays
    /// for the partition grace. Returns whether the host was forgotten.
    pub fn unanswered(&mut self, host: &HostId) -> bool {
        match self.hosts.get_mut(host) {
            Some(t) if t.site.is_some() => {
                t.view.reachable = false;
                false
            }
            Some(_) => {
                self.hosts.remove(host);
                true
            }
            None => false,
        }
    }

    /// Reachable hosts whose heartbeat is late and that were not asked
    /// yet since they were last heard from; each is marked asked. The
    /// caller reads their inventories: an answer brings the host back up
    /// to date, "no responders" forgets it ([`Self::unanswered`]).
    pub fn overdue(&mut self, now: Instant) -> Vec<HostId> {
        let mut late = Vec::new();
        for (id, t) in &mut self.hosts {
            if t.view.reachable && !t.probed && t.late(now) {
                t.probed = true;
                late.push(id.clone());
            }
        }
        late
    }

    /// Forgets hosts silent for too long, and marks quiet edge hosts
    /// unreachable until their grace has passed.
    pub fn prune(&mut self, now: Instant) -> Pruned {
        let mut pruned = Pruned::default();
        for (id, t) in &mut self.hosts {
            if !t.silent(now) {
                continue;
            }
            let within_grace = t.site.is_some()
                && now.duration_since(t.last_seen)
                    <= t.heartbeat * MISSED_HEARTBEATS + self.partition_grace;
            if !within_grace {
                pruned.gone.push(id.clone());
            } else if t.view.reachable {
                t.view.reachable = false;
                pruned.unreachable.push(id.clone());
            }
        }
        for id in &pruned.gone {
            self.hosts.remove(id);
        }
        pruned
    }

    /// Invocation counts per component of `host`, as last reported.
    pub fn stats(&self, host: &HostId) -> BTreeMap<ComponentId, InvocationStats> {
        self.hosts
            .get(host)
            .map(|t| t.stats.clone())
            .unwrap_or_default()
    }

    /// The site of `host`, if it runs at one.
    pub fn site(&self, host: &HostId) -> Option<String> {
        self.hosts.get(host).and_then(|t| t.site.clone())
    }

    /// Hosts to re-read before planning (unreachable ones cannot be).
    pub fn dirty(&self) -> Vec<HostId> {
        self.hosts
            .iter()
            .filter(|(_, t)| t.dirty && t.view.reachable)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The hosts, for the planner: live ones and unreachable ones, each
    /// marked `late` when its heartbeat is overdue.
    pub fn views(&self) -> BTreeMap<HostId, HostView> {
        let now = Instant::now();
        self.hosts
            .iter()
            .map(|(id, t)| {
                let mut view = t.view.clone();
                view.late = t.overdue(now);
                (id.clone(), view)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(components: usize) -> HostInventory {
        serde_json::from_value(serde_json::json!({
            "id": format!("N{}", "D".repeat(55)),
            "name": "h", "lattice": "l", "labels": {}, "version": "0",
            "uptime_seconds": 1, "heartbeat_ms": 1000,
            "components": (0..components).map(|i| serde_json::json!({
                "id": format!("c{i}"), "image": "x", "digest": "d", "max": 1
            })).collect::<Vec<_>>(),
            "providers": []
        }))
        .unwrap()
    }

    #[test]
    fn heartbeats_mark_changes_dirty_but_do_not_replace_the_view() {
        let now = Instant::now();
        let mut t = HostTracker::new(Duration::from_secs(5), Duration::from_secs(600));
        t.inventory(&inv(1), now);
        assert!(t.dirty().is_empty());
        assert!(!t.heartbeat(&inv(1), now));
        assert!(t.heartbeat(&inv(0), now));
        assert_eq!(t.dirty().len(), 1);
        assert_eq!(t.views().values().next().unwrap().components.len(), 1);
    }

    #[test]
    fn a_first_page_heartbeat_is_compared_with_the_start_of_the_view() {
        let now = Instant::now();
        let mut t = HostTracker::new(Duration::from_secs(5), Duration::from_secs(600));
        let full = inv(40);
        t.inventory(&full, now);
        let mut first = full.page(None, 1024);
        assert!(first.next.is_some() && first.components.len() < 40);
        assert!(!t.heartbeat(&first, now), "a page of the same inventory");
        assert!(t.dirty().is_empty());
        // Counts of the page's components update; the others stay.
        first.components[0].stats.invocations = 9;
        assert!(!t.heartbeat(&first, now));
        let stats = t.stats(&full.id);
        assert_eq!(stats.len(), 40);
        assert_eq!(stats[&first.components[0].id].invocations, 9);
        // A change in the page's part makes the host dirty.
        first.components[1].max = 7;
        assert!(t.heartbeat(&first, now));
        assert_eq!(t.dirty().len(), 1);
    }

    #[test]
    fn three_missed_heartbeats_make_a_host_gone() {
        let now = Instant::now();
        let mut t = HostTracker::new(Duration::from_secs(5), Duration::from_secs(600));
        t.inventory(&inv(0), now);
        assert!(t.prune(now + Duration::from_millis(2900)).is_empty());
        assert_eq!(t.prune(now + Duration::from_millis(3100)).gone.len(), 1);
        assert!(t.views().is_empty());
    }

    #[test]
    fn a_late_host_is_asked_once_until_it_is_heard_from_again() {
        let now = Instant::now();
        let mut t = HostTracker::new(Duration::from_secs(5), Duration::from_secs(600));
        let host = inv(0);
        t.inventory(&host, now);
        assert!(t.overdue(now + Duration::from_millis(1400)).is_empty());
        let late = now + Duration::from_millis(1600);
        assert_eq!(t.overdue(late), vec![host.id.clone()]);
        // Asked already: not again while it stays quiet.
        assert!(t.overdue(late + Duration::from_millis(500)).is_empty());
        t.heartbeat(&host, late + Duration::from_millis(600));
        assert!(t.overdue(late + Duration::from_millis(1000)).is_empty());
        assert_eq!(t.overdue(late + Duration::from_millis(2200)).len(), 1);
    }

    #[test]
    fn a_quiet_edge_host_is_unreachable_for_the_grace_then_gone() {
        let now = Instant::now();
        let mut t = HostTracker::new(Duration::from_secs(5), Duration::from_secs(60));
        let mut edge = inv(1);
        edge.site = Some("shop-1".into());
        t.inventory(&edge, now);
        let later = |ms| now + Duration::from_millis(ms);
        let pruned = t.prune(later(3100));
        assert_eq!(pruned.unreachable.len(), 1);
        assert!(pruned.gone.is_empty());
        let view = t.views().into_values().next().unwrap();
        assert!(!view.reachable);
        assert_eq!(view.components.len(), 1, "its share still counts");
        assert!(t.prune(later(30_000)).is_empty(), "reported once");
        // Heard from again within the grace: reachable, and re-read.
        assert!(t.heartbeat(&edge, later(40_000)));
        assert!(t.views().into_values().next().unwrap().reachable);
        assert_eq!(t.dirty().len(), 1);
        t.inventory(&edge, later(40_000));
        // Quiet past heartbeats plus grace: gone.
        assert_eq!(t.prune(later(40_000 + 3100 + 60_001)).gone.len(), 1);
        assert!(t.views().is_empty());
    }

    #[test]
    fn a_host_without_responders_is_gone_at_once_unless_at_a_site() {
        let now = Instant::now();
        let mut t = HostTracker::new(Duration::from_secs(5), Duration::from_secs(60));
        let cloud = inv(1);
        t.inventory(&cloud, now);
        assert!(t.unanswered(&cloud.id));
        assert!(t.views().is_empty());
        assert!(!t.unanswered(&cloud.id), "already forgotten");

        let mut edge = inv(1);
        edge.site = Some("shop-1".into());
        t.inventory(&edge, now);
        assert!(!t.unanswered(&edge.id));
        let view = t.views().into_values().next().unwrap();
        assert!(!view.reachable, "no commands while cut off");
        assert_eq!(view.components.len(), 1, "its share still counts");
    }

    #[test]
    fn counts_come_with_heartbeats_and_do_not_make_a_host_dirty() {
        let now = Instant::now();
        let mut t = HostTracker::new(Duration::from_secs(5), Duration::from_secs(60));
        let mut host = inv(1);
        t.inventory(&host, now);
        host.components[0].stats.invocations = 7;
        host.components[0].stats.failures = 2;
        assert!(!t.heartbeat(&host, now));
        assert!(t.dirty().is_empty());
        let stats = t.stats(&host.id);
        assert_eq!(stats.values().next().unwrap().invocations, 7);
    }
}
