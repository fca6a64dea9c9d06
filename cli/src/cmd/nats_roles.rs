//! `trellis nats-config roles`: a nats-server `authorization` block with
//! one role per kind of client of a lattice, and an nkey per role.
//!
//! Each role may publish and subscribe to what its part of the lattice
//! needs and nothing more. JetStream is allowed per stream (the lattice's
//! KV buckets and object store), one API verb at a time: no role may
//! delete, update or purge a lattice stream except the operator's purge of
//! old artifact chunks that replacing an object does. What each role needs:
//!
//! - **host** (also the external providers it runs): serves control
//!   requests, rpc and provider health checks, publishes events, reads
//!   and writes links, config
//!   and the `keyvalue-nats` bucket, reads artifacts. Not wadm's bucket,
//!   not the wadm API, cannot send control requests.
//! - **wadm**: sends control requests, serves the wadm API, publishes app
//!   status, owns its bucket, reads links, config and artifacts.
//! - **operator** (the CLI): sends control and wadm API requests, watches
//!   events, uploads artifacts. It creates no stream (hosts and wadm do).

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;
use trellis_protocol::LatticeName;
use trellis_protocol::subject::pattern;

/// The kinds of lattice clients, in the order they are printed.
pub(super) const ROLES: [Role; 3] = [Role::Host, Role::Wadm, Role::Operator];

/// One kind of lattice client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// `trellis host` / `trellis up --nats-url` and its external providers.
    Host,
    /// `trellis wadm`.
    Wadm,
    /// The CLI of a person or a pipeline.
    Operator,
}

impl Role {
    /// The variable name in the configuration.
    fn var(self) -> &'static str {
        match self {
            Role::Host => "TRELLIS_HOST",
            Role::Wadm => "TRELLIS_WADM",
            Role::Operator => "TRELLIS_OPERATOR",
        }
    }

    /// The seed file name in the keys directory.
    pub(super) fn seed_file(self) -> &'static str {
        match self {
            Role::Host => "host.nk",
            Role::Wadm => "wadm.nk",
            Role::Operator => "operator.nk",
        }
    }
}

/// What a stream's user may do with it through the JetStream API.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Look it up, read messages, watch it with ordered consumers.
    Read,
    /// Read, and create it when missing (hosts and wadm open the buckets).
    ReadCreate,
    /// Read, and purge (an object store put purges the replaced chunks).
    ReadPurge,
}

/// The JetStream API subjects for `access` to `stream`.
fn js_api(stream: &str, access: Access, out: &mut Vec<String>) {
    for verb in [
        "STREAM.INFO.{s}",
        "STREAM.MSG.GET.{s}",
        "DIRECT.GET.{s}",
        "DIRECT.GET.{s}.>",
        "CONSUMER.CREATE.{s}",
        "CONSUMER.CREATE.{s}.>",
        "CONSUMER.INFO.{s}.*",
        "CONSUMER.DELETE.{s}.*",
        "CONSUMER.MSG.NEXT.{s}.*",
    ] {
        out.push(format!("$JS.API.{}", verb.replace("{s}", stream)));
    }
    // Flow control replies of the ordered consumers that watch and fetch.
    out.push(format!("$JS.FC.{stream}.>"));
    match access {
        Access::Read => {}
        Access::ReadCreate => out.push(format!("$JS.API.STREAM.CREATE.{stream}")),
        Access::ReadPurge => out.push(format!("$JS.API.STREAM.PURGE.{stream}")),
    }
}

