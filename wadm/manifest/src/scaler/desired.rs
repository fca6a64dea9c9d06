//! From deployed manifests to what should exist: workloads with per-host
//! targets, links and configs, plus the problems found on the way.

use std::collections::{BTreeMap, BTreeSet};

use trellis_protocol::control::{ArtifactRef, ConfigValues};
use trellis_protocol::inventory::{Annotations, Labels};
use trellis_protocol::link::{Link, LinkKey, WitName};
use trellis_protocol::secret::{SecretKey, SecretName, SecretRef};
use trellis_protocol::wadm::AppVersion;
use trellis_protocol::{AppName, ComponentId, ConfigName, HostId, LinkName};

use super::spread::{Placement, daemon, spread};
use crate::manifest::{
    Component, ComponentKind, ConfigRef, ImageRef, LinkProperties, Manifest,
    SpreadScalerProperties, Trait, builtin_for_image,
};
use crate::model::{
    DeployedApp, Observed, Owner, Staged, app_of, is_managed, link_annotations,
    workload_annotations,
};
use crate::rollout::stages;

/// How a workload runs: its code, its config, its marks.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Image as stored.
    pub image: String,
    /// Where hosts fetch it (components, external providers).
    pub artifact: Option<ArtifactRef>,
    /// Named configs it gets.
    pub config: Vec<ConfigName>,
    /// Secrets it may read (references; hosts fetch the values).
    pub secrets: Vec<SecretRef>,
    /// Annotations to put on it (they name the app version).
    pub annotations: Annotations,
    /// Calls one instance may serve (components; 1: a fresh instance per
    /// call).
    pub reuse: u32,
}

impl Spec {
    fn of(app: &AppName, version: &AppVersion, c: &Component) -> Result<Spec, String> {
        let (image, artifact) = resolve_image(c)?;
        Ok(Spec {
            image,
            artifact,
            config: c
                .properties
                .config
                .iter()
                .filter_map(|r| ConfigName::new(r.name.as_str()).ok())
                .collect(),
            annotations: workload_annotations(app, version),
            secrets: secret_refs(&c.properties.secrets)?,
            reuse: c.properties.reuse.unwrap_or(1).max(1),
        })
    }
}

/// The manifest's secrets as hosts receive them: `properties.key` is the
/// store key, `name` what the component asks for.
fn secret_refs(refs: &[crate::manifest::SecretRef]) -> Result<Vec<SecretRef>, String> {
    refs.iter()
        .map(|r| {
            Ok(SecretRef {
                name: SecretName::new(r.name.as_str()).map_err(|e| e.to_string())?,
                key: SecretKey::new(r.properties.key.as_str()).map_err(|e| e.to_string())?,
                field: r.properties.field.clone(),
                version: r.properties.version.clone(),
            })
        })
        .collect()
}

/// A component or provider to run, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Want {
    /// Component or capability.
    pub kind: ComponentKind,
    /// Lattice id.
    pub id: ComponentId,
    /// How it runs where the deployed version runs.
    pub spec: Spec,
    /// Hosts a staged rollout has not reached, with the older spec they keep.
    pub held: BTreeMap<HostId, Spec>,
    /// Instances per host (providers: 1).
    pub targets: BTreeMap<HostId, u32>,
    /// Who asked first.
    pub owner: Owner,
}

impl Want {
    /// How it runs on `host`.
    pub fn spec_on(&self, host: &HostId) -> &Spec {
        self.held.get(host).unwrap_or(&self.spec)
    }
}

/// A desired link and who asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct WantLink {
    /// The link.
    pub link: Link,
    /// The component carrying the link trait.
    pub owner: Owner,
    /// Index of the trait in that component.
    pub trait_index: usize,
    /// Later traits of the same component merged into this link (same
    /// package, name and target, other interfaces).
    pub merged: Vec<usize>,
}

