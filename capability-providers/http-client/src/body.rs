//! The response body as the component sees it: cut at the link's
//! `max_response_bytes`, and failed when it stalls longer than the
//! between-bytes timeout, so that a slow or endless server cannot hold an
//! instance or the host's memory.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Sleep;
use trellis_provider_sdk::outbound::OutboundError;

/// A response body under the link's limits.
pub struct Guarded {
    inner: Incoming,
    /// Bytes still allowed.
    remaining: u64,
    limit: u64,
    stall: Duration,
    timer: Pin<Box<Sleep>>,
}

impl Guarded {
    /// Wraps `inner`, allowing `limit` bytes and `stall` between frames.
    pub fn new(inner: Incoming, limit: u64, stall: Duration) -> Self {
        Self {
            inner,
            remaining: limit,
            limit,
            stall,
            timer: Box::pin(tokio::time::sleep(stall)),
        }
    }
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = OutboundError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, OutboundError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                ready!(this.timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(OutboundError::BetweenBytesTimeout(this.stall))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(OutboundError::Protocol(e.to_string()))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        this.remaining = 0;
                        return Poll::Ready(Some(Err(OutboundError::ResponseTooLarge(this.limit))));
                    }
                    this.remaining -= len;
                }
                let deadline = tokio::time::Instant::now() + this.stall;
                this.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
