//! The reply envelope every control verb and the wadm API answer with,
//! and the typed failure it carries.
//!
//! On the wire: `{"ok": bool, "error"?: string, "kind"?: string, "data"?: T}`.
//! `kind` says what sort of failure it was (`not_found`, `conflict`,
//! `refused`, `invalid`, `unavailable`, `internal`), so callers (the CLI's
//! exit codes, wadm's executor) act on it without reading the message.
//! A reply without `kind` (a peer from before it existed) reads as
//! [`FailureKind::Other`].

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What sort of failure a control or API request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// What the request names does not exist (here).
    NotFound,
    /// It conflicts with what exists (an id already in use, a link whose
    /// target differs).
    Conflict,
    /// Well-formed, but not allowed (trust, policy).
    Refused,
    /// Malformed or out of bounds: the request itself is wrong.
    Invalid,
    /// Something it needs is unreachable now; the same request may work
    /// later.
    Unavailable,
    /// The responder failed on its own account.
    Internal,
    /// A kind this build does not know, or none given.
    #[serde(other)]
    Other,
}

impl FailureKind {
    /// The name on the wire (`not_found`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Refused => "refused",
            Self::Invalid => "invalid",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request: its kind and a message for a person (what is wrong
/// and what to do).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// What sort of failure.
    pub kind: FailureKind,
    /// What is wrong and what to do.
    pub message: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// [`FailureKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(FailureKind::NotFound, message)
    }

    /// [`FailureKind::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Conflict, message)
    }

    /// [`FailureKind::Refused`].
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Refused, message)
    }

    /// [`FailureKind::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Invalid, message)
    }

    /// [`FailureKind::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Unavailable, message)
    }

    /// [`FailureKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Internal, message)
    }

    /// The same kind with `context` before the message
    /// (`"component.scale of c1: ..."`).
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}

/// A request type of the control interface or the wadm API, tied to the
/// data its successful reply carries, so callers decode replies by type
/// instead of picking JSON apart.
pub trait ControlRequest: Serialize {
    /// What `data` holds on success (`()` when nothing).
    type Reply: DeserializeOwned;
}

/// The reply envelope of every control verb.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>", serialize = "T: Serialize"))]
pub struct Reply<T = serde_json::Value> {
    /// Whether the request succeeded.
    pub ok: bool,
    /// Why it failed, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What sort of failure, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FailureKind>,
    /// The result, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

impl<T> Reply<T> {
    /// A successful reply carrying `data`.
    pub fn success(data: T) -> Self {
        Self {
            ok: true,
            error: None,
            kind: None,
            data: Some(data),
        }
    }

    /// A failed reply.
    pub fn failure(failure: Failure) -> Self {
        Self {
            ok: false,
            error: Some(failure.message),
            kind: Some(failure.kind),
            data: None,
        }
    }

    /// A successful reply with no data.
    pub fn done() -> Self {
        Self {
            ok: true,
            error: None,
            kind: None,
            data: None,
        }
    }

    /// Turns the envelope into a `Result`.
    pub fn into_result(self) -> Result<Option<T>, Failure> {
        if self.ok {
            Ok(self.data)
        } else {
            Err(Failure {
                kind: self.kind.unwrap_or(FailureKind::Other),
                message: self
                    .error
                    .unwrap_or_else(|| "request failed without a reason".into()),
            })
        }
    }
}

/// A reply as sent on the wire.
#[derive(Debug)]
pub struct EncodedReply {
    /// The bytes to send.
    pub payload: Vec<u8>,
    /// The size of the real reply when it exceeded the server's limit and
    /// an error was sent in its place (worth a log line).
    pub oversized: Option<usize>,
}

impl Reply<serde_json::Value> {
    /// Encodes what a handler returned, as every responder does: no
    /// `data` for a null result, and an error in place of a reply over
    /// `max_payload` (0: unknown), which the server would drop, leaving
    /// the caller with only a timeout.
    pub fn encode(outcome: Result<serde_json::Value, Failure>, max_payload: usize) -> EncodedReply {
        let reply = match outcome {
            Ok(serde_json::Value::Null) => Reply::done(),
            Ok(value) => Reply::success(value),
            Err(failure) => Reply::failure(failure),
        };
        let payload = serde_json::to_vec(&reply).unwrap_or_else(|e| {
            format!(r#"{{"ok":false,"kind":"internal","error":"cannot encode reply: {e}"}}"#)
                .into_bytes()
        });
        if max_payload == 0 || payload.len() <= max_payload {
            return EncodedReply {
                payload,
                oversized: None,
            };
        }
        let error = Reply::<()>::failure(Failure::internal(format!(
            "the reply is {} bytes, more than the server's max_payload of {max_payload}; the request was handled, but its result cannot be sent",
            payload.len()
        )));
        EncodedReply {
            payload: serde_json::to_vec(&error).unwrap_or_default(),
            oversized: Some(payload.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_round_trips_with_its_kind() {
        let reply = Reply::<()>::failure(Failure::conflict("link exists"));
        let wire = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            wire,
            r#"{"ok":false,"error":"link exists","kind":"conflict"}"#
        );
        let back: Reply<()> = serde_json::from_str(&wire).unwrap();
        assert_eq!(back.into_result(), Err(Failure::conflict("link exists")));
    }

    #[test]
    fn a_reply_without_kind_or_with_a_new_kind_reads_as_other() {
        for wire in [
            r#"{"ok":false,"error":"no"}"#,
            r#"{"ok":false,"error":"no","kind":"quota_exceeded"}"#,
        ] {
            let reply: Reply<()> = serde_json::from_str(wire).unwrap();
            assert_eq!(
                reply.into_result(),
                Err(Failure::new(FailureKind::Other, "no"))
            );
        }
    }

    #[test]
    fn an_oversized_reply_becomes_an_internal_failure() {
        let big = serde_json::Value::String("x".repeat(100));
        let encoded = Reply::encode(Ok(big), 50);
        assert!(encoded.oversized.is_some());
        let reply: Reply<()> = serde_json::from_slice(&encoded.payload).unwrap();
        assert_eq!(reply.into_result().unwrap_err().kind, FailureKind::Internal);
    }
}
