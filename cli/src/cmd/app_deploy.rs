//! `trellis app put|deploy|list|status|history|get|rollback|undeploy|delete`:
//! the CLI side of the wadm API.
//!
//! `put` and `deploy FILE` upload the manifest's `file://` images into the
//! lattice's object store first (signing components with the dev issuer
//! when hosts trust it) and send wadm the manifest with `nats://`
//! references, so wadm and hosts never need the files. A component's OCI
//! image is resolved to its manifest digest once per deploy, pulled, and
//! stored the same way; the resolution goes with the put, so `app status`
//! shows it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use trellis_lattice::Lattice;
use trellis_manifest::manifest::{ComponentKind, ImageRef, Manifest};
use trellis_protocol::AppName;
use trellis_protocol::subject::WadmOp;
use trellis_protocol::wadm::{
    AppRequest, AppStatus, AppSummary, AppVersion, DeployReply, GetReply, ImageResolution,
    PutReply, PutRequest, RolloutAction, RolloutPhase, RolloutRequest, StatusState, VersionInfo,
};

use super::{DISCOVERY_WINDOW, connect, devsign, oci};
use crate::app_args::{AppCommand, DeployArgs, RollbackArgs, RolloutActionArg, WaitArgs};
use crate::args::{GlobalArgs, OutputFormat};
use crate::oci_args::RegistryArgs;
use crate::output::{Table, done, print};

/// Bound on one wadm API request.
const API_TIMEOUT: Duration = Duration::from_secs(15);
/// How often `--wait` asks for the status.
const POLL: Duration = Duration::from_millis(250);

/// Runs `trellis app ...`; `validate` is offline, in [`super::app`].
pub(super) async fn run(global: &GlobalArgs, cmd: AppCommand) -> anyhow::Result<()> {
    match cmd {
        AppCommand::Validate(args) => super::app::validate(global.output, &args),
        AppCommand::Put(args) => {
            let manifest = checked(&args.file)?;
            let lattice = connect(global).await?;
            let reply = put(&lattice, &args.file, manifest, &args.registry).await?;
            let verb = if reply.created {
                "stored"
            } else {
                "was already stored"
            };
            done(
                global.output,
                &reply,
                &format!("App {} version {} {verb}.", reply.name, reply.version),
            )
        }
        AppCommand::Deploy(args) => deploy(global, args).await,
        AppCommand::List => list(global).await,
        AppCommand::Status(args) => {
            let lattice = connect(global).await?;
            if args.watch {
                return watch_status(global, &lattice, &args.name).await;
            }
            let status: AppStatus =
                request(&lattice, WadmOp::Status, &app_request(&args.name, None)?).await?;
            print(global.output, &status, || status_table(&status))
        }
        AppCommand::History(args) => {
            let lattice = connect(global).await?;
            let versions: Vec<VersionInfo> =
                request(&lattice, WadmOp::History, &app_request(&args.name, None)?).await?;
            print(global.output, &versions, || {
                let mut t = Table::new(&["VERSION", "STORED", "DEPLOYED"]);
                for v in &versions {
                    let deployed = if v.deployed { "yes" } else { "" };
                    t.row(vec![
                        v.version.to_string(),
                        v.stored_at.clone(),
                        deployed.into(),
                    ]);
                }
                t
            })
        }
        AppCommand::Get(args) => {
            let lattice = connect(global).await?;
            let req = app_request(&args.name, args.version.as_deref())?;
            let got: GetReply = request(&lattice, WadmOp::Get, &req).await?;
            match global.output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&got)?),
                OutputFormat::Table => print!("{}", got.manifest),
            }
            Ok(())
        }
        AppCommand::Rollback(args) => rollback(global, args).await,
        AppCommand::Rollout(args) => {
            let lattice = connect(global).await?;
            let action = match args.action {
                RolloutActionArg::Pause => RolloutAction::Pause,
                RolloutActionArg::Resume => RolloutAction::Resume,
                RolloutActionArg::Abort => RolloutAction::Abort,
            };
            let req = RolloutRequest {
                name: AppName::new(args.name.as_str())?,
                action,
            };
            let reply: DeployReply = request(&lattice, WadmOp::Rollout, &req).await?;
            let verb = match action {
                RolloutAction::Pause => "paused",
                RolloutAction::Resume => "resumed",
                RolloutAction::Abort => "aborted; the old version goes back everywhere",
            };
            done(
                global.output,
                &reply,
                &format!(
                    "Rollout of {} {verb}; `trellis app status {}` shows progress.",
                    reply.name, reply.name
                ),
            )
        }
        AppCommand::Undeploy(args) => {
            let lattice = connect(global).await?;
            let reply: DeployReply =
                request(&lattice, WadmOp::Undeploy, &app_request(&args.name, None)?).await?;
            done(
                global.output,
                &reply,
                &format!("App {} undeployed; wadm stops what it ran.", reply.name),
            )
        }
        AppCommand::Delete(args) => {
            let lattice = connect(global).await?;
            let reply: DeployReply =
                request(&lattice, WadmOp::Delete, &app_request(&args.name, None)?).await?;
            done(
                global.output,
                &reply,
                &format!("App {} and its versions deleted.", reply.name),
            )
        }
    }
}

