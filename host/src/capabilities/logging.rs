//! `wasi:logging/logging@0.1.0-draft` into the host's log, tagged with the
//! component id.

use super::bindings::wasi::logging::logging::{Host, Level};
use crate::capabilities::CapabilityView;

impl Host for CapabilityView {
    async fn log(
        &mut self,
        level: Level,
        context: String,
        message: String,
    ) -> wasmtime::Result<()> {
        let component = self.caps.component_id.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "guest", component, %context, "{message}"),
            Level::Debug => tracing::debug!(target: "guest", component, %context, "{message}"),
            Level::Info => tracing::info!(target: "guest", component, %context, "{message}"),
            Level::Warn => tracing::warn!(target: "guest", component, %context, "{message}"),
            Level::Error | Level::Critical => {
                tracing::error!(target: "guest", component, %context, critical = matches!(level, Level::Critical), "{message}")
            }
        }
        Ok(())
    }
}
