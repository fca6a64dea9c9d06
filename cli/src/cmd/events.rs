//! `trellis events`: lattice events as they happen, one line each (a
//! table row, or the CloudEvent as JSON).

use std::time::Duration;

use anyhow::Context;
use trellis_protocol::EventType;
use trellis_protocol::event::CloudEvent;

use crate::args::{EventsArgs, GlobalArgs, OutputFormat};

/// The fields of an event's data worth a column, in the order shown.
const SHOWN: &[&str] = &[
    "name",
    "component_id",
    "provider_id",
    "source_id",
    "target_id",
    "namespace",
    "package",
    "image",
    "max",
    "state",
    "version",
    "error",
    "reason",
    "message",
];

/// Most characters of one shown value (the sender chose it).
const MAX_VALUE_CHARS: usize = 120;

/// Runs `trellis events`.
pub(super) async fn run(global: &GlobalArgs, args: EventsArgs) -> anyhow::Result<()> {
    let lattice = super::connect(global).await?;
    let types: Vec<EventType> = if args.types.is_empty() {
        EventType::ALL
            .iter()
            .copied()
            .filter(|t| *t != EventType::HostHeartbeat)
            .collect()
    } else {
        args.types.clone()
    };
    let mut watch = lattice
        .watch_events(&types)
        .await
        .context("cannot watch lattice events")?;
    let until = if args.follow {
        "until interrupted (Ctrl-C)".to_owned()
    } else {
        format!("for {} s (--follow to keep going)", args.listen)
    };
    eprintln!("watching events of lattice {} {until}", global.lattice);
    if global.output == OutputFormat::Table {
        println!("{:<20}  {:<22}  {:<14}  DETAIL", "TIME", "TYPE", "SOURCE");
    }
    // One listener each for the whole run, not one per event.
    let listen = Duration::from_secs(args.listen);
    let stop = async {
        match args.follow {
            true => std::future::pending().await,
            false => tokio::time::sleep(listen).await,
        }
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(stop, ctrl_c);
    let mut printed = 0u64;
    while args.count.is_none_or(|n| printed < n) {
        let event = tokio::select! {
            event = watch.next() => event,
            _ = &mut stop => None,
            _ = &mut ctrl_c => None,
        };
        match event {
            None => break,
            Some(Err(bad)) => eprintln!("warning: {bad}"),
            Some(Ok(event)) => {
                match global.output {
                    OutputFormat::Json => println!("{}", serde_json::to_string(&event)?),
                    OutputFormat::Table => println!("{}", row(&event)),
                }
                printed += 1;
            }
        }
    }
    Ok(())
}

/// One table row: time, type, shortened source, the data's notable fields.
fn row(event: &CloudEvent) -> String {
    let kind = event
        .kind()
        .map_or_else(|| clean(&event.event_type), |k| k.as_str().to_owned());
    let source: String = clean(&event.source).chars().take(14).collect();
    let time: String = clean(&event.time).chars().take(20).collect();
    format!(
        "{time:<20}  {kind:<22}  {source:<14}  {}",
        detail(&event.data)
    )
}

/// `key=value` for the fields in [`SHOWN`] that the data has.
pub(super) fn detail(data: &serde_json::Value) -> String {
    SHOWN
        .iter()
        .filter_map(|key| {
            let value = data.get(*key)?;
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => return None,
                other => other.to_string(),
            };
            let text: String = clean(&text).chars().take(MAX_VALUE_CHARS).collect();
            Some(format!("{key}={text}"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` without control characters: an event's sender must not be able
/// to move the cursor or recolour the operator's terminal.
pub(super) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_the_notable_fields_and_no_terminal_escapes() {
        let event = CloudEvent {
            specversion: "1.0".into(),
            id: "1".into(),
            source: "NABCDEFGHIJKLMNOPQRSTUVWXYZ".into(),
            event_type: "dev.trellis.lattice.component_scaled".into(),
            time: "1970-01-01T00:00:00Z".into(),
            datacontenttype: "application/json".into(),
            data: serde_json::json!({
                "component_id": "hello", "max": 3, "image": "file://x\u{1b}[2J.wasm",
                "annotations": {"ignored": "yes"}, "error": null,
            }),
        };
        let line = row(&event);
        assert!(
            line.starts_with("1970-01-01T00:00:00Z  component_scaled"),
            "{line}"
        );
        assert!(line.contains("NABCDEFGHIJKLM "), "source shortened: {line}");
        assert!(
            line.ends_with("component_id=hello image=file://x?[2J.wasm max=3"),
            "{line}"
        );
        assert!(!line.contains('\u{1b}'));
    }
}
