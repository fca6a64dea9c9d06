//! The trace an invocation runs under, for the calls its component makes.
//!
//! An invocation's span is opened where the invocation arrives
//! ([`crate::components`]); the guest's calls out (key-value, messaging,
//! other components, outgoing HTTP) are made by host functions deep
//! inside wasmtime, which polls them within the invocation's own future.
//! A task-local carries the span's context there, as `tracing` carries
//! its current span, instead of a parameter through every layer of the
//! runtime.

use std::future::Future;

use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::trace::TraceParent;
use trellis_protocol::{ComponentId, LinkName};
use trellis_telemetry::{Kind, Span};

tokio::task_local! {
    static CURRENT: TraceParent;
}

/// Runs `work` with `trace` as the current invocation's context.
pub(crate) async fn within<F: Future>(trace: TraceParent, work: F) -> F::Output {
    CURRENT.scope(trace, work).await
}

/// The context of the invocation being run, if any.
pub(crate) fn current() -> Option<TraceParent> {
    CURRENT.try_with(|trace| *trace).ok()
}

/// The span of a call `source` makes through its link `link_name`, under
/// the invocation being run.
pub(crate) fn client(name: &'static str, source: &ComponentId, link_name: &LinkName) -> Span {
    let mut span = trellis_telemetry::start(name, Kind::Client, current());
    if span.is_recording() {
        span.set("trellis.component", source.to_string());
        span.set("trellis.link_name", link_name.to_string());
    }
    span
}

/// [`client`] for a call of `interface.function` of a provider.
pub(crate) fn provider_call(
    name: &'static str,
    source: &ComponentId,
    link_name: &LinkName,
    (interface, function): (InterfaceRef, WitName),
) -> Span {
    let mut span = client(name, source, link_name);
    if span.is_recording() {
        span.set("rpc.method", format!("{interface}.{function}"));
    }
    span
}

/// Records how a call went: in process or across the lattice, and why it
/// failed if it did.
pub(crate) fn finish<E: std::fmt::Display>(span: &mut Span, remote: bool, error: Option<&E>) {
    span.set("trellis.route", if remote { "lattice" } else { "local" });
    if let Some(error) = error {
        span.fail(error.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_context_is_seen_inside_only() {
        let trace = TraceParent::new_root();
        assert_eq!(current(), None);
        let seen = within(trace, async {
            tokio::task::yield_now().await;
            current()
        })
        .await;
        assert_eq!(seen, Some(trace));
        assert_eq!(current(), None);
    }
}
