//! `trellis push` (to the lattice or an OCI registry), `trellis pull`,
//! `trellis registry login`, and bringing OCI components into the lattice
//! for `app put/deploy` and `start component`.
//!
//! Hosts never talk to registries: the CLI pulls a reference once,
//! stores the bytes in the lattice's object store (content addressed) and
//! hands hosts the `nats://` reference, so a host without registry access
//! (an edge site) runs it all the same.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use trellis_lattice::Lattice;
use trellis_oci::{ImageReference, Registry, RegistryConfig};
use trellis_protocol::control::ArtifactRef;

use super::{connect, devsign};
use crate::args::{GlobalArgs, OutputFormat};
use crate::oci_args::{PullArgs, PushArgs, RegistryArgs, RegistryCommand};
use crate::output::done;

/// Most bytes of a password read from standard input.
const MAX_PASSWORD_BYTES: u64 = 64 * 1024;

/// The registry client the flags describe.
pub(super) fn registry(args: &RegistryArgs) -> Registry {
    Registry::new(RegistryConfig {
        insecure: args.allow_insecure.clone(),
        timeout: Duration::from_secs(args.registry_timeout.max(1)),
        ..RegistryConfig::default()
    })
}

/// Parses a reference given on the command line or in a manifest.
pub(super) fn reference(text: &str) -> anyhow::Result<ImageReference> {
    Ok(ImageReference::parse(text)?)
}

/// A component pulled from a registry and stored in the lattice.
pub(super) struct Imported {
    /// The manifest digest (`sha256:HEX`) the reference resolved to.
    pub manifest_digest: String,
    /// Where the (possibly dev-signed) bytes now live.
    pub artifact: ArtifactRef,
}

/// Pulls `reference`, signs it with the dev issuer when the hosts trust
/// it (as local files are), and stores it in the lattice's object store.
pub(super) async fn import(
    lattice: &Lattice,
    registry: &Registry,
    reference: &ImageReference,
    trusted: &[String],
) -> anyhow::Result<Imported> {
    let pulled = registry.pull(reference).await?;
    // The repository path (no tag) names the component when it is signed.
    let name = format!("{}/{}", reference.registry(), reference.repository());
    let bytes = devsign::sign_if_trusted(pulled.bytes, &name, trusted)?;
    let artifact = lattice.store().await?.put_artifact(&bytes).await?;
    Ok(Imported {
        manifest_digest: pulled.manifest_digest,
        artifact,
    })
}

/// `trellis push FILE` (into the lattice) or `trellis push REFERENCE FILE`.
pub(super) async fn push(global: &GlobalArgs, args: PushArgs) -> anyhow::Result<()> {
    let (target, file) = match args.args.as_slice() {
        [file] => return push_to_lattice(global, file).await,
        [target, file] => (target, file),
        _ => bail!("push takes FILE, or REFERENCE FILE"),
    };
    let reference = reference(target)?;
    let path = file.strip_prefix("file://").unwrap_or(file);
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    let size = bytes.len();
    let digest = registry(&args.registry).push(&reference, bytes).await?;
    let pinned = reference.with_digest(&digest)?;
    done(
        global.output,
        &serde_json::json!({
            "reference": reference.to_string(),
            "digest": digest,
            "pinned": pinned.to_string(),
            "size": size,
        }),
        &digest,
    )
}

/// `trellis push FILE`: stores the file in the lattice and prints its
/// `nats://` reference.
async fn push_to_lattice(global: &GlobalArgs, file: &str) -> anyhow::Result<()> {
    let path = file.strip_prefix("file://").unwrap_or(file);
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    let lattice = connect(global).await?;
    let artifact = lattice.store().await?.put_artifact(&bytes).await?;
    let reference = artifact.reference();
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "reference": reference, "sha256": artifact.sha256, "size": bytes.len(),
            }))?
        ),
        OutputFormat::Table => println!("{reference}"),
    }
    Ok(())
}

/// `trellis pull REFERENCE [-o FILE]`.
pub(super) async fn pull(global: &GlobalArgs, args: PullArgs) -> anyhow::Result<()> {
    let reference = reference(&args.reference)?;
    let pulled = registry(&args.registry).pull(&reference).await?;
    let out = args.output_file.unwrap_or_else(|| {
        let last = reference
            .repository()
            .rsplit('/')
            .next()
            .unwrap_or("component");
        PathBuf::from(format!("{last}.wasm"))
    });
    std::fs::write(&out, &pulled.bytes)
        .with_context(|| format!("cannot write {}", out.display()))?;
    done(
        global.output,
        &serde_json::json!({
            "reference": pulled.reference_with_digest.to_string(),
            "digest": pulled.manifest_digest,
            "file": out.display().to_string(),
            "size": pulled.bytes.len(),
        }),
        &format!(
            "Pulled {} ({} bytes) into {}.",
            pulled.reference_with_digest,
            pulled.bytes.len(),
            out.display()
        ),
    )
}

/// `trellis registry ...`.
pub(super) async fn run(global: &GlobalArgs, cmd: RegistryCommand) -> anyhow::Result<()> {
    match cmd {
        RegistryCommand::Login(args) => {
            if !args.password_stdin {
                bail!("give the password on standard input with --password-stdin");
            }
            let mut password = String::new();
            std::io::stdin()
                .take(MAX_PASSWORD_BYTES)
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!(
                    "no password on standard input; pipe it in, e.g. `echo $TOKEN | trellis registry login ...`"
                );
            }
            if !trellis_oci::is_registry(&args.registry) || args.registry.contains('/') {
                bail!(
                    "`{}` is not a registry: give host[:port] as in references, e.g. ghcr.io or 127.0.0.1:5000",
                    args.registry
                );
            }
            let path = registry(&args.registry_args)
                .login(&args.registry, &args.username, password)
                .await?;
            done(
                global.output,
                &serde_json::json!({"registry": args.registry, "config": path.display().to_string()}),
                &format!(
                    "Logged in to {} as {}; credentials kept in {}.",
                    args.registry,
                    args.username,
                    path.display()
                ),
            )
        }
    }
}

/// `trellis start component` with an OCI image: pulled and stored in the
/// lattice; the host is given the `nats://` reference.
pub(super) async fn component_artifact(
    lattice: &Lattice,
    args: &RegistryArgs,
    image: &str,
    trusted: &[String],
) -> anyhow::Result<ArtifactRef> {
    let reference = reference(image)?;
    let imported = import(lattice, &registry(args), &reference, trusted).await?;
    eprintln!(
        "{image} resolved to {}, stored as {}",
        imported.manifest_digest,
        imported.artifact.reference()
    );
    Ok(imported.artifact)
}
