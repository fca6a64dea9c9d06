//! `trellis get hosts|inventory|links`.

use trellis_protocol::inventory::HostInventory;
use trellis_protocol::link::Link;

use super::{DISCOVERY_WINDOW, connect, host_id};
use crate::args::{GetCommand, GlobalArgs};
use crate::output::{Table, pairs, print};

pub(super) async fn run(global: &GlobalArgs, cmd: GetCommand) -> anyhow::Result<()> {
    let lattice = connect(global).await?;
    match cmd {
        GetCommand::Apps => super::app_deploy::list(global).await,
        GetCommand::Hosts => {
            let hosts = lattice.ping_hosts(DISCOVERY_WINDOW).await?;
            print(global.output, &hosts, || {
                let mut table =
                    Table::new(&["ID", "NAME", "UPTIME", "COMPONENTS", "PROVIDERS", "LABELS"]);
                for h in &hosts {
                    table.row(vec![
                        h.id.to_string(),
                        h.name.clone(),
                        format!("{}s", h.uptime_seconds),
                        h.components.to_string(),
                        h.providers.to_string(),
                        pairs(&h.labels),
                    ]);
                }
                table
            })
        }
        GetCommand::Inventory {
            host_id: id,
            page_bytes,
        } => {
            // Every host's inventory, page by page, so a host that runs
            // thousands of components lists them all.
            let ids = match id {
                Some(id) => vec![host_id(&id)?],
                None => lattice
                    .ping_hosts(DISCOVERY_WINDOW)
                    .await?
                    .into_iter()
                    .map(|h| h.id)
                    .collect(),
            };
            let mut all: Vec<HostInventory> = Vec::with_capacity(ids.len());
            for id in &ids {
                all.extend(lattice.host_inventory(id, page_bytes, None).await?);
            }
            print_inventories(global, &all)
        }
        GetCommand::Links => {
            let links: Vec<Link> = lattice.links(None).await?;
            print(global.output, &links, || {
                let mut table =
                    Table::new(&["SOURCE", "TARGET", "INTERFACES", "NAME", "SOURCE CONFIG"]);
                for l in &links {
                    let interfaces = l
                        .interfaces
                        .iter()
                        .map(|i| format!("{}:{}/{i}", l.wit_namespace, l.wit_package))
                        .collect::<Vec<_>>()
                        .join(",");
                    table.row(vec![
                        l.source_id.to_string(),
                        l.target_id.to_string(),
                        interfaces,
                        l.name.to_string(),
                        l.source_config
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    ]);
                }
                table
            })
        }
    }
}

fn print_inventories(global: &GlobalArgs, all: &[HostInventory]) -> anyhow::Result<()> {
    print(global.output, &all, || {
        // Imports are many (all of WASI a toolchain links); `--output
        // json` lists them.
        let mut table = Table::new(&["HOST", "KIND", "ID", "IMAGE", "MAX", "EXPORTS"]);
        for inv in all {
            for c in &inv.components {
                table.row(vec![
                    inv.name.clone(),
                    "component".into(),
                    c.id.to_string(),
                    c.image.clone(),
                    c.max.to_string(),
                    c.exports.join(","),
                ]);
            }
            for p in &inv.providers {
                table.row(vec![
                    inv.name.clone(),
                    "provider".into(),
                    p.id.to_string(),
                    p.image.clone(),
                    String::new(),
                    String::new(),
                ]);
            }
        }
        table
    })
}
