//! `trellis link put|del`.

use anyhow::Context;
use trellis_protocol::control::{DeleteLinkRequest, PutLinkRequest};
use trellis_protocol::link::{Link, WitName};
use trellis_protocol::{ComponentId, ConfigName, ControlVerb, LinkName};

use super::connect;
use crate::args::{GlobalArgs, LinkCommand};
use crate::output::done;

fn wit(what: &str, text: &str) -> anyhow::Result<WitName> {
    WitName::new(text).with_context(|| what.to_owned())
}

fn configs(names: &[String]) -> anyhow::Result<Vec<ConfigName>> {
    names
        .iter()
        .map(|n| ConfigName::new(n.clone()).context("config name"))
        .collect()
}

pub async fn run(global: &GlobalArgs, cmd: LinkCommand) -> anyhow::Result<()> {
    match cmd {
        LinkCommand::Put {
            source_id,
            target_id,
            namespace,
            package,
            interfaces,
            name,
            source_config,
            target_config,
            force,
        } => {
            let link = Link {
                source_id: ComponentId::new(source_id).context("source id")?,
                target_id: ComponentId::new(target_id).context("target id")?,
                name: LinkName::new(name).context("--name")?,
                wit_namespace: wit("namespace", &namespace)?,
                wit_package: wit("package", &package)?,
                interfaces: interfaces
                    .iter()
                    .map(|i| wit("--interface", i))
                    .collect::<anyhow::Result<_>>()?,
                source_config: configs(&source_config)?,
                target_config: configs(&target_config)?,
                source_secrets: Vec::new(),
                target_secrets: Vec::new(),
                annotations: Default::default(),
            };
            let lattice = connect(global).await?;
            // By hand: the reply waits until every host applied the link,
            // so the next command already sees it.
            let request = PutLinkRequest {
                link: link.clone(),
                force,
                no_wait: false,
            };
            let stored: Option<Link> = lattice
                .control(ControlVerb::LinkPut, &request, None)
                .await?;
            done(
                global.output,
                &stored,
                &format!(
                    "Linked {} -> {} on {}:{}.",
                    link.source_id, link.target_id, link.wit_namespace, link.wit_package
                ),
            )
        }
        LinkCommand::Del {
            source_id,
            namespace,
            package,
            name,
        } => {
            let request = DeleteLinkRequest {
                source_id: ComponentId::new(source_id).context("source id")?,
                wit_namespace: wit("namespace", &namespace)?,
                wit_package: wit("package", &package)?,
                name: LinkName::new(name).context("--name")?,
                no_wait: false,
            };
            let lattice = connect(global).await?;
            let deleted: Option<Link> = lattice
                .control(ControlVerb::LinkDel, &request, None)
                .await?;
            done(global.output, &deleted, "Link deleted.")
        }
    }
}
