//! `trellis start|scale|stop|update component|provider`.

use anyhow::{Context, bail};
use trellis_lattice::Lattice;
use trellis_protocol::control::{
    ArtifactRef, NATS_SCHEME, ScaleComponentRequest, StartProviderRequest, StopProviderRequest,
    UpdateComponentRequest,
};
use trellis_protocol::inventory::{ComponentDescription, ProviderDescription};
use trellis_protocol::{ComponentId, ConfigName, ControlVerb, HostId};

use super::{DISCOVERY_WINDOW, choose_host, connect, devsign, host_id};
use crate::args::{GlobalArgs, ScaleCommand, StartCommand, StopCommand, UpdateCommand};
use crate::output::done;

const FILE_SCHEME: &str = "file://";

fn component_id(text: String) -> anyhow::Result<ComponentId> {
    ComponentId::new(text).context("id")
}

fn config_names(names: Vec<String>) -> anyhow::Result<Vec<ConfigName>> {
    names
        .into_iter()
        .map(|n| ConfigName::new(n).context("--config"))
        .collect()
}

/// Resolves a component image to an artifact in the lattice: a `file://`
/// image is read here and uploaded (hosts never need the file); a `nats://`
/// reference names one already stored.
///
/// A local unsigned file is signed with the dev issuer of `trellis up` when
/// the target hosts trust it (`trusted`).
async fn component_artifact(
    lattice: &Lattice,
    image: &str,
    trusted: &[String],
) -> anyhow::Result<ArtifactRef> {
    if let Some(path) = image.strip_prefix(FILE_SCHEME) {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read component file {path}"))?;
        let bytes = devsign::sign_if_trusted(bytes, image, trusted)?;
        return Ok(lattice.store().await?.put_artifact(&bytes).await?);
    }
    if image.starts_with(NATS_SCHEME) {
        return ArtifactRef::parse_reference(image).map_err(anyhow::Error::msg);
    }
    bail!(
        "component image `{image}` is not supported; use file://PATH, the nats:// reference of `trellis push`, \
         or an OCI reference (REGISTRY/REPO:TAG)"
    )
}

pub(super) async fn start(global: &GlobalArgs, cmd: StartCommand) -> anyhow::Result<()> {
    match cmd {
        StartCommand::Component {
            mut image,
            id,
            placement,
            max,
            reuse,
            config,
            registry,
        } => {
            let id = component_id(id)?;
            if max == 0 {
                bail!("--max must be at least 1 to start a component");
            }
            let config = config_names(config)?;
            let lattice = connect(global).await?;
            let (host, ping) = choose_host(&lattice, placement.host.as_deref()).await?;
            let trusted = ping.map(|p| p.trusted_issuers).unwrap_or_default();
            let oci = matches!(
                trellis_manifest::manifest::ImageRef::parse(&image),
                Ok(trellis_manifest::manifest::ImageRef::Oci(_))
            );
            let artifact = if oci {
                // Hosts fetch from the lattice, never from the registry.
                let artifact =
                    super::oci::component_artifact(&lattice, &registry, &image, &trusted).await?;
                image = artifact.reference();
                artifact
            } else {
                component_artifact(&lattice, &image, &trusted).await?
            };
            let request = ScaleComponentRequest {
                component_id: id.clone(),
                image,
                artifact: Some(artifact),
                max,
                reuse,
                config,
                annotations: Default::default(),
                secrets: Vec::new(),
            };
            let started: Option<ComponentDescription> = lattice
                .control(ControlVerb::ComponentScale(host.clone()), &request, None)
                .await
                .with_context(|| format!("starting component {id} on host {host}"))?;
            done(
                global.output,
                &serde_json::json!({"host_id": host, "component": started}),
                &format!("Component {id} started on host {host} (max {max})."),
            )
        }
        StartCommand::Provider {
            image,
            id,
            placement,
            config,
        } => {
            let id = component_id(id)?;
            let config = config_names(config)?;
            // A file:// provider is an executable, shipped like a component.
            let executable = match image.strip_prefix(FILE_SCHEME) {
                Some(path) => Some(
                    std::fs::read(path)
                        .with_context(|| format!("cannot read provider executable {path}"))?,
                ),
                None => None,
            };
            // Signed executables carry their claims beside them.
            let claims = image
                .strip_prefix(FILE_SCHEME)
                .and_then(|path| std::fs::read_to_string(format!("{path}.jwt")).ok());
            let lattice = connect(global).await?;
            let artifact = match executable {
                Some(bytes) => Some(lattice.store().await?.put_artifact(&bytes).await?),
                None => None,
            };
            let (host, _) = choose_host(&lattice, placement.host.as_deref()).await?;
            let request = StartProviderRequest {
                provider_id: id.clone(),
                image,
                artifact,
                claims,
                config,
                annotations: Default::default(),
            };
            let started: Option<ProviderDescription> = lattice
                .control(ControlVerb::ProviderStart(host.clone()), &request, None)
                .await
                .with_context(|| format!("starting provider {id} on host {host}"))?;
            done(
                global.output,
                &serde_json::json!({"host_id": host, "provider": started}),
                &format!("Provider {id} started on host {host}."),
            )
        }
    }
}