/// Everything the deployed apps want, and what stands in the way.
#[derive(Debug, Default)]
pub struct Desired {
    /// Components by id.
    pub components: BTreeMap<ComponentId, Want>,
    /// Providers by id.
    pub providers: BTreeMap<ComponentId, Want>,
    /// Links by key.
    pub links: BTreeMap<LinkKey, WantLink>,
    /// Configs defined inline, by name.
    pub configs: BTreeMap<ConfigName, (ConfigValues, Owner)>,
    /// Problems per (owner, trait index); `None` is the component itself.
    pub problems: BTreeMap<(Owner, Option<usize>), Vec<String>>,
    /// Apps in a staged rollout: the stage of each host they run on.
    pub stages: BTreeMap<AppName, BTreeMap<HostId, usize>>,
    /// Instances per host: what runs plus what this plan adds so far.
    load: BTreeMap<HostId, u32>,
    /// Components of shared apps, by (app, component name): what other
    /// apps' `properties.application` entries stand for.
    shared: BTreeMap<(String, String), ComponentId>,
    /// Where each id runs now, by (is a provider, id): (host, instances,
    /// whether wadm manages it; providers count 1). Built once per plan: placing each workload
    /// by scanning every host's inventory made a plan hosts x workloads.
    running: RunningIndex,
    /// Stored links wadm does not manage, by key, with their targets: an
    /// app's link may not take their place. (A search of all links per
    /// link made a steady plan of 10,000 apps take 89 s.)
    by_hand_links: BTreeMap<LinkKey, ComponentId>,
}

/// By (is a provider, id): (host, instances, managed by wadm).
type RunningIndex = BTreeMap<(bool, ComponentId), Vec<(HostId, u32, bool)>>;

/// Where each component and provider runs, from the hosts' inventories.
fn running_index(observed: &Observed) -> RunningIndex {
    let mut index: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for (host, view) in &observed.hosts {
        for c in &view.components {
            index.entry((false, c.id.clone())).or_default().push((
                host.clone(),
                c.max,
                is_managed(&c.annotations),
            ));
        }
        for p in &view.providers {
            index.entry((true, p.id.clone())).or_default().push((
                host.clone(),
                1,
                is_managed(&p.annotations),
            ));
        }
    }
    index
}

/// The load a late host is taken to have (see [`crate::model::HostView::late`]).
const LATE_LOAD: u32 = u32::MAX / 2;

impl Desired {
    /// Works out what `apps` want, given what runs (`observed`).
    pub fn new(apps: &[DeployedApp], observed: &Observed) -> Self {
        let hosts: BTreeMap<HostId, Labels> = observed
            .hosts
            .iter()
            .map(|(id, h)| (id.clone(), h.labels.clone()))
            .collect();
        let mut d = Desired {
            load: observed
                .hosts
                .iter()
                .map(|(id, h)| {
                    let components: u32 = h.components.iter().map(|c| c.max).sum();
                    let providers = u32::try_from(h.providers.len()).unwrap_or(u32::MAX);
                    // A late host may be dead: placing there costs a round
                    // (the command fails with no responders), so it looks
                    // full and gets new instances only when nothing else can.
                    let load = match h.late {
                        true => LATE_LOAD,
                        false => components.saturating_add(providers),
                    };
                    (id.clone(), load)
                })
                .collect(),
            shared: apps
                .iter()
                .filter(|a| a.manifest.is_shared())
                .flat_map(|a| {
                    a.manifest.spec.components.iter().filter_map(move |c| {
                        let id = ComponentId::new(a.manifest.component_id(c)).ok()?;
                        Some(((a.name.to_string(), c.name.clone()), id))
                    })
                })
                .collect(),
            running: running_index(observed),
            by_hand_links: observed
                .links
                .iter()
                .filter(|l| !is_managed(&l.annotations))
                .map(|l| (l.key(), l.target_id.clone()))
                .collect(),
            ..Desired::default()
        };
        for app in incumbents_first(apps, observed) {
            for c in &app.manifest.spec.components {
                d.component(app, c, &hosts);
            }
            if let Some(staged) = &app.staged {
                d.stage(app, staged, &hosts);
            }
        }
        d
    }

    /// Splits an app in a staged rollout: hosts in later stages than the
    /// current one keep the old version's spec.
    fn stage(&mut self, app: &DeployedApp, staged: &Staged, hosts: &BTreeMap<HostId, Labels>) {
        let Some(rollout) = &app.manifest.spec.rollout else {
            return;
        };
        let mine = |w: &&mut Want| w.owner.app == app.name;
        let runs_app: BTreeSet<HostId> = self
            .components
            .values()
            .chain(self.providers.values())
            .filter(|w| w.owner.app == app.name)
            .flat_map(|w| w.targets.iter().filter(|(_, n)| **n > 0).map(|(h, _)| h))
            .cloned()
            .collect();
        let labelled = runs_app
            .iter()
            .map(|h| (h.clone(), hosts.get(h).cloned().unwrap_or_default()))
            .collect();
        let stage_of = stages::assign(&rollout.stages, &labelled);
        // Held hosts may need configs only the old version defines; a name
        // both define gets the new values.
        for r in inline_config_refs(&staged.from_manifest) {
            if let (Some(values), Ok(name)) = (&r.properties, ConfigName::new(r.name.as_str())) {
                let owner = Owner {
                    app: app.name.clone(),
                    component: String::new(),
                };
                self.configs.entry(name).or_insert((values.clone(), owner));
            }
        }
        let old = &staged.from_manifest;
        for want in self
            .components
            .values_mut()
            .chain(self.providers.values_mut())
            .filter(mine)
        {
            let Some(c) = old.component(&want.owner.component) else {
                continue;
            };
            if c.kind != want.kind || old.component_id(c) != want.id.as_str() {
                continue;
            }
            let Ok(spec) = Spec::of(&app.name, &staged.from, c) else {
                continue;
            };
            for (host, n) in &want.targets {
                if *n > 0 && stage_of.get(host).is_some_and(|s| *s > staged.through) {
                    want.held.insert(host.clone(), spec.clone());
                }
            }
        }
        self.stages.insert(app.name.clone(), stage_of);
    }

