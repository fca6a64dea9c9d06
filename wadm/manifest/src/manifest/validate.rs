//! The rules a parsed manifest must follow.

use std::collections::{BTreeMap, HashMap, HashSet};

use trellis_protocol::limits::{self, MAX_CONFIG_NAMES, MAX_LINK_INTERFACES};
use trellis_protocol::link::WitName;
use trellis_protocol::secret::{SecretKey, SecretName};
use trellis_protocol::{ComponentId, ConfigName, LatticeName, LinkName};

use super::Problem;
use super::humanize::humanize;
use super::image::{BUILTIN_PROVIDERS, ImageRef};
use super::providers::{builtin_for_image, known_provider_repos};
use super::types::{
    API_VERSION, Component, ComponentKind, ConfigRef, KIND, LinkProperties, Manifest,
    SECRET_POLICY_TYPE, SecretRef, Spread, Trait, VERSION_ANNOTATION,
};

/// The secret backends Trellis has (`spec.policies[].properties.backend`).
pub const SECRET_BACKENDS: &[&str] = &["nats-kv"];

/// Upper bound of a scaler's `instances`: placement work grows with it, and
/// beyond this a typo (an extra zero or three) is likelier than intent.
pub const MAX_INSTANCES: u32 = 10_000;

/// The path of component `index`, e.g. `spec.components[1] (http)`.
pub fn component_path(index: usize, component: &Component) -> String {
    if component.name.is_empty() {
        format!("spec.components[{index}]")
    } else {
        format!("spec.components[{index}] ({})", component.name)
    }
}

/// Checks every rule and returns every problem found (empty when valid).
pub fn validate(manifest: &Manifest) -> Vec<Problem> {
    let mut v = Validator {
        problems: Vec::new(),
        configs: HashMap::new(),
    };
    v.header(manifest);
    v.policies(manifest);
    v.components(manifest);
    if let Some(rollout) = &manifest.spec.rollout {
        let probe_targets = !manifest.http_components().is_empty();
        super::rollout::validate(rollout, probe_targets, &mut v.problems);
    }
    v.problems
}

struct Validator {
    problems: Vec<Problem>,
    /// Inline named configs seen so far: name -> (path, properties).
    configs: HashMap<String, (String, BTreeMap<String, String>)>,
}

impl Validator {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn header(&mut self, m: &Manifest) {
        if m.api_version != API_VERSION {
            self.push(
                "apiVersion",
                format!("is `{}`; use `{API_VERSION}`", m.api_version),
            );
        }
        if m.kind != KIND {
            self.push("kind", format!("is `{}`; use `{KIND}`", m.kind));
        }
        // The app name prefixes default component ids and lands in subjects,
        // so it follows the lattice-name rules.
        if let Err(e) = LatticeName::new(m.metadata.name.as_str()) {
            self.push(
                "metadata.name",
                format!("{e}; the application name becomes part of component ids"),
            );
        }
        if let Some(version) = m.version() {
            let path = format!("metadata.annotations.{VERSION_ANNOTATION}");
            if version.is_empty() {
                self.push(path, "is empty; give a version such as `v1` or remove it");
            } else if version.chars().any(char::is_whitespace) {
                self.push(
                    path,
                    format!("`{version}` contains whitespace; use e.g. `v1.2.0`"),
                );
            }
        }
        if m.spec.components.is_empty() {
            self.push("spec.components", "is empty; list at least one component");
        }
    }

    fn policies(&mut self, m: &Manifest) {
        let mut names = HashSet::new();
        for (i, p) in m.spec.policies.iter().enumerate() {
            let at = format!("spec.policies[{i}]");
            if p.name.is_empty() {
                self.push(format!("{at}.name"), "is empty; name the policy");
            } else if !names.insert(p.name.as_str()) {
                self.push(
                    format!("{at}.name"),
                    format!("`{}` is used twice; policy names must be unique", p.name),
                );
            }
            if p.kind != SECRET_POLICY_TYPE {
                continue;
            }
            match p.properties.get("backend").map(String::as_str) {
                Some(b) if SECRET_BACKENDS.contains(&b) => {}
                Some(b) => self.push(
                    format!("{at}.properties.backend"),
                    format!(
                        "secret backend `{b}` is not one Trellis has; use {} (`trellis secrets put`)",
                        SECRET_BACKENDS.join(", ")
                    ),
                ),
                None => self.push(
                    format!("{at}.properties"),
                    format!("has no `backend`; use backend: {}", SECRET_BACKENDS[0]),
                ),
            }
        }
    }

