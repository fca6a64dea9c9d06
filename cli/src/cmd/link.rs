//! `trellis link put|del`.

use anyhow::{Context, bail};
use trellis_lattice::Lattice;
use trellis_protocol::control::{DeleteLinkRequest, PutLinkRequest};
use trellis_protocol::inventory::HostInventory;
use trellis_protocol::link::{Link, WitName};
use trellis_protocol::signature::{ComponentTypes, ComponentTypesRequest, link_mismatches};
use trellis_protocol::{ComponentId, ConfigName, ControlVerb, LinkName};

use super::{DISCOVERY_WINDOW, connect};
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

pub(super) async fn run(global: &GlobalArgs, cmd: LinkCommand) -> anyhow::Result<()> {
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
            no_type_check,
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
            if !no_type_check {
                check_types(&lattice, &link).await?;
            }
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

/// Refuses a link whose target does not export what the source imports
/// through it, with the same types. Only where both ends run somewhere
/// (a provider target, or a component not started yet, is not checked:
/// its types are not known).
async fn check_types(lattice: &Lattice, link: &Link) -> anyhow::Result<()> {
    let inventories = lattice.inventories(DISCOVERY_WINDOW).await?;
    let source = types_of(lattice, &inventories, &link.source_id).await;
    let target = types_of(lattice, &inventories, &link.target_id).await;
    let (source, target) = match (source, target) {
        (Ok(Some(source)), Ok(Some(target))) => (source, target),
        // A host that cannot say (an older one, or types too large for a
        // reply) is no reason to refuse: the call still says what is
        // wrong if the types differ.
        (Err(e), _) | (_, Err(e)) => {
            eprintln!(
                "warning: the link's function types were not checked ({e:#}); it is stored \
                 unchecked"
            );
            return Ok(());
        }
        // One end runs nowhere yet: wadm and the call check it later.
        _ => return Ok(()),
    };
    let problems = link_mismatches(link, &source, &target);
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "cannot link {} -> {} on {}:{}: {} does not export what {} imports through it\n  {}\n\
         Link a target that exports the interface with these types, rebuild one side against \
         the same WIT, or pass --no-type-check to store the link anyway (calls will then fail).",
        link.source_id,
        link.target_id,
        link.wit_namespace,
        link.wit_package,
        link.target_id,
        link.source_id,
        problems.join("\n  ")
    )
}

/// The function types of component `id` from the first host that runs
/// it, if any does.
async fn types_of(
    lattice: &Lattice,
    inventories: &[HostInventory],
    id: &ComponentId,
) -> anyhow::Result<Option<ComponentTypes>> {
    let Some(host) = inventories
        .iter()
        .find(|inv| inv.components.iter().any(|c| &c.id == id))
    else {
        return Ok(None);
    };
    let request = ComponentTypesRequest {
        component_id: id.clone(),
    };
    let types: Option<ComponentTypes> = lattice
        .control(ControlVerb::ComponentTypes(host.id.clone()), &request, None)
        .await
        .with_context(|| format!("reading the types of {id} from host {}", host.id))?;
    Ok(types)
}
