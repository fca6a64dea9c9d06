//! The manifest data model (wadm's OAM `Application` format).
//!
//! Fields that validation checks (names, ids, images, WIT names) are plain
//! strings here so that [`super::validate`] can report every problem at
//! once instead of stopping at the first one serde meets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The only `apiVersion` accepted.
pub const API_VERSION: &str = "core.oam.dev/v1beta1";
/// The only `kind` accepted.
pub const KIND: &str = "Application";
/// The annotation holding the application version.
pub const VERSION_ANNOTATION: &str = "version";

/// A whole application manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Must be [`API_VERSION`].
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Must be [`KIND`].
    pub kind: String,
    /// Name, annotations and labels of the application.
    pub metadata: Metadata,
    /// What the application consists of.
    pub spec: Spec,
}

impl Manifest {
    /// The application name (`metadata.name`).
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The version from `metadata.annotations.version`, if given.
    pub fn version(&self) -> Option<&str> {
        self.metadata
            .annotations
            .get(VERSION_ANNOTATION)
            .map(String::as_str)
    }

    /// The lattice id of `component`: `properties.id`, or `{app}-{component}`.
    pub fn component_id(&self, component: &Component) -> String {
        match &component.properties.id {
            Some(id) => id.clone(),
            None => format!("{}-{}", self.metadata.name, component.name),
        }
    }

    /// The component named `name`, if any.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.spec.components.iter().find(|c| c.name == name)
    }

    /// Components the app's HTTP providers call (targets of its
    /// `wasi:http` links): what a health probe is sent to.
    pub fn http_components(&self) -> Vec<&Component> {
        let mut names: Vec<&str> = Vec::new();
        for c in &self.spec.components {
            for t in &c.traits {
                if let Trait::Link(p) = t
                    && p.namespace == "wasi"
                    && p.package == "http"
                    && !names.contains(&p.target.name.as_str())
                {
                    names.push(&p.target.name);
                }
            }
        }
        names
            .into_iter()
            .filter_map(|n| self.component(n))
            .filter(|c| c.kind == ComponentKind::Component)
            .collect()
    }
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Application name; lattice-safe (letters, digits, `-`, `_`).
    pub name: String,
    /// Free-form annotations; `version` is the application version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Free-form labels (accepted for wadm compatibility, not interpreted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The annotation that makes an app's components available to other apps
/// (wadm's shared applications).
pub const SHARED_ANNOTATION: &str = "experimental.wasmcloud.dev/shared";

/// The `type` of a secret policy (`spec.policies`), as wadm writes it.
pub const SECRET_POLICY_TYPE: &str = "policy.secret.wasmcloud.dev/v1alpha1";

/// `spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Components and capability providers of the application.
    pub components: Vec<Component>,
    /// Policies components refer to, e.g. where their secrets come from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Policy>,
    /// How a new version of this app is rolled out; all at once when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<super::rollout::Rollout>,
}

/// One entry of `spec.components`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Name, unique within the manifest; link targets refer to it.
    pub name: String,
    /// `component` (WebAssembly) or `capability` (provider).
    #[serde(rename = "type")]
    pub kind: ComponentKind,
    /// Image, id and config.
    pub properties: Properties,
    /// Scalers and links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traits: Vec<Trait>,
}

impl Manifest {
    /// Whether other apps may use this app's components
    /// ([`SHARED_ANNOTATION`] is `true`).
    pub fn is_shared(&self) -> bool {
        self.metadata
            .annotations
            .get(SHARED_ANNOTATION)
            .is_some_and(|v| v == "true")
    }
}

/// One entry of `spec.policies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Name that secrets refer to (`properties.policy`).
    pub name: String,
    /// Policy type; [`SECRET_POLICY_TYPE`] is the one Trellis acts on.
    #[serde(rename = "type")]
    pub kind: String,
    /// Settings of the policy, e.g. `backend: nats-kv`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

/// A secret given to a component, provider or link side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The name the component asks for (`wasmcloud:secrets/store.get`).
    pub name: String,
    /// Where the value comes from.
    pub properties: SecretProperties,
}

