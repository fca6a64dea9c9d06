//! W3C Trace Context (`traceparent`): which trace a request belongs to
//! and which span called. Trellis starts or continues one at the HTTP
//! server provider and hands it to the component as a request header; its
//! trace id is also the invocation's trace id on the lattice.
//!
//! A `traceparent` is a peer's claim: only the exact version-00 shape
//! (55 characters, lowercase hex, ids not all zero) is accepted; anything
//! else starts a new trace, as the specification says.

use std::fmt;
use std::str::FromStr;

/// The header name, as the specification spells it.
pub const HEADER: &str = "traceparent";

/// One `traceparent` value: version 00, trace id, parent span id, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

/// Why a `traceparent` value was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a version-00 traceparent (00-<32 hex>-<16 hex>-<2 hex>, ids not all zero)")]
pub struct BadTraceParent;

/// The flag that says the caller sampled the trace.
const SAMPLED: u8 = 0x01;

/// 16 random bytes (a v4 UUID's: 122 random bits, plenty for an id).
fn random_bytes() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

/// A new span id: random, and never all zero (the spec forbids it; a
/// random id is all zero with probability 2^-64).
fn new_span() -> [u8; 8] {
    let mut span = [0u8; 8];
    span.copy_from_slice(&random_bytes()[..8]);
    if span == [0; 8] {
        span[7] = 1;
    }
    span
}

impl TraceParent {
    /// A new trace (sampled), with a new span id.
    pub fn new_root() -> Self {
        Self {
            trace_id: random_bytes(),
            parent_id: new_span(),
            flags: SAMPLED,
        }
    }

    /// The context a callee of this span gets: the same trace and flags,
    /// a new span id.
    pub fn child(&self) -> Self {
        Self {
            parent_id: new_span(),
            ..*self
        }
    }

    /// `value` if it is a valid traceparent, else a new trace; a valid
    /// one is continued with a new span ([`TraceParent::child`]).
    pub fn continue_or_start(value: Option<&str>) -> Self {
        match value.map(str::parse::<TraceParent>) {
            Some(Ok(parent)) => parent.child(),
            _ => Self::new_root(),
        }
    }

    /// A context from its parts, as a tracer reports a span it started;
    /// `None` when an id is all zero (no valid span has one).
    pub fn from_parts(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> Option<Self> {
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(Self {
            trace_id,
            parent_id: span_id,
            flags,
        })
    }

    /// The trace id's bytes.
    pub fn trace_id_bytes(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The id of the span this context names as the parent of the next.
    pub fn span_id_bytes(&self) -> [u8; 8] {
        self.parent_id
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The trace id as 32 lowercase hex characters.
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    /// Whether the caller asked for the trace to be recorded.
    pub fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }
}

/// Lowercase hex of `bytes` into `out` (twice as long). Written by hand
/// rather than with `format!` per byte: the header is formatted on every
/// request, and 24 small strings each time were 4% of a host serving the
/// local HTTP row (docs/benchmarks.md).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    hex_into(bytes, &mut out);
    // Only ASCII hex digits were written.
    String::from_utf8(out).unwrap_or_default()
}

fn unhex<const N: usize>(text: &str) -> Result<[u8; N], BadTraceParent> {
    if text.len() != N * 2
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(BadTraceParent);
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).map_err(|_| BadTraceParent)?;
    }
    Ok(out)
}

impl FromStr for TraceParent {
    type Err = BadTraceParent;

    fn from_str(text: &str) -> Result<Self, BadTraceParent> {
        if text.len() != 55 {
            return Err(BadTraceParent);
        }
        let mut parts = text.split('-');
        let (Some(version), Some(trace), Some(parent), Some(flags), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(BadTraceParent);
        };
        if version != "00" {
            return Err(BadTraceParent);
        }
        let trace_id = unhex::<16>(trace)?;
        let parent_id = unhex::<8>(parent)?;
        let [flags] = unhex::<1>(flags)?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return Err(BadTraceParent);
        }
        Ok(Self {
            trace_id,
            parent_id,
            flags,
        })
    }
}

impl TraceParent {
    /// The header value's 55 bytes: `00-<trace id>-<span id>-<flags>`.
    fn encode(&self) -> [u8; 55] {
        let mut out = [b'-'; 55];
        out[..2].copy_from_slice(b"00");
        hex_into(&self.trace_id, &mut out[3..35]);
        hex_into(&self.parent_id, &mut out[36..52]);
        hex_into(&[self.flags], &mut out[53..55]);
        out
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encoded = self.encode();
        // Only ASCII was written.
        f.write_str(std::str::from_utf8(&encoded).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn every_byte_and_the_flags_print_as_two_lowercase_digits() {
        let context =
            TraceParent::from_parts([0xab; 16], [0x01, 0, 0, 0, 0, 0, 0, 0xf0], 0).unwrap();
        assert_eq!(
            context.to_string(),
            "00-abababababababababababababababab-01000000000000f0-00"
        );
        assert_eq!(context.trace_id(), "ab".repeat(16));
    }

    #[test]
    fn the_spec_example_round_trips() {
        let parsed: TraceParent = EXAMPLE.parse().unwrap();
        assert_eq!(parsed.to_string(), EXAMPLE);
        assert_eq!(parsed.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(parsed.sampled());
    }

    #[test]
    fn a_child_keeps_the_trace_and_flags_and_changes_the_span() {
        let parent: TraceParent = EXAMPLE.parse().unwrap();
        let child = TraceParent::continue_or_start(Some(EXAMPLE));
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child, parent);
        assert_eq!(child.to_string().len(), 55);
        assert_eq!(child.to_string().parse::<TraceParent>().unwrap(), child);
    }

    #[test]
    fn anything_else_starts_a_new_trace() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
        ] {
            assert_eq!(bad.parse::<TraceParent>(), Err(BadTraceParent), "{bad:?}");
            let fresh = TraceParent::continue_or_start(Some(bad));
            assert_ne!(fresh.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        }
        let a = TraceParent::new_root();
        let b = TraceParent::new_root();
        assert_ne!(a.trace_id(), b.trace_id());
        assert!(a.to_string().parse::<TraceParent>().is_ok());
    }
}
