//! Control requests, each tied to its reply data ([`ControlRequest`]).
//!
//! Every control reply is a [`Reply`] envelope (see [`crate::reply`]); a
//! request body that does not parse gets an `invalid` failure that says
//! what was expected.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::call::CallRequest;
use crate::digest::Sha256Digest;
use crate::id::{ComponentId, ConfigName, LinkName};
use crate::inventory::{Annotations, InventoryCursor};
use crate::limits::{self, LimitError};
use crate::link::{InterfaceRef, Link, LinkKey, WitName};
use crate::page::Pager;
pub use crate::reply::{ControlRequest, EncodedReply, Failure, FailureKind, Reply};

/// Parses a request body; on failure, an `invalid` failure that says
/// what was expected.
pub fn parse_request<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    if body.is_empty() {
        return Err(Failure::invalid(format!(
            "empty request body; expected a JSON {}",
            short_type_name::<T>()
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        Failure::invalid(format!(
            "malformed request: {e}; expected a JSON {}",
            short_type_name::<T>()
        ))
    })
}

/// What a request of type `T` looks like, in user words: the type's name
/// for request structs, and a description for maps and lists (whose Rust
/// names, like `BTreeMap<String, String>`, mean nothing to a user).
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    if let Some((outer, _)) = full.split_once('<') {
        let outer = outer.rsplit("::").next().unwrap_or(outer);
        return match outer {
            "BTreeMap" | "HashMap" => {
                "object of string keys to string values, e.g. {\"address\": \"127.0.0.1:8080\"}"
                    .into()
            }
            "Vec" => "array".into(),
            "Option" => "value or null".into(),
            other => other.into(),
        };
    }
    full.rsplit("::").next().unwrap_or(full).to_owned()
}

/// Where a host gets a component's bytes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    /// JetStream object store bucket.
    pub bucket: String,
    /// Object name in the bucket.
    pub name: String,
    /// sha256 of the bytes; the host verifies it and names its cached
    /// copy after it, so only a real digest (64 lowercase hex) parses.
    pub sha256: Sha256Digest,
}

/// The scheme of artifact references: `nats://BUCKET/sha256-HEX`.
pub const NATS_SCHEME: &str = "nats://";

impl ArtifactRef {
    /// The `nats://BUCKET/sha256-HEX` reference `trellis push` prints.
    pub fn reference(&self) -> String {
        format!("{NATS_SCHEME}{}/{}", self.bucket, self.name)
    }