    fn secrets(&mut self, m: &Manifest, list: &[SecretRef], at: &str) {
        let mut names = HashSet::new();
        for (i, secret) in list.iter().enumerate() {
            let path = format!("{at}[{i}]");
            if let Err(e) = SecretName::new(secret.name.as_str()) {
                self.push(format!("{path}.name"), e.to_string());
            } else if !names.insert(secret.name.as_str()) {
                self.push(
                    format!("{path}.name"),
                    format!(
                        "`{}` is listed twice; secret names must be unique",
                        secret.name
                    ),
                );
            }
            let policy = &secret.properties.policy;
            match m.spec.policies.iter().find(|p| &p.name == policy) {
                Some(p) if p.kind == SECRET_POLICY_TYPE => {}
                Some(p) => self.push(
                    format!("{path}.properties.policy"),
                    format!(
                        "policy `{policy}` has type `{}`; a secret's policy has type {SECRET_POLICY_TYPE}",
                        p.kind
                    ),
                ),
                None => self.push(
                    format!("{path}.properties.policy"),
                    format!(
                        "no policy `{policy}` in spec.policies; add one with type {SECRET_POLICY_TYPE} and backend: nats-kv"
                    ),
                ),
            }
            // Hosts take keys as the protocol's SecretKey: the same rules here.
            if let Err(e) = SecretKey::new(secret.properties.key.as_str()) {
                self.push(
                    format!("{path}.properties.key"),
                    format!("{e} (as in `trellis secrets put KEY`)"),
                );
            }
        }
    }

    fn components(&mut self, m: &Manifest) {
        let app_ok = LatticeName::new(m.metadata.name.as_str()).is_ok();
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut ids: HashMap<String, String> = HashMap::new();
        for (i, c) in m.spec.components.iter().enumerate() {
            let at = component_path(i, c);
            if c.name.is_empty() {
                self.push(format!("{at}.name"), "is empty; give the component a name");
            } else if let Some(first) = names.get(c.name.as_str()) {
                self.push(
                    format!("{at}.name"),
                    format!(
                        "`{}` is already used by spec.components[{first}]; names must be unique",
                        c.name
                    ),
                );
            } else {
                names.insert(&c.name, i);
            }
            self.component_id(m, c, &at, app_ok, &mut ids);
            self.image(c, &at);
            match (c.kind, c.properties.reuse) {
                (_, None) | (ComponentKind::Component, Some(1..)) => {}
                (ComponentKind::Component, Some(0)) => self.push(
                    format!("{at}.properties.reuse"),
                    "must be at least 1 (1: a fresh instance per call)",
                ),
                (ComponentKind::Capability, Some(_)) => self.push(
                    format!("{at}.properties.reuse"),
                    "applies to components only; remove it from the capability",
                ),
            }
            self.config_list(&c.properties.config, &format!("{at}.properties.config"));
            self.secrets(
                m,
                &c.properties.secrets,
                &format!("{at}.properties.secrets"),
            );
            self.traits(m, c, &at);
        }
    }

    fn component_id(
        &mut self,
        m: &Manifest,
        c: &Component,
        at: &str,
        app_ok: bool,
        ids: &mut HashMap<String, String>,
    ) {
        let id = m.component_id(c);
        let (path, checked) = match &c.properties.id {
            Some(_) => (format!("{at}.properties.id"), true),
            // A bad app name was reported once already.
            None => (format!("{at}.name"), app_ok && !c.name.is_empty()),
        };
        if !checked {
            return;
        }
        if let Err(e) = ComponentId::new(id.as_str()) {
            let hint = if c.properties.id.is_some() {
                String::new()
            } else {
                format!(" (the default id is `{{app}}-{{name}}` = `{id}`; set properties.id)")
            };
            self.push(path, format!("{e}{hint}"));
        } else if let Some(first) = ids.get(&id) {
            self.push(
                path,
                format!("component id `{id}` is also used by {first}; ids must be unique"),
            );
        } else {
            ids.insert(id, at.to_owned());
        }
    }

