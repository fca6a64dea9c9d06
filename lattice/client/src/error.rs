//! Error kinds callers can match on.

use std::time::Duration;

/// Failure to reach or use the lattice.
#[derive(Debug, thiserror::Error)]
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
    #[error("NATS {operation} failed: {reason}")]
    Nats {
        /// What was being done.
        operation: &'static str,
        /// Underlying reason.
        reason: String,
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
    pub(crate) fn nats(operation: &'static str, e: impl std::fmt::Display) -> Self {
        Self::Nats {
            operation,
            reason: e.to_string(),
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
    /// The responder answered `ok: false`.
    #[error("{0}")]
    Refused(String),
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
