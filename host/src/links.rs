//! The host's side of link tracking: every link change is pushed to the
//! local builtin providers it names (as source or target).

use std::sync::Arc;

use trellis_lattice::store::LatticeStore;
use trellis_protocol::link::Link;
use trellis_provider_sdk::links::{self, Notice};

use crate::host::HostContext;
use crate::providers::AbortOnDrop;

pub use trellis_provider_sdk::links::LinkState;

/// Tells the local providers named by `link` about it.
pub(crate) async fn notify(ctx: &HostContext, link: &Link, notice: Notice) {
    for id in [&link.source_id, &link.target_id] {
        let Some(p) = ctx.providers.get(id) else {
            continue;
        };
        let result = match notice {
            Notice::Put => p.provider.link_put(ctx.links.context(link)).await,
            Notice::Deleted => p.provider.link_del(link.clone()).await,
        };
        if let Err(e) = result {
            tracing::warn!(provider = %id, %e, "provider could not apply link change");
        }
    }
}

/// Follows the lattice's links and configs in `store` until the tasks are
/// aborted at shutdown.
pub(crate) async fn spawn_watchers(
    ctx: Arc<HostContext>,
    store: LatticeStore,
) -> Result<Vec<tokio::task::JoinHandle<()>>, trellis_lattice::LatticeError> {
    let state = ctx.links.clone();
    links::track(store, state, move |link, notice| {
        let ctx = ctx.clone();
        async move { notify(&ctx, &link, notice).await }
    })
    .await
}

/// For a host that started offline: opens the lattice's buckets once they
/// are reachable (bounded attempts, backing off), then follows links and
/// configs as a host that started online does; their replay of the
/// current values re-syncs what the host resumed from its record. Runs
/// until aborted, and the watches stop with it.
pub(crate) async fn reconnect(ctx: Arc<HostContext>) {
    let mut pause = std::time::Duration::from_secs(1);
    loop {
        let store =
            crate::resume::store::open_eventually(&ctx.lattice, ctx.config.jetstream_wait).await;
        ctx.store.set(store.clone());
        let wait = ctx.config.jetstream_wait;
        let opened = tokio::time::timeout(wait, spawn_watchers(ctx.clone(), store))
            .await
            .unwrap_or_else(|_| {
                Err(trellis_lattice::LatticeError::Storage {
                    what: "watch links and config".into(),
                    reason: format!("no answer within {wait:?}"),
                })
            });
        match opened {
            Ok(tasks) => {
                tracing::info!("lattice buckets reachable; following links and config again");
                let _watchers: Vec<_> = tasks.into_iter().map(AbortOnDrop).collect();
                std::future::pending::<()>().await;
            }
            Err(e) => {
                tracing::warn!(%e, retry_in = ?pause, "cannot watch links and config yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(15));
            }
        }
    }
}