/// `trellis app list` (and `trellis get apps`).
pub(super) async fn list(global: &GlobalArgs) -> anyhow::Result<()> {
    let lattice = connect(global).await?;
    // Paged: one reply must fit in a NATS message, and 10,000 apps do not.
    let apps: Vec<AppSummary> = lattice
        .apps(None, API_TIMEOUT)
        .await
        .map_err(|e| wadm_error(&lattice, e))?;
    print(global.output, &apps, || {
        let mut t = Table::new(&["NAME", "DEPLOYED", "LATEST", "STATE", "MESSAGE"]);
        for a in &apps {
            t.row(vec![
                a.name.to_string(),
                a.deployed_version
                    .as_ref()
                    .map_or("-".into(), ToString::to_string),
                a.latest_version.to_string(),
                a.state.to_string(),
                a.message.clone().unwrap_or_default(),
            ]);
        }
        t
    })
}

fn app_request(name: &str, version: Option<&str>) -> anyhow::Result<AppRequest> {
    Ok(AppRequest {
        name: AppName::new(name).context("app name")?,
        version: version
            .map(AppVersion::new)
            .transpose()
            .context("--version")?,
    })
}

async fn request<Req: Serialize, Resp: DeserializeOwned>(
    lattice: &Lattice,
    op: WadmOp,
    req: &Req,
) -> anyhow::Result<Resp> {
    let reply: Option<Resp> = lattice
        .wadm_request(op, req, API_TIMEOUT)
        .await
        .map_err(|e| wadm_error(lattice, e))?;
    reply.with_context(|| format!("wadm sent an empty reply to `{op}`"))
}

/// A failed wadm request, saying what to do when no wadm runs.
pub(super) fn wadm_error(lattice: &Lattice, e: trellis_lattice::ControlError) -> anyhow::Error {
    match e {
        trellis_lattice::ControlError::NoResponders { .. } => anyhow::anyhow!(
            "no wadm answers on lattice `{}`; start one with `trellis wadm` (or `trellis up`)",
            lattice.name()
        ),
        other => other.into(),
    }
}

/// Reads and validates a manifest file (offline), listing every problem.
fn checked(file: &Path) -> anyhow::Result<Manifest> {
    let (manifest, problems) = trellis_manifest::validate_file(file)
        .map_err(|e| anyhow::anyhow!("{} is not a valid manifest: {e}", file.display()))?;
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        bail!(
            "{} has {} problem(s):\n  {}",
            file.display(),
            problems.len(),
            list.join("\n  ")
        );
    }
    super::app::print_warnings(&trellis_manifest::manifest::warnings(&manifest));
    Ok(manifest)
}

/// Uploads the local and OCI images of a checked manifest and stores it.
async fn put(
    lattice: &Lattice,
    file: &Path,
    mut manifest: Manifest,
    registry: &RegistryArgs,
) -> anyhow::Result<PutReply> {
    let images = upload_images(lattice, file, &mut manifest, registry).await?;
    let yaml = serde_yaml::to_string(&manifest)?;
    let put = PutRequest {
        manifest: yaml,
        images,
    };
    request(lattice, WadmOp::Put, &put).await
}

/// The target hosts' trusted issuers, asked for once.
async fn trusted_issuers<'a>(
    lattice: &Lattice,
    trusted: &'a mut Option<Vec<String>>,
) -> anyhow::Result<&'a [String]> {
    if trusted.is_none() {
        let hosts = lattice.ping_hosts(DISCOVERY_WINDOW).await?;
        *trusted = Some(hosts.into_iter().flat_map(|h| h.trusted_issuers).collect());
    }
    Ok(trusted.as_deref().unwrap_or(&[]))
}

