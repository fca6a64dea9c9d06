//! Message-triggered components (`builtin://messaging-nats`,
//! docs/providers/messaging-nats.md): what handling a NATS message in a
//! component costs over answering it in a plain NATS subscriber.
//!
//! One host: the messaging provider and `messaging_relay` both run on host
//! a (host b runs none of it), with a handler link subscribing the
//! component to [`SUBJECT`] and a consumer link for its answer. A NATS
//! request to that subject is handled by the component, which publishes
//! `handled:` + body to the request's reply-to, so one request-reply round
//! trip is publish -> `handle-message` -> reply.
//!
//! The reference is a bare async-nats responder task in this process (its
//! own connection, same nats-server) answering the same reply at once. Both
//! are driven by the same closed-loop requester (one connection, the next
//! request when the last reply came, every latency after the warm-up kept)
//! in the same run: at concurrency [`THROUGHPUT`] for messages per second,
//! at concurrency [`LATENCY`] for the round trip's p50 and p99.

use std::fmt::Write;
use std::time::{Duration, Instant};

use anyhow::bail;
use async_nats::{Client, Subject};
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use trellis_tests::actor;

use crate::load::{self, LoadResult, REQUEST_TIMEOUT, Tally, WorkerResult};
use crate::nats::{AbortOnDrop, connect, flush};
use crate::setup::{self, Lattice};

/// Concurrency of the throughput rows (requests in flight).
pub(crate) const THROUGHPUT: usize = 16;

/// Concurrency of the latency rows.
pub(crate) const LATENCY: usize = 1;

/// Where the provider and the component run (printed and kept in the JSON).
const PLACEMENT: &str = "one host: provider and component on host a";

/// Provider id of the messaging provider.
const PROVIDER: &str = "bench-msg";

/// Component id of `messaging_relay`.
const COMPONENT: &str = "bench-msg-relay";

/// Config of the handler link.
const CONFIG: &str = "bench-msg-subs";

/// The subject the component is subscribed to.
pub(crate) const SUBJECT: &str = "bench.messaging";

/// The bare responder's subject (same length class; nothing else on it).
const BARE_SUBJECT: &str = "bench.messaging-bare";

/// Request body: neither `fail` nor `ask:...`, so the component echoes it.
const BODY: &[u8] = b"ping";

/// What the component (and the bare responder) answer to [`BODY`].
const REPLY: &[u8] = b"handled:ping";

/// Bound on the handler link answering its first request.
const READY: Duration = Duration::from_secs(60);

/// The component and the bare responder at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MessagingRow {
    /// Requests in flight.
    pub concurrency: usize,
    /// Request-reply through the provider and `messaging_relay`.
    pub trellis: LoadResult,
    /// Request-reply to a bare responder in this process.
    pub nats: LoadResult,
}

impl MessagingRow {
    /// Messages handled per second, Trellis over bare.
    pub(crate) fn rps_ratio(&self) -> f64 {
        self.trellis.rps / self.nats.rps
    }

    /// Median round trip, Trellis over bare.
    pub(crate) fn p50_ratio(&self) -> f64 {
        self.trellis.p50_us / self.nats.p50_us
    }

    /// 99th percentile round trip, Trellis over bare.
    pub(crate) fn p99_ratio(&self) -> f64 {
        self.trellis.p99_us / self.nats.p99_us
    }
}

/// The messaging rows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Messaging {
    /// Where the provider and the component ran.
    pub placement: &'static str,
    /// The subject requested.
    pub subject: &'static str,
    /// Request body bytes (the reply has 8 more: `handled:`).
    pub body_bytes: usize,
    /// At [`THROUGHPUT`].
    pub throughput: MessagingRow,
    /// At [`LATENCY`].
    pub latency: MessagingRow,
}

