//! The lattice's events for every open page: one watch per dashboard
//! process (not one per page), the last [`RECENT`] kept so that a page
//! opened later, or one that reconnects, sees what just happened, and
//! everything new fanned out to the pages' event streams.
//!
//! Events are peer input: each one is cut down to a summary of bounded
//! size (time, type, source and the notable fields `trellis events`
//! shows) with control characters replaced, before any page sees it. The
//! page puts the text into the DOM as text, never as markup.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;
use trellis_lattice::Lattice;
use trellis_protocol::EventType;
use trellis_protocol::event::CloudEvent;

use crate::cmd::events::{clean, detail};

/// Events kept for pages that open (or reconnect) later.
pub(super) const RECENT: usize = 100;
/// Frames a slow page may fall behind before it is told it missed some.
const CHANNEL: usize = 256;
/// Pause before watching again after the watch failed.
const RETRY: Duration = Duration::from_secs(5);
/// Bound on setting the watch up (its subscriptions reach the server).
const WATCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Most characters of an event's time, type or source shown.
const MAX_FIELD_CHARS: usize = 80;

/// The event fan-out; see the module docs.
pub(super) struct Feed {
    state: Mutex<State>,
}

struct State {
    /// The last events, oldest first, each with its sequence number.
    recent: VecDeque<(u64, Bytes)>,
    /// The sequence number of the next event.
    next: u64,
    /// Every frame, to the streams open now.
    live: broadcast::Sender<Bytes>,
}

/// What a new event stream starts with and where it goes on from.
pub(super) struct Subscription {
    /// Recent event frames the page has not seen, oldest first.
    pub(super) backlog: Vec<Bytes>,
    /// Frames from now on.
    pub(super) live: broadcast::Receiver<Bytes>,
}

/// One event as the page shows it.
#[derive(Debug, Serialize)]
struct Summary {
    /// This process's sequence number (the SSE id).
    seq: u64,
    /// When it was emitted, as the sender wrote it.
    time: String,
    /// `component_scaled`, ...; `bad_event` for a message that was not one.
    #[serde(rename = "type")]
    kind: String,
    /// Who sent it (a host id, `wadm`).
    source: String,
    /// The notable fields, `key=value ...`.
    detail: String,
}

