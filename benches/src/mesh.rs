//! Component-to-component calls (the actor mesh, docs/actors.md): what a
//! call of another component's export adds to a request, in process and
//! across hosts.
//!
//! `GET /` through `http_relay` -> `relay` -> `pingpong` is hello-http plus
//! two component calls (`relay.ping-through`, then `pingpong.ping`), so
//! half the difference to hello-http on the same path is what one call
//! adds. Three chains, one load generator, same run:
//!
//! - baseline: hello-http on the provider's host (the http row's `local`);
//! - local: the whole chain on the provider's host (calls in process);
//! - remote: `front` and `pong` on host a (the provider's), `relay` on host
//!   b, so both calls and nothing else cross NATS;
//! - and both again with instance reuse (`relay` and `pong` started with
//!   `--reuse`, see `host::runtime::warm`): the cost of a fresh instance
//!   per call, against the default.
//!
//! The remote chain's calls are captured off NATS once (subjects, headers,
//! payload sizes); the reference is a bare async-nats request-reply with
//! the same headers and payload sizes, from this process to a responder
//! task in this process through the same nats-server, at the same
//! concurrency. Between the two, `pingpong.ping` called from this process
//! with the lattice client the hosts use (one call over NATS, a host only
//! on the serving side) splits a remote call's cost between the caller's
//! and the callee's host.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_nats::{Client, HeaderMap, Subject};
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use trellis_lattice::LatticeConfig;
use trellis_protocol::call::{CallArgs, CallRequest};
use trellis_protocol::context::CallContext;
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::subject::pattern;
use trellis_protocol::value::Values;
use trellis_protocol::{ComponentId, LatticeName, LinkName};
use trellis_tests::{Host, actor, free_port};

use crate::load::{self, LoadResult, REQUEST_TIMEOUT, Samples, Tally, WorkerResult};
use crate::nats::{connect, flush};
use crate::responder::{self, Answer};
use crate::setup::{self, Lattice};

/// Rounds each concurrency's rows are measured in, one after the other in
/// every round, so that the VM's speed drifting during the run moves every
/// row alike instead of whichever ran at the slow moment.
const ROUNDS: u32 = 5;

/// Warm-up of every round after the first (new connections, warm hosts).
const ROUND_WARMUP: Duration = Duration::from_millis(250);

/// `--reuse` of the reuse chains' called components.
const REUSE: &str = "100000";

/// Component calls per request of a chain.
pub(crate) const CALLS: f64 = 2.0;

/// What `GET /` answers when the whole chain is linked.
const CHAIN_BODY: &[u8] = b"http -> relayed pong";

/// How long the capture waits for one more message before it is complete.
const CAPTURE_IDLE: Duration = Duration::from_millis(300);

/// The inbox prefix async-nats replies to (neither the hosts nor this
/// harness set another).
const INBOX: &str = "_INBOX.>";

/// One component call as it crossed NATS.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Hop {
    /// Its subject (`trellis.{lattice}.rpc.{target}.{iface}.{function}`).
    pub subject: String,
    /// Request payload bytes.
    pub request_payload: usize,
    /// Request header bytes (the call context).
    pub request_headers: usize,
    /// Reply payload bytes.
    pub reply_payload: usize,
    /// Reply header bytes.
    pub reply_headers: usize,
}

/// A captured call with the headers the reference resends.
struct Captured {
    hop: Hop,
    request_headers: Option<HeaderMap>,
    reply_headers: Option<HeaderMap>,
}

/// The four measurements at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MeshRow {
    /// Concurrent connections (the reference: concurrent requests).
    pub concurrency: usize,
    /// hello-http on the provider's host.
    pub baseline: LoadResult,
    /// The chain on the provider's host: both calls in process.
    pub local: LoadResult,
    /// The chain with both calls across hosts.
    pub remote: LoadResult,
    /// `local`, with instance reuse.
    pub local_reuse: LoadResult,
    /// `remote`, with instance reuse.
    pub remote_reuse: LoadResult,
    /// Bare request-reply of the captured size, this process to itself.
    pub nats: LoadResult,
    /// The same, answered by another process (as a remote call is).
    pub nats_process: LoadResult,
    /// `pingpong.ping` from this process over NATS (lattice client).
    pub direct: LoadResult,
}

/// The mesh rows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Mesh {
    /// The remote chain's calls as captured on NATS (one request).
    pub hops: Vec<Hop>,
    /// One row per concurrency.
    pub rows: Vec<MeshRow>,
}

