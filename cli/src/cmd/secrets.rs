//! `trellis secrets keygen|put|get|del|list|rotate|rekey`: the lattice's
//! secret store.
//! Values are sealed here, before they leave the machine, and only
//! `get --reveal` ever prints one.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use trellis_lattice::secrets::{MAX_SECRET_BYTES, SecretsKey};
use trellis_protocol::secret::SecretKey;

use super::connect;
use super::host::trellis_home;
use crate::args::GlobalArgs;
use crate::output::{Table, done, print};
use crate::secrets_args::{SecretsCommand, SecretsKeyArg, SecretsPutArgs};

/// The file `trellis up` keeps its lattice's secrets key in, in its data dir.
pub(super) const UP_SECRETS_KEY_FILE: &str = "secrets.key";

pub(super) async fn run(global: &GlobalArgs, cmd: SecretsCommand) -> anyhow::Result<()> {
    match cmd {
        SecretsCommand::Keygen { file } => {
            let key = SecretsKey::generate()?;
            key.write_new_file(&file)?;
            done(
                global.output,
                &serde_json::json!({"file": file, "key_id": key.id_hex()}),
                &format!(
                    "Wrote secrets key {} (key id {}). Keep it safe: it opens every secret stored with it.",
                    file.display(),
                    key.id_hex()
                ),
            )
        }
        SecretsCommand::Put(args) => put(global, args).await,
        SecretsCommand::Get {
            key,
            reveal,
            key_file,
        } => {
            let key = store_key(&key)?;
            let secrets_key = if reveal {
                Some(load_key(&key_file)?)
            } else {
                None
            };
            let store = connect(global).await?.secret_store(secrets_key).await?;
            if reveal {
                let value = store
                    .get(&key)
                    .await?
                    .with_context(|| format!("no secret stored under {key}"))?;
                let mut out = std::io::stdout().lock();
                out.write_all(value.as_bytes())?;
                return Ok(out.flush()?);
            }
            let info = store
                .info(&key)
                .await?
                .with_context(|| format!("no secret stored under {key}"))?;
            print(global.output, &info, || {
                let mut table =
                    Table::new(&["KEY", "REVISION", "STORED", "SEALED BYTES", "KEY ID"]);
                table.row(vec![
                    info.key.clone(),
                    info.revision.to_string(),
                    info.stored_at.clone(),
                    info.sealed_bytes.to_string(),
                    info.key_id.clone(),
                ]);
                table
            })
        }
        SecretsCommand::Del { key } => {
            let key = store_key(&key)?;
            let store = connect(global).await?.secret_store(None).await?;
            if !store.del(&key).await? {
                bail!("no secret stored under {key}");
            }
            done(
                global.output,
                &serde_json::json!({"deleted": key}),
                &format!("Secret {key} deleted."),
            )
        }
        SecretsCommand::Rotate {
            file,
            finish,
            key_file,
        } => rotate(global, &file, finish, &key_file).await,
        SecretsCommand::Rekey { key_file } => rekey(global, &key_file).await,
        SecretsCommand::List => {
            let keys = connect(global)
                .await?
                .secret_store(None)
                .await?
                .list()
                .await?;
            print(global.output, &keys, || {
                let mut table = Table::new(&["KEY"]);
                for k in &keys {
                    table.row(vec![k.clone()]);
                }
                table
            })
        }
    }
}

/// `secrets rotate`: the first step (a new key file that also opens what
/// the old key sealed) or, with `finish`, the last (the current key alone).
async fn rotate(
    global: &GlobalArgs,
    file: &Path,
    finish: bool,
    key_file: &SecretsKeyArg,
) -> anyhow::Result<()> {
    let key = load_key(key_file)?;
    if !finish {
        let next = SecretsKey::generate()?.rotated_from(&key)?;
        next.write_new_file(file)?;
        let previous = next.previous_ids();
        return done(
            global.output,
            &serde_json::json!({
                "file": file, "key_id": next.id_hex(), "previous": previous,
            }),
            &format!(
                "Wrote {} (key id {}, still opening {}). Next: give it to every host and \
                 restart them, then run `trellis secrets rekey --secrets-key {}`.",
                file.display(),
                next.id_hex(),
                previous.join(", "),
                file.display()
            ),
        );
    }
    let store = connect(global)
        .await?
        .secret_store(Some(key.clone()))
        .await?;
    let others = store.sealed_with_other_keys().await?;
    if !others.is_empty() {
        let list: Vec<String> = others.iter().map(|(k, id)| format!("{k} ({id})")).collect();
        bail!(
            "{} secret(s) are not sealed with key {} yet: {}; run `trellis secrets rekey` first \
             (dropping the earlier keys now would leave them unopenable)",
            others.len(),
            key.id_hex(),
            list.join(", ")
        );
    }
    let last = key.without_previous();
    last.write_new_file(file)?;
    done(
        global.output,
        &serde_json::json!({"file": file, "key_id": last.id_hex(), "previous": []}),
        &format!(
            "Wrote {} (key id {} alone). Give it to every host in place of the rotation's file; \
             the earlier keys open nothing that is stored.",
            file.display(),
            last.id_hex()
        ),
    )
}