    fn problem(&mut self, owner: &Owner, trait_index: Option<usize>, message: String) {
        self.problems
            .entry((owner.clone(), trait_index))
            .or_default()
            .push(message);
    }

    fn component(&mut self, app: &DeployedApp, c: &Component, hosts: &BTreeMap<HostId, Labels>) {
        let owner = Owner {
            app: app.name.clone(),
            component: c.name.clone(),
        };
        let id = match self.id_of(app, c) {
            Ok(id) => id,
            Err(e) => return self.problem(&owner, None, e),
        };
        self.configs_of(&owner, &c.properties.config);
        for (i, t) in c.traits.iter().enumerate() {
            if let Trait::Link(p) = t {
                self.link(app, &owner, &id, i, p);
            }
        }
        // A stand-in for a shared app's component runs nothing itself.
        if c.properties.application.is_some() {
            return;
        }
        let provider = c.kind == ComponentKind::Capability;
        // wadm runs one instance of a provider that has no scaler.
        let one = Trait::SpreadScaler(SpreadScalerProperties {
            instances: 1,
            spread: Vec::new(),
        });
        let (index, scaler) = match c.traits.iter().enumerate().find(|(_, t)| t.is_scaler()) {
            Some((index, scaler)) => (Some(index), scaler),
            None if provider => (None, &one),
            None => return,
        };
        let spec = match Spec::of(&app.name, &app.version, c) {
            Ok(spec) => spec,
            Err(e) => return self.problem(&owner, index, e),
        };
        let placement = self.place(scaler, provider, &id, hosts);
        let now_on: BTreeMap<&HostId, u32> = self
            .running
            .get(&(provider, id.clone()))
            .into_iter()
            .flatten()
            .map(|(h, n, _)| (h, *n))
            .collect();
        for (host, n) in &placement.targets {
            let running = now_on.get(host).copied().unwrap_or(0);
            *self.load.entry(host.clone()).or_default() += n.saturating_sub(running);
        }
        for p in placement.problems {
            self.problem(&owner, index, p);
        }
        let want = Want {
            kind: c.kind,
            id: id.clone(),
            spec,
            held: BTreeMap::new(),
            targets: placement.targets,
            owner: owner.clone(),
        };
        let map = if provider {
            &mut self.providers
        } else {
            &mut self.components
        };
        match map.get_mut(&id) {
            None => {
                map.insert(id, want);
            }
            // Apps may share a provider (same id and image): it runs where
            // either wants it, and stays while either does.
            Some(first) if provider && first.spec.image == want.spec.image => {
                for (host, n) in want.targets {
                    let t = first.targets.entry(host).or_default();
                    *t = (*t).max(n);
                }
            }
            Some(first) => {
                let message = format!(
                    "id {id} is already used by component {} of app {}{}; give this one another properties.id",
                    first.owner.component,
                    first.owner.app,
                    if provider {
                        format!(" with image {}", first.spec.image)
                    } else {
                        String::new()
                    }
                );
                self.problem(&owner, index, message);
            }
        }
    }

