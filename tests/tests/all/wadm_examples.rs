//! wadm end to end with the example manifests in `examples/`: each
//! deploys as written (paths and ports adjusted) and serves, and what a
//! manifest gets wrong shows in `app status`.

use trellis_tests::{actor, free_port, http_get};

use crate::wadm::{CONVERGE, Site, eventually};

#[tokio::test(flavor = "multi_thread")]
async fn the_kv_counter_example_deploys_and_counts_on_sled() -> anyhow::Result<()> {
    let site = Site::new("wadm-kv")?;
    let _host = site.host("a", "edge")?;
    let _wadm = site.wadm()?;
    let port = free_port();
    let example =
        std::fs::read_to_string(trellis_tests::workspace_root().join("examples/kv-counter.yaml"))?;
    let data = site.dir.path().join("kv-data");
    let manifest = example
        .replace(
            "file://../target/wasm/kv_counter.wasm",
            &format!("file://{}", actor("kv_counter").display()),
        )
        .replace("/tmp/trellis-kv-counter", &data.display().to_string())
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{port}"));
    let file = site.dir.path().join("kv-counter.yaml");
    std::fs::write(&file, manifest)?;
    site.deploy(&file).await?;
    let url = format!("http://127.0.0.1:{port}/incr?key=visits");
    let mut counts = Vec::new();
    for _ in 0..3 {
        let (code, _, body) = trellis_tests::http_post(&url, Vec::new()).await?;
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        counts.push(String::from_utf8_lossy(&body).trim().to_owned());
    }
    assert_eq!(counts, ["1", "2", "3"]);
    assert!(data.is_dir(), "sled keeps its data in the configured path");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_composition_example_deploys_and_each_hop_calls_the_next() -> anyhow::Result<()> {
    let site = Site::new("wadm-mesh")?;
    let _host = site.host("a", "edge")?;
    let _wadm = site.wadm()?;
    let port = free_port();
    let mut manifest =
        std::fs::read_to_string(trellis_tests::workspace_root().join("examples/composition.yaml"))?;
    for actor_name in ["http_relay", "relay", "pingpong"] {
        manifest = manifest.replace(
            &format!("file://../target/wasm/{actor_name}.wasm"),
            &format!("file://{}", actor(actor_name).display()),
        );
    }
    let manifest = manifest.replace("127.0.0.1:8082", &format!("127.0.0.1:{port}"));
    let file = site.dir.path().join("composition.yaml");
    std::fs::write(&file, manifest)?;
    site.deploy(&file).await?;
    let (code, _, body) = http_get(&format!("http://127.0.0.1:{port}/")).await?;
    assert_eq!(
        (code, body.as_slice()),
        (200, b"http -> relayed pong".as_slice())
    );
    let (code, _, body) = http_get(&format!("http://127.0.0.1:{port}/divide?a=1&b=0")).await?;
    assert_eq!(
        (code, body.as_slice()),
        (422, b"division by zero".as_slice())
    );
    Ok(())
}

/// The composition example with `pong` swapped for a component whose
/// `ping` answers a `u32`: wadm reads both ends' function types from the
/// host and fails the link in `app status`, naming the function and both
/// types.
#[tokio::test(flavor = "multi_thread")]
async fn a_managed_link_whose_types_differ_fails_naming_the_function() -> anyhow::Result<()> {
    let site = Site::new("wadm-types")?;
    let _host = site.host("a", "edge")?;
    let _wadm = site.wadm()?;
    let pong = site.dir.path().join("pong_u32.wasm");
    std::fs::write(&pong, wat::parse_str(crate::fixture::PONG_U32)?)?;
    let mut manifest =
        std::fs::read_to_string(trellis_tests::workspace_root().join("examples/composition.yaml"))?;
    for actor_name in ["http_relay", "relay"] {
        manifest = manifest.replace(
            &format!("file://../target/wasm/{actor_name}.wasm"),
            &format!("file://{}", actor(actor_name).display()),
        );
    }
    let manifest = manifest
        .replace(
            "file://../target/wasm/pingpong.wasm",
            &format!("file://{}", pong.display()),
        )
        .replace("127.0.0.1:8082", &format!("127.0.0.1:{}", free_port()));
    let file = site.dir.path().join("composition.yaml");
    std::fs::write(&file, manifest)?;
    let file = file.display().to_string();
    site.cli.run_async(&["app", "deploy", &file]).await?.ok()?;
    let status = eventually("the type mismatch in app status", CONVERGE, || async {
        let status = site.status("composition").await?.to_string();
        Ok(status
            .contains("imports through the link")
            .then_some(status))
    })
    .await?;
    assert!(
        status.contains(
            "example:pong/pingpong.ping: composition-relay imports it as `func() -> string`, \
             composition-pong exports it as `func() -> u32`"
        ),
        "{status}"
    );
    Ok(())
}

/// The outbound example with its allow-list pointed at a local listener:
/// the component reaches it through the manifest's http-client link, the
/// link shows in `app status`, and a config the provider refuses fails
/// the link there with the provider's reason.
#[tokio::test(flavor = "multi_thread")]
async fn the_outbound_example_reaches_only_what_its_link_allows() -> anyhow::Result<()> {
    let site = Site::new("wadm-outbound")?;
    let _host = site.host("a", "edge")?;
    let _wadm = site.wadm()?;
    let port = free_port();
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let target_port = target.local_addr()?.port();
    let served = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = target.accept().await {
            let mut head = [0u8; 4096];
            let _ = socket.read(&mut head).await;
            let _ = socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nupstream",
                )
                .await;
        }
    });
    let manifest =
        std::fs::read_to_string(trellis_tests::workspace_root().join("examples/outbound.yaml"))?
            .replace(
                "file://../target/wasm/http_fetch.wasm",
                &format!("file://{}", actor("http_fetch").display()),
            )
            .replace("127.0.0.1:8083", &format!("127.0.0.1:{port}"));
    let allowed = manifest.replace(
        "allowed_hosts: https://example.com",
        &format!("allowed_hosts: 127.0.0.1:{target_port}"),
    );
    let file = site.dir.path().join("outbound.yaml");
    std::fs::write(&file, &allowed)?;
    site.deploy(&file).await?;
    let fetch = |url: String| async move {
        let (code, _, body) = http_get(&format!("http://127.0.0.1:{port}/fetch?url={url}")).await?;
        anyhow::Ok((code, String::from_utf8_lossy(&body).into_owned()))
    };
    assert_eq!(
        fetch(format!("http://127.0.0.1:{target_port}/")).await?,
        (200, "upstream".to_owned())
    );
    assert_eq!(
        fetch("http://192.0.2.1/".to_owned()).await?,
        (502, "outbound error: HttpRequestDenied".to_owned())
    );
    let status = site.status("outbound").await?;
    let fetcher = &status["components"][0];
    assert_eq!(fetcher["name"], "fetcher", "{status:#}");
    assert_eq!(fetcher["traits"][1]["kind"], "link", "{status:#}");
    assert_eq!(fetcher["traits"][1]["state"], "deployed", "{status:#}");

    // v2 with an allow-list the provider cannot parse: the link fails in
    // app status, naming the key and the entry.
    let broken = allowed.replace("version: v1", "version: v2").replace(
        &format!("allowed_hosts: 127.0.0.1:{target_port}"),
        "allowed_hosts: http://127.0.0.1/path",
    );
    std::fs::write(&file, &broken)?;
    let file = file.display().to_string();
    site.cli.run_async(&["app", "deploy", &file]).await?.ok()?;
    let message = eventually(
        "the refused link failing in app status",
        CONVERGE,
        || async {
            let status = site.status("outbound").await?;
            let link = &status["components"][0]["traits"][1];
            Ok((link["state"] == "failed").then(|| link["message"].to_string()))
        },
    )
    .await?;
    assert!(
        message.contains("allowed_hosts") && message.contains("has a path"),
        "{message}"
    );
    served.abort();
    Ok(())
}
