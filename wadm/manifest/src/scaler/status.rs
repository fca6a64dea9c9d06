//! Status of a deployed app from a plan: per trait, per component, overall.

use std::collections::BTreeMap;

use trellis_protocol::limits::MAX_LISTED_INTERFACES;
use trellis_protocol::link::Link;
use trellis_protocol::signature::{ComponentTypes, link_mismatches, unversioned};
use trellis_protocol::wadm::{AppStatus, ComponentStatus, StatusState, TraitStatus};
use trellis_protocol::{ComponentId, HostId};

use super::Failures;
use super::desired::{Desired, WantLink};
use crate::manifest::{ComponentKind, Trait, builtin_for_image};
use crate::model::{Command, DeployedApp, HostView, Observed, Owner, Step};

/// What statuses look up, indexed once per plan: looked up by scanning
/// per app and per link, a plan of 10,000 apps on 1,000 hosts spent its
/// time in these scans (steps x components, links x hosts).
pub(super) struct Lookup<'a> {
    /// Each owner's commands, in plan order.
    commands: BTreeMap<&'a Owner, Vec<&'a Command>>,
    /// Desired links by (owner, link trait index), merged traits included.
    links: BTreeMap<(&'a Owner, usize), &'a WantLink>,
    /// Hosts running each id (as a component or a provider), in host order.
    hosts_of: BTreeMap<&'a str, BTreeMap<&'a HostId, &'a HostView>>,
    /// Function types of linked components, by digest, where known.
    types: &'a BTreeMap<String, ComponentTypes>,
}

impl<'a> Lookup<'a> {
    /// Indexes a plan's desired state, observed state and steps.
    pub(super) fn new(desired: &'a Desired, observed: &'a Observed, steps: &'a [Step]) -> Self {
        let mut commands: BTreeMap<&Owner, Vec<&Command>> = BTreeMap::new();
        for step in steps {
            if let Some(owner) = &step.owner {
                commands.entry(owner).or_default().push(&step.command);
            }
        }
        let mut links = BTreeMap::new();
        for want in desired.links.values() {
            for index in std::iter::once(want.trait_index).chain(want.merged.iter().copied()) {
                links.entry((&want.owner, index)).or_insert(want);
            }
        }
        let mut hosts_of: BTreeMap<&str, BTreeMap<&HostId, &HostView>> = BTreeMap::new();
        for (host, view) in &observed.hosts {
            let ids = view.components.iter().map(|c| c.id.as_str());
            for id in ids.chain(view.providers.iter().map(|p| p.id.as_str())) {
                hosts_of.entry(id).or_default().insert(host, view);
            }
        }
        Lookup {
            commands,
            links,
            hosts_of,
            types: &observed.types,
        }
    }

    /// Hosts running `id`, in host order.
    fn hosts_of(&self, id: &str) -> impl Iterator<Item = (&'a HostId, &'a HostView)> + '_ {
        self.hosts_of
            .get(id)
            .into_iter()
            .flat_map(|hosts| hosts.iter().map(|(h, v)| (*h, *v)))
    }

    /// Hosts running either end of `link`, in host order.
    fn hosts_of_ends(&self, link: &Link) -> BTreeMap<&'a HostId, &'a HostView> {
        self.hosts_of(link.source_id.as_str())
            .chain(self.hosts_of(link.target_id.as_str()))
            .collect()
    }
}