    /// The lattice id of `c`: its own, or, for a stand-in of a shared
    /// app's component, that component's.
    fn id_of(&self, app: &DeployedApp, c: &Component) -> Result<ComponentId, String> {
        let Some(shared) = &c.properties.application else {
            return ComponentId::new(app.manifest.component_id(c)).map_err(|e| e.to_string());
        };
        self.shared
            .get(&(shared.name.clone(), shared.component.clone()))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "no component `{}` in a deployed shared app `{}`; deploy that app with the \
                     annotation experimental.wasmcloud.dev/shared: \"true\"",
                    shared.component, shared.name
                )
            })
    }

    fn place(
        &self,
        scaler: &Trait,
        provider: bool,
        id: &ComponentId,
        hosts: &BTreeMap<HostId, Labels>,
    ) -> Placement {
        // What runs now, and hosts where the id runs by hand (left alone).
        let mut current = BTreeMap::new();
        let mut by_hand = Vec::new();
        for (host, n, managed) in self
            .running
            .get(&(provider, id.clone()))
            .into_iter()
            .flatten()
        {
            if provider || *managed {
                current.insert(host.clone(), *n);
            } else {
                by_hand.push(host);
            }
        }
        // Copy the host map only when some host must be left out.
        let eligible = if by_hand.is_empty() {
            std::borrow::Cow::Borrowed(hosts)
        } else {
            let mut some = hosts.clone();
            for host in by_hand {
                some.remove(host);
            }
            std::borrow::Cow::Owned(some)
        };
        let eligible = eligible.as_ref();
        let cap = provider.then_some(1);
        match scaler {
            Trait::SpreadScaler(p) => {
                spread(p.instances, &p.spread, eligible, &current, &self.load, cap)
            }
            Trait::DaemonScaler(p) => {
                let per_host = if provider { 1 } else { p.instances };
                daemon(per_host, &p.spread, eligible)
            }
            _ => Placement::default(),
        }
    }

    fn configs_of(&mut self, owner: &Owner, refs: &[ConfigRef]) {
        for r in refs {
            let (Some(values), Ok(name)) = (&r.properties, ConfigName::new(r.name.as_str())) else {
                continue;
            };
            match self.configs.get(&name) {
                None => {
                    self.configs.insert(name, (values.clone(), owner.clone()));
                }
                Some((existing, _)) if existing == values => {}
                Some((_, first)) => {
                    let message = format!(
                        "config {name} is also defined by component {} of app {} with other properties; use another name",
                        first.component, first.app
                    );
                    self.problem(owner, None, message);
                }
            }
        }
    }

    fn link(
        &mut self,
        app: &DeployedApp,
        owner: &Owner,
        source_id: &ComponentId,
        trait_index: usize,
        p: &LinkProperties,
    ) {
        let source_config = p.source.as_ref().map(|s| &s.config[..]).unwrap_or(&[]);
        self.configs_of(owner, source_config);
        self.configs_of(owner, &p.target.config);
        let built = (|| -> Result<Link, String> {
            let target = app
                .manifest
                .component(&p.target.name)
                .ok_or_else(|| format!("no component named {}", p.target.name))?;
            let target_id = self.id_of(app, target)?;
            let names = |refs: &[ConfigRef]| {
                refs.iter()
                    .map(|r| ConfigName::new(r.name.as_str()).map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()
            };
            let wit = |s: &str| WitName::new(s).map_err(|e| e.to_string());
            Ok(Link {
                source_id: source_id.clone(),
                target_id,
                name: LinkName::new(p.link_name()).map_err(|e| e.to_string())?,
                wit_namespace: wit(&p.namespace)?,
                wit_package: wit(&p.package)?,
                interfaces: p
                    .interfaces
                    .iter()
                    .map(|i| wit(i))
                    .collect::<Result<_, _>>()?,
                source_config: names(source_config)?,
                target_config: names(&p.target.config)?,
                source_secrets: secret_refs(p.source.as_ref().map_or(&[], |s| &s.secrets[..]))?,
                target_secrets: secret_refs(&p.target.secrets)?,
                annotations: link_annotations(&app.name),
            })
        })();
        let link = match built {
            Ok(link) => link,
            Err(e) => return self.problem(owner, Some(trait_index), e),
        };
        let key = link.key();
        if let Some(target) = self.by_hand_links.get(&key) {
            let message = format!(
                "a link of {} on {}:{} named {} was put by hand (to {target}); delete it with `trellis link del` or give this link another name",
                key.source_id, key.wit_namespace, key.wit_package, key.name
            );
            return self.problem(owner, Some(trait_index), message);
        }
        if let Some(first) = self.links.get_mut(&key) {
            // wadm counts links per interface: two traits of one component
            // on one package, name and target are one link with both's
            // interfaces (and configs).
            if first.owner == *owner && first.link.target_id == link.target_id {
                let merged = &mut first.link;
                for i in link.interfaces {
                    if !merged.interfaces.contains(&i) {
                        merged.interfaces.push(i);
                    }
                }
                for (into, from) in [
                    (&mut merged.source_config, link.source_config),
                    (&mut merged.target_config, link.target_config),
                ] {
                    for c in from {
                        if !into.contains(&c) {
                            into.push(c);
                        }
                    }
                }
                first.merged.push(trait_index);
                return;
            }
            let message = format!(
                "component {} of app {} already links {} on {}:{} with name {}; give one another name",
                first.owner.component,
                first.owner.app,
                key.source_id,
                key.wit_namespace,
                key.wit_package,
                key.name
            );
            return self.problem(owner, Some(trait_index), message);
        }
        self.links.insert(
            key,
            WantLink {
                link,
                owner: owner.clone(),
                trait_index,
                merged: Vec::new(),
            },
        );
    }
}

