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
use std::sync::Arc;

use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::trace::TraceParent;
use trellis_protocol::{ComponentId, LinkName};
use trellis_telemetry::{Kind, Span};

/// The invocation being run: its trace context, and its component, which
/// the host's log lines about it name.
struct Invocation {
    trace: TraceParent,
    component: Arc<ComponentId>,
}

tokio::task_local! {
    static CURRENT: Invocation;
}

/// Runs `work` as an invocation of `component` under `trace`.
///
/// The component is kept here rather than in a `tracing` span around every
/// invocation: with the host's log subscriber a span costs an entry in its
/// registry and a formatted field per request, about 2% of a hello-http
/// request's host time, for the rare line that needs it.
pub(crate) async fn within<F: Future>(
    trace: TraceParent,
    component: Arc<ComponentId>,
    work: F,
) -> F::Output {
    CURRENT.scope(Invocation { trace, component }, work).await
}

/// The context of the invocation being run, if any.
pub(crate) fn current() -> Option<TraceParent> {
    CURRENT.try_with(|invocation| invocation.trace).ok()
}

/// The component of the invocation being run, if any.
pub(crate) fn component() -> Option<Arc<ComponentId>> {
    CURRENT
        .try_with(|invocation| Arc::clone(&invocation.component))
        .ok()
}

/// Displays the component of the invocation being run (`-` outside one),
/// as the `component` field of a log line.
pub(crate) struct Running;

impl std::fmt::Display for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        CURRENT
            .try_with(|invocation| invocation.component.fmt(f))
            .unwrap_or_else(|_| f.write_str("-"))
    }
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
        let component: ComponentId = "echo".parse().expect("valid id");
        assert_eq!(current(), None);
        assert_eq!(Running.to_string(), "-");
        let seen = within(trace, Arc::new(component), async {
            tokio::task::yield_now().await;
            (current(), Running.to_string())
        })
        .await;
        assert_eq!(seen, (Some(trace), "echo".to_owned()));
        assert_eq!(current(), None);
    }
}