/// `properties` of a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretProperties {
    /// Name of the policy in `spec.policies` that says which backend.
    pub policy: String,
    /// Key of the secret in the backend.
    pub key: String,
    /// One member of a JSON object value, if the value is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A version of the secret (accepted; the store keeps one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `properties.application`: this entry stands for a component of another,
/// shared, app instead of running one of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedComponentRef {
    /// Name of the shared app.
    pub name: String,
    /// Name of the component in that app.
    pub component: String,
}

/// What a manifest component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    /// A WebAssembly component (`actor` is wasmCloud's older word).
    #[serde(alias = "actor")]
    Component,
    /// A capability provider.
    Capability,
}

impl ComponentKind {
    /// `component` or `capability`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Component => "component",
            Self::Capability => "capability",
        }
    }
}

/// `properties` of a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    /// `file://PATH` (relative to the manifest), `nats://BUCKET/KEY`, an OCI
    /// reference or `builtin://NAME` (capabilities only). Empty (absent)
    /// only with `application`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// A component of another, shared, app that this entry stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<SharedComponentRef>,
    /// Lattice id; defaults to `{app}-{component}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Named configs given to the component or provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigRef>,
    /// Secrets given to the component or provider, by reference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    /// Trellis's own: calls of its exported functions one instance may
    /// serve before it is replaced (`trellis start component --reuse`);
    /// absent, a fresh instance per call. Components only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<u32>,
}

/// A named config, optionally with its contents inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRef {
    /// Config name (letters, digits, `-`, `_`).
    pub name: String,
    /// When present, the named config is created or replaced with exactly
    /// these entries; when absent it must already exist in the lattice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
}

/// One entry of a component's `traits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawTrait", into = "RawTrait")]
pub enum Trait {
    /// `spreadscaler`: a total number of instances spread over host groups.
    SpreadScaler(SpreadScalerProperties),
    /// `daemonscaler`: a number of instances on every matching host.
    DaemonScaler(DaemonScalerProperties),
    /// `link`: this component calls `target` through WIT interfaces.
    Link(LinkProperties),
    /// A trait of unknown type, or whose properties do not fit its type.
    /// Parsing keeps it so validation can report it with the others.
    Invalid(RawTrait),
}

impl Trait {
    /// The `type` string of the trait.
    pub fn kind(&self) -> &str {
        match self {
            Self::SpreadScaler(_) => SPREADSCALER,
            Self::DaemonScaler(_) => DAEMONSCALER,
            Self::Link(_) => LINK,
            Self::Invalid(raw) => &raw.kind,
        }
    }

    /// Whether this is a scaler trait.
    pub fn is_scaler(&self) -> bool {
        matches!(self, Self::SpreadScaler(_) | Self::DaemonScaler(_))
    }
}

/// Trait type `spreadscaler`.
pub const SPREADSCALER: &str = "spreadscaler";
/// Trait type `daemonscaler`.
pub const DAEMONSCALER: &str = "daemonscaler";
/// Trait type `link`.
pub const LINK: &str = "link";

/// A trait as written, before its properties are interpreted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrait {
    /// The `type` field.
    #[serde(rename = "type")]
    pub kind: String,
    /// The `properties` field, uninterpreted.
    #[serde(default)]
    pub properties: serde_yaml::Value,
    /// Why the properties could not be interpreted (not serialized).
    #[serde(skip)]
    pub error: Option<String>,
}

impl From<RawTrait> for Trait {
    fn from(raw: RawTrait) -> Self {
        fn typed<T: serde::de::DeserializeOwned>(raw: RawTrait, wrap: fn(T) -> Trait) -> Trait {
            match serde_yaml::from_value::<T>(raw.properties.clone()) {
                Ok(props) => wrap(props),
                Err(e) => Trait::Invalid(RawTrait {
                    error: Some(e.to_string()),
                    ..raw
                }),
            }
        }
        match raw.kind.as_str() {
            SPREADSCALER => typed(raw, Trait::SpreadScaler),
            DAEMONSCALER => typed(raw, Trait::DaemonScaler),
            LINK => typed(raw, Trait::Link),
            _ => Trait::Invalid(raw),
        }
    }
}