/// Rewrites `file://` images and components' OCI images to `nats://`
/// references of the bytes stored in the lattice; returns how the OCI
/// ones resolved. Capabilities' OCI images stay as written: wadm maps
/// those to builtin providers.
async fn upload_images(
    lattice: &Lattice,
    file: &Path,
    manifest: &mut Manifest,
    registry_args: &RegistryArgs,
) -> anyhow::Result<Vec<ImageResolution>> {
    let base = trellis_manifest::manifest_dir(file);
    let mut trusted: Option<Vec<String>> = None;
    let mut registry = None;
    // One pull per reference per deploy, however many components name it.
    let mut resolved: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut images = Vec::new();
    for c in &mut manifest.spec.components {
        let path = match ImageRef::parse(&c.properties.image) {
            Ok(ImageRef::File(path)) => path,
            Ok(ImageRef::Oci(text)) if c.kind == ComponentKind::Component => {
                let written = c.properties.image.clone();
                if !resolved.contains_key(&text) {
                    let reference = oci::reference(&text)
                        .with_context(|| format!("image of component {}", c.name))?;
                    let registry = registry.get_or_insert_with(|| oci::registry(registry_args));
                    let trusted = trusted_issuers(lattice, &mut trusted).await?;
                    let imported = oci::import(lattice, registry, &reference, trusted)
                        .await
                        .with_context(|| format!("image of component {}", c.name))?;
                    resolved.insert(
                        text.clone(),
                        (imported.manifest_digest, imported.artifact.reference()),
                    );
                }
                let (digest, artifact) = resolved[&text].clone();
                c.properties.image = artifact.clone();
                images.push(ImageResolution {
                    component: c.name.clone(),
                    reference: written,
                    digest,
                    artifact,
                });
                continue;
            }
            _ => continue,
        };
        let path = trellis_manifest::resolve_file_image(&base, &path);
        let mut bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read image {} of {}", path.display(), c.name))?;
        if c.kind == ComponentKind::Component {
            let trusted = trusted_issuers(lattice, &mut trusted).await?;
            bytes = devsign::sign_if_trusted(bytes, &c.properties.image, trusted)?;
        }
        let artifact = lattice.store().await?.put_artifact(&bytes).await?;
        c.properties.image = artifact.reference();
    }
    Ok(images)
}

async fn deploy(global: &GlobalArgs, args: DeployArgs) -> anyhow::Result<()> {
    let as_file = Path::new(&args.target);
    let manifest = if as_file.is_file() {
        if args.version.is_some() {
            bail!("--version goes with an app NAME; a manifest FILE names its own version");
        }
        Some(checked(as_file)?)
    } else {
        None
    };
    let lattice = connect(global).await?;
    let (name, version) = if let Some(manifest) = manifest {
        let put = put(&lattice, as_file, manifest, &args.registry).await?;
        (put.name.to_string(), Some(put.version.to_string()))
    } else if args.target.ends_with(".yaml") || args.target.ends_with(".yml") {
        bail!("manifest file {} does not exist", args.target);
    } else {
        (args.target.clone(), args.version.clone())
    };
    deploy_version(global, &lattice, &name, version.as_deref(), &args.wait).await
}

async fn deploy_version(
    global: &GlobalArgs,
    lattice: &Lattice,
    name: &str,
    version: Option<&str>,
    wait: &WaitArgs,
) -> anyhow::Result<()> {
    let reply: DeployReply = request(lattice, WadmOp::Deploy, &app_request(name, version)?).await?;
    let version = reply
        .version
        .clone()
        .context("wadm did not say which version it deploys")?;
    if !wait.wait {
        return done(
            global.output,
            &reply,
            &format!(
                "App {} version {version} is deploying; `trellis app status {}` shows progress.",
                reply.name, reply.name
            ),
        );
    }
    let status = wait_deployed(global, lattice, &reply.name, &version, wait.timeout).await?;
    done(
        global.output,
        &status,
        &format!("App {} version {version} is deployed.", reply.name),
    )
}