    /// Parses a reference made by [`ArtifactRef::reference`]; the error says
    /// what shape is expected.
    pub fn parse_reference(image: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{image}` is not an artifact reference; use the nats://BUCKET/sha256-HEX that `trellis push` prints"
            )
        };
        let rest = image.strip_prefix(NATS_SCHEME).ok_or_else(bad)?;
        let (bucket, name) = rest.split_once('/').ok_or_else(bad)?;
        let sha = name.strip_prefix("sha256-").ok_or_else(bad)?;
        let sha256 = Sha256Digest::new(sha.to_ascii_lowercase()).map_err(|_| bad())?;
        if bucket.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            name: name.to_owned(),
            sha256,
        })
    }
}

/// `component.scale.{host}`: start, rescale or (with `max: 0`) stop a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleComponentRequest {
    /// Component id.
    pub component_id: ComponentId,
    /// Image reference as the user wrote it (shown in inventory).
    #[serde(default)]
    pub image: String,
    /// Where to fetch the bytes; required unless the component already runs.
    #[serde(default)]
    pub artifact: Option<ArtifactRef>,
    /// Concurrent instance bound; 0 stops the component.
    pub max: u32,
    /// How many calls of its exported functions (not HTTP requests) one
    /// instance may serve, one after another, before it is replaced. None
    /// keeps what a running component has; a new one gets 1, a fresh
    /// instance per call. More trades isolation for latency: what one call
    /// leaves in the instance's memory reaches the next (docs/actors.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<u32>,
    /// Named configs for the component.
    #[serde(default)]
    pub config: Vec<ConfigName>,
    /// Annotations (wadm marks its own workloads here).
    #[serde(default)]
    pub annotations: Annotations,
    /// Secrets the component may read through `wasmcloud:secrets`
    /// (references only; the host fetches and decrypts the values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<crate::secret::SecretRef>,
}

impl ScaleComponentRequest {
    /// Checks the user-supplied sizes against [`crate::limits`].
    pub fn check_limits(&self) -> Result<(), LimitError> {
        limits::check_image(&self.image)?;
        limits::check_config_names("config", &self.config)?;
        limits::check_refs("secrets", &self.secrets)?;
        limits::check_annotations(&self.annotations)
    }
}

/// `component.update.{host}`: swap the image of a running component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateComponentRequest {
    /// Component id.
    pub component_id: ComponentId,
    /// New image reference.
    pub image: String,
    /// Where to fetch the new bytes.
    pub artifact: ArtifactRef,
}

impl UpdateComponentRequest {
    /// Checks the user-supplied sizes against [`crate::limits`].
    pub fn check_limits(&self) -> Result<(), LimitError> {
        limits::check_image(&self.image)
    }
}

/// `component.probe.{host}`: one `GET` to the component's instance on that
/// host, through the same in-process path its HTTP provider uses. wadm
/// probes each host a staged rollout reached, so the answer says how that
/// host's version does, not whichever host a queue group picked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeComponentRequest {
    /// Component id.
    pub component_id: ComponentId,
    /// Path and query to request (`/healthz`).
    pub path: String,
    /// Bound on the call, in milliseconds.
    pub timeout_ms: u64,
}

/// Reply data of `component.probe`: the guest answered with this status.
/// A guest that traps or times out is an error reply instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReply {
    /// HTTP status of the answer.
    pub status: u16,
}

/// `component.call.{host}`: one call of an exported function of the
/// component's instance on that host (`trellis call --host`), where the rpc
/// subject would let the lattice pick the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallComponentRequest {
    /// Component id.
    pub component_id: ComponentId,
    /// The interface, versionless.
    pub interface: InterfaceRef,
    /// The function in it.
    pub function: WitName,
    /// Arguments and whether to render the results as WAVE.
    pub call: CallRequest,
    /// Bound on the call, in milliseconds.
    pub timeout_ms: u64,
}

/// `provider.start.{host}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartProviderRequest {
    /// Provider id.
    pub provider_id: ComponentId,
    /// `builtin://NAME` for providers compiled into the host, or the
    /// `file://` reference of an executable the CLI uploaded.
    pub image: String,
    /// The executable of an external provider, in the object store.
    #[serde(default)]
    pub artifact: Option<ArtifactRef>,
    /// The executable's detached claims (a JWT), when signed.
    #[serde(default)]
    pub claims: Option<String>,
    /// Named configs for the provider.
    #[serde(default)]
    pub config: Vec<ConfigName>,
    /// Annotations.
    #[serde(default)]
    pub annotations: Annotations,
}

impl StartProviderRequest {
    /// Checks the user-supplied sizes against [`crate::limits`].
    pub fn check_limits(&self) -> Result<(), LimitError> {
        limits::check_image(&self.image)?;
        limits::check_config_names("config", &self.config)?;
        limits::check_annotations(&self.annotations)
    }
}

/// `provider.stop.{host}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopProviderRequest {
    /// Provider id.
    pub provider_id: ComponentId,
}

/// `host.labels.{host}`: labels to put and to delete, applied together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelsRequest {
    /// Labels to set.
    #[serde(default)]
    pub put: BTreeMap<String, String>,
    /// Label keys to remove.
    #[serde(default)]
    pub delete: Vec<String>,
}

impl LabelsRequest {
    /// Checks the request alone (the host checks the labels it would end
    /// up with too): no more keys than a host may carry, none too long.
    pub fn check_limits(&self) -> Result<(), LimitError> {
        limits::check_labels(&self.put)?;
        if self.delete.len() > limits::MAX_LABELS {
            return Err(LimitError::TooMany {
                field: "labels to delete".into(),
                count: self.delete.len(),
                max: limits::MAX_LABELS,
                hint: "a host has no more labels than that",
            });
        }
        Ok(())
    }

    /// Everything a host checks of the request before applying it: the
    /// limits, no key a host sets itself, no empty key.
    pub fn check(&self) -> Result<(), String> {
        self.check_limits()
            .map_err(|e| format!("labels refused: {e}"))?;
        let mut touched = self.put.keys().chain(self.delete.iter());
        if let Some(key) = touched
            .clone()
            .find(|k| AUTOMATIC_LABELS.contains(&k.as_str()))
        {
            return Err(format!(
                "label `{key}` is set by the host itself and cannot be changed"
            ));
        }
        if touched.any(|k| k.is_empty()) {
            return Err("label keys must not be empty".into());
        }
        Ok(())
    }
}

