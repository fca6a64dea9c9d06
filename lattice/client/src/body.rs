//! Bodies larger than one NATS message, moved as pulled chunks.
//!
//! The side holding the bytes serves `trellis.{lattice}.stream.{id}`; the
//! other side pulls offsets with a few requests in flight. Pulling (rather
//! than pushing) means a slow reader can never be overrun and lose chunks.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::time::Instant;
use trellis_protocol::invocation::{
    self, Body, CHUNK_SIZE, ChunkReply, ChunkRequest, INLINE_BODY_MAX,
};
use trellis_protocol::{StreamId, Subject};

use crate::connect::Lattice;
use crate::error::LatticeError;

/// How many chunk pulls are in flight at once.
const PULL_WINDOW: usize = 4;

impl Lattice {
    /// Makes `bytes` sendable: inline when small, otherwise served as a
    /// stream until fully pulled or until `ttl` passes.
    pub async fn offer_body(&self, bytes: Vec<u8>, ttl: Duration) -> Result<Body, LatticeError> {
        if bytes.len() <= INLINE_BODY_MAX {
            return Ok(Body::Inline(bytes));
        }
        let id = new_stream_id();
        let subject = Subject::stream(&self.lattice, &id).to_string();
        let mut sub = self
            .client
            .subscribe(subject)
            .await
            .map_err(|e| LatticeError::nats("subscribe stream", e))?;
        let len = bytes.len() as u64;
        let bytes = Bytes::from(bytes);
        let client = self.client.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + ttl;
            while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, sub.next()).await {
                let Some(reply) = msg.reply else { continue };
                let (answer, last) = match invocation::decode::<ChunkRequest>(&msg.payload) {
                    // `offset < len` and `len` came from a usize, so the
                    // conversion holds; `start < len` keeps the sum in range.
                    Ok(ChunkRequest { offset }) if offset < len => {
                        let start = usize::try_from(offset).unwrap_or(bytes.len());
                        let end = start.saturating_add(CHUNK_SIZE).min(bytes.len());
                        (
                            ChunkReply::Data(bytes[start..end].to_vec()),
                            end == bytes.len(),
                        )
                    }
                    Ok(ChunkRequest { offset }) => (
                        ChunkReply::Error(format!("offset {offset} is past the body end {len}")),
                        false,
                    ),
                    Err(e) => (ChunkReply::Error(e.to_string()), false),
                };
                if let Err(e) = client
                    .publish(reply, invocation::encode(&answer).into())
                    .await
                {
                    tracing::warn!(%e, "could not answer a chunk pull");
                    break;
                }
                if last {
                    break;
                }
            }
        });
        Ok(Body::Stream { stream: id, len })
    }

    /// Turns a received [`Body`] into bytes, pulling a streamed one.
    ///
    /// A streamed body's `len` is the peer's claim: one over this
    /// connection's `max_body_bytes` is refused before anything is
    /// allocated, memory grows only as chunks arrive, and every chunk must
    /// be exactly the size its offset calls for.
    pub async fn fetch_body(&self, body: Body, deadline: Instant) -> Result<Vec<u8>, LatticeError> {
        let (stream, len) = match body {
            Body::Inline(bytes) => return Ok(bytes),
            Body::Stream { stream, len } => (stream, len),
        };
        let limit = self.max_body_bytes;
        if len > limit {
            return Err(LatticeError::BodyTooLarge { len, limit });
        }
        // `len <= limit` fits in memory terms; still never reserve more
        // than the chunks in flight, so a claim alone costs nothing.
        let total = usize::try_from(len).map_err(|_| LatticeError::BodyTooLarge { len, limit })?;
        let subject = Subject::stream(&self.lattice, &stream).to_string();
        let offsets = (0..total).step_by(CHUNK_SIZE);
        let mut chunks = futures::stream::iter(offsets)
            .map(|start| {
                let subject = subject.clone();
                async move {
                    let expected = CHUNK_SIZE.min(total - start);
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let offset = start as u64;
                    let request = async_nats::Request::new()
                        .payload(invocation::encode(&ChunkRequest { offset }).into())
                        .timeout(Some(remaining.max(Duration::from_millis(1))));
                    let msg = self
                        .client
                        .send_request(subject, request)
                        .await
                        .map_err(|e| LatticeError::nats("pull body chunk", e))?;
                    match invocation::decode::<ChunkReply>(&msg.payload) {
                        Ok(ChunkReply::Data(data)) if data.len() == expected => Ok(data),
                        Ok(ChunkReply::Data(data)) => Err(LatticeError::BadBody(format!(
                            "chunk at offset {offset} has {} bytes, expected {expected}",
                            data.len()
                        ))),
                        Ok(ChunkReply::Error(e)) => Err(LatticeError::nats("pull body chunk", e)),
                        Err(e) => Err(LatticeError::nats("pull body chunk", e)),
                    }
                }
            })
            .buffered(PULL_WINDOW);
        let mut out = Vec::with_capacity(total.min(PULL_WINDOW * CHUNK_SIZE));
        while let Some(chunk) = chunks.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }
}

fn new_stream_id() -> StreamId {
    // A simple UUID is 32 hex characters: always a valid stream id.
    StreamId::new(uuid::Uuid::new_v4().simple().to_string())
        .unwrap_or_else(|e| unreachable!("uuid is a valid stream id: {e}"))
}
