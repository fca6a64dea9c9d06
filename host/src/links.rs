//! The host's side of link tracking: every link change is pushed to the
//! local builtin providers it names (as source or target).

use std::sync::Arc;

use trellis_protocol::link::Link;
use trellis_provider_sdk::links::{self, Notice};

use crate::host::HostContext;

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

/// Follows the lattice's links and configs until the tasks are aborted at
/// shutdown.
pub(crate) async fn spawn_watchers(
    ctx: Arc<HostContext>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, trellis_lattice::LatticeError> {
    let (store, state) = (ctx.store.clone(), ctx.links.clone());
    links::track(store, state, move |link, notice| {
        let ctx = ctx.clone();
        async move { notify(&ctx, &link, notice).await }
    })
    .await
}