/// Label keys a host sets itself (from its platform); nobody else may.
pub const AUTOMATIC_LABELS: [&str; 2] = ["os", "arch"];

/// `host.stop.{host}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopHostRequest {
    /// How long in-flight work may take to finish, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// `link.put`: a link, and whether it may replace a link an app manages.
///
/// The link's fields sit at the top level, so a plain [`Link`] (what
/// callers before `force` sent) is a valid request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutLinkRequest {
    /// The link to store.
    #[serde(flatten)]
    pub link: Link,
    /// Replace the link even when wadm manages it for an app (wadm will
    /// report the app's link as put by hand until the manifest changes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Reply once the link is stored, without checking that both ends run
    /// or waiting until every host has applied it (what a plain request
    /// does, so that the next request already sees the link). For wadm:
    /// it links what its plan started, and learns from heartbeats which
    /// hosts applied which links revision, so it need not make every
    /// write cost a round of pings over the whole lattice.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_wait: bool,
}

/// `host.inventory.{host}`: one page of what a host runs. An empty body
/// (what callers before paging sent) asks for the first page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRequest {
    /// Where to continue: the `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<InventoryCursor>,
    /// Bytes of components and providers per page; the host clamps it to
    /// between [`limits::MIN_INVENTORY_PAGE_BYTES`] and
    /// [`limits::INVENTORY_PAGE_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_bytes: Option<usize>,
}

impl InventoryRequest {
    /// The page size to use.
    pub fn page_bytes(&self) -> usize {
        self.page_bytes
            .unwrap_or(limits::INVENTORY_PAGE_BYTES)
            .clamp(
                limits::MIN_INVENTORY_PAGE_BYTES,
                limits::INVENTORY_PAGE_BYTES,
            )
    }
}

/// `link.list` with a body: one page of the lattice's links. An empty or
/// `null` body (callers from before paging) gets every link as a plain
/// array instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkListRequest {
    /// Links whose key sorts after this one: the `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<LinkKey>,
    /// Bytes of links per page, clamped as for inventories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_bytes: Option<usize>,
}

/// Reply data of a paged `link.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPage {
    /// Links of this page, sorted by key.
    pub links: Vec<Link>,
    /// Where the next page starts; `None` on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<LinkKey>,
}

impl LinkPage {
    /// The page of `links` that `request` asks for: at least one link, then
    /// as many as fit in its page size.
    pub fn of(mut links: Vec<Link>, request: &LinkListRequest) -> LinkPage {
        links.sort_by_key(Link::key);
        let from = request
            .after
            .as_ref()
            .map_or(0, |after| links.partition_point(|l| &l.key() <= after));
        let mut page = Pager::new(request.page_bytes);
        for link in links.into_iter().skip(from) {
            if !page.push(link) {
                break;
            }
        }
        let (links, next) = page.finish(Link::key);
        LinkPage { links, next }
    }
}

/// `link.del`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteLinkRequest {
    /// Caller side.
    pub source_id: ComponentId,
    /// WIT namespace.
    pub wit_namespace: WitName,
    /// WIT package.
    pub wit_package: WitName,
    /// Link name (default `default`).
    #[serde(default)]
    pub name: LinkName,
    /// Reply once the deletion is stored, without waiting for every host
    /// to apply it (see [`PutLinkRequest::no_wait`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_wait: bool,
}

/// A named config's values.
pub type ConfigValues = BTreeMap<String, String>;

/// `config.put.{name}`: the values, as a plain map (what callers send to
/// wait until every host has the config) or wrapped with `no_wait`.
/// Unambiguous: a plain map holds only strings, the wrapped form an object
/// and a bool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PutConfigRequest {
    /// Values and whether to reply once stored.
    Wrapped {
        /// The config's entries.
        values: ConfigValues,
        /// Reply once stored (see [`PutLinkRequest::no_wait`]).
        no_wait: bool,
    },
    /// Just the values: reply once every host has them.
    Plain(ConfigValues),
}

impl PutConfigRequest {
    /// Parses a `config.put` body; a malformed one gets the error a plain
    /// map would (an untagged enum's own says only "no variant matched").
    pub fn parse(body: &[u8]) -> Result<Self, Failure> {
        match serde_json::from_slice::<Self>(body) {
            Ok(request) => Ok(request),
            Err(_) => parse_request::<ConfigValues>(body).map(Self::Plain),
        }
    }

