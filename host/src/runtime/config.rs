//! The runtime's settings (data only): limits and locations.

use std::path::PathBuf;
use std::time::Duration;

/// Runtime limits and locations.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Wall-clock bound on one invocation's guest execution.
    pub max_execution: Duration,
    /// Cap on one instance's linear memory.
    pub max_memory_bytes: usize,
    /// Instances that may exist at once on this host (all components).
    pub max_instances: u32,
    /// Largest response body a guest may send; bodies are buffered in the
    /// host, so this bounds what one request can make the host hold. Also
    /// the bound on the payload of one fast-path call between components.
    pub max_response_bytes: usize,
    /// Largest list a guest may pass to or get back from another
    /// component in one call, in elements (bytes of a `list<u8>`). Calls
    /// between components go through wasmtime's dynamic values, which
    /// hold each element in its own `Val` (32 bytes): the host may need up
    /// to 32 times this transiently per call, so it is bounded separately
    /// from the memory cap. Functions on the typed fast path (`fast`)
    /// are bounded by `max_response_bytes` instead.
    pub max_call_elements: usize,
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Whether a component gets the instance of its next call made ahead,
    /// once an invocation has ended (see `warm`, "spares").
    pub spare_instances: bool,
    /// Whether components with a WASI 0.2 HTTP handler get spares too,
    /// for their next call or request (with `spare_instances` only). Off
    /// by default: see `warm`.
    pub http_spare_instances: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_execution: Duration::from_secs(10),
            max_memory_bytes: 256 << 20,
            max_instances: 1000,
            // As large as a peer takes in (`max_body_bytes`), so a response
            // that works locally also works across hosts.
            max_response_bytes: trellis_protocol::invocation::DEFAULT_MAX_BODY_BYTES as usize,
            max_call_elements: 16 << 20,
            cache_dir: None,
            spare_instances: true,
            http_spare_instances: false,
        }
    }
}