/// Hosts that run `id` (as a component, or a provider when `provider`),
/// or just the requested one.
async fn hosts_running(
    lattice: &Lattice,
    id: &ComponentId,
    provider: bool,
    requested: Option<&str>,
) -> anyhow::Result<Vec<HostId>> {
    if let Some(text) = requested {
        return Ok(vec![host_id(text)?]);
    }
    let hosts: Vec<HostId> = lattice
        .inventories(DISCOVERY_WINDOW)
        .await?
        .into_iter()
        .filter(|inv| {
            if provider {
                inv.providers.iter().any(|p| &p.id == id)
            } else {
                inv.components.iter().any(|c| &c.id == id)
            }
        })
        .map(|inv| inv.id)
        .collect();
    if hosts.is_empty() {
        let kind = if provider { "provider" } else { "component" };
        bail!(
            "{kind} {id} is not running on any host of lattice `{}`",
            lattice.name()
        );
    }
    Ok(hosts)
}

async fn scale_on_hosts(
    global: &GlobalArgs,
    id: ComponentId,
    max: u32,
    host: Option<String>,
) -> anyhow::Result<Vec<HostId>> {
    let lattice = connect(global).await?;
    let hosts = hosts_running(&lattice, &id, false, host.as_deref()).await?;
    for host in &hosts {
        let request = ScaleComponentRequest {
            component_id: id.clone(),
            image: String::new(),
            artifact: None,
            max,
            reuse: None,
            config: Vec::new(),
            annotations: Default::default(),
            secrets: Vec::new(),
        };
        lattice
            .control::<_, serde_json::Value>(
                ControlVerb::ComponentScale(host.clone()),
                &request,
                None,
            )
            .await
            .with_context(|| format!("scaling component {id} on host {host}"))?;
    }
    Ok(hosts)
}

pub(super) async fn scale(global: &GlobalArgs, cmd: ScaleCommand) -> anyhow::Result<()> {
    let ScaleCommand::Component { id, max, host } = cmd;
    let id = component_id(id)?;
    let hosts = scale_on_hosts(global, id.clone(), max, host).await?;
    done(
        global.output,
        &serde_json::json!({"component_id": id, "max": max, "hosts": hosts}),
        &format!(
            "Component {id} scaled to max {max} on {} host(s).",
            hosts.len()
        ),
    )
}

pub(super) async fn stop(global: &GlobalArgs, cmd: StopCommand) -> anyhow::Result<()> {
    match cmd {
        StopCommand::Component { id, host } => {
            let id = component_id(id)?;
            let hosts = scale_on_hosts(global, id.clone(), 0, host).await?;
            done(
                global.output,
                &serde_json::json!({"component_id": id, "stopped_on": hosts}),
                &format!("Component {id} stopped on {} host(s).", hosts.len()),
            )
        }
        StopCommand::Provider { id, host } => {
            let id = component_id(id)?;
            let lattice = connect(global).await?;
            let hosts = hosts_running(&lattice, &id, true, host.as_deref()).await?;
            for host in &hosts {
                lattice
                    .control::<_, serde_json::Value>(
                        ControlVerb::ProviderStop(host.clone()),
                        &StopProviderRequest {
                            provider_id: id.clone(),
                        },
                        None,
                    )
                    .await
                    .with_context(|| format!("stopping provider {id} on host {host}"))?;
            }
            done(
                global.output,
                &serde_json::json!({"provider_id": id, "stopped_on": hosts}),
                &format!("Provider {id} stopped on {} host(s).", hosts.len()),
            )
        }
    }
}

pub(super) async fn update(global: &GlobalArgs, cmd: UpdateCommand) -> anyhow::Result<()> {
    let UpdateCommand::Component { id, image, host } = cmd;
    let id = component_id(id)?;
    let lattice = connect(global).await?;
    let hosts = hosts_running(&lattice, &id, false, host.as_deref()).await?;
    let trusted: Vec<String> = lattice
        .ping_hosts(DISCOVERY_WINDOW)
        .await?
        .into_iter()
        .filter(|p| hosts.contains(&p.id))
        .flat_map(|p| p.trusted_issuers)
        .collect();
    let artifact = component_artifact(&lattice, &image, &trusted).await?;
    for host in &hosts {
        let request = UpdateComponentRequest {
            component_id: id.clone(),
            image: image.clone(),
            artifact: artifact.clone(),
        };
        lattice
            .control::<_, serde_json::Value>(
                ControlVerb::ComponentUpdate(host.clone()),
                &request,
                None,
            )
            .await
            .with_context(|| format!("updating component {id} on host {host}"))?;
    }
    done(
        global.output,
        &serde_json::json!({"component_id": id, "image": image, "hosts": hosts}),
        &format!(
            "Component {id} now runs {image} on {} host(s).",
            hosts.len()
        ),
    )
}
