//! One module per command group; this one dispatches and holds what they
//! share (connecting, parsing `k=v`, choosing hosts).

mod app;
mod app_deploy;
mod call;
mod claims;
mod config;
mod devsign;
mod events;
mod get;
mod host;
mod keys;
mod link;
mod metrics;
mod nats_config;
mod nats_roles;
mod oci;
mod secrets;
mod telemetry;
mod ui;
mod up;
mod up_state;
mod wadm;
mod workload;

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{Context, bail};
use trellis_lattice::{Lattice, LatticeConfig, NatsAuth};
use trellis_protocol::control::PingReply;
use trellis_protocol::{HostId, LatticeName};

use crate::args::{Cli, Command, GlobalArgs};

/// Default NATS URL when neither flag nor env var gives one.
pub(crate) const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// How long a scatter-gather listens for hosts.
pub(crate) const DISCOVERY_WINDOW: Duration = Duration::from_millis(750);

/// Runs the parsed command.
///
/// A one-shot command whose connection is denied a publish or subscribe
/// fails at once with the server's reason, instead of waiting out its
/// timeout for a reply that cannot come.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut denied = DENIED.subscribe();
    tokio::select! {
        result = dispatch(cli) => result,
        Ok(text) = denied.wait_for(Option::is_some) => {
            let text = text.clone().unwrap_or_default();
            bail!(
                "permission denied: the NATS server refused this ({text}); the credentials \
                 passed lack that permission (operators need the operator role of \
                 `trellis nats-config roles`, see docs/nats-auth.md)"
            )
        }
    }
}

/// The first permissions violation any one-shot connection saw.
static DENIED: LazyLock<tokio::sync::watch::Sender<Option<String>>> =
    LazyLock::new(|| tokio::sync::watch::channel(None).0);

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Up(args) => up::up(&global, args).await,
        Command::Down(args) => up::down(args).await,
        Command::Host(args) => host::run(&global, args).await,
        Command::Get(cmd) => get::run(&global, cmd).await,
        Command::Start(cmd) => workload::start(&global, cmd).await,
        Command::Scale(cmd) => workload::scale(&global, cmd).await,
        Command::Stop(cmd) => workload::stop(&global, cmd).await,
        Command::Update(cmd) => workload::update(&global, cmd).await,
        Command::Push(args) => oci::push(&global, args).await,
        Command::Pull(args) => oci::pull(&global, args).await,
        Command::Registry(cmd) => oci::run(&global, cmd).await,
        Command::Call(args) => call::run(&global, args).await,
        Command::Events(args) => events::run(&global, args).await,
        Command::Ui(args) => ui::run(&global, args).await,
        Command::Config(cmd) => config::run(&global, cmd).await,
        Command::Link(cmd) => link::run(&global, cmd).await,
        Command::Secrets(cmd) => secrets::run(&global, cmd).await,
        Command::Keys(cmd) => keys::run(&global, cmd),
        Command::Claims(cmd) => claims::run(&global, cmd),
        Command::App(cmd) => app_deploy::run(&global, cmd).await,
        Command::Wadm(args) => wadm::run(&global, args).await,
        Command::NatsConfig(cmd) => nats_config::run(&global, cmd),
    }
}

/// Connection settings from the global flags.
pub(crate) fn lattice_config(global: &GlobalArgs) -> anyhow::Result<LatticeConfig> {
    Ok(LatticeConfig {
        nats_url: global
            .nats_url
            .clone()
            .unwrap_or_else(|| DEFAULT_NATS_URL.to_owned()),
        lattice: LatticeName::new(global.lattice.clone()).context("--lattice")?,
        connection_name: "trellis-cli".into(),
        request_timeout: Duration::from_secs(global.timeout),
        auth: NatsAuth {
            creds_file: global.nats_creds.clone(),
            user: global.nats_user.clone(),
            password: global.nats_password.clone(),
            nkey_file: global.nats_nkey.clone(),
            tls_ca: global.nats_tls_ca.clone(),
            js_domain: global.js_domain.clone(),
            js_replicas: global.js_replicas.map(usize::from),
        },
        ..LatticeConfig::default()
    })
}

/// Connects to the lattice named by the global flags.
pub(crate) async fn connect(global: &GlobalArgs) -> anyhow::Result<Lattice> {
    let lattice = Lattice::connect(&lattice_config(global)?).await?;
    let watched = lattice.clone();
    tokio::spawn(async move {
        let text = watched.permission_denied().await;
        DENIED.send_replace(Some(text));
    });
    Ok(lattice)
}

/// Parses `KEY=VALUE` arguments, naming the bad one.
pub(crate) fn parse_pairs(
    what: &str,
    items: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                map.insert(key.to_owned(), value.to_owned());
            }
            _ => bail!("{what} `{item}` is not KEY=VALUE"),
        }
    }
    Ok(map)
}

/// Parses a host id argument.
pub(crate) fn host_id(text: &str) -> anyhow::Result<HostId> {
    HostId::new(text).with_context(|| "--host (see `trellis get hosts` for ids)".to_owned())
}

/// The host to place a new workload on: the given one, or the one with the
/// fewest components (ties by id, so the choice is stable); with its ping
/// reply when it answered one.
pub(crate) async fn choose_host(
    lattice: &Lattice,
    requested: Option<&str>,
) -> anyhow::Result<(HostId, Option<PingReply>)> {
    if let Some(text) = requested {
        let id = host_id(text)?;
        let hosts = lattice
            .ping_hosts_until(DISCOVERY_WINDOW, |hosts| hosts.iter().any(|h| h.id == id))
            .await?;
        let found = hosts.into_iter().find(|h| h.id == id);
        return Ok((id, found));
    }
    let hosts = lattice.ping_hosts(DISCOVERY_WINDOW).await?;
    hosts
        .into_iter()
        .min_by(|a, b| a.components.cmp(&b.components).then(a.id.cmp(&b.id)))
        .map(|h| (h.id.clone(), Some(h)))
        .with_context(|| {
            format!(
                "no hosts in lattice `{}`; start one with `trellis up` or `trellis host`",
                lattice.name()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_and_errors_name_the_item() {
        let map = parse_pairs("--label", &["a=1".into(), "b=x=y".into(), "c=".into()]).unwrap();
        assert_eq!(map["a"], "1");
        assert_eq!(map["b"], "x=y");
        assert_eq!(map["c"], "");
        let err = parse_pairs("--label", &["novalue".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--label `novalue` is not KEY=VALUE"), "{err}");
        assert!(parse_pairs("--label", &["=v".into()]).is_err());
    }
}