/// Polls the status until `version` is deployed; fails on `failed` or
/// after `timeout` seconds, with the last reason known.
async fn wait_deployed(
    global: &GlobalArgs,
    lattice: &Lattice,
    name: &AppName,
    version: &AppVersion,
    timeout: u64,
) -> anyhow::Result<AppStatus> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let req = AppRequest {
        name: name.clone(),
        version: None,
    };
    let mut last: Option<(StatusState, Option<String>)> = None;
    loop {
        let status: AppStatus = request(lattice, WadmOp::Status, &req).await?;
        let current = (status.state, status.message.clone());
        // A rollout of this version that was rolled back leaves the old
        // version deployed: that is this deploy's failure.
        if let Some(r) = &status.rollout
            && &r.to == version
            && r.phase == RolloutPhase::RolledBack
        {
            bail!(
                "app {name} {version} failed: {}",
                r.message
                    .as_deref()
                    .unwrap_or("its rollout was rolled back")
            );
        }
        let about_this = status.version.as_ref() == Some(version);
        if about_this && last.as_ref() != Some(&current) {
            if global.output == OutputFormat::Table {
                let why = status
                    .message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                eprintln!("{name} {version}: {}{why}", status.state);
            }
            last = Some(current);
        }
        if about_this {
            match status.state {
                StatusState::Deployed => return Ok(status),
                StatusState::Failed => bail!(
                    "app {name} {version} failed: {}",
                    status.message.as_deref().unwrap_or("no reason given")
                ),
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            let why = last
                .and_then(|(state, message)| message.map(|m| format!("{state}: {m}")))
                .unwrap_or_else(|| "no status from the wadm leader".into());
            bail!("app {name} {version} not deployed after {timeout} s ({why})");
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn rollback(global: &GlobalArgs, args: RollbackArgs) -> anyhow::Result<()> {
    let lattice = connect(global).await?;
    let target = match &args.version {
        Some(v) => v.clone(),
        None => {
            let versions: Vec<VersionInfo> =
                request(&lattice, WadmOp::History, &app_request(&args.name, None)?).await?;
            let Some(current) = versions.iter().position(|v| v.deployed) else {
                bail!(
                    "app {} is not deployed; deploy a version with `trellis app deploy {} --version V`",
                    args.name,
                    args.name
                );
            };
            let Some(previous) = current.checked_sub(1).map(|i| &versions[i]) else {
                bail!(
                    "app {} has no version stored before {}; `trellis app history {}` lists them",
                    args.name,
                    versions[current].version,
                    args.name
                );
            };
            previous.version.to_string()
        }
    };
    deploy_version(global, &lattice, &args.name, Some(&target), &args.wait).await
}

/// `trellis app status NAME --watch`: the status now, then again on every
/// change wadm announces (`app_status` events), until interrupted. A
/// terminal is redrawn; a pipe gets each status after the last (JSON: one
/// line each).
async fn watch_status(global: &GlobalArgs, lattice: &Lattice, name: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    // Watch first, so no change between the request and the watch is lost.
    let mut events = lattice
        .watch_events(&[trellis_protocol::EventType::AppStatus])
        .await
        .context("cannot watch app status events")?;
    let mut status: AppStatus = request(lattice, WadmOp::Status, &app_request(name, None)?).await?;
    let redraw = std::io::stdout().is_terminal();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        match global.output {
            OutputFormat::Json => println!("{}", serde_json::to_string(&status)?),
            OutputFormat::Table => {
                if redraw {
                    // Clear the screen and go home.
                    print!("\x1b[2J\x1b[H");
                }
                print!("{}", status_table(&status).render());
                println!("-- watching app {name} (Ctrl-C to stop)");
            }
        }
        let next = loop {
            let event = tokio::select! {
                event = events.next() => event,
                _ = &mut ctrl_c => return Ok(()),
            };
            match event {
                None => bail!("the lattice connection closed while watching app {name}"),
                Some(Err(bad)) => eprintln!("warning: {bad}"),
                Some(Ok(event)) => {
                    let Ok(changed) = serde_json::from_value::<AppStatus>(event.data) else {
                        continue;
                    };
                    if changed.name.as_str() == name && changed != status {
                        break changed;
                    }
                }
            }
        };
        status = next;
    }
}

fn status_table(status: &AppStatus) -> Table {
    let mut t = Table::new(&["COMPONENT", "ID", "TRAIT", "STATE", "MESSAGE"]);
    t.row(vec![
        format!("({})", status.name),
        status
            .version
            .as_ref()
            .map_or("-".into(), ToString::to_string),
        String::new(),
        status.state.to_string(),
        status.message.clone().unwrap_or_default(),
    ]);
    if let Some(r) = &status.rollout {
        t.row(vec![
            "(rollout)".into(),
            format!("{} -> {}", r.from, r.to),
            format!("stage {}/{} {}", r.stage_index + 1, r.stages, r.stage),
            r.phase.to_string(),
            match &r.message {
                Some(m) => m.clone(),
                None => format!("{} of {} hosts on {}", r.hosts_updated, r.hosts_total, r.to),
            },
        ]);
    }
    for i in &status.images {
        t.row(vec![
            i.component.clone(),
            String::new(),
            "image".into(),
            "resolved".into(),
            format!("{} = {} ({})", i.reference, i.digest, i.artifact),
        ]);
    }
    for c in &status.components {
        for tr in &c.traits {
            t.row(vec![
                c.name.clone(),
                c.id.clone(),
                tr.kind.clone(),
                tr.state.to_string(),
                tr.message.clone().unwrap_or_default(),
            ]);
        }
    }
    t
}