/// Publish and subscribe allow lists of `role` on `lattice`.
pub(super) fn permissions(role: Role, lattice: &LatticeName) -> (Vec<String>, Vec<String>) {
    let subjects = LatticeSubjects::new(lattice);
    let kv = |b: &str| format!("KV_TRELLIS_{b}_{lattice}");
    let kv_data = |b: &str| format!("$KV.TRELLIS_{b}_{lattice}.>");
    let objects = format!("OBJ_TRELLIS_ARTIFACTS_{lattice}");
    let object_data = format!("$O.TRELLIS_ARTIFACTS_{lattice}.>");
    // Account info: how a JetStream client checks JetStream is there.
    let mut publish = vec!["$JS.API.INFO".to_owned()];
    let mut subscribe = vec!["_INBOX.>".to_owned()];
    match role {
        Role::Host => {
            publish.extend([
                subjects.events.clone(),
                subjects.rpc.clone(),
                subjects.streams.clone(),
                subjects.provider_health.clone(),
                "_INBOX.>".into(),
            ]);
            for bucket in ["LINKS", "CONFIG", "KV"] {
                publish.push(kv_data(bucket));
                js_api(&kv(bucket), Access::ReadCreate, &mut publish);
            }
            js_api(&objects, Access::ReadCreate, &mut publish);
            subscribe.extend([
                subjects.control.clone(),
                subjects.rpc.clone(),
                subjects.streams.clone(),
                subjects.provider_health.clone(),
            ]);
        }
        Role::Wadm => {
            publish.extend([
                subjects.control.clone(),
                subjects.events.clone(),
                "_INBOX.>".into(),
                kv_data("WADM"),
            ]);
            js_api(&kv("WADM"), Access::ReadCreate, &mut publish);
            for bucket in ["LINKS", "CONFIG"] {
                js_api(&kv(bucket), Access::ReadCreate, &mut publish);
            }
            js_api(&objects, Access::ReadCreate, &mut publish);
            subscribe.extend([subjects.events.clone(), subjects.wadm.clone()]);
        }
        Role::Operator => {
            publish.extend([subjects.control.clone(), subjects.wadm.clone(), object_data]);
            for bucket in ["LINKS", "CONFIG"] {
                js_api(&kv(bucket), Access::Read, &mut publish);
            }
            js_api(&objects, Access::ReadPurge, &mut publish);
            subscribe.push(subjects.events.clone());
        }
    }
    (publish, subscribe)
}

/// The lattice-wide subject patterns a role is granted, from the one place
/// that builds subjects.
struct LatticeSubjects {
    control: String,
    events: String,
    rpc: String,
    streams: String,
    provider_health: String,
    wadm: String,
}

impl LatticeSubjects {
    fn new(lattice: &LatticeName) -> Self {
        Self {
            control: pattern::all_control(lattice),
            events: pattern::all_events(lattice),
            rpc: pattern::all_rpc(lattice),
            streams: pattern::all_streams(lattice),
            provider_health: pattern::all_provider_health(lattice),
            wadm: pattern::all_wadm(lattice),
        }
    }
}

/// The `authorization` block: the roles of `lattice` and one user per
/// role, `keys` giving each role's public nkey.
pub(super) fn authorization(lattice: &LatticeName, keys: &[(Role, String)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# generated by `trellis nats-config roles --lattice {lattice}`"
    );
    let _ = writeln!(out, "authorization {{");
    for role in ROLES {
        let (publish, subscribe) = permissions(role, lattice);
        let _ = writeln!(out, "  {} = {{", role.var());
        let _ = writeln!(out, "    publish = {}", list(&publish));
        let _ = writeln!(out, "    subscribe = {}", list(&subscribe));
        let _ = writeln!(out, "  }}");
    }
    let _ = writeln!(out, "  users = [");
    for (role, key) in keys {
        let _ = writeln!(out, "    {{ nkey: {key}, permissions: ${} }}", role.var());
    }
    let _ = writeln!(out, "  ]");
    let _ = writeln!(out, "}}");
    out
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[\n      {}\n    ]", quoted.join(",\n      "))
}