/// Starts the provider and the component on host a, links them, waits
/// until a request is answered, and measures both rows against the bare
/// responder.
pub(crate) async fn measure(
    lattice: &Lattice,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Messaging> {
    wire(lattice)?;
    let url = lattice.nats.url();
    wait_handled(&url).await?;
    let throughput = row(&url, THROUGHPUT, warmup, measure).await?;
    let latency = row(&url, LATENCY, warmup, measure).await?;
    Ok(Messaging {
        placement: PLACEMENT,
        subject: SUBJECT,
        body_bytes: BODY.len(),
        throughput,
        latency,
    })
}

/// The bare responder, then the component, at `concurrency`.
async fn row(
    url: &str,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<MessagingRow> {
    Ok(MessagingRow {
        concurrency,
        nats: bare_nats(url, concurrency, warmup, measure).await?,
        trellis: requests(url, SUBJECT, concurrency, warmup, measure).await?,
    })
}

/// The provider and `messaging_relay` on host a, the handler link (config
/// `subscriptions=SUBJECT`) and the component's consumer link.
fn wire(lattice: &Lattice) -> anyhow::Result<()> {
    let cli = &lattice.cli;
    let host = lattice.a.id();
    setup::run(
        cli,
        &[
            "start",
            "provider",
            "builtin://messaging-nats",
            PROVIDER,
            "--host",
            host,
        ],
    )?;
    let image = format!("file://{}", actor("messaging_relay").display());
    setup::start_component(cli, &image, COMPONENT, &lattice.a)?;
    let subscriptions = format!("subscriptions={SUBJECT}");
    setup::run(cli, &["config", "put", CONFIG, &subscriptions])?;
    setup::run(
        cli,
        &[
            "link",
            "put",
            PROVIDER,
            COMPONENT,
            "wasmcloud",
            "messaging",
            "--interface",
            "handler",
            "--source-config",
            CONFIG,
        ],
    )?;
    setup::run(
        cli,
        &[
            "link",
            "put",
            COMPONENT,
            PROVIDER,
            "wasmcloud",
            "messaging",
            "--interface",
            "consumer",
        ],
    )
}

/// Waits until a request to [`SUBJECT`] comes back as [`REPLY`] (the
/// provider subscribed, the component runs and can publish).
async fn wait_handled(url: &str) -> anyhow::Result<()> {
    let client = connect(url).await?;
    let deadline = Instant::now() + READY;
    loop {
        let request = client.request(SUBJECT, Bytes::from_static(BODY));
        let last = match tokio::time::timeout(Duration::from_secs(1), request).await {
            Ok(Ok(reply)) if reply.payload.as_ref() == REPLY => return Ok(()),
            Ok(Ok(reply)) => {
                bail!(
                    "{SUBJECT} answered {:?}, not {:?}",
                    String::from_utf8_lossy(&reply.payload),
                    String::from_utf8_lossy(REPLY)
                )
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        if Instant::now() > deadline {
            bail!("no answer on {SUBJECT} through {COMPONENT} within {READY:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The reference: the requests of [`requests`] to a responder task on its
/// own connection that answers [`REPLY`] at once.
async fn bare_nats(
    url: &str,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<LoadResult> {
    let responder = connect(url).await?;
    let mut sub = responder.subscribe(BARE_SUBJECT).await?;
    flush(&responder).await?;
    let _answering = AbortOnDrop(tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(to) = msg.reply else { continue };
            let reply = [b"handled:".as_slice(), &msg.payload].concat();
            if responder.publish(to, reply.into()).await.is_err() {
                break;
            }
        }
    }));
    requests(url, BARE_SUBJECT, concurrency, warmup, measure).await
}

/// Closed-loop request-reply to `subject` at `concurrency` on one
/// connection; a request counts when its reply is [`REPLY`].
async fn requests(
    url: &str,
    subject: &str,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<LoadResult> {
    let requester = connect(url).await?;
    let subject = Subject::from(subject);
    let samples = load::closed_loop(concurrency, warmup, measure, |start, end| {
        worker(requester.clone(), subject.clone(), start, end)
    })
    .await?;
    Ok(samples.summary())
}

/// One closed-loop requester: the next request when the last reply came.
async fn worker(client: Client, subject: Subject, start: Instant, end: Instant) -> WorkerResult {
    let mut tally = Tally::new(start);
    let payload = Bytes::from_static(BODY);
    while Instant::now() < end {
        let request = async_nats::Request::new()
            .payload(payload.clone())
            .timeout(Some(REQUEST_TIMEOUT));
        let t0 = Instant::now();
        let outcome = tokio::time::timeout(
            REQUEST_TIMEOUT,
            client.send_request(subject.clone(), request),
        )
        .await;
        tally.record(
            t0,
            matches!(&outcome, Ok(Ok(reply)) if reply.payload.as_ref() == REPLY),
        );
    }
    tally.finish()
}

fn ratio(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}x")
    } else {
        "-".into()
    }
}

impl Messaging {
    /// The human table: each row next to the bare responder of the same
    /// concurrency, then the throughput and latency ratios in one line
    /// each.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<34} {:>5} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>7}",
            "messaging (request-reply)",
            "conc",
            "msg/s",
            "p50 us",
            "p99 us",
            "rps/bare",
            "p50/bare",
            "p99/bare",
            "errors"
        );
        for row in [&self.throughput, &self.latency] {
            for (name, r, is_ref) in [
                ("bare NATS responder (ref)", &row.nats, true),
                ("trellis handler, one host", &row.trellis, false),
            ] {
                let (rps, p50, p99) = if is_ref {
                    ("1.00x".into(), "1.00x".into(), "1.00x".into())
                } else {
                    (
                        ratio(row.rps_ratio()),
                        ratio(row.p50_ratio()),
                        ratio(row.p99_ratio()),
                    )
                };
                let _ = writeln!(
                    out,
                    "{:<34} {:>5} {:>10.0} {:>10.0} {:>10.0} {:>9} {:>9} {:>9} {:>7}",
                    name, row.concurrency, r.rps, r.p50_us, r.p99_us, rps, p50, p99, r.errors
                );
            }
        }
        let (t, l) = (&self.throughput, &self.latency);
        let _ = writeln!(
            out,
            "messaging ({}): throughput at c={}: {:.0} msg/s handled = {} bare NATS \
             request-reply ({:.0} msg/s)",
            self.placement,
            t.concurrency,
            t.trellis.rps,
            ratio(t.rps_ratio()),
            t.nats.rps
        );
        let _ = writeln!(
            out,
            "messaging ({}): publish-to-handle round trip at c={}: p50 {:.0} us = {} bare \
             ({:.0} us), p99 {:.0} us = {} bare ({:.0} us)",
            self.placement,
            l.concurrency,
            l.trellis.p50_us,
            ratio(l.p50_ratio()),
            l.nats.p50_us,
            l.trellis.p99_us,
            ratio(l.p99_ratio()),
            l.nats.p99_us
        );
        out
    }
}
