//! Control requests: one host, one reply; or scatter-gather over all hosts.

use std::time::Duration;

use async_nats::RequestErrorKind;
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use trellis_protocol::control::{
    ControlRequest, InventoryRequest, LinkListRequest, LinkPage, PingReply, Reply,
};
use trellis_protocol::inventory::HostInventory;
use trellis_protocol::limits::MAX_INVENTORY_PAGES;
use trellis_protocol::link::Link;
use trellis_protocol::{ControlVerb, HostId, Subject};

use crate::connect::Lattice;
use crate::error::{ControlError, LatticeError};

impl Lattice {
    /// Sends a typed control request; the reply data decodes as the
    /// request type says ([`ControlRequest::Reply`]).
    pub async fn request<R: ControlRequest>(
        &self,
        verb: ControlVerb,
        request: &R,
        timeout: Option<Duration>,
    ) -> Result<Option<R::Reply>, ControlError> {
        self.control(verb, request, timeout).await
    }

    /// Sends a control request and unwraps the `{ok, error, data}` envelope.
    pub async fn control<Req, Resp>(
        &self,
        verb: ControlVerb,
        request: &Req,
        timeout: Option<Duration>,
    ) -> Result<Option<Resp>, ControlError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let subject = verb_subject(self, &verb);
        self.request_json(subject, request, timeout.unwrap_or(self.request_timeout))
            .await
    }

    /// Sends a JSON request to `subject` and unwraps the reply envelope.
    pub(crate) async fn request_json<Req, Resp>(
        &self,
        subject: String,
        request: &Req,
        timeout: Duration,
    ) -> Result<Option<Resp>, ControlError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let body = serde_json::to_vec(request).map_err(|e| ControlError::BadReply {
            subject: subject.clone(),
            reason: format!("cannot encode request: {e}"),
        })?;
        let reply = self.control_raw(&subject, body.into(), timeout).await?;
        let envelope: Reply<Resp> =
            serde_json::from_slice(&reply).map_err(|e| ControlError::BadReply {
                subject,
                reason: e.to_string(),
            })?;
        envelope.into_result().map_err(ControlError::Failed)
    }

    /// Sends raw bytes to any subject and returns the raw reply. Used by the
    /// typed calls above and by tests that probe bad input.
    pub async fn control_raw(
        &self,
        subject: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, ControlError> {
        let request = async_nats::Request::new()
            .payload(body)
            .timeout(Some(timeout));
        match self.client.send_request(subject.to_owned(), request).await {
            Ok(msg) => Ok(msg.payload),
            Err(e) => Err(match e.kind() {
                RequestErrorKind::TimedOut => ControlError::TimedOut {
                    subject: subject.to_owned(),
                    timeout,
                },
                RequestErrorKind::NoResponders => ControlError::NoResponders {
                    subject: subject.to_owned(),
                },
                RequestErrorKind::Other => LatticeError::nats("request", e).into(),
            }),
        }
    }

    /// Scatter-gather `host.ping`: every reply that arrives within `window`.
    pub async fn ping_hosts(&self, window: Duration) -> Result<Vec<PingReply>, ControlError> {
        self.ping_hosts_until(window, |_| false).await
    }

    /// Like [`Lattice::ping_hosts`], but stops gathering as soon as `enough`
    /// holds for the replies so far (e.g. "the host I asked about answered").
    pub async fn ping_hosts_until(
        &self,
        window: Duration,
        enough: impl Fn(&[PingReply]) -> bool,
    ) -> Result<Vec<PingReply>, ControlError> {
        let subject = verb_subject(self, &ControlVerb::HostPing);
        let inbox = self.client.new_inbox();
        let mut replies = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| LatticeError::nats("subscribe", e))?;
        self.client
            .publish_with_reply(subject.clone(), inbox, Bytes::from_static(b"{}"))
            .await
            .map_err(|e| LatticeError::nats("publish", e))?;
        let deadline = tokio::time::Instant::now() + window;
        let mut hosts = Vec::new();
        while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, replies.next()).await {
            // A no-responders status arrives as an empty message with a status.
            if msg.status.is_some() {
                break;
            }
            match serde_json::from_slice::<Reply<PingReply>>(&msg.payload) {
                Ok(Reply {
                    ok: true,
                    data: Some(ping),
                    ..
                }) => {
                    hosts.push(ping);
                    if enough(&hosts) {
                        break;
                    }
                }
                Ok(other) => {
                    tracing::warn!(error = ?other.error, "host answered ping with an error")
                }
                Err(e) => tracing::warn!(%e, "malformed ping reply ignored"),
            }
        }
        hosts.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(hosts)
    }

    /// Every host's full inventory: a ping to find the hosts, then one
    /// `host.inventory` request each.
    pub async fn inventories(&self, window: Duration) -> Result<Vec<HostInventory>, ControlError> {
        let hosts = self.ping_hosts(window).await?;
        let mut inventories = Vec::with_capacity(hosts.len());
        for host in hosts {
            inventories.extend(self.host_inventory(&host.id, None, None).await?);
        }
        Ok(inventories)
    }

    /// Every link of the lattice, read page by page.
    pub async fn links(&self, page_bytes: Option<usize>) -> Result<Vec<Link>, ControlError> {
        let verb = ControlVerb::LinkList;
        let subject = || verb_subject(self, &verb);
        crate::pages::read_all(subject, "link", |after| {
            let request = LinkListRequest {
                after: after.cloned(),
                page_bytes,
            };
            let verb = verb.clone();
            async move {
                let page: LinkPage = self
                    .control(verb, &request, None)
                    .await?
                    .unwrap_or_default();
                Ok((page.links, page.next))
            }
        })
        .await
    }

    /// The whole inventory of one host, read page by page (`page_bytes`
    /// asks for smaller pages than the host's default); each request gets
    /// `timeout`. A host that answers without paging (older hosts) is read
    /// in one request.
    pub async fn host_inventory(
        &self,
        host: &HostId,
        page_bytes: Option<usize>,
        timeout: Option<Duration>,
    ) -> Result<Option<HostInventory>, ControlError> {
        let verb = ControlVerb::HostInventory(host.clone());
        let mut request = InventoryRequest {
            cursor: None,
            page_bytes,
        };
        let Some(mut all) = self
            .control::<_, HostInventory>(verb.clone(), &request, timeout)
            .await?
        else {
            return Ok(None);
        };
        let mut pages = 1;
        while let Some(cursor) = all.next.clone() {
            let forward = request
                .cursor
                .as_ref()
                .is_none_or(|before| &cursor > before);
            if pages >= MAX_INVENTORY_PAGES || !forward {
                return Err(ControlError::BadReply {
                    subject: verb_subject(self, &verb),
                    reason: format!(
                        "host {host} keeps paging its inventory after {pages} pages (cursor {cursor:?})"
                    ),
                });
            }
            request.cursor = Some(cursor);
            let page: Option<HostInventory> = self.control(verb.clone(), &request, timeout).await?;
            let Some(page) = page else { break };
            all.extend_with(page);
            pages += 1;
        }
        Ok(Some(all))
    }
}

fn verb_subject(lattice: &Lattice, verb: &ControlVerb) -> String {
    Subject::control(&lattice.lattice, verb.clone()).to_string()
}
