//! `trellis app list` where the apps outgrow one NATS message: wadm sends
//! them in pages, and a caller that asks for everything at once gets an
//! error that says why instead of a timeout.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use trellis_lattice::{ControlError, Lattice, LatticeConfig};
use trellis_protocol::LatticeName;
use trellis_protocol::subject::WadmOp;
use trellis_protocol::wadm::{AppListRequest, AppPage, PutReply, PutRequest};
use trellis_tests::{Cli, NatsServer, Wadm, unique_lattice};

const API: Duration = Duration::from_secs(10);
/// The server's max_payload: small, so a few hundred apps overflow it.
const MAX_PAYLOAD: usize = 16 * 1024;
const APPS: usize = 150;

fn manifest(name: &str) -> String {
    format!(
        "apiVersion: core.oam.dev/v1beta1\nkind: Application\n\
         metadata: {{ name: {name}, annotations: {{ version: v1 }} }}\n\
         spec:\n  components:\n    - name: web\n      type: capability\n      \
         properties: {{ image: \"builtin://http-server\" }}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn app_list_pages_past_the_servers_max_payload() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let conf = dir.path().join("small.conf");
    let store = dir.path().join("js");
    std::fs::write(
        &conf,
        format!(
            "max_payload: {MAX_PAYLOAD}\njetstream {{ store_dir: \"{}\" }}\n",
            store.display()
        ),
    )?;
    let nats = NatsServer::start_with_config(&conf)?;
    let lattice = unique_lattice("applist");
    let _wadm = Wadm::spawn(&nats, &lattice, &[])?;
    let client = Lattice::connect(&LatticeConfig {
        nats_url: nats.url(),
        lattice: LatticeName::new(lattice.clone())?,
        ..LatticeConfig::default()
    })
    .await?;
    assert_eq!(client.nats().server_info().max_payload, MAX_PAYLOAD);

    // 150 names of 40 characters: about 16 KiB of summaries in all.
    let names: Vec<String> = (0..APPS)
        .map(|i| format!("app-{i:03}-{}", "x".repeat(32)))
        .collect();
    futures::stream::iter(&names)
        .map(|name| {
            let client = &client;
            async move {
                let reply: Option<PutReply> = client
                    .wadm_request(WadmOp::Put, &PutRequest::new(manifest(name)), API)
                    .await?;
                anyhow::ensure!(reply.is_some_and(|r| r.name.as_str() == name.as_str()));
                Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;

    // Everything in one reply, as callers before paging asked: too big
    // to send, and the caller is told so at once.
    let whole = client
        .wadm_request::<_, serde_json::Value>(WadmOp::List, &(), API)
        .await;
    match whole {
        Err(ControlError::Failed(failure)) => assert!(
            failure.message.contains("max_payload of 16384"),
            "{failure:?}"
        ),
        other => panic!("expected a max_payload failure, got {other:?}"),
    }

    // One small page: some apps, in name order, and where to go on.
    let first: AppPage = client
        .wadm_request(
            WadmOp::List,
            &AppListRequest {
                after: None,
                page_bytes: Some(1024),
            },
            API,
        )
        .await?
        .unwrap_or_default();
    let shown: Vec<&str> = first.apps.iter().map(|a| a.name.as_str()).collect();
    assert!(!shown.is_empty() && shown.len() < 20, "{shown:?}");
    assert_eq!(shown, names[..shown.len()]);
    assert_eq!(
        first.next.as_ref().map(|n| n.as_str()),
        shown.last().copied()
    );

    // Read to the end: every app once, in order, none lost.
    let all = client.apps(None, API).await?;
    let listed: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(listed, names);
    assert!(all.iter().all(|a| a.latest_version.as_str() == "v1"));

    // And the CLI shows them all.
    let cli = Cli::new(&nats, &lattice);
    let out = cli.run_async(&["app", "list"]).await?.ok()?.json()?;
    let listed: Vec<&str> = out
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(listed, names);
    Ok(())
}
