//! What a guest's run ended as, in the terms callers see: replies,
//! the errors of cut-short bodies, traps and deadlines. Shared by both
//! HTTP handler kinds and the custom-interface calls.

use std::future::Future;

use bytes::Bytes;
use trellis_protocol::invocation::{
    Body, ErrorKind, Header, HttpResponse, InvocationError, InvocationReply,
};
use wasmtime::{PoolConcurrencyLimitError, Trap};

use super::instance::{Alongside, Ended};
use crate::spans::Running;

/// The reply for a response the guest finished.
pub(super) fn to_reply(parts: &http::response::Parts, body: Bytes) -> HttpResponse {
    HttpResponse {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| Header {
                name: name.as_str().to_owned(),
                value: value.as_bytes().to_vec(),
            })
            .collect(),
        body: Body::Inline(body.into()),
    }
}

/// The error for a response body over the host's limit.
pub(super) fn too_large(status: u16, max: usize) -> InvocationError {
    tracing::warn!(component = %Running, status, max, "component response body over the host's limit");
    InvocationError::new(
        ErrorKind::Internal,
        format!("component response body over {max} bytes (the host's --max-response-mb)"),
    )
}
pub(super) fn deadline_error() -> InvocationError {
    InvocationError::new(
        ErrorKind::DeadlineExceeded,
        "component exceeded its execution time limit",
    )
}

pub(super) fn internal(what: &str, e: impl std::fmt::Display) -> InvocationError {
    tracing::warn!(component = %Running, %e, "{what}");
    InvocationError::new(ErrorKind::Internal, what.to_owned())
}

/// The error for a handler that answered with an `error-code` instead of
/// a response.
pub(super) fn handler_error(code: &dyn std::fmt::Debug) -> InvocationError {
    tracing::debug!(component = %Running, ?code, "guest answered with an error code");
    InvocationError::new(
        ErrorKind::Internal,
        "component failed to handle the request",
    )
}

/// The error for a response body that ended with an error (the guest
/// dropped it unfinished, or wrote other than its content-length).
pub(super) fn body_aborted(reason: impl std::fmt::Display) -> InvocationError {
    InvocationError::new(
        ErrorKind::Internal,
        format!("component aborted its response body ({reason})"),
    )
}

/// The error a caller gets for a response the guest did not finish: same
/// kind, and a message that says the body was incomplete. Logged, since
/// the caller sees only the error, not what the guest had sent.
pub(super) fn cut_short(status: u16, error: InvocationError) -> InvocationError {
    tracing::warn!(component = %Running, status, reason = %error.message, "component response cut short: answering with an error instead");
    InvocationError::new(
        error.kind,
        format!(
            "{} before finishing its response (status {status}); the partial body was dropped",
            error.message
        ),
    )
}

/// Runs `guest` to its end within `backstop`; its value, or the deadline,
/// trap or panic that ended it.
pub(super) async fn finish<T, F, S>(
    guest: Alongside<F, S>,
    backstop: tokio::time::Instant,
) -> InvocationReply<T>
where
    F: Future<Output = wasmtime::Result<T>>,
{
    finish_keeping(guest, backstop)
        .await
        .map(|(value, _slot)| value)
}

/// [`finish`], handing the admission back with the value (a kept instance
/// goes on holding it).
pub(super) async fn finish_keeping<T, F, S>(
    guest: Alongside<F, S>,
    backstop: tokio::time::Instant,
) -> InvocationReply<(T, S)>
where
    F: Future<Output = wasmtime::Result<T>>,
{
    match tokio::time::timeout_at(backstop, guest.end_keeping()).await {
        Ok((ended, slot)) => reply_of(ended).map(|value| (value, slot)),
        Err(_) => Err(deadline_error()),
    }
}

/// A guest's end as a reply: its value, or the trap or panic that ended it.
fn reply_of<T>(ended: Ended<wasmtime::Result<T>>) -> InvocationReply<T> {
    match ended {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(trap_error(&e)),
        Err(_panic) => Err(internal("component panicked", "see the log")),
    }
}

/// Classifies how a guest ended without a usable response.
pub(super) fn guest_failure(ended: Ended<wasmtime::Result<()>>) -> InvocationError {
    match reply_of(ended) {
        Ok(()) => InvocationError::new(
            ErrorKind::Internal,
            "component returned without sending a response",
        ),
        Err(e) => e,
    }
}

/// Classifies a guest's failure: deadline, full pool, or a trap.
pub(super) fn trap_error(e: &wasmtime::Error) -> InvocationError {
    if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt)
        || e.chain()
            .any(|c| c.downcast_ref::<Trap>() == Some(&Trap::Interrupt))
    {
        return deadline_error();
    }
    // Admission keeps the pool from filling up, but a component with
    // unusually many core instances or memories can still hit one of its
    // other limits: that is a full host, not a trap.
    if e.chain().any(|c| c.is::<PoolConcurrencyLimitError>()) {
        tracing::warn!(component = %Running, error = %format!("{e:#}"), "instance pool exhausted");
        return InvocationError::new(
            ErrorKind::Busy,
            "this host has no free instance slot; try again",
        );
    }
    tracing::info!(component = %Running, error = %format!("{e:#}"), "guest trapped");
    InvocationError::new(ErrorKind::Trapped, "component trapped")
}
