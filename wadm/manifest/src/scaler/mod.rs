//! The pure reconciler: deployed apps and the observed lattice in, the
//! commands that close the gap and each app's status out. No IO, no clock:
//! the service feeds it and executes what it returns.
//!
//! - [`spread`]: how many instances go to which host.
//! - [`desired`]: from manifests to wanted workloads, links and configs.

pub mod desired;
pub mod spread;

mod status;

use std::collections::{BTreeMap, BTreeSet};

use trellis_protocol::control::{
    ScaleComponentRequest, StartProviderRequest, UpdateComponentRequest,
};
use trellis_protocol::link::{Link, LinkKey};
use trellis_protocol::wadm::{APP_VERSION_ANNOTATION, AppStatus};
use trellis_protocol::{AppName, ComponentId, HostId};

use crate::manifest::ComponentKind;
use crate::model::{Command, DeployedApp, Observed, Owner, Step, is_frozen, is_managed};
// The plan carries it, so callers keep finding it here.
pub use crate::rollout::Progress;
use desired::{Desired, Want};

/// Errors of the last execution, per app component; they show in the
/// status while the commands that failed are still needed.
pub type Failures = BTreeMap<Owner, String>;

/// What to do next and how things stand.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Commands in the order to run them: configs, link removals, stops,
    /// starts and rescales, link puts.
    pub steps: Vec<Step>,
    /// One status per deployed app, in the order given.
    pub statuses: Vec<AppStatus>,
    /// Apps in a staged rollout: how far the hosts are.
    pub progress: BTreeMap<AppName, Progress>,
}

/// Plans the commands that take `observed` to what `apps` declare.
/// Running it again on the outcome of its own commands yields no steps.
/// Hosts that are unreachable get no commands; what they run still counts.
pub fn plan(apps: &[DeployedApp], observed: &Observed, failures: &Failures) -> Plan {
    let desired = Desired::new(apps, observed);
    let mut steps = Vec::new();
    configs(&desired, observed, &mut steps);
    let mut put_links = Vec::new();
    links(&desired, observed, &mut steps, &mut put_links);
    cleanup(&desired, observed, &mut steps);
    for want in desired.providers.values() {
        ensure_provider(want, observed, &mut steps);
    }
    for want in desired.components.values() {
        ensure_component(want, observed, &mut steps);
    }
    steps.extend(put_links);
    steps.retain(|s| {
        s.command
            .host()
            .is_none_or(|h| observed.hosts.get(h).is_none_or(|v| v.reachable))
    });
    let lookup = status::Lookup::new(&desired, observed, &steps);
    let statuses = apps
        .iter()
        .map(|app| status::app_status(app, &desired, observed, &lookup, failures))
        .collect();
    let progress = apps
        .iter()
        .filter_map(|app| Some((app.name.clone(), progress(app, &desired, observed, &steps)?)))
        .collect();
    Plan {
        steps,
        statuses,
        progress,
    }
}

fn progress(
    app: &DeployedApp,
    desired: &Desired,
    observed: &Observed,
    steps: &[Step],
) -> Option<Progress> {
    let staged = app.staged.as_ref()?;
    let stage_of = desired.stages.get(&app.name)?.clone();
    let version = app.version.as_str();
    let updated: BTreeSet<HostId> = stage_of
        .keys()
        .filter(|h| {
            observed.hosts.get(*h).is_some_and(|view| {
                view.components
                    .iter()
                    .filter(|c| crate::model::app_of(&c.annotations) == Some(app.name.as_str()))
                    .all(|c| {
                        c.annotations
                            .get(APP_VERSION_ANNOTATION)
                            .map(String::as_str)
                            == Some(version)
                    })
            })
        })
        .cloned()
        .collect();
    let idle = steps
        .iter()
        .all(|s| s.owner.as_ref().is_none_or(|o| o.app != app.name));
    let converged = idle
        && stage_of
            .iter()
            .filter(|(_, s)| **s <= staged.through)
            .all(|(h, _)| updated.contains(h));
    Some(Progress {
        stage_of,
        updated,
        converged,
    })
}

fn configs(desired: &Desired, observed: &Observed, steps: &mut Vec<Step>) {
    for (name, (values, owner)) in &desired.configs {
        if observed.configs.get(name) != Some(values) {
            steps.push(Step {
                command: Command::PutConfig {
                    name: name.clone(),
                    values: values.clone(),
                },
                owner: Some(owner.clone()),
            });
        }
    }
}

fn links(desired: &Desired, observed: &Observed, steps: &mut Vec<Step>, puts: &mut Vec<Step>) {
    for link in &observed.links {
        if is_managed(&link.annotations)
            && !is_frozen(&link.annotations, observed)
            && !desired.links.contains_key(&link.key())
        {
            steps.push(Step {
                command: Command::DelLink(link.key()),
                owner: None,
            });
        }
    }
    let stored: BTreeMap<LinkKey, &Link> = observed.links.iter().map(|l| (l.key(), l)).collect();
    for (key, want) in &desired.links {
        if stored.get(key).copied() != Some(&want.link) {
            puts.push(Step {
                command: Command::PutLink(want.link.clone()),
                owner: Some(want.owner.clone()),
            });
        }
    }
}

