//! Links: which provider or component serves a source's WIT interface.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::annotations::Annotations;
use crate::id::{ComponentId, ConfigName, LinkName};
use crate::wadm::{APP_ANNOTATION, MANAGED_BY_ANNOTATION};

/// Why a WIT name or interface reference is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitError {
    /// Not a kebab-case WIT identifier.
    #[error("`{0}` is not a WIT name (lowercase letters, digits and `-`, starting with a letter)")]
    BadName(String),
    /// Not of the form `namespace:package/interface`.
    #[error(
        "`{0}` is not a WIT interface; write it as `namespace:package/interface`, e.g. `wasi:http/incoming-handler`"
    )]
    BadInterface(String),
}

/// A WIT identifier (namespace, package, interface or function name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WitName(String);

impl WitName {
    /// Validates a kebab-case WIT identifier.
    pub fn new(value: impl Into<String>) -> Result<Self, WitError> {
        let value = value.into();
        let ok = value.len() <= 128
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(value))
        } else {
            Err(WitError::BadName(value))
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for WitName {
    type Error = WitError;
    fn try_from(s: String) -> Result<Self, WitError> {
        Self::new(s)
    }
}

impl From<WitName> for String {
    fn from(n: WitName) -> String {
        n.0
    }
}

/// A versionless WIT interface: `namespace:package/interface`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InterfaceRef {
    /// e.g. `wasi`
    pub namespace: WitName,
    /// e.g. `http`
    pub package: WitName,
    /// e.g. `incoming-handler`
    pub interface: WitName,
}

impl InterfaceRef {
    /// Builds a reference from its three parts.
    pub fn new(namespace: WitName, package: WitName, interface: WitName) -> Self {
        Self {
            namespace,
            package,
            interface,
        }
    }

    /// `wasi:http/incoming-handler`, the interface HTTP servers call.
    pub fn http_incoming_handler() -> Self {
        Self::new(
            WitName("wasi".into()),
            WitName("http".into()),
            WitName("incoming-handler".into()),
        )
    }

    /// `wasi:http/outgoing-handler`, the interface of components' outgoing
    /// requests.
    pub fn http_outgoing_handler() -> Self {
        Self::new(
            WitName("wasi".into()),
            WitName("http".into()),
            WitName("outgoing-handler".into()),
        )
    }
}

impl fmt::Display for InterfaceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.namespace, self.package, self.interface)
    }
}

impl FromStr for InterfaceRef {
    type Err = WitError;
    fn from_str(s: &str) -> Result<Self, WitError> {
        let bad = || WitError::BadInterface(s.to_owned());
        let (ns, rest) = s.split_once(':').ok_or_else(bad)?;
        let (pkg, iface) = rest.split_once('/').ok_or_else(bad)?;
        Ok(Self::new(
            WitName::new(ns).map_err(|_| bad())?,
            WitName::new(pkg).map_err(|_| bad())?,
            WitName::new(iface).map_err(|_| bad())?,
        ))
    }
}

impl TryFrom<String> for InterfaceRef {
    type Error = WitError;
    fn try_from(s: String) -> Result<Self, WitError> {
        s.parse()
    }
}

impl From<InterfaceRef> for String {
    fn from(i: InterfaceRef) -> String {
        i.to_string()
    }
}

/// A link: calls from `source_id` on the listed interfaces of
/// `wit_namespace:wit_package` go to `target_id`.
///
/// For an HTTP server provider the provider is the source and the component
/// the target of `wasi:http/incoming-handler`; the provider reads its
/// per-link settings (e.g. `address`) from `source_config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Caller side.
    pub source_id: ComponentId,
    /// Callee side.
    pub target_id: ComponentId,
    /// Distinguishes several links of one source and package.
    #[serde(default)]
    pub name: LinkName,
    /// WIT namespace, e.g. `wasi`.
    pub wit_namespace: WitName,
    /// WIT package, e.g. `http`.
    pub wit_package: WitName,
    /// Interfaces of the package this link covers, e.g. `incoming-handler`.
    pub interfaces: Vec<WitName>,
    /// Named configs the source uses for this link.
    #[serde(default)]
    pub source_config: Vec<ConfigName>,
    /// Named configs the target uses for this link.
    #[serde(default)]
    pub target_config: Vec<ConfigName>,
    /// Secrets the source side gets with its link config (references;
    /// the host merges the values in for a provider, by name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_secrets: Vec<crate::secret::SecretRef>,
    /// Secrets the target side gets with its link config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_secrets: Vec<crate::secret::SecretRef>,
    /// Who put the link (wadm marks the links of its apps here).
    #[serde(default, skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations,
}

impl Link {
    /// Whether a put without `force` may replace this stored link (the
    /// rule every host applies): not behind its owner's back, so refused
    /// for a link an app manages (unless the put comes from that app's
    /// manager, with the same annotations) or one to another target.
    pub fn may_be_replaced_by(&self, link: &Link) -> Result<(), String> {
        let existing = self;
        let describe = || {
            format!(
                "the link from {} on {}:{} named {}",
                link.source_id, link.wit_namespace, link.wit_package, link.name
            )
        };
        if let Some(manager) = existing.annotations.get(MANAGED_BY_ANNOTATION) {
            let owner = |l: &Link| {
                (
                    l.annotations.get(MANAGED_BY_ANNOTATION).cloned(),
                    l.annotations.get(APP_ANNOTATION).cloned(),
                )
            };
            if owner(existing) != owner(link) {
                let app = existing
                    .annotations
                    .get(APP_ANNOTATION)
                    .map_or("an app".to_owned(), |a| format!("app {a}"));
                return Err(format!(
                    "{} belongs to {app} (managed by {manager}); change the app's manifest instead, \
                     or pass --force (`force: true`) to replace it anyway",
                    describe()
                ));
            }
        }
        if existing.target_id != link.target_id {
            return Err(format!(
                "{} already targets {}; delete it first, or pass --force (`force: true`) to replace it",
                describe(),
                existing.target_id
            ));
        }
        Ok(())
    }