impl MeshRow {
    /// What one call adds to the median, microseconds.
    pub(crate) fn added_p50_us(&self, chain: &LoadResult) -> f64 {
        (chain.p50_us - self.baseline.p50_us) / CALLS
    }

    /// What one call adds to the time per request the throughput implies
    /// (`1/req/s`: the mean latency at concurrency 1, the machine's time
    /// per request once it is saturated), microseconds.
    pub(crate) fn added_rps_us(&self, chain: &LoadResult) -> f64 {
        (1e6 / chain.rps - 1e6 / self.baseline.rps) / CALLS
    }

    /// A remote call's added median (of `chain`) over the median of a
    /// bare request-reply (`reference`).
    pub(crate) fn remote_vs_p50(&self, chain: &LoadResult, reference: &LoadResult) -> f64 {
        self.added_p50_us(chain) / reference.p50_us
    }

    /// The same by throughput: a remote call's added `1/req/s` over the
    /// bare request-reply's `1/req/s`.
    pub(crate) fn remote_vs_rps(&self, chain: &LoadResult, reference: &LoadResult) -> f64 {
        self.added_rps_us(chain) / (1e6 / reference.rps)
    }
}

/// Starts both chains, checks where their calls go, and measures at each
/// concurrency.
pub(crate) async fn measure(
    lattice: &Lattice,
    concurrency: &[usize],
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Mesh> {
    let (a, b) = (&lattice.a, &lattice._b);
    let local = chain(lattice, "local", [a, a, a], &[]).await?;
    let remote = chain(lattice, "remote", [a, b, a], &[]).await?;
    let reuse = ["--reuse", REUSE];
    let local_reuse = chain(lattice, "local-reuse", [a, a, a], &reuse).await?;
    let remote_reuse = chain(lattice, "remote-reuse", [a, b, a], &reuse).await?;
    let observer = connect(&lattice.nats.url()).await?;
    let name = LatticeName::new(lattice.name.clone())?;
    let calls = |side: &str| -> anyhow::Result<Vec<String>> {
        ["relay", "pong"]
            .iter()
            .map(|c| Ok(pattern::rpc_target(&name, &ComponentId::new(id(side, c))?)))
            .collect()
    };
    let seen = capture(&observer, &calls("local")?, local).await?;
    if !seen.is_empty() {
        bail!(
            "the local chain sent {} calls over NATS; all three components run on host a, so \
             none should have left it",
            seen.len()
        );
    }
    let hops = capture(&observer, &calls("remote")?, remote).await?;
    if hops.len() != 2 {
        bail!(
            "the remote chain sent {} calls over NATS, not 2: {:?}",
            hops.len(),
            hops.iter().map(|h| &h.hop.subject).collect::<Vec<_>>()
        );
    }
    drop(observer);
    let captured: Vec<Hop> = hops.iter().map(|h| h.hop.clone()).collect();
    // The reference imitates the larger of the two calls.
    let probe = hops
        .into_iter()
        .max_by_key(|h| h.hop.request_payload + h.hop.reply_payload)
        .context("no call captured")?;
    let url = lattice.nats.url();
    let answer = |prefix: &str| Answer {
        // Same length class as the call's subject; no host subscribes.
        subject: Subject::from(format!("{prefix}.{}", probe.hop.subject)),
        reply_bytes: probe.hop.reply_payload,
        reply_headers: probe.reply_headers.clone(),
    };
    let (here, there) = (answer("bench"), answer("bproc"));
    let _in_process = responder::InProcess::start(&url, here.clone()).await?;
    let _other_process = responder::OtherProcess::start(&url, &there).await?;
    let requester = Requester {
        client: connect(&url).await?,
        headers: probe.request_headers.clone(),
        payload: Bytes::from(vec![0u8; probe.hop.request_payload]),
    };
    let direct = lattice_client(lattice).await?;
    let probes = [
        Probe::Http(lattice.local),
        Probe::Http(local),
        Probe::Http(remote),
        Probe::Http(local_reuse),
        Probe::Http(remote_reuse),
        Probe::Nats(&requester, here.subject),
        Probe::Nats(&requester, there.subject),
        Probe::Direct(&direct),
    ];
    let mut rows = Vec::new();
    for &c in concurrency {
        let mut kept = probes.each_ref().map(|_| Samples::empty(c));
        for round in 0..ROUNDS {
            let warmup = if round == 0 { warmup } else { ROUND_WARMUP };
            for (probe, kept) in probes.iter().zip(&mut kept) {
                kept.merge(probe.sample(c, warmup, measure / ROUNDS).await?);
            }
        }
        let [
            baseline,
            local,
            remote,
            local_reuse,
            remote_reuse,
            nats,
            nats_process,
            direct,
        ] = kept.map(Samples::summary);
        rows.push(MeshRow {
            concurrency: c,
            baseline,
            local,
            remote,
            local_reuse,
            remote_reuse,
            nats,
            nats_process,
            direct,
        });
    }
    Ok(Mesh {
        hops: captured,
        rows,
    })
}

/// One thing the mesh rows measure.
enum Probe<'a> {
    /// `GET /` through a chain (or hello-http).
    Http(SocketAddr),
    /// Bare request-reply to the responder on this subject.
    Nats(&'a Requester, Subject),
    /// `pingpong.ping` through the lattice client.
    Direct(&'a trellis_lattice::Lattice),
}

impl Probe<'_> {
    /// One closed-loop run of `warmup` + `measure` at `concurrency`.
    async fn sample(
        &self,
        concurrency: usize,
        warmup: Duration,
        measure: Duration,
    ) -> anyhow::Result<Samples> {
        match self {
            Probe::Http(addr) => load::run_samples(*addr, "/", concurrency, warmup, measure).await,
            Probe::Nats(requester, subject) => {
                requester.run(subject, concurrency, warmup, measure).await
            }
            Probe::Direct(client) => direct_calls(client, concurrency, warmup, measure).await,
        }
    }
}

/// Component id of a chain member.
fn id(side: &str, member: &str) -> String {
    format!("mesh-{member}-{side}")
}

/// Starts `front` (http_relay), `relay` and `pong` (pingpong) on the given
/// hosts (the called two with `flags`), links them and the HTTP provider,
/// and returns the listener once `GET /` answers with the whole chain's
/// body.
async fn chain(
    lattice: &Lattice,
    side: &str,
    hosts: [&Host; 3],
    flags: &[&str],
) -> anyhow::Result<SocketAddr> {
    let cli = &lattice.cli;
    let [front, relay, pong] = ["front", "relay", "pong"].map(|m| id(side, m));
    for (member, wasm, host) in [
        (&pong, "pingpong", hosts[2]),
        (&relay, "relay", hosts[1]),
        (&front, "http_relay", hosts[0]),
    ] {
        let image = format!("file://{}", actor(wasm).display());
        let flags = if wasm == "http_relay" { &[][..] } else { flags };
        setup::start_component_with(cli, &image, member, host, flags)?;
    }
    for (source, target, ns, pkg, iface) in [
        (&relay, &pong, "example", "pong", "pingpong"),
        (&relay, &pong, "trellis", "examples", "shapes"),
        (&front, &relay, "trellis", "examples", "relay"),
    ] {
        setup::run(
            cli,
            &["link", "put", source, target, ns, pkg, "--interface", iface],
        )?;
    }
    let addr = setup::link_http(cli, &front, free_port())?;
    setup::wait_ready(addr).await?;
    let (status, body) = load::get_body(addr, "/").await?;
    if status != 200 || body != CHAIN_BODY {
        bail!(
            "the {side} chain answered {status} {:?}, not 200 {:?}",
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(CHAIN_BODY)
        );
    }
    Ok(addr)
}

/// Sends one `GET /` to `addr` and returns the calls that crossed NATS on
/// the `rpc` subjects given (with their replies) while it ran.
async fn capture(
    client: &Client,
    rpc: &[String],
    addr: SocketAddr,
) -> anyhow::Result<Vec<Captured>> {
    let mut calls = futures::stream::SelectAll::new();
    for subject in rpc {
        calls.push(client.subscribe(subject.clone()).await?);
    }
    let mut replies = client.subscribe(INBOX).await?;
    flush(client).await?;
    let (status, _) = load::get_body(addr, "/").await?;
    if status != 200 {
        bail!("GET / through the chain at {addr} answered {status} while captured");
    }
    let mut requests = Vec::new();
    let mut answers: HashMap<String, async_nats::Message> = HashMap::new();
    loop {
        tokio::select! {
            Some(msg) = calls.next() => requests.push(msg),
            Some(msg) = replies.next() => { answers.insert(msg.subject.to_string(), msg); }
            _ = tokio::time::sleep(CAPTURE_IDLE) => break,
        }
    }
    let header_bytes = |m: &async_nats::Message| {
        m.length - m.payload.len() - m.subject.len() - m.reply.as_ref().map_or(0, |r| r.len())
    };
    requests
        .into_iter()
        .map(|request| {
            let answer = request
                .reply
                .as_ref()
                .and_then(|r| answers.remove(r.as_str()))
                .with_context(|| format!("no reply to the call on {} captured", request.subject))?;
            Ok(Captured {
                hop: Hop {
                    subject: request.subject.to_string(),
                    request_payload: request.payload.len(),
                    request_headers: header_bytes(&request),
                    reply_payload: answer.payload.len(),
                    reply_headers: header_bytes(&answer),
                },
                request_headers: request.headers,
                reply_headers: answer.headers,
            })
        })
        .collect()
}

/// Sends the bare request-replies: one connection, the captured call's
/// headers and payload size.
struct Requester {
    client: Client,
    headers: Option<HeaderMap>,
    payload: Bytes,
}

impl Requester {
    /// Closed-loop request-reply on `subject` at `concurrency`.
    async fn run(
        &self,
        subject: &Subject,
        concurrency: usize,
        warmup: Duration,
        measure: Duration,
    ) -> anyhow::Result<Samples> {
        load::closed_loop(concurrency, warmup, measure, |start, end| {
            let (client, subject) = (self.client.clone(), subject.clone());
            let (headers, payload) = (self.headers.clone(), self.payload.clone());
            nats_worker(client, subject, headers, payload, start, end)
        })
        .await
    }
}

/// One closed-loop requester: the next request when the last reply came.
async fn nats_worker(
    client: Client,
    subject: Subject,
    headers: Option<HeaderMap>,
    payload: Bytes,
    start: Instant,
    end: Instant,
) -> WorkerResult {
    let mut tally = Tally::new(start);
    while Instant::now() < end {
        let mut request = async_nats::Request::new()
            .payload(payload.clone())
            .timeout(Some(REQUEST_TIMEOUT));
        if let Some(h) = &headers {
            request = request.headers(h.clone());
        }
        let t0 = Instant::now();
        let outcome = tokio::time::timeout(
            REQUEST_TIMEOUT,
            client.send_request(subject.clone(), request),
        )
        .await;
        tally.record(t0, matches!(outcome, Ok(Ok(_))));
    }
    tally.finish()
}

/// The lattice client a host calls with, connected from this process.
async fn lattice_client(lattice: &Lattice) -> anyhow::Result<trellis_lattice::Lattice> {
    let config = LatticeConfig {
        nats_url: lattice.nats.url(),
        lattice: LatticeName::new(lattice.name.clone())?,
        connection_name: "trellis-bench".into(),
        connect_timeout: REQUEST_TIMEOUT,
        ..LatticeConfig::default()
    };
    tokio::time::timeout(REQUEST_TIMEOUT, trellis_lattice::Lattice::connect(&config))
        .await
        .context("connecting to the lattice timed out")?
        .context("connecting to the lattice")
}

/// Closed-loop calls of the remote chain's `pingpong.ping` (on host a)
/// from this process through `trellis_lattice::Lattice::call`: what a
/// host's side of a remote call runs, without a host around it.
async fn direct_calls(
    client: &trellis_lattice::Lattice,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Samples> {
    let target = ComponentId::new(id("remote", "pong"))?;
    let interface: InterfaceRef = "example:pong/pingpong".parse()?;
    let function = WitName::new("ping")?;
    load::closed_loop(concurrency, warmup, measure, |start, end| {
        let client = client.clone();
        let (target, interface, function) = (target.clone(), interface.clone(), function.clone());
        async move {
            let request = CallRequest {
                args: CallArgs::Values(Values::empty()),
                wave: false,
            };
            let mut tally = Tally::new(start);
            while Instant::now() < end {
                let ctx = CallContext::new(None, LinkName::default(), REQUEST_TIMEOUT);
                let t0 = Instant::now();
                let call = client.call(&target, &interface, &function, &request, &ctx);
                let outcome = tokio::time::timeout(REQUEST_TIMEOUT, call).await;
                tally.record(t0, matches!(outcome, Ok(Ok(_))));
            }
            tally.finish()
        }
    })
    .await
}
