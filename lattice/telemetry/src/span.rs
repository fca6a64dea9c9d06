//! A span per hop: started under the caller's context, carrying the
//! context its callees get, ended when dropped.

use std::borrow::Cow;

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use trellis_protocol::trace::TraceParent;

use crate::install::tracer;

/// What side of a hop a span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Answers a request from another process or the outside.
    Server,
    /// Calls another component or provider.
    Client,
    /// Work inside one process.
    Internal,
}

impl From<Kind> for SpanKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Server => SpanKind::Server,
            Kind::Client => SpanKind::Client,
            Kind::Internal => SpanKind::Internal,
        }
    }
}

/// One hop's span. Dropping it ends it.
#[derive(Debug)]
pub struct Span {
    recorded: Option<opentelemetry_sdk::trace::Span>,
    context: TraceParent,
}

/// Starts span `name` as a child of `parent` (a new trace without one).
///
/// Without an installed tracer the span records nothing, and a new trace
/// is marked unsampled, so a downstream host that exports does not keep a
/// trace whose first hops are missing.
pub fn start(name: &'static str, kind: Kind, parent: Option<TraceParent>) -> Span {
    let Some(tracer) = tracer() else {
        let context = match parent {
            Some(parent) => parent.child(),
            None => {
                let root = TraceParent::new_root();
                TraceParent::from_parts(root.trace_id_bytes(), root.span_id_bytes(), 0)
                    .unwrap_or(root)
            }
        };
        return Span {
            recorded: None,
            context,
        };
    };
    let cx = match parent {
        Some(parent) => Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_bytes(parent.trace_id_bytes()),
            SpanId::from_bytes(parent.span_id_bytes()),
            TraceFlags::new(parent.flags()),
            true,
            TraceState::default(),
        )),
        None => Context::new(),
    };
    let span = tracer
        .span_builder(name)
        .with_kind(kind.into())
        .start_with_context(tracer, &cx);
    let sc = span.span_context();
    let context = TraceParent::from_parts(
        sc.trace_id().to_bytes(),
        sc.span_id().to_bytes(),
        sc.trace_flags().to_u8(),
    )
    // The SDK never hands out zero ids; should it, keep the trace going.
    .unwrap_or_else(|| parent.map_or_else(TraceParent::new_root, |p| p.child()));
    Span {
        recorded: Some(span),
        context,
    }
}

impl Span {
    /// The context a callee of this span gets.
    pub fn context(&self) -> TraceParent {
        self.context
    }

    /// Whether the span is exported: compute attributes only then.
    pub fn is_recording(&self) -> bool {
        self.recorded.as_ref().is_some_and(|s| s.is_recording())
    }

    /// Sets attribute `key` (OpenTelemetry semantic-convention names where
    /// one exists, `trellis.*` otherwise).
    pub fn set(&mut self, key: &'static str, value: impl Into<Cow<'static, str>>) {
        if let Some(span) = self.recorded.as_mut().filter(|s| s.is_recording()) {
            span.set_attribute(KeyValue::new(key, value.into()));
        }
    }

    /// Sets a numeric attribute.
    pub fn set_i64(&mut self, key: &'static str, value: i64) {
        if let Some(span) = self.recorded.as_mut().filter(|s| s.is_recording()) {
            span.set_attribute(KeyValue::new(key, value));
        }
    }

    /// Marks the hop failed, saying why.
    pub fn fail(&mut self, why: impl Into<Cow<'static, str>>) {
        if let Some(span) = self.recorded.as_mut().filter(|s| s.is_recording()) {
            span.set_status(Status::error(why));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_tracer_the_context_still_flows() {
        let caller = TraceParent::new_root();
        let span = start("hop", Kind::Server, Some(caller));
        assert!(!span.is_recording());
        assert_eq!(span.context().trace_id(), caller.trace_id());
        assert_ne!(span.context().span_id_bytes(), caller.span_id_bytes());
        assert!(span.context().sampled());

        let root = start("first", Kind::Server, None);
        assert!(
            !root.context().sampled(),
            "an untraced root must not ask for sampling"
        );
    }
}
