//! Error kinds callers can match on.

use std::time::Duration;

use trellis_protocol::reply::{Failure, FailureKind};

/// Failure to reach or use the lattice.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LatticeError {
    /// The NATS connection could not be made.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// URL tried.
        url: String,
        /// Underlying reason.
        reason: String,
    },
    /// A NATS operation failed.
    #[error("NATS {operation} failed: {source}")]
    Nats {
        /// What was being done.
        operation: &'static str,
        /// Why: the client's own error, kept for callers that look.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// JetStream storage failed.
    #[error("lattice storage ({what}) failed: {reason}")]
    Storage {
        /// Which bucket/operation.
        what: String,
        /// Underlying reason.
        reason: String,
    },
    /// Stored data could not be decoded.
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Underlying reason.
        reason: String,
    },
    /// An artifact's bytes do not match its digest.
    #[error("artifact {name}: sha256 is {actual}, expected {expected}")]
    DigestMismatch {
        /// Object name.
        name: String,
        /// Expected digest.
        expected: String,
        /// Actual digest.
        actual: String,
    },
    /// An artifact is larger than allowed.
    #[error("artifact {name} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Object name.
        name: String,
        /// Actual size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A peer claimed a streamed body larger than this side takes in.
    #[error(
        "streamed body of {len} bytes is over the limit of {limit} bytes (max_body_bytes); \
         send a smaller body or raise the receiver's limit"
    )]
    BodyTooLarge {
        /// The length the peer claimed.
        len: u64,
        /// This side's limit.
        limit: u64,
    },
    /// A peer answered a chunk pull with bytes that do not fit the body.
    #[error("streamed body is malformed: {0}")]
    BadBody(String),
}

impl LatticeError {
    /// A failed NATS operation, keeping the client's error as the source.
    pub fn nats(
        operation: &'static str,
        e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Nats {
            operation,
            source: e.into(),
        }
    }

    pub(crate) fn storage(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Self::Storage {
            what: what.into(),
            reason: e.to_string(),
        }
    }
}

/// Failure of a control request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// Nobody answered in time.
    #[error("no reply on {subject} within {timeout:?}; is the host or lattice still there?")]
    TimedOut {
        /// Subject of the request.
        subject: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// Nobody subscribes to the subject.
    #[error(
        "nobody answers on {subject}: no host in this lattice serves it (check --lattice and the host id)"
    )]
    NoResponders {
        /// Subject of the request.
        subject: String,
    },
    /// The responder answered `ok: false`, saying what sort of failure.
    #[error("{0}")]
    Failed(#[source] Failure),
    /// The reply could not be decoded.
    #[error("malformed reply on {subject}: {reason}")]
    BadReply {
        /// Subject of the request.
        subject: String,
        /// Decode error.
        reason: String,
    },
    /// Transport failure.
    #[error(transparent)]
    Lattice(#[from] LatticeError),
}

impl ControlError {
    /// What sort of failure this was, as the responder said or, when no
    /// answer came, `unavailable` (the same request may work later).
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Failed(failure) => failure.kind,
            Self::TimedOut { .. } | Self::NoResponders { .. } | Self::Lattice(_) => {
                FailureKind::Unavailable
            }
            Self::BadReply { .. } => FailureKind::Internal,
        }
    }
}
