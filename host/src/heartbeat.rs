//! Periodic `host_heartbeat` events carrying the inventory: all of it, or
//! its first page when it is bigger than one page (`next` is set then, and
//! readers fetch the rest with `host.inventory`), so a heartbeat always
//! fits in a message.

use std::sync::Arc;

use trellis_protocol::EventType;

use crate::context::{HostContext, publish};

/// Publishes a heartbeat every period until the task is aborted at
/// shutdown. The first one goes out at once so a new host is visible
/// without waiting a period.
pub(crate) async fn run(ctx: Arc<HostContext>) {
    let mut ticker = tokio::time::interval(ctx.config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let first_page = ctx.inventory().page(None, crate::control::page_limit(&ctx));
        publish(&ctx, EventType::HostHeartbeat, first_page).await;
    }
}
