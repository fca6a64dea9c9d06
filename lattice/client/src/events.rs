//! Publishing lattice events, and watching them as they happen.

use futures::StreamExt;
use futures::stream::SelectAll;
use serde::Serialize;
use trellis_protocol::event::CloudEvent;
use trellis_protocol::{EventType, Subject};

use crate::connect::Lattice;
use crate::error::LatticeError;

impl Lattice {
    /// Publishes a CloudEvent from `source` (a host id, `wadm`, ...).
    pub async fn publish_event<T: Serialize>(
        &self,
        event: EventType,
        source: &str,
        data: T,
    ) -> Result<(), LatticeError> {
        let ev = CloudEvent::new(
            event,
            uuid::Uuid::new_v4().to_string(),
            source.to_owned(),
            time::OffsetDateTime::now_utc(),
            data,
        );
        let payload = serde_json::to_vec(&ev).map_err(|e| LatticeError::nats("encode event", e))?;
        self.client
            .publish(
                Subject::event(&self.lattice, event).to_string(),
                payload.into(),
            )
            .await
            .map_err(|e| LatticeError::nats("publish event", e))
    }
}

/// Most characters of a bad event's subject or reason that a
/// [`EventWatch::next`] error repeats: the sender chose them.
const MAX_QUOTED: usize = 200;

/// Events of the chosen types, in the order this connection receives them.
/// Nothing is stored: a watch sees what is published after it starts.
pub struct EventWatch {
    subscribers: SelectAll<async_nats::Subscriber>,
}

/// A message on an event subject that is not an event of its type.
#[derive(Debug, thiserror::Error)]
#[error("skipped a message on {subject} that is not a Trellis event: {reason}")]
pub struct BadEvent {
    /// The subject it came on (shortened).
    pub subject: String,
    /// Why it was not read (shortened).
    pub reason: String,
}

impl Lattice {
    /// Starts watching events of `types` (every type when empty). The
    /// subscriptions are on the server when this returns, so anything
    /// published afterwards is seen.
    pub async fn watch_events(&self, types: &[EventType]) -> Result<EventWatch, LatticeError> {
        let types = if types.is_empty() {
            EventType::ALL
        } else {
            types
        };
        let mut subscribers = SelectAll::new();
        for event in types {
            let subject = Subject::event(&self.lattice, *event).to_string();
            let subscriber = self
                .client
                .subscribe(subject)
                .await
                .map_err(|e| LatticeError::nats("subscribe to events", e))?;
            subscribers.push(subscriber);
        }
        self.flush().await?;
        Ok(EventWatch { subscribers })
    }
}

impl EventWatch {
    /// The next event, an error for a message that is not one (the watch
    /// goes on), or `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Result<CloudEvent, BadEvent>> {
        let message = self.subscribers.next().await?;
        let subject = message.subject.as_str();
        let bad = |reason: String| BadEvent {
            subject: subject.chars().take(MAX_QUOTED).collect(),
            reason: reason.chars().take(MAX_QUOTED).collect(),
        };
        let event: CloudEvent = match serde_json::from_slice(&message.payload) {
            Ok(event) => event,
            Err(e) => return Some(Err(bad(e.to_string()))),
        };
        // The type must be the subject's: a sender may not dress one event
        // up as another.
        let expected = subject.parse::<Subject>().ok().and_then(|s| match s {
            Subject::Event { event, .. } => Some(event),
            _ => None,
        });
        match (event.kind(), expected) {
            (Some(kind), Some(expected)) if kind == expected => Some(Ok(event)),
            _ => Some(Err(bad(format!(
                "its type `{}` is not the subject's",
                event
                    .event_type
                    .chars()
                    .take(MAX_QUOTED)
                    .collect::<String>()
            )))),
        }
    }
}
