//! `trellis config put|get|del`.

use anyhow::Context;
use trellis_protocol::control::ConfigValues;
use trellis_protocol::{ConfigName, ControlVerb};

use super::{connect, parse_pairs};
use crate::args::{ConfigCommand, GlobalArgs};
use crate::output::{Table, done, print};

pub(super) async fn run(global: &GlobalArgs, cmd: ConfigCommand) -> anyhow::Result<()> {
    let name_of = |name: &str| ConfigName::new(name).context("config name");
    match cmd {
        ConfigCommand::Put { name, values } => {
            let name = name_of(&name)?;
            let values = parse_pairs("config value", &values)?;
            let lattice = connect(global).await?;
            let stored: Option<ConfigValues> = lattice
                .control(ControlVerb::ConfigPut(name.clone()), &values, None)
                .await?;
            done(global.output, &stored, &format!("Config {name} stored."))
        }
        ConfigCommand::Get { name } => {
            let name = name_of(&name)?;
            let lattice = connect(global).await?;
            let values: ConfigValues = lattice
                .control(ControlVerb::ConfigGet(name), &(), None)
                .await?
                .unwrap_or_default();
            print(global.output, &values, || {
                let mut table = Table::new(&["KEY", "VALUE"]);
                for (k, v) in &values {
                    table.row(vec![k.clone(), v.clone()]);
                }
                table
            })
        }
        ConfigCommand::Del { name } => {
            let name = name_of(&name)?;
            let lattice = connect(global).await?;
            lattice
                .control::<_, serde_json::Value>(ControlVerb::ConfigDel(name.clone()), &(), None)
                .await?;
            done(
                global.output,
                &serde_json::json!({"deleted": name}),
                &format!("Config {name} deleted."),
            )
        }
    }
}
