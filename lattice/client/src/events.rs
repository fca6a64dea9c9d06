//! Publishing lattice events.

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