    /// The key identifying a link: one link per (source, namespace, package, name).
    pub fn key(&self) -> LinkKey {
        LinkKey {
            source_id: self.source_id.clone(),
            wit_namespace: self.wit_namespace.clone(),
            wit_package: self.wit_package.clone(),
            name: self.name.clone(),
        }
    }

    /// Whether this link covers `interface`.
    pub fn covers(&self, interface: &InterfaceRef) -> bool {
        self.wit_namespace == interface.namespace
            && self.wit_package == interface.package
            && self.interfaces.contains(&interface.interface)
    }

    /// Checks what types cannot: at least one interface.
    pub fn validate(&self) -> Result<(), String> {
        if self.interfaces.is_empty() {
            return Err(format!(
                "link {} -> {} on {}:{} names no interface; give at least one (e.g. --interface incoming-handler)",
                self.source_id, self.target_id, self.wit_namespace, self.wit_package
            ));
        }
        Ok(())
    }
}

/// Identity of a link (what `link.del` names).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkKey {
    /// Caller side.
    pub source_id: ComponentId,
    /// WIT namespace.
    pub wit_namespace: WitName,
    /// WIT package.
    pub wit_package: WitName,
    /// Link name.
    #[serde(default)]
    pub name: LinkName,
}

impl LinkKey {
    /// A key usable in a JetStream KV bucket (`[-_=.a-zA-Z0-9]` only):
    /// every part is already restricted to `[-_a-zA-Z0-9]`.
    pub fn storage_key(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.source_id, self.wit_namespace, self.wit_package, self.name
        )
    }
}

/// Longest provider reason a [`LinkStatus`] carries; a longer one is cut
/// (on a character boundary) so that inventories and heartbeats stay small.
pub const MAX_LINK_ERROR_LEN: usize = 1024;

/// How one provider on a host took a link that names it: the provider's
/// own word, so "deployed" can mean "the provider applied it".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatus {
    /// The link.
    pub link: LinkKey,
    /// The provider that was told.
    pub provider_id: ComponentId,
    /// Whether the provider applied the link as it is now stored.
    pub applied: bool,
    /// The provider's reason when it did not (at most
    /// [`MAX_LINK_ERROR_LEN`] bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Tries made for the link as it is now (1: the first one); a failed
    /// link is tried again with back-off.
    #[serde(default)]
    pub attempts: u32,
    /// When the last try ended, Unix milliseconds.
    #[serde(default)]
    pub at_unix_ms: u64,
}

impl LinkStatus {
    /// Cuts a provider's reason to [`MAX_LINK_ERROR_LEN`] bytes.
    pub fn bounded_error(error: &str) -> String {
        if error.len() <= MAX_LINK_ERROR_LEN {
            return error.to_owned();
        }
        let mut end = MAX_LINK_ERROR_LEN - 3;
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &error[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_parse_and_print() {
        let i: InterfaceRef = "wasi:http/incoming-handler".parse().unwrap();
        assert_eq!(i, InterfaceRef::http_incoming_handler());
        assert_eq!(i.to_string(), "wasi:http/incoming-handler");
        for bad in [
            "wasi",
            "wasi:http",
            "wasi/http:x",
            "Wasi:http/x",
            "wasi:http/x.y",
        ] {
            assert!(bad.parse::<InterfaceRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn link_defaults_and_coverage() {
        let link: Link = serde_json::from_str(
            r#"{"source_id":"http","target_id":"hello","wit_namespace":"wasi",
                "wit_package":"http","interfaces":["incoming-handler"]}"#,
        )
        .unwrap();
        assert_eq!(link.name.as_str(), "default");
        assert!(link.covers(&InterfaceRef::http_incoming_handler()));
        assert_eq!(link.key().storage_key(), "http.wasi.http.default");
    }

    #[test]
    fn a_managed_or_retargeted_link_is_not_replaced_without_force() {
        let link: Link = serde_json::from_str(
            r#"{"source_id":"http","target_id":"hello","wit_namespace":"wasi",
                "wit_package":"http","interfaces":["incoming-handler"]}"#,
        )
        .unwrap();
        assert_eq!(link.may_be_replaced_by(&link), Ok(()));
        let elsewhere = Link {
            target_id: ComponentId::new("other").unwrap(),
            ..link.clone()
        };
        let err = link.may_be_replaced_by(&elsewhere).unwrap_err();
        assert!(err.contains("already targets hello"), "{err}");
        let mut managed = link.clone();
        managed
            .annotations
            .insert(MANAGED_BY_ANNOTATION.into(), "wadm".into());
        managed
            .annotations
            .insert(APP_ANNOTATION.into(), "shop".into());
        let err = managed.may_be_replaced_by(&link).unwrap_err();
        assert!(err.contains("belongs to app shop"), "{err}");
        assert_eq!(
            managed.may_be_replaced_by(&managed),
            Ok(()),
            "its own manager"
        );
    }

    #[test]
    fn link_errors_are_bounded_on_a_char_boundary() {
        assert_eq!(LinkStatus::bounded_error("in use"), "in use");
        let long = "é".repeat(MAX_LINK_ERROR_LEN);
        let cut = LinkStatus::bounded_error(&long);
        assert!(
            cut.len() <= MAX_LINK_ERROR_LEN && cut.ends_with("..."),
            "{}",
            cut.len()
        );
    }
}
