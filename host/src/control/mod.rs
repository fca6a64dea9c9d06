//! The control interface: subscriptions, dispatch and replies.
//!
//! Three kinds of subscription: host-specific verbs (`ctl.*.*.{host}`),
//! the scatter-gather ping, and the lattice-wide verbs (links, config) in
//! a queue group, so that one host handles each. Nothing subscribes to
//! another host's subjects: a request to a host that is gone gets "no
//! responders" from the server at once (wadm then stops choosing it),
//! where a catch-all subscription used to swallow it until the timeout.

mod barrier;
mod call;
mod component;
mod config;
mod host_verbs;
mod link;
mod plan;
mod probe;
mod provider;
mod types;
#[cfg(test)]
mod verbs_tests;
mod wide;
#[cfg(test)]
mod wide_tests;

use std::sync::Arc;

use async_nats::Message;
use futures::StreamExt;
use serde::Serialize;
use trellis_lattice::LatticeError;
use trellis_protocol::ComponentId;
use trellis_protocol::control::{Failure, Reply};
use trellis_protocol::subject::pattern;
use trellis_protocol::{ControlVerb, Subject};

use crate::context::HostContext;
use wide::Wide;

pub(crate) use host_verbs::page_limit;

/// What a handler returns: reply data, or what sort of failure and why.
type Outcome = Result<serde_json::Value, Failure>;

/// Serialises reply data.
fn data<T: Serialize>(value: T) -> Outcome {
    serde_json::to_value(value).map_err(|e| Failure::internal(format!("cannot encode reply: {e}")))
}

/// A lattice bucket that did not answer: the same request may work later.
fn storage(e: LatticeError) -> Failure {
    Failure::unavailable(e.to_string())
}

/// The answer for a verb about a component this host does not run.
fn not_running(id: &ComponentId) -> Failure {
    Failure::not_found(format!("component {id} is not running on this host"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    HostSpecific,
    Ping,
    LatticeWide,
}

/// Subscribes and spawns one loop per subscription; each request runs in
/// its own task so a slow one (a compile) never blocks a ping.
pub(crate) async fn serve(
    ctx: Arc<HostContext>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, LatticeError> {
    let nats = ctx.lattice.nats().clone();
    let lattice = ctx.lattice.name().clone();
    let nats_err = |e: async_nats::SubscribeError| LatticeError::nats("subscribe control", e);
    let mut subs = vec![
        (
            Route::HostSpecific,
            nats.subscribe(pattern::host_control(&lattice, &ctx.info.id))
                .await
                .map_err(nats_err)?,
        ),
        (
            Route::Ping,
            nats.subscribe(Subject::control(&lattice, ControlVerb::HostPing).to_string())
                .await
                .map_err(nats_err)?,
        ),
    ];
    for wide in pattern::lattice_wide_control(&lattice) {
        let sub = nats
            .queue_subscribe(wide, pattern::control_queue_group(&lattice))
            .await
            .map_err(nats_err)?;
        subs.push((Route::LatticeWide, sub));
    }
    Ok(subs
        .into_iter()
        .map(|(route, mut sub)| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                while let Some(msg) = sub.next().await {
                    let ctx = ctx.clone();
                    tokio::spawn(async move { dispatch(ctx, route, msg).await });
                }
            })
        })
        .collect())
}

async fn dispatch(ctx: Arc<HostContext>, route: Route, msg: Message) {
    let Some(reply_to) = msg.reply.clone() else {
        tracing::debug!(subject = %msg.subject, "control message without reply subject ignored");
        return;
    };
    let verb = match msg.subject.as_str().parse::<Subject>() {
        Ok(Subject::Control { verb, .. }) => verb,
        Ok(other) => {
            return respond(
                &ctx,
                reply_to,
                Err(Failure::invalid(format!(
                    "`{other}` is not a control subject"
                ))),
            )
            .await;
        }
        Err(e) => return respond(&ctx, reply_to, Err(Failure::invalid(e.to_string()))).await,
    };
    // Each verb is answered on exactly one route (the patterns do not
    // overlap; this is the belt to their braces).
    let owner = match (&verb, verb.host()) {
        (ControlVerb::HostPing, _) => Route::Ping,
        (_, Some(_)) => Route::HostSpecific,
        (_, None) => Route::LatticeWide,
    };
    if owner != route {
        return;
    }
    let body = &msg.payload;
    let outcome = handle(ctx.clone(), verb.clone(), body).await;
    if let (Ok(_), Some(journal)) = (&outcome, &ctx.journal) {
        journal.observe(&verb, body);
    }
    if let Err(failure) = &outcome {
        tracing::info!(subject = %msg.subject, kind = %failure.kind, reason = %failure.message, "control request failed");
    }
    respond(&ctx, reply_to, outcome).await;
}

/// Runs one control verb on this host; also how a host that starts
/// offline replays its recorded workloads.
pub(crate) async fn handle(ctx: Arc<HostContext>, verb: ControlVerb, body: &[u8]) -> Outcome {
    match verb {
        ControlVerb::HostPing => host_verbs::ping(&ctx),
        ControlVerb::HostInventory(_) => host_verbs::inventory(&ctx, body),
        ControlVerb::HostStop(_) => host_verbs::stop(&ctx, body),
        ControlVerb::HostLabels(_) => host_verbs::labels(&ctx, body).await,
        ControlVerb::ComponentScale(_) => component::scale(&ctx, body).await,
        ControlVerb::ComponentUpdate(_) => component::update(&ctx, body).await,
        ControlVerb::ComponentProbe(_) => probe::probe(&ctx, body).await,
        ControlVerb::ComponentCall(_) => call::call(&ctx, body).await,
        ControlVerb::ComponentTypes(_) => types::types(&ctx, body),
        ControlVerb::ProviderStart(_) => provider::start(&ctx, body).await,
        ControlVerb::ProviderStop(_) => provider::stop(&ctx, body).await,
        ControlVerb::LinkPut => link::put(&Wide::of(&ctx), body).await,
        ControlVerb::LinkDel => link::del(&Wide::of(&ctx), body).await,
        ControlVerb::LinkList => link::list(&Wide::of(&ctx), body).await,
        ControlVerb::ConfigPut(name) => config::put(&Wide::of(&ctx), &name, body).await,
        ControlVerb::ConfigGet(name) => config::get(&Wide::of(&ctx), &name).await,
        ControlVerb::ConfigDel(name) => config::del(&Wide::of(&ctx), &name).await,
    }
}

async fn respond(ctx: &HostContext, reply_to: async_nats::Subject, outcome: Outcome) {
    let max = ctx.lattice.nats().server_info().max_payload;
    let reply = Reply::encode(outcome, max);
    if let Some(bytes) = reply.oversized {
        tracing::warn!(bytes, max, "control reply too large; sent an error instead");
    }
    if let Err(e) = ctx
        .lattice
        .nats()
        .publish(reply_to, reply.payload.into())
        .await
    {
        tracing::warn!(%e, "could not send control reply");
    }
}
