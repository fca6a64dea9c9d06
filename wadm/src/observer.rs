//! wadm's picture of the hosts: who is alive, what each runs.
//!
//! What a host runs is taken only from direct `host.inventory` replies.
//! Heartbeats and workload events only say "this host may have changed"
//! (it is marked dirty and re-read before the next plan), because a
//! heartbeat sent before a command ran can arrive after its reply, and
//! planning from it would repeat the command. Heartbeats do keep hosts
//! alive: one silent for [`MISSED_HEARTBEATS`] heartbeats is gone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use trellis_protocol::HostId;
use trellis_protocol::inventory::{HostInventory, Labels};

use crate::model::HostView;

/// Heartbeats a host may miss before it counts as gone.
pub const MISSED_HEARTBEATS: u32 = 3;

#[derive(Debug)]
struct Tracked {
    view: HostView,
    last_seen: Instant,
    heartbeat: Duration,
    dirty: bool,
}

/// Hosts as last seen.
#[derive(Debug)]
pub struct HostTracker {
    hosts: BTreeMap<HostId, Tracked>,
    default_heartbeat: Duration,
}

impl HostTracker {
    /// An empty tracker; hosts that do not say their heartbeat interval are
    /// assumed to use `default_heartbeat`.
    pub fn new(default_heartbeat: Duration) -> Self {
        Self {
            hosts: BTreeMap::new(),
            default_heartbeat,
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
        self.hosts.insert(
            inv.id.clone(),
            Tracked {
                view: HostView::from(inv),
                last_seen: now,
                heartbeat,
                dirty: false,
            },
        );
    }

    /// A heartbeat: the host lives. Returns whether it is new or its
    /// content differs from what we hold (then it gets re-read).
    pub fn heartbeat(&mut self, inv: &HostInventory, now: Instant) -> bool {
        let heartbeat = self.heartbeat_of(inv);
        match self.hosts.get_mut(&inv.id) {
            Some(t) => {
                t.last_seen = now;
                t.heartbeat = heartbeat;
                let differs = t.view != HostView::from(inv);
                t.dirty |= differs;
                differs
            }
            None => {
                self.hosts.insert(
                    inv.id.clone(),
                    Tracked {
                        view: HostView::from(inv),
                        last_seen: now,
                        heartbeat,
                        dirty: true,
                    },
                );
                true
            }
        }
    }

    /// A host announced itself; re-read it before planning.
    pub fn started(&mut self, host: &HostId, labels: Labels, now: Instant) {
        let heartbeat = self.default_heartbeat;
        let t = self.hosts.entry(host.clone()).or_insert_with(|| Tracked {
            view: HostView::default(),
            last_seen: now,
            heartbeat,
            dirty: true,
        });
        t.view.labels = labels;
        t.last_seen = now;
        t.dirty = true;
    }

    /// Something changed on `host` (a workload event): re-read it.
    pub fn touched(&mut self, host: &HostId) {
        if let Some(t) = self.hosts.get_mut(host) {
            t.dirty = true;
        }
    }

    /// The host said it stopped.
    pub fn stopped(&mut self, host: &HostId) {
        self.hosts.remove(host);
    }

    /// Forgets hosts silent for too long; returns them.
    pub fn prune(&mut self, now: Instant) -> Vec<HostId> {
        let gone: Vec<HostId> = self
            .hosts
            .iter()
            .filter(|(_, t)| now.duration_since(t.last_seen) > t.heartbeat * MISSED_HEARTBEATS)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.hosts.remove(id);
        }
        gone
    }

    /// Hosts to re-read before planning.
    pub fn dirty(&self) -> Vec<HostId> {
        self.hosts
            .iter()
            .filter(|(_, t)| t.dirty)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The live hosts, for the planner.
    pub fn views(&self) -> BTreeMap<HostId, HostView> {
        self.hosts
            .iter()
            .map(|(id, t)| (id.clone(), t.view.clone()))
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
        let mut t = HostTracker::new(Duration::from_secs(5));
        t.inventory(&inv(1), now);
        assert!(t.dirty().is_empty());
        assert!(!t.heartbeat(&inv(1), now));
        assert!(t.heartbeat(&inv(0), now));
        assert_eq!(t.dirty().len(), 1);
        assert_eq!(t.views().values().next().unwrap().components.len(), 1);
    }

    #[test]
    fn three_missed_heartbeats_make_a_host_gone() {
        let now = Instant::now();
        let mut t = HostTracker::new(Duration::from_secs(5));
        t.inventory(&inv(0), now);
        assert!(t.prune(now + Duration::from_millis(2900)).is_empty());
        assert_eq!(t.prune(now + Duration::from_millis(3100)).len(), 1);
        assert!(t.views().is_empty());
    }
}
