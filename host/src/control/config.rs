//! `config.put`, `config.get`, `config.del`.

use trellis_protocol::control::{Failure, PutConfigRequest};
use trellis_protocol::event::data::ConfigChanged;
use trellis_protocol::limits;
use trellis_protocol::{ConfigName, EventType};

use super::barrier::{Bucket, await_applied};
use super::wide::Wide;
use super::{Outcome, data, storage};

pub(super) async fn put(ctx: &Wide<'_>, name: &ConfigName, body: &[u8]) -> Outcome {
    let (values, no_wait) = PutConfigRequest::parse(body)
        .map_err(|e| e.context(format!("config {name}")))?
        .into_parts();
    limits::check_config_values(name, &values).map_err(|e| Failure::invalid(e.to_string()))?;
    let revision = ctx.store.put_config(name, &values).await.map_err(storage)?;
    if !no_wait {
        await_applied(ctx, Bucket::Config, revision).await;
    }
    ctx.publish(EventType::ConfigSet, ConfigChanged { name: name.clone() })
        .await;
    data(values)
}

pub(super) async fn get(ctx: &Wide<'_>, name: &ConfigName) -> Outcome {
    match ctx.store.get_config(name).await.map_err(storage)? {
        Some(values) => data(values),
        None => Err(no_config(name)),
    }
}

pub(super) async fn del(ctx: &Wide<'_>, name: &ConfigName) -> Outcome {
    let Some(revision) = ctx.store.del_config(name).await.map_err(storage)? else {
        return Err(no_config(name));
    };
    await_applied(ctx, Bucket::Config, revision).await;
    ctx.publish(
        EventType::ConfigDeleted,
        ConfigChanged { name: name.clone() },
    )
    .await;
    Ok(serde_json::Value::Null)
}

fn no_config(name: &ConfigName) -> Failure {
    Failure::not_found(format!("no config named {name}"))
}
