//! Who calls and until when: the context every invocation carries, in the
//! headers named in [`crate::invocation::header`].
//!
//! It lives here, not beside the NATS client, so that a provider or a tool
//! can name a deadline or read a caller without a connection; the lattice
//! client only moves these pairs in and out of NATS headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::invocation::header;
use crate::trace::TraceParent;
use crate::{ComponentId, LinkName};

/// The longest a callee works on one call, whatever deadline the caller
/// sent.
pub const MAX_CALL_TIME: Duration = Duration::from_secs(3600);

/// Who calls, through which link, under which trace, and until when.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// Calling component or provider.
    pub source: Option<ComponentId>,
    /// Link the call goes through.
    pub link_name: LinkName,
    /// The trace the call belongs to and the span that made it; `None`
    /// when the caller traces nothing (the callee then starts a trace of
    /// its own if it records spans).
    pub trace: Option<TraceParent>,
    /// When the caller stops waiting.
    pub deadline: SystemTime,
}

impl CallContext {
    /// A context with no trace and a deadline `timeout` from now.
    pub fn new(source: Option<ComponentId>, link_name: LinkName, timeout: Duration) -> Self {
        Self {
            source,
            link_name,
            trace: None,
            deadline: SystemTime::now() + timeout.min(MAX_CALL_TIME),
        }
    }

    /// The same context under the calling span `trace`.
    pub fn traced(self, trace: Option<TraceParent>) -> Self {
        Self { trace, ..self }
    }

    /// The trace id as hex, for logs; empty without a trace.
    pub fn trace_id(&self) -> String {
        self.trace.map(|t| t.trace_id()).unwrap_or_default()
    }

    /// Time left until the deadline (zero when past).
    pub fn remaining(&self) -> Duration {
        self.deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }

    /// The time a callee may spend: the remaining time less a margin for
    /// the reply's trip (a tenth, at most 100 ms), so that the callee's own
    /// verdict (busy, too slow) reaches the caller before its deadline does.
    pub fn callee_budget(&self) -> Duration {
        let remaining = self.remaining();
        remaining.saturating_sub((remaining / 10).min(Duration::from_millis(100)))
    }

    /// The context as header name and value pairs.
    pub fn header_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::with_capacity(4);
        if let Some(source) = &self.source {
            pairs.push((header::SOURCE, source.as_str().to_owned()));
        }
        pairs.push((header::LINK_NAME, self.link_name.as_str().to_owned()));
        if let Some(trace) = &self.trace {
            pairs.push((header::TRACEPARENT, trace.to_string()));
        }
        let deadline_ms = self
            .deadline
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        pairs.push((header::DEADLINE_MS, deadline_ms.to_string()));
        pairs
    }

    /// Reads a context from the headers `get` looks up by name. Every value
    /// is the sender's claim: an invalid source or link name is dropped, a
    /// missing or unreadable deadline becomes `fallback` from now, and no
    /// deadline lies more than [`MAX_CALL_TIME`] ahead, so that a far-future
    /// value can neither overflow instant arithmetic nor pin a callee.
    pub fn from_header_values<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
        fallback: Duration,
    ) -> Self {
        let now = SystemTime::now();
        let latest = now + MAX_CALL_TIME;
        let deadline = get(header::DEADLINE_MS)
            .and_then(|ms| ms.parse::<u64>().ok())
            .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
            .map_or(now + fallback.min(MAX_CALL_TIME), |d| d.min(latest));
        Self {
            source: get(header::SOURCE).and_then(|s| ComponentId::new(s).ok()),
            link_name: get(header::LINK_NAME)
                .and_then(|s| LinkName::new(s).ok())
                .unwrap_or_default(),
            trace: get(header::TRACEPARENT).and_then(|s| s.parse().ok()),
            deadline,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(pairs: &HashMap<&str, String>, fallback: Duration) -> CallContext {
        CallContext::from_header_values(|name| pairs.get(name).map(String::as_str), fallback)
    }

    #[test]
    fn context_survives_its_header_pairs() {
        let ctx = CallContext::new(
            Some(ComponentId::new("http").unwrap()),
            LinkName::new("web").unwrap(),
            Duration::from_secs(5),
        )
        .traced(Some(TraceParent::new_root()));
        let pairs: HashMap<_, _> = ctx.header_pairs().into_iter().collect();
        let back = read(&pairs, Duration::from_secs(1));
        assert_eq!(back.source, ctx.source);
        assert_eq!(back.link_name, ctx.link_name);
        assert_eq!(back.trace, ctx.trace);
        // Millisecond precision on the wire.
        let drift = ctx
            .deadline
            .duration_since(back.deadline)
            .unwrap_or_default();
        assert!(drift < Duration::from_millis(1), "{drift:?}");
    }

    #[test]
    fn missing_headers_fall_back_to_defaults() {
        let ctx = read(&HashMap::new(), Duration::from_secs(2));
        assert_eq!(ctx.link_name, LinkName::default());
        assert!(ctx.source.is_none());
        assert!(ctx.remaining() > Duration::from_secs(1));
        assert!(ctx.remaining() <= Duration::from_secs(2));
    }

    #[test]
    fn far_future_and_invalid_claims_are_bounded() {
        let pairs = HashMap::from([
            (header::DEADLINE_MS, u64::MAX.to_string()),
            (header::SOURCE, "not a component id!".to_owned()),
            (header::LINK_NAME, "BAD NAME".to_owned()),
            (header::TRACEPARENT, "00-not-a-trace".to_owned()),
        ]);
        let ctx = read(&pairs, Duration::from_secs(2));
        assert!(ctx.remaining() <= MAX_CALL_TIME);
        assert!(ctx.remaining() > MAX_CALL_TIME - Duration::from_secs(60));
        assert!(ctx.source.is_none());
        assert_eq!(ctx.link_name, LinkName::default());
        assert!(ctx.trace.is_none());
    }

    #[test]
    fn callee_budget_leaves_room_for_the_reply() {
        let ctx = CallContext::new(None, LinkName::default(), Duration::from_millis(300));
        let budget = ctx.callee_budget();
        assert!(budget < ctx.remaining());
        assert!(budget > Duration::from_millis(250), "{budget:?}");
        let long = CallContext::new(None, LinkName::default(), Duration::from_secs(60));
        // Budget first: `remaining` only shrinks, so this bounds the margin.
        let budget = long.callee_budget();
        let margin = long.remaining().saturating_sub(budget);
        assert!(margin <= Duration::from_millis(100), "{margin:?}");
    }
}