pub(super) fn app_status(
    app: &DeployedApp,
    desired: &Desired,
    observed: &Observed,
    lookup: &Lookup<'_>,
    failures: &Failures,
) -> AppStatus {
    let mut components = Vec::new();
    let mut message = None;
    for c in &app.manifest.spec.components {
        let owner = Owner {
            app: app.name.clone(),
            component: c.name.clone(),
        };
        let mine: &[&Command] = lookup.commands.get(&owner).map_or(&[], Vec::as_slice);
        let failure = failures.get(&owner).filter(|_| !mine.is_empty());
        let mut traits = Vec::new();
        if let Some(problems) = desired.problems.get(&(owner.clone(), None)) {
            traits.push(failed("properties", problems.join("; ")));
        } else if mine.iter().any(|c| matches!(c, Command::PutConfig { .. })) {
            traits.push(in_motion("properties", failure, "storing config"));
        }
        let provider = c.kind == ComponentKind::Capability;
        if provider && let Some((_, note)) = builtin_for_image(&c.properties.image) {
            traits.push(TraitStatus {
                kind: "image".into(),
                state: StatusState::Deployed,
                message: Some(note),
            });
        }
        let scaler_status = |kind: &str| {
            let moving = mine
                .iter()
                .any(|c| !matches!(c, Command::PutConfig { .. } | Command::PutLink(_)));
            let id = app.manifest.component_id(c);
            if moving {
                in_motion(kind, failure, "placing instances")
            } else if let Some(why) = provider_failure(lookup, &id) {
                failed(kind, why)
            } else {
                done(kind)
            }
        };
        // A provider without a scaler runs once, as in wadm.
        if provider && c.properties.application.is_none() && !c.traits.iter().any(Trait::is_scaler)
        {
            traits.push(scaler_status("spreadscaler (implied: 1 instance)"));
        }
        for (i, t) in c.traits.iter().enumerate() {
            let kind = t.kind().to_owned();
            if let Some(problems) = desired.problems.get(&(owner.clone(), Some(i))) {
                let problems = problems.join("; ");
                traits.push(if observed.hosts_settling {
                    TraitStatus {
                        kind,
                        state: StatusState::Waiting,
                        message: Some(format!(
                            "{problems} yet (wadm has just taken the lead and is still \
                             hearing from hosts)"
                        )),
                    }
                } else {
                    failed(&kind, problems)
                });
                continue;
            }
            let status = match t {
                Trait::SpreadScaler(_) | Trait::DaemonScaler(_) => scaler_status(&kind),
                Trait::Link(_) => link_status(observed, lookup, &owner, i, mine, failure),
                Trait::Invalid(raw) if raw.error.is_none() => TraitStatus {
                    kind: kind.clone(),
                    state: StatusState::Deployed,
                    message: Some(format!("custom trait type {} is ignored", raw.kind)),
                },
                Trait::Invalid(raw) => failed(&kind, format!("invalid trait {}", raw.kind)),
            };
            traits.push(status);
        }
        let state = StatusState::combine(traits.iter().map(|t| t.state));
        if message.is_none() {
            message = traits
                .iter()
                .find(|t| t.state != StatusState::Deployed)
                .and_then(|t| t.message.as_ref())
                .map(|m| format!("{}: {m}", c.name));
        }
        components.push(ComponentStatus {
            name: c.name.clone(),
            id: app.manifest.component_id(c),
            state,
            traits,
        });
    }
    let state = StatusState::combine(components.iter().map(|c| c.state));
    AppStatus {
        name: app.name.clone(),
        version: Some(app.version.clone()),
        state,
        message: message.filter(|_| state != StatusState::Deployed),
        components,
        rollout: None,
        images: Vec::new(),
    }
}

fn link_status(
    observed: &Observed,
    lookup: &Lookup<'_>,
    owner: &Owner,
    index: usize,
    mine: &[&Command],
    failure: Option<&String>,
) -> TraitStatus {
    let Some(want) = lookup.links.get(&(owner, index)) else {
        return failed("link", "link could not be built".into());
    };
    let key = want.link.key();
    if mine
        .iter()
        .any(|c| matches!(c, Command::PutLink(l) if l.key() == key))
    {
        return in_motion("link", failure, "putting link");
    }
    for id in [&want.link.source_id, &want.link.target_id] {
        if lookup.hosts_of(id.as_str()).next().is_none() {
            return TraitStatus {
                kind: "link".into(),
                state: StatusState::Waiting,
                message: Some(format!("waiting for {id} to run")),
            };
        }
    }
    if let Some(why) = unexported(lookup, &want.link) {
        return failed("link", why);
    }
    // Deployed only once every provider it names, on every host that runs
    // one, said it applied the link (a refusal is retried by the host).
    let hosts = lookup.hosts_of_ends(&want.link);
    let mut pending = None;
    for (host, view) in &hosts {
        for id in [&want.link.source_id, &want.link.target_id] {
            if !view.providers.iter().any(|p| &p.id == id) {
                continue;
            }
            match view.link_status.get(&(key.clone(), id.clone())) {
                Some(Ok(())) => {}
                Some(Err(reason)) => {
                    return failed(
                        "link",
                        format!(
                            "provider {id} on host {} refused the link (retrying): {reason}",
                            view.describe(host)
                        ),
                    );
                }
                None => {
                    pending.get_or_insert_with(|| {
                        format!(
                            "waiting for provider {id} on host {} to apply the link",
                            view.describe(host)
                        )
                    });
                }
            }
        }
    }
    // And only once every host running either end has the link (hosts
    // route a component's calls by the links they applied): wadm writes
    // links without waiting, and heartbeats say how far each host got.
    if pending.is_none()
        && let Some(&revision) = observed.link_revisions.get(&key)
    {
        // Hosts older than this wadm report 0 and hold the status back:
        // a lattice does not mix them (docs/wadm.md).
        pending = hosts
            .iter()
            .find(|(_, view)| view.links_revision < revision)
            .map(|(host, view)| {
                format!("waiting for host {} to apply the link", view.describe(host))
            });
    }
    match pending {
        Some(message) => TraitStatus {
            kind: "link".into(),
            state: StatusState::Reconciling,
            message: Some(message),
        },
        None => done("link"),
    }
}