    fn image(&mut self, c: &Component, at: &str) {
        let path = format!("{at}.properties.image");
        match (&c.properties.application, c.properties.image.is_empty()) {
            // A stand-in for a shared app's component or provider.
            (Some(_), true) => return,
            (Some(_), false) => {
                return self.push(
                    path,
                    "is given with `application`; an entry either runs its own image or stands for a shared app's component, not both",
                );
            }
            (None, true) => {
                return self.push(
                    path,
                    "is missing; give an OCI reference (registry/repo:tag), file://PATH, nats://BUCKET/KEY \
                     or, for a capability, builtin://NAME",
                );
            }
            (None, false) => {}
        }
        if c.kind == ComponentKind::Capability && builtin_for_image(&c.properties.image).is_some() {
            return;
        }
        // Hosts refuse what is over the protocol's limits; say so here,
        // before anything is stored or sent.
        if let Err(e) = limits::check_image(&c.properties.image) {
            return self.push(path, e.to_string());
        }
        match ImageRef::parse(&c.properties.image) {
            Err(_) | Ok(ImageRef::Oci(_)) if c.kind == ComponentKind::Capability => {
                self.push(path, unknown_provider(&c.properties.image))
            }
            Err(e) => self.push(path, e),
            Ok(ImageRef::Builtin(name)) => {
                if c.kind != ComponentKind::Capability {
                    self.push(
                        path,
                        "builtin:// images are capability providers; use `type: capability` \
                         or a file:// or nats:// component image",
                    );
                } else if !BUILTIN_PROVIDERS.contains(&name.as_str()) {
                    self.push(
                        path,
                        format!(
                            "no builtin provider `{name}`; use one of {}",
                            BUILTIN_PROVIDERS.join(", ")
                        ),
                    );
                }
            }
            Ok(_) => {}
        }
    }

    fn config_list(&mut self, list: &[ConfigRef], at: &str) {
        if list.len() > MAX_CONFIG_NAMES {
            self.push(
                at,
                format!(
                    "has {} configs, more than the limit of {MAX_CONFIG_NAMES}; \
                     merge the values into fewer named configs",
                    list.len()
                ),
            );
        }
        for (i, config) in list.iter().enumerate() {
            let path = format!("{at}[{i}]");
            let name = match ConfigName::new(config.name.as_str()) {
                Ok(name) => name,
                Err(e) => {
                    self.push(format!("{path}.name"), e.to_string());
                    continue;
                }
            };
            let Some(props) = &config.properties else {
                continue;
            };
            if let Err(e) = limits::check_config_values(&name, props) {
                self.push(format!("{path}.properties"), e.to_string());
                continue;
            }
            match self.configs.get(&config.name) {
                Some((first, earlier)) if earlier != props => {
                    let message = format!(
                        "config `{}` is also defined at {first} with different properties; \
                         give one of them another name or make them equal",
                        config.name
                    );
                    self.push(format!("{path}.properties"), message);
                }
                Some(_) => {}
                None => {
                    self.configs
                        .insert(config.name.clone(), (path, props.clone()));
                }
            }
        }
    }

    fn traits(&mut self, m: &Manifest, c: &Component, at: &str) {
        let mut scaler: Option<usize> = None;
        // wadm's rule: one link per interface and name. Links that share a
        // package and name are merged into one, so they need one target.
        let mut interfaces: HashMap<(&str, &str, &str, &str), usize> = HashMap::new();
        let mut targets: HashMap<(&str, &str, &str), (usize, &str)> = HashMap::new();
        for (i, t) in c.traits.iter().enumerate() {
            let at = format!("{at}.traits[{i}] ({})", t.kind());
            if t.is_scaler() {
                match scaler {
                    Some(first) => self.push(
                        &at,
                        format!(
                            "a second scaler (traits[{first}] is one); keep one spreadscaler \
                             or daemonscaler per component"
                        ),
                    ),
                    None => scaler = Some(i),
                }
            }
            let props = format!("{at}.properties");
            match t {
                Trait::SpreadScaler(p) => {
                    self.instances(p.instances, &props);
                    self.spread(&p.spread, &props, true);
                }
                Trait::DaemonScaler(p) => {
                    self.instances(p.instances, &props);
                    if p.instances == 0 {
                        self.push(
                            format!("{props}.instances"),
                            "is 0; a daemonscaler runs at least 1 instance per matching host",
                        );
                    }
                    self.spread(&p.spread, &props, false);
                }
                Trait::Link(p) => {
                    let (ns, pkg, name) = (&*p.namespace, &*p.package, p.link_name());
                    for iface in &p.interfaces {
                        if let Some(first) = interfaces.insert((ns, pkg, iface, name), i) {
                            self.push(
                                format!("{props}.interfaces"),
                                format!(
                                    "duplicate link: traits[{first}] already links {ns}:{pkg}/{iface} with name `{name}`; \
                                     give one of them another `name`"
                                ),
                            );
                        }
                    }
                    match targets.get(&(ns, pkg, name)) {
                        Some((first, target)) if *target != p.target.name => self.push(
                            format!("{props}.target"),
                            format!(
                                "traits[{first}] links {ns}:{pkg} with name `{name}` to `{target}`; \
                                 Trellis links a package to one target per name, so give this link another `name`"
                            ),
                        ),
                        Some(_) => {}
                        None => {
                            targets.insert((ns, pkg, name), (i, &p.target.name));
                        }
                    }
                    if let Some(source) = p.source.as_ref().and_then(|s| s.name.as_deref())
                        && source != c.name
                    {
                        self.push(
                            format!("{props}.source.name"),
                            format!(
                                "is `{source}`, but a link's source is the component it is written under (`{}`); \
                                 move the link to `{source}` or drop source.name",
                                c.name
                            ),
                        );
                    }
                    self.link(m, p, &props);
                }
                // A trait type Trellis does not know is a warning (see
                // `warnings`), as in wadm.
                Trait::Invalid(raw) => {
                    if let Some(e) = &raw.error {
                        self.push(
                            props,
                            format!(
                                "{}; see docs/manifests.md for the {} fields",
                                humanize(e),
                                raw.kind
                            ),
                        );
                    }
                }
            }
        }
    }