    /// The values and whether the caller waits for the hosts.
    pub fn into_parts(self) -> (ConfigValues, bool) {
        match self {
            Self::Wrapped { values, no_wait } => (values, no_wait),
            Self::Plain(values) => (values, false),
        }
    }
}

/// The answer of an external provider process to a health request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderHealthReply {
    /// Whether it works.
    pub healthy: bool,
    /// Why not, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How the process took the links that name it (it follows them
    /// itself); its host reports them in its inventory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<crate::link::LinkStatus>,
}

/// Reply data of `host.ping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingReply {
    /// Host id.
    pub id: crate::id::HostId,
    /// Human name.
    pub name: String,
    /// Host labels.
    pub labels: crate::inventory::Labels,
    /// Seconds since the host started.
    pub uptime_seconds: u64,
    /// Trellis version.
    pub version: String,
    /// Number of components running.
    pub components: usize,
    /// Number of providers running.
    pub providers: usize,
    /// Revision of the lattice's links this host has applied.
    #[serde(default)]
    pub links_revision: u64,
    /// Revision of the lattice's named configs this host has applied.
    #[serde(default)]
    pub config_revision: u64,
    /// Issuers whose signed components this host runs.
    #[serde(default)]
    pub trusted_issuers: Vec<String>,
    /// Whether it runs unsigned components.
    #[serde(default)]
    pub allow_unsigned: bool,
}

/// Reply data per request type: what a successful reply carries.
mod replies {
    use super::*;
    use crate::call::CallResponse;
    use crate::inventory::{ComponentDescription, HostInventory, Labels, ProviderDescription};

    macro_rules! replies {
        ($($request:ty => $reply:ty),* $(,)?) => {
            $(impl ControlRequest for $request {
                type Reply = $reply;
            })*
        };
    }