/// Why the provider `id` does not serve on some host that runs it, if so.
fn provider_failure(lookup: &Lookup<'_>, id: &str) -> Option<String> {
    lookup.hosts_of(id).find_map(|(host, view)| {
        let p = view.providers.iter().find(|p| p.id.as_str() == id)?;
        let failure = p.failure.as_ref()?;
        Some(format!(
            "provider {id} on host {}: {failure}",
            view.describe(host)
        ))
    })
}

/// Why a link cannot work because its target component does not export
/// what it names, when that is known: the target runs and reports its
/// exports (a full list; a cut one proves nothing). Versions are not
/// compared: hosts accept any patch of an interface. `wasi:http` is left
/// out: the host serves a WASI 0.3 `handler` through the same links.
fn unexported(lookup: &Lookup<'_>, link: &Link) -> Option<String> {
    if link.wit_namespace.as_str() == "wasi" && link.wit_package.as_str() == "http" {
        return None;
    }
    let running = |id: &ComponentId| {
        lookup
            .hosts_of(id.as_str())
            .flat_map(|(_, view)| &view.components)
            .find(|c| &c.id == id)
    };
    let target = running(&link.target_id)?;
    // Function by function where both ends' types are known (a link
    // between two components); by interface name otherwise.
    if let Some(source) = running(&link.source_id)
        && let (Some(source), Some(target)) = (
            lookup.types.get(&source.digest),
            lookup.types.get(&target.digest),
        )
    {
        let problems = link_mismatches(link, source, target);
        if problems.is_empty() {
            return None;
        }
        return Some(format!(
            "target {} does not export what {} imports through the link: {}; link a target that \
             exports the interface with these types, or rebuild one side against the same WIT",
            link.target_id,
            link.source_id,
            problems.join("; ")
        ));
    }
    if target.exports.is_empty() || target.exports.len() >= MAX_LISTED_INTERFACES {
        return None;
    }
    let exported = |name: &str| target.exports.iter().any(|e| unversioned(e) == name);
    let missing: Vec<String> = link
        .interfaces
        .iter()
        .map(|i| format!("{}:{}/{i}", link.wit_namespace, link.wit_package))
        .filter(|name| !exported(name))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "target {} does not export {} (it exports {}); link to a component that does, or fix the link's namespace, package or interfaces",
        link.target_id,
        missing.join(", "),
        target.exports.join(", ")
    ))
}

fn done(kind: &str) -> TraitStatus {
    TraitStatus {
        kind: kind.into(),
        state: StatusState::Deployed,
        message: None,
    }
}

fn failed(kind: &str, message: String) -> TraitStatus {
    TraitStatus {
        kind: kind.into(),
        state: StatusState::Failed,
        message: Some(message),
    }
}

/// Commands are out; if the last try of them failed, that is the news.
fn in_motion(kind: &str, failure: Option<&String>, doing: &str) -> TraitStatus {
    match failure {
        Some(error) => failed(kind, error.clone()),
        None => TraitStatus {
            kind: kind.into(),
            state: StatusState::Reconciling,
            message: Some(doing.into()),
        },
    }
}
