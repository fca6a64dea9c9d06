//! What the lattice-wide verbs (links and named config) need, and no
//! more: the buckets, the event sink, the other hosts, and which ids run
//! on this host. Built from the host's context for a request, or from
//! in-memory ports in the verbs' unit tests.

use std::time::Duration;

use trellis_protocol::ComponentId;

use crate::context::HostContext;
use crate::ports::{Directory, EventSink, LinkConfigStore};

/// How long a change may take to reach every host before the reply goes
/// out anyway (the change is stored and will still apply).
pub(super) const BARRIER_TIMEOUT: Duration = Duration::from_secs(5);

/// The lattice-wide verbs' view of the host.
pub(super) struct Wide<'a> {
    /// The link and config buckets.
    pub(super) store: &'a dyn LinkConfigStore,
    /// Where `link_put`, `config_set`, ... go.
    pub(super) events: &'a dyn EventSink,
    /// The lattice's hosts (the barrier, unknown ids).
    pub(super) directory: &'a dyn Directory,
    /// Whether an id runs on this host (answered without asking others).
    pub(super) runs_here: Box<dyn Fn(&ComponentId) -> bool + Send + Sync + 'a>,
    /// The most bytes one page of a listing may carry.
    pub(super) page_limit: usize,
    /// How long a change may take to reach every host before the reply
    /// goes out anyway.
    pub(super) barrier_timeout: Duration,
}

impl<'a> Wide<'a> {
    /// The view of a running host.
    pub(super) fn of(ctx: &'a HostContext) -> Self {
        Self {
            store: ctx.store.as_ref(),
            events: ctx.events.as_ref(),
            directory: ctx.directory.as_ref(),
            runs_here: Box::new(move |id| {
                ctx.components.get(id).is_some() || ctx.providers.get(id).is_some()
            }),
            page_limit: super::page_limit(ctx),
            barrier_timeout: BARRIER_TIMEOUT,
        }
    }

    /// Publishes `data` as `event` (see [`crate::ports::publish`]).
    pub(super) async fn publish<T: serde::Serialize>(
        &self,
        event: trellis_protocol::EventType,
        data: T,
    ) {
        crate::ports::publish(self.events, event, data).await;
    }
}