/// Every config reference of a manifest: components' and links'.
fn inline_config_refs(m: &Manifest) -> impl Iterator<Item = &ConfigRef> {
    m.spec.components.iter().flat_map(|c| {
        let links = c.traits.iter().filter_map(|t| match t {
            Trait::Link(p) => Some(p),
            _ => None,
        });
        c.properties.config.iter().chain(links.flat_map(|p| {
            let source = p.source.as_ref().map(|s| &s.config[..]).unwrap_or(&[]);
            source.iter().chain(&p.target.config)
        }))
    })
}

/// The named configs `apps` define inline (the ones wadm stores), without
/// working out placement; with a rollout's old version's too.
pub fn inline_configs(apps: &[DeployedApp]) -> BTreeSet<ConfigName> {
    let manifests = apps.iter().flat_map(|a| {
        std::iter::once(&a.manifest).chain(a.staged.as_ref().map(|s| &s.from_manifest))
    });
    manifests
        .flat_map(inline_config_refs)
        .filter(|r| r.properties.is_some())
        .filter_map(|r| ConfigName::new(r.name.as_str()).ok())
        .collect()
}

/// The image and artifact of a manifest component, as hosts can fetch them.
fn resolve_image(c: &Component) -> Result<(String, Option<ArtifactRef>), String> {
    let image = c.properties.image.clone();
    if c.kind == ComponentKind::Capability
        && let Some((builtin, _)) = builtin_for_image(&image)
    {
        return Ok((format!("builtin://{builtin}"), None));
    }
    match ImageRef::parse(&image)? {
        // `wasmcloud+builtin://NAME` is the same builtin; hosts know one spelling.
        ImageRef::Builtin(name) if c.kind == ComponentKind::Capability => {
            Ok((format!("builtin://{name}"), None))
        }
        ImageRef::Nats(_) => {
            let artifact = ArtifactRef::parse_reference(&image)?;
            Ok((image, Some(artifact)))
        }
        ImageRef::File(_) => Err(format!(
            "image {image} is a local file wadm cannot read; deploy with `trellis app deploy FILE`, which uploads file:// images"
        )),
        ImageRef::Builtin(_) => Err(format!(
            "image {image} names a builtin provider, but this is a component"
        )),
        ImageRef::Oci(_) if c.kind == ComponentKind::Capability => Err(format!(
            "provider image {image} is not one Trellis runs as a builtin provider; use builtin://NAME ({})",
            crate::manifest::BUILTIN_PROVIDERS.join(", ")
        )),
        ImageRef::Oci(_) => Err(format!(
            "image {image} is an OCI reference wadm does not pull; deploy with `trellis app deploy FILE`, \
             which pulls it into the lattice (or `trellis pull` and `trellis push` it, and use the nats:// reference)"
        )),
    }
}

/// The apps in the order they claim ids, link keys and config names: apps
/// that already run something first, then the rest, each group in name
/// order. Where two apps claim one name, the one that has it keeps it and
/// the newcomer is failed; name order alone would let a newly deployed
/// app take over another's running component or rewrite its config.
fn incumbents_first<'a>(apps: &'a [DeployedApp], observed: &Observed) -> Vec<&'a DeployedApp> {
    let hosts = observed.hosts.values();
    let workloads = hosts.flat_map(|h| {
        h.components
            .iter()
            .map(|c| &c.annotations)
            .chain(h.providers.iter().map(|p| &p.annotations))
    });
    let running: BTreeSet<&str> = workloads
        .chain(observed.links.iter().map(|l| &l.annotations))
        .filter(|a| is_managed(a))
        .filter_map(app_of)
        .collect();
    let mut ordered: Vec<&DeployedApp> = apps.iter().collect();
    // Stable: ties keep the given (name) order.
    ordered.sort_by_key(|app| !running.contains(app.name.as_str()));
    ordered
}