/// Stops what wadm started and no deployed app wants on that host any
/// more. Anything without wadm's annotation is never touched, nor what an
/// app runs whose record could not be read this pass.
fn cleanup(desired: &Desired, observed: &Observed, steps: &mut Vec<Step>) {
    let stale =
        |a: &trellis_protocol::inventory::Annotations| is_managed(a) && !is_frozen(a, observed);
    let wanted = |map: &BTreeMap<ComponentId, Want>, id: &ComponentId, host: &HostId| {
        map.get(id)
            .and_then(|w| w.targets.get(host))
            .is_some_and(|n| *n > 0)
    };
    for (host, view) in &observed.hosts {
        for c in &view.components {
            if stale(&c.annotations) && !wanted(&desired.components, &c.id, host) {
                steps.push(Step {
                    command: Command::ScaleComponent {
                        host: host.clone(),
                        request: scale_request(&c.id, 0, Default::default()),
                    },
                    owner: desired.components.get(&c.id).map(|w| w.owner.clone()),
                });
            }
        }
        for p in &view.providers {
            if stale(&p.annotations) && !wanted(&desired.providers, &p.id, host) {
                steps.push(Step {
                    command: Command::StopProvider {
                        host: host.clone(),
                        provider_id: p.id.clone(),
                    },
                    owner: desired.providers.get(&p.id).map(|w| w.owner.clone()),
                });
            }
        }
    }
}

fn scale_request(
    id: &ComponentId,
    max: u32,
    annotations: trellis_protocol::inventory::Annotations,
) -> ScaleComponentRequest {
    ScaleComponentRequest {
        component_id: id.clone(),
        image: String::new(),
        artifact: None,
        max,
        reuse: None,
        config: Vec::new(),
        annotations,
        secrets: Vec::new(),
    }
}

fn ensure_component(want: &Want, observed: &Observed, steps: &mut Vec<Step>) {
    debug_assert_eq!(want.kind, ComponentKind::Component);
    for (host, &max) in &want.targets {
        if max == 0 {
            continue;
        }
        let spec = want.spec_on(host);
        let digest = spec.artifact.as_ref().map(|a| a.sha256.as_str());
        let Some(view) = observed.hosts.get(host) else {
            continue;
        };
        let step = |command| Step {
            command,
            owner: Some(want.owner.clone()),
        };
        match view.components.iter().find(|c| c.id == want.id) {
            None => steps.push(step(Command::ScaleComponent {
                host: host.clone(),
                request: ScaleComponentRequest {
                    component_id: want.id.clone(),
                    image: spec.image.clone(),
                    artifact: spec.artifact.clone(),
                    max,
                    // Left out when it is the default, for hosts older than it.
                    reuse: (spec.reuse > 1).then_some(spec.reuse),
                    config: spec.config.clone(),
                    annotations: spec.annotations.clone(),
                    secrets: spec.secrets.clone(),
                },
            })),
            Some(running) => {
                let new_code = digest.is_some_and(|d| d != running.digest);
                if new_code && let Some(artifact) = &spec.artifact {
                    steps.push(step(Command::UpdateComponent {
                        host: host.clone(),
                        request: UpdateComponentRequest {
                            component_id: want.id.clone(),
                            image: spec.image.clone(),
                            artifact: artifact.clone(),
                        },
                    }));
                }
                let new_reuse = running.reuse.max(1) != spec.reuse;
                if new_code
                    || new_reuse
                    || running.max != max
                    || running.annotations != spec.annotations
                {
                    steps.push(step(Command::ScaleComponent {
                        host: host.clone(),
                        // A new version may list other secrets; the host swaps them.
                        request: ScaleComponentRequest {
                            secrets: spec.secrets.clone(),
                            reuse: new_reuse.then_some(spec.reuse),
                            ..scale_request(&want.id, max, spec.annotations.clone())
                        },
                    }));
                }
            }
        }
    }
}

fn ensure_provider(want: &Want, observed: &Observed, steps: &mut Vec<Step>) {
    let start = |host: &HostId| {
        let spec = want.spec_on(host);
        Step {
            command: Command::StartProvider {
                host: host.clone(),
                request: StartProviderRequest {
                    provider_id: want.id.clone(),
                    image: spec.image.clone(),
                    artifact: spec.artifact.clone(),
                    claims: None,
                    config: spec.config.clone(),
                    annotations: spec.annotations.clone(),
                },
            },
            owner: Some(want.owner.clone()),
        }
    };
    let hosts: BTreeSet<&HostId> = want
        .targets
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(h, _)| h)
        .collect();
    for host in hosts {
        let Some(view) = observed.hosts.get(host) else {
            continue;
        };
        match view.providers.iter().find(|p| p.id == want.id) {
            None => steps.push(start(host)),
            // A new image means a new process; one started by hand stays.
            Some(p) if is_managed(&p.annotations) && p.image != want.spec_on(host).image => {
                steps.push(Step {
                    command: Command::StopProvider {
                        host: host.clone(),
                        provider_id: want.id.clone(),
                    },
                    owner: Some(want.owner.clone()),
                });
                steps.push(start(host));
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod compat_tests;
#[cfg(test)]
mod tests;
