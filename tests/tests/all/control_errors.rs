//! Bad input gets a clear error and the host keeps running.

use trellis_protocol::control::Reply;
use trellis_protocol::{ControlVerb, HostId, Subject};

use crate::fixture::Lattice;

async fn raw_request(
    client: &async_nats::Client,
    subject: String,
    body: &'static [u8],
) -> anyhow::Result<Reply> {
    let reply = client.request(subject, body.into()).await?;
    Ok(serde_json::from_slice(&reply.payload)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_clear_errors_and_host_survives() -> anyhow::Result<()> {
    let mut lattice = Lattice::start("badinput", &[])?;
    let client = lattice.nats_client().await?;
    let name = lattice.lattice();

    // An unknown control subject.
    let unknown = Subject::control(&name, ControlVerb::LinkList)
        .to_string()
        .replace("link.list", "bogus.verb");
    let reply = raw_request(&client, unknown, b"{}").await?;
    assert!(!reply.ok);
    let error = reply.error.unwrap_or_default();
    assert!(
        error.contains("bogus.verb") && error.contains("known control verbs"),
        "{error}"
    );

    // Malformed JSON to a real verb.
    let scale = Subject::control(
        &name,
        ControlVerb::ComponentScale(HostId::new(lattice.b.id())?),
    );
    let reply = raw_request(&client, scale.to_string(), b"{not json").await?;
    assert!(!reply.ok);
    let error = reply.error.unwrap_or_default();
    assert!(error.contains("malformed request"), "{error}");

    // A file that is not wasm.
    let dir = tempfile::tempdir()?;
    let not_wasm = dir.path().join("notes.wasm");
    std::fs::write(&not_wasm, b"this is not webassembly")?;
    let out = lattice.cli.run(&[
        "start",
        "component",
        &format!("file://{}", not_wasm.display()),
        "junk",
        "--host",
        lattice.b.id(),
    ])?;
    assert!(!out.success());
    assert!(
        out.stderr.contains("not a WebAssembly component"),
        "{}",
        out.stderr
    );
    // A core module is named as such, with how to make a component.
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0")?;
    let image = format!("file://{}", core.display());
    let out = lattice.cli.run(&[
        "start",
        "component",
        &image,
        "core",
        "--host",
        lattice.b.id(),
    ])?;
    assert!(!out.success());
    assert!(
        out.stderr.contains("core WebAssembly module") && out.stderr.contains("wasm32-wasip2"),
        "{}",
        out.stderr
    );

    // A link to a component nobody runs.
    let out = lattice.cli.run(&[
        "link",
        "put",
        "http",
        "ghost",
        "wasi",
        "http",
        "--interface",
        "incoming-handler",
    ])?;
    assert!(!out.success());
    assert!(
        out.stderr.contains("unknown component or provider: ghost"),
        "{}",
        out.stderr
    );

    // A bad image scheme never reaches a host.
    let out = lattice.cli.run(&["start", "component", "oci://x/y", "y"])?;
    assert!(!out.success());
    assert!(out.stderr.contains("file://PATH"), "{}", out.stderr);

    // Both hosts still run and answer.
    assert!(lattice.a.is_running() && lattice.b.is_running());
    let hosts = lattice.cli.run(&["get", "hosts"])?.ok()?.json()?;
    assert_eq!(hosts.as_array().map(Vec::len), Some(2));
    let inventory = lattice
        .cli
        .run(&["get", "inventory", lattice.b.id()])?
        .ok()?
        .json()?;
    assert_eq!(inventory[0]["components"], serde_json::json!([]));
    Ok(())
}
