//! The host's side of link tracking: every link change is pushed to the
//! local builtin providers it names (as source or target), what each
//! provider answered is kept (and reported in the inventory), and links a
//! provider refused are tried again with back-off.

use std::sync::Arc;

use trellis_lattice::store::LatticeStore;
use trellis_protocol::link::Link;
use trellis_provider_sdk::links::{self, Notice};
use trellis_provider_sdk::outcomes;

use crate::context::HostContext;
use crate::providers::AbortOnDrop;

/// Tells the local providers named by `link` about it and records their
/// answers. External providers follow links themselves (and report their
/// outcomes in their health replies).
pub(crate) async fn notify(ctx: &HostContext, link: &Link, notice: Notice) {
    let _order = ctx.link_outcomes.serialize().await;
    for id in [&link.source_id, &link.target_id] {
        let Some(p) = ctx.providers.get(id) else {
            continue;
        };
        if p.external {
            continue;
        }
        match notice {
            Notice::Put => {
                let result = match trellis_provider_sdk::secrets::link_with_secrets(
                    &ctx.lattice,
                    ctx.config.secrets_key.as_ref(),
                    ctx.links.context(link),
                )
                .await
                {
                    Ok(with_secrets) => p.provider.link_put(with_secrets).await,
                    Err(e) => Err(e),
                };
                ctx.link_outcomes.put(id, link.key(), &result);
            }
            Notice::Deleted => {
                if let Err(e) = p.provider.link_del(link.clone()).await {
                    tracing::warn!(provider = %id, %e, "provider could not remove a link");
                }
                ctx.link_outcomes.deleted(id, &link.key());
            }
        }
    }
}

/// Follows the lattice's links and configs in `store` until the tasks are
/// aborted at shutdown.
pub(crate) async fn spawn_watchers(
    ctx: Arc<HostContext>,
    store: LatticeStore,
) -> Result<Vec<tokio::task::JoinHandle<()>>, trellis_lattice::LatticeError> {
    let watcher = ctx.clone();
    links::track(store, ctx.links.clone(), move |link, notice| {
        let ctx = watcher.clone();
        async move { notify(&ctx, &link, notice).await }
    })
    .await
}

/// Retries the links local builtin providers refused, with back-off,
/// until aborted at shutdown. It needs only the host's own link state, so
/// it runs whether or not the lattice's buckets are reachable (a host that
/// started offline retries what its resumed providers refused).
pub(crate) fn spawn_retries(ctx: Arc<HostContext>) -> tokio::task::JoinHandle<()> {
    let retrier = ctx.clone();
    outcomes::spawn_retries(
        ctx.link_outcomes.clone(),
        ctx.links.clone(),
        move |id, link| {
            let ctx = retrier.clone();
            async move {
                // A provider that stopped (or runs as its own process, which
                // retries itself) has nothing to retry here.
                let p = ctx.providers.get(&id).filter(|p| !p.external)?;
                let key = ctx.config.secrets_key.as_ref();
                Some(
                    match trellis_provider_sdk::secrets::link_with_secrets(&ctx.lattice, key, link)
                        .await
                    {
                        Ok(link) => p.provider.link_put(link).await,
                        Err(e) => Err(e),
                    },
                )
            }
        },
    )
}

/// For a host that started offline: opens the lattice's buckets once they
/// are reachable (bounded attempts, backing off), then follows links and
/// configs as a host that started online does; their replay of the
/// current values re-syncs what the host resumed from its record. Runs
/// until aborted, and the watches stop with it.
pub(crate) async fn reconnect(ctx: Arc<HostContext>) {
    let mut pause = std::time::Duration::from_secs(1);
    loop {
        let store = crate::store::open_eventually(&ctx.lattice, ctx.config.jetstream_wait).await;
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