/// The user nkey in `path`, creating it (mode 0600) when missing.
pub(super) fn ensure_user_key(path: &Path) -> anyhow::Result<nkeys::KeyPair> {
    if path.exists() {
        let seed = std::fs::read_to_string(path)
            .with_context(|| format!("reading the nkey seed {}", path.display()))?;
        let pair = nkeys::KeyPair::from_seed(seed.trim())
            .map_err(|e| anyhow::anyhow!("{} is not an nkey seed: {e}", path.display()))?;
        if !seed.trim().starts_with("SU") {
            anyhow::bail!(
                "{} holds an nkey seed of another kind; a NATS user seed starts with SU",
                path.display()
            );
        }
        return Ok(pair);
    }
    let pair = nkeys::KeyPair::new_user();
    let seed = pair
        .seed()
        .map_err(|e| anyhow::anyhow!("cannot encode an nkey seed: {e}"))?;
    write_secret(path, &seed)?;
    Ok(pair)
}

/// Writes `text` to a new file only its owner can read.
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{text}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Runs `trellis nats-config roles`: makes (or reuses) a seed per role in
/// `keys_dir` and prints the block.
pub(super) fn run(lattice: &str, keys_dir: &Path) -> anyhow::Result<()> {
    let lattice = &LatticeName::new(lattice.to_owned()).context("--lattice")?;
    let mut keys = Vec::new();
    for role in ROLES {
        let path = keys_dir.join(role.seed_file());
        keys.push((role, ensure_user_key(&path)?.public_key()));
    }
    print!("{}", authorization(lattice, &keys));
    eprintln!(
        "Seeds: {dir}/host.nk for hosts, {dir}/wadm.nk for wadm, {dir}/operator.nk for the CLI \
         (pass with --nats-nkey).",
        dir = keys_dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholder_keys() -> Vec<(Role, String)> {
        ROLES
            .iter()
            .map(|r| (*r, format!("U{}_PUBLIC_KEY", r.var())))
            .collect()
    }

    #[test]
    fn the_documented_block_is_the_generated_one() {
        let doc = include_str!("../../../docs/nats-auth.md");
        let block = authorization(&LatticeName::default_lattice(), &placeholder_keys());
        assert!(
            doc.contains(&block),
            "docs/nats-auth.md must show exactly:\n{block}"
        );
    }

    #[test]
    fn only_the_right_roles_reach_wadm_and_control() {
        let lattice = LatticeName::new("l").unwrap();
        let (host_pub, host_sub) = permissions(Role::Host, &lattice);
        let (op_pub, _) = permissions(Role::Operator, &lattice);
        let (wadm_pub, wadm_sub) = permissions(Role::Wadm, &lattice);
        let all: Vec<&String> = host_pub.iter().chain(&op_pub).chain(&wadm_pub).collect();
        for s in &all {
            assert!(
                !s.contains("STREAM.DELETE")
                    && !s.contains("STREAM.UPDATE")
                    && !s.contains("STREAM.PURGE.KV")
                    && !s.ends_with("API.>"),
                "{s}"
            );
        }
        assert!(
            !host_pub
                .iter()
                .any(|s| s.contains("wadm") || s.contains("WADM"))
        );
        assert!(!host_pub.iter().any(|s| s.contains(".ctl.")));
        assert!(!host_sub.iter().any(|s| s.contains("wadm")));
        assert!(op_pub.contains(&"trellis.l.wadm.app.*".to_owned()));
        assert!(
            !op_pub
                .iter()
                .any(|s| s.contains("STREAM.CREATE") || s.starts_with("$KV"))
        );
        assert!(wadm_sub.contains(&"trellis.l.wadm.app.*".to_owned()));
    }

    #[test]
    fn seeds_are_made_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/host.nk");
        let first = ensure_user_key(&path).unwrap().public_key();
        assert!(first.starts_with('U'));
        assert_eq!(ensure_user_key(&path).unwrap().public_key(), first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "nonsense").unwrap();
        let err = ensure_user_key(&path).unwrap_err().to_string();
        assert!(err.contains("not an nkey seed"), "{err}");
    }
}