    replies! {
        ScaleComponentRequest => ComponentDescription,
        UpdateComponentRequest => ComponentDescription,
        ProbeComponentRequest => ProbeReply,
        CallComponentRequest => CallResponse,
        StartProviderRequest => ProviderDescription,
        StopProviderRequest => (),
        LabelsRequest => Labels,
        StopHostRequest => (),
        InventoryRequest => HostInventory,
        PutLinkRequest => Link,
        DeleteLinkRequest => Link,
        LinkListRequest => LinkPage,
        PutConfigRequest => ConfigValues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shapes() {
        let ok = serde_json::to_value(Reply::success(3)).unwrap();
        assert_eq!(ok, serde_json::json!({"ok": true, "data": 3}));
        let err = serde_json::to_value(Reply::<()>::failure(Failure::refused("nope"))).unwrap();
        assert_eq!(
            err,
            serde_json::json!({"ok": false, "error": "nope", "kind": "refused"})
        );
        let back: Reply<u32> = serde_json::from_value(ok).unwrap();
        assert_eq!(back.into_result(), Ok(Some(3)));
    }

    #[test]
    fn link_put_requests_accept_plain_links() {
        let plain = r#"{"source_id":"http","target_id":"hello","wit_namespace":"wasi",
            "wit_package":"http","interfaces":["incoming-handler"]}"#;
        let request: PutLinkRequest = serde_json::from_str(plain).unwrap();
        assert!(!request.force);
        let forced: PutLinkRequest =
            serde_json::from_str(&plain.replace('}', r#","force":true}"#)).unwrap();
        assert!(forced.force);
        assert_eq!(forced.link, request.link);
        let json = serde_json::to_value(&forced).unwrap();
        assert_eq!(json["force"], true);
        assert_eq!(json["source_id"], "http");
    }

    #[test]
    fn link_pages_cover_every_link_once() {
        let link = |i: usize| -> Link {
            serde_json::from_value(serde_json::json!({
                "source_id": format!("s{i:04}"), "target_id": "t",
                "wit_namespace": "wasi", "wit_package": "http",
                "interfaces": ["incoming-handler"],
            }))
            .unwrap()
        };
        let links: Vec<Link> = (0..500).rev().map(link).collect();
        let mut request = LinkListRequest {
            after: None,
            page_bytes: Some(limits::MIN_INVENTORY_PAGE_BYTES),
        };
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = LinkPage::of(links.clone(), &request);
            pages += 1;
            seen.extend(page.links.iter().map(|l| l.source_id.to_string()));
            match page.next {
                Some(next) => request.after = Some(next),
                None => break,
            }
        }
        let expected: Vec<String> = (0..500).map(|i| format!("s{i:04}")).collect();
        assert_eq!(seen, expected);
        assert!(pages > 10, "{pages} pages");
    }

    #[test]
    fn artifact_references_round_trip() {
        let sha = "ab".repeat(32);
        let r = ArtifactRef::parse_reference(&format!("nats://ART/sha256-{sha}")).unwrap();
        assert_eq!(r.sha256.as_str(), sha);
        assert_eq!(ArtifactRef::parse_reference(&r.reference()).unwrap(), r);
        for bad in [
            "file://x".to_owned(),
            "nats://ART".to_owned(),
            format!("nats:///sha256-{sha}"),
            "nats://ART/sha256-xyz".to_owned(),
            format!("nats://ART/md5-{sha}"),
        ] {
            let err = ArtifactRef::parse_reference(&bad).unwrap_err();
            assert!(err.contains("trellis push"), "{bad}: {err}");
        }
    }

    #[test]
    fn replies_drop_null_data_and_say_when_they_are_too_big() {
        let null = Reply::encode(Ok(serde_json::Value::Null), 0);
        assert_eq!(null.payload, br#"{"ok":true}"#);
        assert_eq!(null.oversized, None);
        let big = serde_json::Value::String("x".repeat(100));
        let cut = Reply::encode(Ok(big), 64);
        assert!(cut.oversized.is_some_and(|n| n > 64));
        let reply: Reply<serde_json::Value> = serde_json::from_slice(&cut.payload).unwrap();
        assert!(reply.error.unwrap().contains("max_payload of 64"));
        assert_eq!(
            limits::inventory_page_limit(0),
            limits::INVENTORY_PAGE_BYTES
        );
        assert_eq!(
            limits::inventory_page_limit(1 << 20),
            limits::INVENTORY_PAGE_BYTES
        );
        assert_eq!(
            limits::inventory_page_limit(100),
            limits::MIN_INVENTORY_PAGE_BYTES
        );
    }

    #[test]
    fn label_requests_may_not_touch_what_a_host_sets_or_use_empty_keys() {
        let put = |k: &str| LabelsRequest {
            put: [(k.to_owned(), "v".to_owned())].into(),
            delete: Vec::new(),
        };
        assert_eq!(put("zone").check(), Ok(()));
        assert!(
            put("os")
                .check()
                .unwrap_err()
                .contains("`os` is set by the host")
        );
        assert!(put("").check().unwrap_err().contains("must not be empty"));
        let delete = LabelsRequest {
            put: BTreeMap::new(),
            delete: vec!["arch".into()],
        };
        assert!(delete.check().unwrap_err().contains("`arch`"));
    }

    #[test]
    fn a_config_put_is_a_plain_map_or_wrapped_with_no_wait() {
        let plain = PutConfigRequest::parse(br#"{"values": "v", "no_wait": "x"}"#).unwrap();
        let (values, no_wait) = plain.into_parts();
        assert_eq!(values.len(), 2, "string values: a plain map");
        assert!(!no_wait);
        let wrapped = PutConfigRequest::Wrapped {
            values: [("a".to_owned(), "1".to_owned())].into(),
            no_wait: true,
        };
        let body = serde_json::to_vec(&wrapped).unwrap();
        assert_eq!(PutConfigRequest::parse(&body).unwrap(), wrapped);
        let err = PutConfigRequest::parse(br#"{"a": 1}"#).unwrap_err();
        assert_eq!(err.kind, FailureKind::Invalid);
        let err = err.message;
        assert!(err.contains("string keys to string values"), "{err}");
    }

    #[test]
    fn malformed_requests_name_the_expected_type() {
        let err = parse_request::<ScaleComponentRequest>(b"{not json")
            .unwrap_err()
            .message;
        assert!(
            err.contains("malformed request") && err.contains("ScaleComponentRequest"),
            "{err}"
        );
        let err = parse_request::<ConfigValues>(br#"{"a": 1}"#)
            .unwrap_err()
            .message;
        assert!(
            err.contains("object of string keys to string values") && !err.contains("String>"),
            "{err}"
        );
        let err = parse_request::<ScaleComponentRequest>(b"")
            .unwrap_err()
            .message;
        assert!(err.contains("empty"), "{err}");
        let err = parse_request::<ScaleComponentRequest>(br#"{"component_id":"a.b","max":1}"#)
            .unwrap_err()
            .message;
        assert!(err.contains("a.b"), "{err}");
    }
}