/// `secrets rekey`: every secret sealed again with the current key.
async fn rekey(global: &GlobalArgs, key_file: &SecretsKeyArg) -> anyhow::Result<()> {
    let key = load_key(key_file)?;
    let store = connect(global).await?.secret_store(Some(key)).await?;
    let report = store.rekey().await?;
    if !report.failed.is_empty() {
        let list: Vec<String> = report
            .failed
            .iter()
            .map(|(k, why)| format!("{k}: {why}"))
            .collect();
        bail!(
            "sealed {} secret(s) again ({} already current), but {} were left as they were:\n  {}",
            report.rekeyed.len(),
            report.current,
            report.failed.len(),
            list.join("\n  ")
        );
    }
    done(
        global.output,
        &report,
        &format!(
            "Sealed {} secret(s) again; {} were current already.",
            report.rekeyed.len(),
            report.current
        ),
    )
}

async fn put(global: &GlobalArgs, args: SecretsPutArgs) -> anyhow::Result<()> {
    let key = store_key(&args.key)?;
    let secrets_key = load_key(&args.key_file)?;
    let value = match &args.from_file {
        Some(path) => read_bounded(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
            &path.display().to_string(),
        )?,
        None => {
            let mut value = read_bounded(std::io::stdin().lock(), "stdin")?;
            if value.ends_with(b"\n") {
                value.pop();
                if value.ends_with(b"\r") {
                    value.pop();
                }
            }
            value
        }
    };
    let (ours, previous) = (secrets_key.id_hex(), secrets_key.previous_ids());
    let store = connect(global)
        .await?
        .secret_store(Some(secrets_key))
        .await?;
    // Hosts hold one key file: a value sealed with a key it lacks would
    // not open there. Mid-rotation (theirs is an earlier key of ours) the
    // hosts are meant to have this file already.
    if let Some(theirs) = store.sealing_key_id(&key).await?
        && theirs != ours
        && !previous.contains(&theirs)
    {
        eprintln!(
            "warning: secrets of this lattice are sealed with key id {theirs}, this key is {ours}; \
             hosts with the other key cannot open {key} (use the lattice's key file, or \
             change keys with `trellis secrets rotate`)"
        );
    }
    let revision = store.put(&key, &value).await?;
    done(
        global.output,
        &serde_json::json!({"key": key, "revision": revision, "bytes": value.len()}),
        &format!("Secret {key} stored ({} bytes, sealed).", value.len()),
    )
}

fn store_key(key: &str) -> anyhow::Result<SecretKey> {
    SecretKey::new(key).context("secret key")
}

/// At most [`MAX_SECRET_BYTES`] from `reader`; more is an error, not a cut.
fn read_bounded(reader: impl std::io::Read, what: &str) -> anyhow::Result<Vec<u8>> {
    let mut value = Vec::new();
    reader
        .take(MAX_SECRET_BYTES as u64 + 2)
        .read_to_end(&mut value)
        .with_context(|| format!("reading the value from {what}"))?;
    // One byte over is allowed for the newline --value-stdin drops.
    if value.len() > MAX_SECRET_BYTES + 1 {
        bail!(
            "the value from {what} is over the limit of {MAX_SECRET_BYTES} bytes; store a reference (a path or URL) instead"
        );
    }
    Ok(value)
}

/// The key file: the flag or env var, else that of a `trellis up`
/// running with the default data dir.
fn load_key(arg: &SecretsKeyArg) -> anyhow::Result<SecretsKey> {
    let path = match &arg.secrets_key {
        Some(path) => path.clone(),
        None => running_up_key().context(
            "no secrets key: pass --secrets-key FILE (or set TRELLIS_SECRETS_KEY); \
             `trellis up` keeps one in its data dir (secrets.key)",
        )?,
    };
    Ok(SecretsKey::read_file(&path)?)
}

fn running_up_key() -> Option<PathBuf> {
    let dir = trellis_home()?.join("data");
    super::up_state::running_up(&dir)?;
    Some(dir.join(UP_SECRETS_KEY_FILE)).filter(|p| p.is_file())
}

/// For `trellis up`: the key in `dir`, made on the first `up`.
pub(super) fn up_key(dir: &Path) -> anyhow::Result<SecretsKey> {
    let path = dir.join(UP_SECRETS_KEY_FILE);
    if !path.exists() {
        SecretsKey::generate()?.write_new_file(&path)?;
        eprintln!(
            "Secrets: made the lattice's secrets key {}.",
            path.display()
        );
    }
    Ok(SecretsKey::read_file(&path)?)
}
