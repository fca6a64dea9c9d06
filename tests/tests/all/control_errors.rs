//! Bad input gets a clear error and the host keeps running.

use trellis_protocol::control::{FailureKind, Reply};
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
    assert_eq!(reply.kind, Some(FailureKind::Invalid));
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
    // Exit codes say the sort of failure (docs/cli.md): 3 = invalid.
    assert_eq!(out.status.code(), Some(3), "{}", out.stderr);
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
    assert_eq!(out.status.code(), Some(4), "not_found: {}", out.stderr);
    assert!(
        out.stderr.contains("unknown component or provider: ghost"),
        "{}",
        out.stderr
    );

    // Stopping what does not run, and deleting a link never made.
    let out = lattice
        .cli
        .run(&["stop", "component", "ghost", "--host", lattice.b.id()])?;
    assert_eq!(out.status.code(), Some(4), "not_found: {}", out.stderr);
    let out = lattice
        .cli
        .run(&["link", "del", "http", "wasi", "http", "--name", "never"])?;
    assert_eq!(out.status.code(), Some(4), "not_found: {}", out.stderr);
    assert!(out.stderr.contains("no link from http"), "{}", out.stderr);

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

/// A request to a host that is not there (killed, or never was) finds no
/// subscriber: the server says "no responders" at once, which is what
/// wadm takes for the host being gone, instead of the other hosts' queue
/// subscription swallowing it until the caller's timeout.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_to_an_absent_host_fails_at_once_with_no_responders() -> anyhow::Result<()> {
    let lattice = Lattice::start("deadhost", &[])?;
    let client = lattice.nats_client().await?;
    let name = lattice.lattice();
    let scale_on = |host: &HostId| {
        Subject::control(&name, ControlVerb::ComponentScale(host.clone())).to_string()
    };
    // A host that is there answers (a refusal of the empty request is an
    // answer), so the subject is right.
    let present = HostId::new(lattice.b.id())?;
    assert!(!raw_request(&client, scale_on(&present), b"{}").await?.ok);
    let absent = HostId::new(format!("N{}", "Q".repeat(55)))?;
    let err = client
        .request(scale_on(&absent), "{}".into())
        .await
        .expect_err("nobody may answer for an absent host");
    assert_eq!(
        err.kind(),
        async_nats::RequestErrorKind::NoResponders,
        "{err}"
    );
    // Lattice-wide verbs are still answered, by one of the hosts.
    let list = Subject::control(&name, ControlVerb::LinkList).to_string();
    assert!(raw_request(&client, list, b"").await?.ok);
    // And the CLI says what is wrong.
    let out = lattice.cli.run(&["get", "inventory", absent.as_str()])?;
    assert!(!out.success());
    assert_eq!(out.status.code(), Some(7), "unavailable: {}", out.stderr);
    assert!(out.stderr.contains("nobody answers"), "{}", out.stderr);
    Ok(())
}
