//! Lattice events as CloudEvents 1.0 (JSON structured mode).

use serde::{Deserialize, Serialize};

use crate::subject::EventType;

/// The CloudEvents `type` attribute prefix; the suffix is the [`EventType`].
pub const TYPE_PREFIX: &str = "dev.trellis.lattice.";

/// A CloudEvents 1.0 envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent<T = serde_json::Value> {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique per event.
    pub id: String,
    /// Who emitted it (a host id, `wadm`, ...).
    pub source: String,
    /// `dev.trellis.lattice.<event_type>`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339 time of emission.
    pub time: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The payload.
    pub data: T,
}

impl<T> CloudEvent<T> {
    /// Builds an event; `id` must be unique (callers use a UUID).
    pub fn new(
        event: EventType,
        id: String,
        source: String,
        time: time::OffsetDateTime,
        data: T,
    ) -> Self {
        Self {
            specversion: "1.0".into(),
            id,
            source,
            event_type: format!("{TYPE_PREFIX}{}", event.as_str()),
            time: time
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            datacontenttype: "application/json".into(),
            data,
        }
    }

    /// The [`EventType`] named by the `type` attribute, if known.
    pub fn kind(&self) -> Option<EventType> {
        self.event_type
            .strip_prefix(TYPE_PREFIX)
            .and_then(EventType::from_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudevent_attributes() {
        let ev = CloudEvent::new(
            EventType::HostStopped,
            "id-1".into(),
            "NHOST".into(),
            time::OffsetDateTime::UNIX_EPOCH,
            serde_json::json!({"reason": "signal"}),
        );
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], "dev.trellis.lattice.host_stopped");
        assert_eq!(v["time"], "1970-01-01T00:00:00Z");
        let back: CloudEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back.kind(), Some(EventType::HostStopped));
    }
}

/// Payloads of the events, one type per event so readers need no guessing.
pub mod data {
    use serde::{Deserialize, Serialize};

    use crate::id::{ComponentId, ConfigName, HostId};
    use crate::inventory::{Annotations, Labels};

    /// `host_started`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct HostStarted {
        /// Host id.
        pub host_id: HostId,
        /// Human name.
        pub name: String,
        /// Labels at start.
        pub labels: Labels,
        /// Trellis version.
        pub version: String,
    }

    /// `host_stopped`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct HostStopped {
        /// Host id.
        pub host_id: HostId,
        /// Human name.
        pub name: String,
        /// Why it stopped (`signal`, `host.stop request`, ...).
        pub reason: String,
    }

    /// `component_scaled` (max 0 means stopped).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ComponentScaled {
        /// Host id.
        pub host_id: HostId,
        /// Component id.
        pub component_id: ComponentId,
        /// Image reference.
        pub image: String,
        /// New instance bound.
        pub max: u32,
        /// Annotations of the component.
        pub annotations: Annotations,
        /// Where a newly started component's bytes came from: `cache` (the
        /// host's disk) or `fetched` (the lattice's object store).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub artifact: Option<String>,
        /// Where its machine code came from: `cache` or `compiled`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub code: Option<String>,
    }

    /// `component_scale_failed`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ComponentScaleFailed {
        /// Host id.
        pub host_id: HostId,
        /// Component id.
        pub component_id: ComponentId,
        /// Image reference.
        pub image: String,
        /// Why.
        pub error: String,
    }

    /// `provider_started` / `provider_stopped`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ProviderChanged {
        /// Host id.
        pub host_id: HostId,
        /// Provider id.
        pub provider_id: ComponentId,
        /// Image reference.
        pub image: String,
        /// Annotations of the provider.
        pub annotations: Annotations,
        /// OS process id of an external provider.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub process_id: Option<u32>,
        /// Why it stopped (`provider_stopped` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reason: Option<String>,
    }

    /// `provider_health`: the result of one health check of an external
    /// provider process.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ProviderHealth {
        /// Host id.
        pub host_id: HostId,
        /// Provider id.
        pub provider_id: ComponentId,
        /// Whether it answered healthy.
        pub healthy: bool,
        /// Why not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub message: Option<String>,
    }

    /// `config_set` / `config_deleted`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ConfigChanged {
        /// Config name.
        pub name: ConfigName,
    }
}
