//! Lattice events as wadm's observer takes them off the wire.

use trellis_protocol::event::CloudEvent;
use trellis_protocol::event::data::HostStarted;
use trellis_protocol::inventory::HostInventory;

use crate::Target;

/// `events`.
pub(super) const EVENTS: Target = Target {
    name: "events",
    about: "CloudEvents wadm consumes: envelope, heartbeat inventory, host_started",
    seeds: || {
        let heartbeat = r#"{"specversion":"1.0","id":"1","source":"NB","type":"dev.trellis.lattice.host_heartbeat","time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{"id":"NBCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRSTUVW","name":"a","lattice":"default","labels":{"zone":"edge"},"version":"0.1.0","uptime_seconds":3,"heartbeat_ms":500,"components":[{"id":"c","image":"x","digest":"d","max":1}],"providers":[]}}"#;
        let started = r#"{"specversion":"1.0","id":"2","source":"NB","type":"dev.trellis.lattice.host_started","time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{"host_id":"NBCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRSTUVW","name":"a","labels":{},"version":"0.1.0"}}"#;
        vec![heartbeat.as_bytes().to_vec(), started.as_bytes().to_vec()]
    },
    dict: &["\"data\":", "\"components\":", "\"labels\":", "\"max\":"],
    max_len: 16 * 1024,
    run: |bytes| {
        if let Ok(event) = serde_json::from_slice::<CloudEvent>(bytes) {
            let _ = event.kind();
            let _ = serde_json::from_value::<HostInventory>(event.data.clone());
            let _ = serde_json::from_value::<HostStarted>(event.data);
        }
    },
};
