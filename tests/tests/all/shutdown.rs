//! A stop signal ends a host or wadm within a bound, whether or not their
//! nats-server is still there.

use std::time::{Duration, Instant};

use trellis_tests::{Cli, Host, HostOpts, NatsServer, Wadm, actor, unique_lattice};

/// The bound the issue names.
const EXIT_BOUND: Duration = Duration::from_secs(10);

/// A host running a provider and a component, and a leading wadm.
fn busy_lattice(nats: &NatsServer, lattice: &str) -> anyhow::Result<(Host, Wadm)> {
    let host = Host::spawn(
        nats,
        HostOpts {
            lattice: lattice.to_owned(),
            name: "stopper".into(),
            ..HostOpts::default()
        },
    )?;
    let mut wadm = Wadm::spawn(nats, lattice, &[])?;
    wadm.wait_leading(Duration::from_secs(30))?;
    let cli = Cli::new(nats, lattice);
    cli.run(&["start", "provider", "builtin://http-server", "http"])?
        .ok()?;
    let hello = format!("file://{}", actor("hello_http").display());
    cli.run(&["start", "component", &hello, "hello"])?.ok()?;
    Ok((host, wadm))
}

#[tokio::test(flavor = "multi_thread")]
async fn host_and_wadm_stop_within_a_bound_after_their_nats_server_died() -> anyhow::Result<()> {
    let mut nats = NatsServer::start()?;
    let lattice = unique_lattice("stop");
    let (mut host, mut wadm) = busy_lattice(&nats, &lattice)?;
    nats.sigkill()?;

    let signalled = Instant::now();
    host.sigterm()?;
    wadm.stop(EXIT_BOUND)?;
    let left = EXIT_BOUND.saturating_sub(signalled.elapsed());
    host.wait_exit(left)?;
    eprintln!(
        "host and wadm exited {:?} after SIGTERM without nats-server",
        signalled.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn host_and_wadm_stop_cleanly_and_promptly_with_nats_up() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let lattice = unique_lattice("stopup");
    let (mut host, mut wadm) = busy_lattice(&nats, &lattice)?;

    let signalled = Instant::now();
    wadm.stop(EXIT_BOUND)?;
    host.sigterm()?;
    let status = host.wait_exit(EXIT_BOUND.saturating_sub(signalled.elapsed()))?;
    assert!(
        status.success(),
        "host exited with {status}:\n{}",
        host.log()
    );
    assert!(host.log().contains("host stopped"), "{}", host.log());
    eprintln!(
        "wadm and host exited {:?} after SIGTERM",
        signalled.elapsed()
    );
    Ok(())
}