impl From<Trait> for RawTrait {
    fn from(t: Trait) -> Self {
        fn raw<T: Serialize>(kind: &str, props: &T) -> RawTrait {
            RawTrait {
                kind: kind.to_owned(),
                properties: serde_yaml::to_value(props).unwrap_or(serde_yaml::Value::Null),
                error: None,
            }
        }
        match t {
            Trait::SpreadScaler(p) => raw(SPREADSCALER, &p),
            Trait::DaemonScaler(p) => raw(DAEMONSCALER, &p),
            Trait::Link(p) => raw(LINK, &p),
            Trait::Invalid(r) => r,
        }
    }
}

/// `properties` of a `spreadscaler` trait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpreadScalerProperties {
    /// Total instances over the lattice (`0` means none run).
    #[serde(alias = "replicas")]
    pub instances: u32,
    /// Host groups and the share of instances each gets; empty means any host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spread: Vec<Spread>,
}

/// `properties` of a `daemonscaler` trait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonScalerProperties {
    /// Instances on every matching host.
    #[serde(alias = "replicas")]
    pub instances: u32,
    /// Which hosts match (any spread's requirements); empty means every host.
    /// `weight` is accepted for wadm compatibility and ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spread: Vec<Spread>,
}

/// One host group of a scaler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spread {
    /// Name of the group, unique within the scaler.
    pub name: String,
    /// Host labels a host must all have to belong to the group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requirements: BTreeMap<String, String>,
    /// Relative share of instances (spreadscaler); absent means 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// `properties` of a `link` trait (the component carrying it is the source).
///
/// Read in wadm's current syntax and its older one (`target: NAME`,
/// `source_config`, `target_config`); always written in the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "LinkWire")]
pub struct LinkProperties {
    /// The component called, and config given to it for this link.
    pub target: LinkTarget,
    /// WIT namespace, e.g. `wasi`.
    pub namespace: String,
    /// WIT package, e.g. `http`.
    pub package: String,
    /// WIT interfaces, e.g. `[incoming-handler]`.
    pub interfaces: Vec<String>,
    /// Link name; defaults to `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Config given to the source for this link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<LinkSource>,
    /// Old-syntax fields this link was written with (for warnings).
    #[serde(skip)]
    pub deprecated: Vec<&'static str>,
}

impl LinkProperties {
    /// The link name, `default` when not given.
    pub fn link_name(&self) -> &str {
        self.name.as_deref().unwrap_or("default")
    }
}

/// `target` of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkTarget {
    /// `name` of a component in this manifest.
    pub name: String,
    /// Config given to the target for this link.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigRef>,
    /// Secrets given to the target for this link.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
}

/// `source` of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSource {
    /// The source component's name; it can only be the component the
    /// link is written under (accepted as wadm's fixtures write it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Config given to the source for this link.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigRef>,
    /// Secrets given to the source for this link.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
}

/// A link as written, in either syntax.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkWire {
    target: TargetWire,
    namespace: String,
    package: String,
    interfaces: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    source: Option<LinkSource>,
    #[serde(default)]
    source_config: Option<Vec<ConfigRef>>,
    #[serde(default)]
    target_config: Option<Vec<ConfigRef>>,
}

/// `target: NAME` (old) or `target: {name, config, secrets}`.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a component name, or a mapping with `name` and optional `config`"
)]
enum TargetWire {
    Name(String),
    Full(LinkTarget),
}

impl From<LinkWire> for LinkProperties {
    fn from(w: LinkWire) -> Self {
        let mut deprecated = Vec::new();
        let mut target = match w.target {
            TargetWire::Name(name) => {
                deprecated.push("target: NAME");
                LinkTarget {
                    name,
                    config: Vec::new(),
                    secrets: Vec::new(),
                }
            }
            TargetWire::Full(t) => t,
        };
        if let Some(config) = w.target_config {
            deprecated.push("target_config");
            target.config.extend(config);
        }
        let mut source = w.source;
        if let Some(config) = w.source_config {
            deprecated.push("source_config");
            source
                .get_or_insert_with(|| LinkSource {
                    name: None,
                    config: Vec::new(),
                    secrets: Vec::new(),
                })
                .config
                .extend(config);
        }
        Self {
            target,
            namespace: w.namespace,
            package: w.package,
            interfaces: w.interfaces,
            name: w.name,
            source,
            deprecated,
        }
    }
}