impl Feed {
    /// An empty feed; [`Feed::run`] fills it.
    pub(super) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                recent: VecDeque::with_capacity(RECENT),
                next: 1,
                live: broadcast::channel(CHANNEL).0,
            }),
        }
    }

    /// The recent events after `last_seen` (the SSE `Last-Event-ID` of a
    /// reconnecting page; all of them when absent or from before a
    /// restart), then everything new. Taken under the lock the publisher
    /// holds, so no event falls between the two or comes twice.
    pub(super) fn subscribe(&self, last_seen: Option<u64>) -> Subscription {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let after = last_seen.filter(|seen| *seen < state.next).unwrap_or(0);
        Subscription {
            backlog: state
                .recent
                .iter()
                .filter(|(seq, _)| *seq > after)
                .map(|(_, frame)| frame.clone())
                .collect(),
            live: state.live.subscribe(),
        }
    }

    /// Watches the lattice's events (all but heartbeats, which the hosts
    /// panel polls for instead) until the task is aborted; a failed watch
    /// is announced to the pages and tried again.
    pub(super) async fn run(&self, lattice: &Lattice) {
        let types: Vec<EventType> = EventType::ALL
            .iter()
            .copied()
            .filter(|t| *t != EventType::HostHeartbeat)
            .collect();
        loop {
            // Subscribing waits for the server's answer: bounded, like
            // every other lattice call of the dashboard.
            match tokio::time::timeout(WATCH_TIMEOUT, lattice.watch_events(&types)).await {
                Err(_) => self.problem(&format!(
                    "cannot watch lattice events: no answer within {WATCH_TIMEOUT:?}"
                )),
                Ok(Err(e)) => self.problem(&format!("cannot watch lattice events: {e}")),
                Ok(Ok(mut watch)) => {
                    self.problem("");
                    while let Some(next) = watch.next().await {
                        match next {
                            Ok(event) => self.push(&event),
                            Err(bad) => self.push_bad(&bad.to_string()),
                        }
                    }
                    self.problem("the lattice connection closed");
                }
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    fn push(&self, event: &CloudEvent) {
        // The watch checked that the type is the subject's, so it is known.
        let kind = event
            .kind()
            .map_or_else(|| short(&event.event_type), |k| k.as_str().to_owned());
        self.publish(|seq| Summary {
            seq,
            time: short(&event.time),
            kind,
            source: short(&event.source),
            detail: detail(&event.data),
        });
    }

    fn push_bad(&self, why: &str) {
        self.publish(|seq| Summary {
            seq,
            time: String::new(),
            kind: "bad_event".into(),
            source: String::new(),
            detail: clean(why),
        });
    }

    /// Stores the event made with the next sequence number and sends it.
    fn publish(&self, event: impl FnOnce(u64) -> Summary) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = state.next;
        state.next += 1;
        let summary = event(seq);
        let Ok(json) = serde_json::to_string(&summary) else {
            return;
        };
        // JSON has no raw newline, so the data is one SSE line.
        let frame = Bytes::from(format!("id: {seq}\ndata: {json}\n\n"));
        if state.recent.len() == RECENT {
            state.recent.pop_front();
        }
        state.recent.push_back((seq, frame.clone()));
        // No open stream is no error.
        let _ = state.live.send(frame);
    }

    /// Tells the open pages that the watch failed (or, with "", that it
    /// works again). Not kept: a page that opens later asks again.
    fn problem(&self, message: &str) {
        if !message.is_empty() {
            tracing::warn!(message, "dashboard event feed");
        }
        let json = serde_json::json!({ "message": message }).to_string();
        let frame = Bytes::from(format!("event: problem\ndata: {json}\n\n"));
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = state.live.send(frame);
    }
}

/// `text` without control characters, cut to [`MAX_FIELD_CHARS`].
fn short(text: &str) -> String {
    clean(text).chars().take(MAX_FIELD_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(component: &str) -> CloudEvent {
        CloudEvent {
            specversion: "1.0".into(),
            id: "1".into(),
            source: format!("N{}\u{1b}[2J", "A".repeat(100)),
            event_type: "dev.trellis.lattice.component_scaled".into(),
            time: "1970-01-01T00:00:00Z".into(),
            datacontenttype: "application/json".into(),
            data: serde_json::json!({"component_id": component, "max": 3}),
        }
    }

    fn text(frames: &[Bytes]) -> Vec<String> {
        frames
            .iter()
            .map(|f| String::from_utf8(f.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn a_reconnecting_page_gets_only_what_it_missed_and_then_live_frames() {
        let feed = Feed::new();
        for i in 0..3 {
            feed.push(&event(&format!("c{i}")));
        }
        let all = text(&feed.subscribe(None).backlog);
        assert_eq!(all.len(), 3);
        assert!(all[0].starts_with("id: 1\ndata: {"), "{}", all[0]);
        assert!(
            all[0].ends_with("}\n\n") && all[0].contains("\"detail\":\"component_id=c0 max=3\"")
        );
        assert!(
            !all[0].contains('\u{1b}'),
            "control characters go: {}",
            all[0]
        );
        let mut sub = feed.subscribe(Some(2));
        assert_eq!(text(&sub.backlog), [all[2].clone()]);
        // An id from before a restart of this process: everything.
        assert_eq!(feed.subscribe(Some(99)).backlog.len(), 3);
        feed.push(&event("c3"));
        let live = String::from_utf8(sub.live.try_recv().unwrap().to_vec()).unwrap();
        assert!(live.starts_with("id: 4\n") && live.contains("c3"), "{live}");
    }

    #[test]
    fn only_the_recent_events_are_kept_and_problems_are_not() {
        let feed = Feed::new();
        let mut sub = feed.subscribe(None);
        for i in 0..RECENT + 5 {
            feed.push(&event(&format!("c{i}")));
        }
        feed.problem("cannot watch lattice events: gone");
        let backlog = text(&feed.subscribe(None).backlog);
        assert_eq!(backlog.len(), RECENT);
        assert!(backlog[0].starts_with("id: 6\n"), "{}", backlog[0]);
        let mut last = String::new();
        while let Ok(frame) = sub.live.try_recv() {
            last = String::from_utf8(frame.to_vec()).unwrap();
        }
        assert!(
            last.starts_with("event: problem\ndata: {\"message\":\"cannot watch"),
            "{last}"
        );
    }
}