    fn instances(&mut self, instances: u32, props: &str) {
        if instances > MAX_INSTANCES {
            self.push(
                format!("{props}.instances"),
                format!("is {instances}; at most {MAX_INSTANCES} instances per scaler"),
            );
        }
    }

    fn spread(&mut self, spread: &[Spread], props: &str, weighted: bool) {
        let mut names = HashSet::new();
        for (i, s) in spread.iter().enumerate() {
            let at = format!("{props}.spread[{i}]");
            if s.name.is_empty() {
                self.push(format!("{at}.name"), "is empty; name the spread");
            } else if !names.insert(s.name.as_str()) {
                self.push(
                    format!("{at}.name"),
                    format!("`{}` is used twice; spread names must be unique", s.name),
                );
            }
            if weighted && s.weight == Some(0) {
                self.push(
                    format!("{at}.weight"),
                    "is 0; use a weight of at least 1 or remove the spread",
                );
            }
            if s.requirements.keys().any(String::is_empty) {
                self.push(
                    format!("{at}.requirements"),
                    "has an empty label name; write `label: value`",
                );
            }
        }
    }

    fn link(&mut self, m: &Manifest, p: &LinkProperties, props: &str) {
        if m.component(&p.target.name).is_none() {
            let known: Vec<&str> = m.spec.components.iter().map(|c| c.name.as_str()).collect();
            self.push(
                format!("{props}.target.name"),
                format!(
                    "no component named `{}` in this manifest; use one of: {}",
                    p.target.name,
                    known.join(", ")
                ),
            );
        }
        for (field, value) in [("namespace", &p.namespace), ("package", &p.package)] {
            if let Err(e) = WitName::new(value.as_str()) {
                self.push(format!("{props}.{field}"), wit_message(&e.to_string()));
            }
        }
        if p.interfaces.len() > MAX_LINK_INTERFACES {
            self.push(
                format!("{props}.interfaces"),
                format!(
                    "has {} interfaces, more than the limit of {MAX_LINK_INTERFACES}; split the link by package",
                    p.interfaces.len()
                ),
            );
        }
        if p.interfaces.is_empty() {
            self.push(
                format!("{props}.interfaces"),
                "is empty; list the interfaces used, e.g. [incoming-handler]",
            );
        }
        for (i, interface) in p.interfaces.iter().enumerate() {
            if let Err(e) = WitName::new(interface.as_str()) {
                self.push(
                    format!("{props}.interfaces[{i}]"),
                    wit_message(&e.to_string()),
                );
            }
        }
        if let Some(name) = &p.name
            && let Err(e) = LinkName::new(name.as_str())
        {
            self.push(format!("{props}.name"), e.to_string());
        }
        self.config_list(&p.target.config, &format!("{props}.target.config"));
        self.secrets(m, &p.target.secrets, &format!("{props}.target.secrets"));
        if let Some(source) = &p.source {
            self.config_list(&source.config, &format!("{props}.source.config"));
            self.secrets(m, &source.secrets, &format!("{props}.source.secrets"));
        }
    }
}

/// Why a capability's image cannot run, and what Trellis offers instead.
fn unknown_provider(image: &str) -> String {
    let known: Vec<&str> = known_provider_repos().collect();
    format!(
        "`{image}` is not a provider Trellis runs: providers are built into the host \
         (builtin://{}), and wasmCloud's own provider images map to them \
         (ghcr.io/wasmcloud/{{{}}} at any tag); an external provider runs from file:// or nats://",
        BUILTIN_PROVIDERS.join(", builtin://"),
        known.join(",")
    )
}

fn wit_message(error: &str) -> String {
    format!("{error}; WIT names are kebab-case, e.g. `incoming-handler`")
}
