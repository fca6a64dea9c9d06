//! `link.put`, `link.del`, `link.list`.

use trellis_protocol::control::{
    DeleteLinkRequest, Failure, LinkListRequest, LinkPage, PutLinkRequest, parse_request,
};
use trellis_protocol::link::LinkKey;
use trellis_protocol::{ComponentId, EventType, limits};

use super::barrier::{Bucket, await_applied};
use super::wide::Wide;
use super::{Outcome, data, storage};

pub(super) async fn put(ctx: &Wide<'_>, body: &[u8]) -> Outcome {
    let PutLinkRequest {
        link,
        force,
        no_wait,
    } = parse_request(body)?;
    link.validate().map_err(Failure::invalid)?;
    limits::check_link(&link).map_err(|e| {
        Failure::invalid(format!(
            "link {} -> {} on {}:{} refused: {e}",
            link.source_id, link.target_id, link.wit_namespace, link.wit_package
        ))
    })?;
    if let Some(existing) = ctx.store.get_link(&link.key()).await.map_err(storage)?
        && !force
    {
        existing
            .may_be_replaced_by(&link)
            .map_err(Failure::conflict)?;
    }
    // A no-wait writer (wadm) links what it started: skip the check that
    // costs a scatter-gather of every host's inventory.
    let unknown = if no_wait {
        Vec::new()
    } else {
        unknown_ids(ctx, [&link.source_id, &link.target_id]).await?
    };
    if !unknown.is_empty() {
        return Err(Failure::not_found(format!(
            "unknown component or provider: {}; start it before linking (see `trellis get inventory`)",
            unknown.join(", ")
        )));
    }
    let revision = ctx.store.put_link(&link).await.map_err(storage)?;
    if !no_wait {
        await_applied(ctx, Bucket::Links, revision).await;
    }
    ctx.publish(EventType::LinkPut, &link).await;
    data(link)
}

/// Ids among `ids` that no host of the lattice runs. Local ones answer at
/// once; the rest need a scatter-gather of inventories.
async fn unknown_ids<'a>(
    ctx: &Wide<'_>,
    ids: impl IntoIterator<Item = &'a ComponentId>,
) -> Result<Vec<String>, Failure> {
    let mut missing: Vec<&ComponentId> =
        ids.into_iter().filter(|id| !(ctx.runs_here)(id)).collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let inventories =
        ctx.directory.inventories().await.map_err(|e| {
            Failure::unavailable(format!("cannot list the lattice's inventory: {e}"))
        })?;
    let known = |id: &ComponentId| {
        inventories.iter().any(|inv| {
            inv.components.iter().any(|c| &c.id == id) || inv.providers.iter().any(|p| &p.id == id)
        })
    };
    Ok(missing
        .into_iter()
        .filter(|id| !known(id))
        .map(ToString::to_string)
        .collect())
}

pub(super) async fn del(ctx: &Wide<'_>, body: &[u8]) -> Outcome {
    let request: DeleteLinkRequest = parse_request(body)?;
    let no_wait = request.no_wait;
    let key = LinkKey {
        source_id: request.source_id,
        wit_namespace: request.wit_namespace,
        wit_package: request.wit_package,
        name: request.name,
    };
    let deleted = ctx.store.del_link(&key).await.map_err(storage)?;
    match deleted {
        Some((link, revision)) => {
            if !no_wait {
                await_applied(ctx, Bucket::Links, revision).await;
            }
            ctx.publish(EventType::LinkDeleted, &link).await;
            data(link)
        }
        None => Err(Failure::not_found(format!(
            "no link from {} on {}:{} named {}",
            key.source_id, key.wit_namespace, key.wit_package, key.name
        ))),
    }
}

/// Every link (an empty or `null` body, as callers before paging sent),
/// or one page of them.
pub(super) async fn list(ctx: &Wide<'_>, body: &[u8]) -> Outcome {
    let links = ctx.store.list_links().await.map_err(storage)?;
    match body {
        b"" | b"null" => data(links),
        _ => {
            let mut request: LinkListRequest = parse_request(body)?;
            // Pages must fit this connection's max_payload, whatever the
            // caller asked for.
            let limit = ctx.page_limit;
            request.page_bytes = Some(request.page_bytes.map_or(limit, |b| b.min(limit)));
            data(LinkPage::of(links, &request))
        }
    }
}
