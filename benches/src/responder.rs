//! The bare NATS responders the mesh rows measure a remote call against.
//!
//! A remote call crosses three processes (calling host, nats-server,
//! serving host), each of which may be asleep when its turn comes; on a
//! VM, waking a sleeping core is a large part of a round trip at
//! concurrency 1. So the reference is measured twice: answered by a task
//! in the bench process (the floor: the requester's own process is awake
//! when the reply comes back), and answered by a second process (this
//! binary re-run with [`FLAG`]), which pays the same wake-ups as two hosts.

use std::process::Stdio;

use anyhow::{Context, bail};
use async_nats::{Client, HeaderMap, Subject};
use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::load::REQUEST_TIMEOUT;
use crate::nats::{AbortOnDrop, connect, flush};

/// First argument that makes `trellis-bench` a responder process.
pub(crate) const FLAG: &str = "--nats-responder";

/// What the responder prints once its subscription is in place.
const READY: &str = "ready";

/// Most header pairs a responder is asked to send back (the captured
/// replies carry none; a bound on what the child accepts all the same).
const MAX_HEADERS: usize = 64;

/// Largest reply a responder makes (NATS's default max payload).
const MAX_REPLY_BYTES: usize = 1 << 20;

/// What a responder answers on which subject.
#[derive(Clone)]
pub(crate) struct Answer {
    /// Subject it subscribes to.
    pub subject: Subject,
    /// Reply payload length.
    pub reply_bytes: usize,
    /// Reply headers, if the imitated reply had any.
    pub reply_headers: Option<HeaderMap>,
}

/// Subscribes on `answer.subject` and answers every request from
/// `responder` in a task that stops when the returned guard is dropped.
async fn serve(responder: Client, answer: Answer) -> anyhow::Result<AbortOnDrop> {
    let mut sub = responder.subscribe(answer.subject.clone()).await?;
    flush(&responder).await?;
    let reply = Bytes::from(vec![0u8; answer.reply_bytes]);
    Ok(AbortOnDrop(tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(to) = msg.reply else { continue };
            let sent = match &answer.reply_headers {
                Some(h) => {
                    responder
                        .publish_with_headers(to, h.clone(), reply.clone())
                        .await
                }
                None => responder.publish(to, reply.clone()).await,
            };
            if sent.is_err() {
                break;
            }
        }
    })))
}

/// A responder task in this process; stops when dropped.
pub(crate) struct InProcess {
    _task: AbortOnDrop,
}

impl InProcess {
    /// Subscribes (on a connection of its own) and answers until dropped.
    pub(crate) async fn start(url: &str, answer: Answer) -> anyhow::Result<Self> {
        Ok(Self {
            _task: serve(connect(url).await?, answer).await?,
        })
    }
}

/// A responder in a child process; killed when dropped (and it exits by
/// itself when its stdin closes, should this process die first).
pub(crate) struct OtherProcess {
    _child: Child,
}

impl OtherProcess {
    /// Starts this binary as a responder and waits until it subscribed.
    pub(crate) async fn start(url: &str, answer: &Answer) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.arg(FLAG)
            .arg(url)
            .arg(answer.subject.as_str())
            .arg(answer.reply_bytes.to_string());
        for (name, values) in answer.reply_headers.iter().flat_map(|h| h.iter()) {
            for value in values {
                cmd.arg(format!("{name}:{value}"));
            }
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the responder process")?;
        let stdout = child.stdout.take().context("responder stdout")?;
        let mut line = String::new();
        tokio::time::timeout(REQUEST_TIMEOUT, BufReader::new(stdout).read_line(&mut line))
            .await
            .context("the responder process did not subscribe in time")??;
        if line.trim() != READY {
            bail!("the responder process said {line:?}, not {READY:?}");
        }
        Ok(Self { _child: child })
    }
}

/// The child's side: `trellis-bench --nats-responder URL SUBJECT BYTES
/// [NAME:VALUE ...]`, answering until stdin closes.
pub(crate) async fn run_child(args: &[String]) -> anyhow::Result<()> {
    let [url, subject, bytes, headers @ ..] = args else {
        bail!("usage: trellis-bench {FLAG} NATS_URL SUBJECT REPLY_BYTES [NAME:VALUE ...]");
    };
    if headers.len() > MAX_HEADERS {
        bail!("at most {MAX_HEADERS} reply headers, got {}", headers.len());
    }
    let mut reply_headers = HeaderMap::new();
    for pair in headers {
        let (name, value) = pair
            .split_once(':')
            .with_context(|| format!("reply header `{pair}` is not NAME:VALUE"))?;
        reply_headers.append(name, value);
    }
    let reply_bytes: usize = bytes.parse().context("REPLY_BYTES is a whole number")?;
    if reply_bytes > MAX_REPLY_BYTES {
        bail!(
            "REPLY_BYTES is at most {MAX_REPLY_BYTES} (NATS's default max payload), got {reply_bytes}"
        );
    }
    let answer = Answer {
        subject: Subject::from(subject.as_str()),
        reply_bytes,
        reply_headers: (!headers.is_empty()).then_some(reply_headers),
    };
    let _answering = serve(connect(url).await?, answer).await?;
    println!("{READY}");
    // The parent holds stdin open for as long as it wants answers.
    let mut sink = [0u8; 64];
    let mut stdin = tokio::io::stdin();
    while stdin.read(&mut sink).await? > 0 {}
    Ok(())
}
