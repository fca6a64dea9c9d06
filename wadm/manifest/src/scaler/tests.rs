//! Planner tests against a simulated lattice: `apply` does what hosts do
//! with each command, so "plan, apply, plan again" must come out empty.

use std::collections::BTreeMap;

use trellis_protocol::inventory::{ComponentDescription, Labels, ProviderDescription};
use trellis_protocol::wadm::{AppVersion, StatusState};
use trellis_protocol::{AppName, HostId};

use super::*;
use crate::manifest::{self, Trait};
use crate::model::HostView;

fn host(n: u8) -> HostId {
    HostId::new(format!("N{}{}", (b'A' + n) as char, "C".repeat(54))).unwrap()
}

fn labels(zone: &str) -> Labels {
    [("zone".to_owned(), zone.to_owned())].into_iter().collect()
}

fn lattice() -> Observed {
    let mut o = Observed::default();
    for (n, zone) in [(0, "edge"), (1, "cloud"), (2, "cloud")] {
        o.hosts.insert(
            host(n),
            HostView {
                labels: labels(zone),
                ..Default::default()
            },
        );
    }
    o
}

fn sha(c: char) -> String {
    c.to_string().repeat(64)
}

fn app(name: &str, version: &str, digest: &str, zone_b: &str) -> DeployedApp {
    let yaml = format!(
        r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: {name}, annotations: {{ version: {version} }} }}
spec:
  components:
    - name: hello
      type: component
      properties: {{ image: "nats://ART/sha256-{digest}" }}
      traits:
        - type: spreadscaler
          properties:
            instances: 4
            spread:
              - {{ name: a, requirements: {{ zone: edge }}, weight: 50 }}
              - {{ name: b, requirements: {{ zone: {zone_b} }}, weight: 50 }}
    - name: http
      type: capability
      properties: {{ image: "builtin://http-server", id: http }}
      traits:
        - type: daemonscaler
          properties: {{ instances: 1 }}
        - type: link
          properties:
            target: {{ name: hello }}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            name: {name}
            source: {{ config: [ {{ name: {name}-http, properties: {{ address: "127.0.0.1:0" }} }} ] }}
"#
    );
    let manifest = manifest::parse(&yaml).unwrap();
    assert_eq!(manifest::validate(&manifest), []);
    DeployedApp {
        name: AppName::new(name).unwrap(),
        version: AppVersion::new(version).unwrap(),
        manifest,
        staged: None,
    }
}

/// What hosts and the store do with each command.
pub(super) fn apply(o: &mut Observed, steps: &[Step]) {
    for step in steps {
        match &step.command {
            Command::PutConfig { name, values } => {
                o.configs.insert(name.clone(), values.clone());
            }
            Command::PutLink(link) => {
                o.links.retain(|l| l.key() != link.key());
                o.links.push(link.clone());
                // A changed link is applied again.
                for h in o.hosts.values_mut() {
                    h.link_status.retain(|(k, _), _| k != &link.key());
                }
            }
            Command::DelLink(key) => o.links.retain(|l| &l.key() != key),
            Command::ScaleComponent { host, request } => {
                let h = o.hosts.get_mut(host).unwrap();
                match h
                    .components
                    .iter()
                    .position(|c| c.id == request.component_id)
                {
                    Some(i) if request.max == 0 => {
                        h.components.remove(i);
                    }
                    Some(i) => {
                        h.components[i].max = request.max;
                        if let Some(reuse) = request.reuse {
                            h.components[i].reuse = reuse;
                        }
                        if !request.annotations.is_empty() {
                            h.components[i].annotations = request.annotations.clone();
                        }
                    }
                    None => {
                        assert!(request.max > 0, "stop of a component not running");
                        h.components.push(ComponentDescription {
                            id: request.component_id.clone(),
                            image: request.image.clone(),
                            digest: request.artifact.as_ref().unwrap().sha256.to_string(),
                            max: request.max,
                            reuse: request.reuse.unwrap_or(1),
                            config: request.config.clone(),
                            annotations: request.annotations.clone(),
                            stats: Default::default(),
                            exports: Vec::new(),
                            imports: Vec::new(),
                        });
                    }
                }
            }
            Command::UpdateComponent { host, request } => {
                let h = o.hosts.get_mut(host).unwrap();
                let c = h
                    .components
                    .iter_mut()
                    .find(|c| c.id == request.component_id)
                    .unwrap();
                c.digest = request.artifact.sha256.to_string();
                c.image = request.image.clone();
            }
            Command::StartProvider { host, request } => {
                let h = o.hosts.get_mut(host).unwrap();
                assert!(!h.providers.iter().any(|p| p.id == request.provider_id));
                h.providers.push(ProviderDescription {
                    id: request.provider_id.clone(),
                    image: request.image.clone(),
                    config: request.config.clone(),
                    annotations: request.annotations.clone(),
                    failure: None,
                });
            }
            Command::StopProvider { host, provider_id } => {
                let h = o.hosts.get_mut(host).unwrap();
                h.providers.retain(|p| &p.id != provider_id);
            }
        }
    }
    providers_take_links(o);
}

/// What hosts do with links: each provider is told about the links naming
/// it and (here) applies them; outcomes of gone links and providers go.
/// An outcome already there (e.g. a refusal a test put) stays.
fn providers_take_links(o: &mut Observed) {
    for h in o.hosts.values_mut() {
        let mut status = BTreeMap::new();
        for p in &h.providers {
            for l in o
                .links
                .iter()
                .filter(|l| l.source_id == p.id || l.target_id == p.id)
            {
                let at = (l.key(), p.id.clone());
                let outcome = h.link_status.get(&at).cloned().unwrap_or(Ok(()));
                status.insert(at, outcome);
            }
        }
        h.link_status = status;
    }
}

fn converge(apps: &[DeployedApp], o: &mut Observed) -> Vec<Step> {
    let first = plan(apps, o, &Failures::new());
    apply(o, &first.steps);
    let again = plan(apps, o, &Failures::new());
    assert_eq!(again.steps, [], "a second plan must be empty");
    for s in &again.statuses {
        assert_eq!(s.state, StatusState::Deployed, "{s:?}");
    }
    first.steps
}

fn max_on(o: &Observed, n: u8, id: &str) -> u32 {
    o.hosts[&host(n)]
        .components
        .iter()
        .find(|c| c.id.as_str() == id)
        .map_or(0, |c| c.max)
}

#[test]
fn deploy_spreads_and_links_then_settles() {
    let mut o = lattice();
    let apps = [app("web", "v1", &sha('a'), "cloud")];
    let steps = converge(&apps, &mut o);
    assert_eq!(max_on(&o, 0, "web-hello"), 2);
    assert_eq!(max_on(&o, 1, "web-hello"), 1);
    assert_eq!(max_on(&o, 2, "web-hello"), 1);
    assert!(o.hosts.values().all(|h| h.providers.len() == 1));
    assert_eq!(o.links.len(), 1);
    assert!(matches!(steps[0].command, Command::PutConfig { .. }));
    assert!(matches!(steps.last().unwrap().command, Command::PutLink(_)));
    // 3 component starts + 3 provider starts + config + link.
    assert_eq!(steps.len(), 8, "{steps:#?}");
}

#[test]
fn reuse_in_the_manifest_reaches_every_host_and_a_change_is_applied_in_place() {
    let mut o = lattice();
    let with_reuse = |n: &str| {
        let mut a = app("web", "v1", &sha('a'), "cloud");
        let hello = &mut a.manifest.spec.components[0];
        hello.properties.reuse = n.parse().ok();
        a
    };
    let steps = converge(&[with_reuse("8")], &mut o);
    let starts: Vec<_> = steps
        .iter()
        .filter_map(|s| match &s.command {
            Command::ScaleComponent { request, .. } => Some(request.reuse),
            _ => None,
        })
        .collect();
    assert_eq!(starts, [Some(8); 3], "{steps:#?}");
    // A new count is one scale per host, with nothing restarted.
    let steps = converge(&[with_reuse("2")], &mut o);
    assert_eq!(steps.len(), 3, "{steps:#?}");
    assert!(steps.iter().all(|s| matches!(&s.command,
        Command::ScaleComponent { request, .. } if request.reuse == Some(2))));
    // Back to the default (absent): 1, a fresh instance per call.
    let steps = converge(&[with_reuse("")], &mut o);
    assert!(steps.iter().all(|s| matches!(&s.command,
        Command::ScaleComponent { request, .. } if request.reuse == Some(1))));
    assert!(o.hosts.values().all(|h| h.components[0].reuse == 1));
}

#[test]
fn reuse_is_refused_where_it_means_nothing() {
    let mut a = app("web", "v1", &sha('a'), "cloud");
    a.manifest.spec.components[0].properties.reuse = Some(0);
    a.manifest.spec.components[1].properties.reuse = Some(4);
    let errors = manifest::validate(&a.manifest);
    assert_eq!(errors.len(), 2, "{errors:?}");
    let text = format!("{errors:?}");
    assert!(
        text.contains("at least 1") && text.contains("components only"),
        "{text}"
    );
}

#[test]
fn a_lost_host_moves_its_share_inside_its_group() {
    let mut o = lattice();
    let apps = [app("web", "v1", &sha('a'), "cloud")];
    converge(&apps, &mut o);
    o.hosts.remove(&host(2));
    let p = plan(&apps, &o, &Failures::new());
    assert_eq!(p.statuses[0].state, StatusState::Reconciling);
    assert_eq!(p.steps.len(), 1, "{:#?}", p.steps);
    apply(&mut o, &p.steps);
    assert_eq!(max_on(&o, 1, "web-hello"), 2);
    assert_eq!(max_on(&o, 0, "web-hello"), 2);
}

#[test]
fn unmet_requirements_wait_while_the_hosts_are_still_reporting() {
    let mut o = lattice();
    o.hosts_settling = true;
    let apps = [app("web", "v1", &sha('a'), "mars")];
    let p = plan(&apps, &o, &Failures::new());
    let status = &p.statuses[0];
    assert_ne!(status.state, StatusState::Failed);
    let waiting: Vec<_> = status
        .components
        .iter()
        .flat_map(|c| &c.traits)
        .filter(|t| t.state == StatusState::Waiting)
        .filter_map(|t| t.message.as_deref())
        .collect();
    assert!(
        waiting
            .iter()
            .any(|m| m.contains("no host matches zone=mars yet")),
        "{status:#?}"
    );
    o.hosts_settling = false;
    let p = plan(&apps, &o, &Failures::new());
    assert_eq!(p.statuses[0].state, StatusState::Failed);
}

#[test]
fn unmet_requirements_fail_with_the_reason_and_heal_when_a_host_comes() {
    let mut o = lattice();
    let apps = [app("web", "v1", &sha('a'), "mars")];
    let p = plan(&apps, &o, &Failures::new());
    let status = &p.statuses[0];
    assert_eq!(status.state, StatusState::Failed);
    let message = status.message.as_deref().unwrap();
    assert!(message.contains("no host matches zone=mars"), "{message}");
    apply(&mut o, &p.steps);
    o.hosts.insert(
        host(3),
        HostView {
            labels: labels("mars"),
            ..Default::default()
        },
    );
    converge(&apps, &mut o);
    assert_eq!(max_on(&o, 3, "web-hello"), 2);
}

#[test]
fn a_new_version_replaces_code_everywhere() {
    let mut o = lattice();
    converge(&[app("web", "v1", &sha('a'), "cloud")], &mut o);
    let steps = converge(&[app("web", "v2", &sha('b'), "cloud")], &mut o);
    let updates = steps
        .iter()
        .filter(|s| matches!(s.command, Command::UpdateComponent { .. }))
        .count();
    assert_eq!(updates, 3);
    for h in o.hosts.values() {
        for c in &h.components {
            assert_eq!(c.digest, sha('b'));
            assert_eq!(c.annotations["trellis.dev/app-version"], "v2");
        }
    }
}

#[test]
fn undeploy_removes_only_what_wadm_started_and_keeps_shared_providers() {
    let mut o = lattice();
    let by_hand = ComponentDescription {
        id: "mine".parse().unwrap(),
        image: "file://mine.wasm".into(),
        digest: sha('f'),
        max: 1,
        reuse: 1,
        config: vec![],
        annotations: BTreeMap::new(),
        stats: Default::default(),
        exports: Vec::new(),
        imports: Vec::new(),
    };
    o.hosts
        .get_mut(&host(1))
        .unwrap()
        .components
        .push(by_hand.clone());
    let both = [
        app("web", "v1", &sha('a'), "cloud"),
        app("api", "v1", &sha('b'), "cloud"),
    ];
    converge(&both, &mut o);
    assert_eq!(o.links.len(), 2);
    // api keeps the shared http provider everywhere; web's parts go.
    converge(&both[1..], &mut o);
    assert!(o.hosts.values().all(|h| h.providers.len() == 1));
    assert_eq!(max_on(&o, 0, "web-hello"), 0);
    assert_eq!(o.links.len(), 1);
    converge(&[], &mut o);
    assert!(o.links.is_empty());
    assert!(o.hosts.values().all(|h| h.providers.is_empty()));
    let left: Vec<_> = o
        .hosts
        .values()
        .flat_map(|h| h.components.clone())
        .collect();
    assert_eq!(left, [by_hand]);
}

#[test]
fn an_app_whose_record_cannot_be_read_keeps_what_it_runs() {
    let mut o = lattice();
    let web = app("web", "v1", &sha('a'), "cloud");
    converge(std::slice::from_ref(&web), &mut o);
    let running = o.clone();
    // The record of web did not parse this pass: web is not among the
    // apps, but nothing of it may stop.
    o.unreadable.insert(web.name.clone());
    let steps = plan(&[], &o, &Failures::new()).steps;
    assert_eq!(steps, [], "nothing of an unreadable app is touched");
    // Readable again and really gone: then it is cleaned up.
    o.unreadable.clear();
    let steps = plan(&[], &o, &Failures::new()).steps;
    assert!(!steps.is_empty());
    assert_eq!(o, running);
}

#[test]
fn a_newcomer_cannot_take_a_running_apps_component_id_or_config() {
    let mut o = lattice();
    let zeta = app("zeta", "v1", &sha('a'), "cloud");
    converge(std::slice::from_ref(&zeta), &mut o);
    let stored = o.configs.clone();
    // "alpha" sorts first, and claims zeta's component id and config name
    // with other code and another address.
    let mut alpha = app("alpha", "v1", &sha('b'), "cloud");
    let hello = &mut alpha.manifest.spec.components[0];
    hello.properties.id = Some("zeta-hello".into());
    let Trait::Link(link) = &mut alpha.manifest.spec.components[1].traits[1] else {
        panic!("the http provider's second trait is its link");
    };
    let config = &mut link.source.as_mut().unwrap().config[0];
    config.name = "zeta-http".into();
    config.properties = Some([("address".to_owned(), "127.0.0.1:1".to_owned())].into());
    let plan = plan(&[alpha, zeta], &o, &Failures::new());
    let touches_zeta = plan.steps.iter().any(|s| match &s.command {
        Command::PutConfig { .. } | Command::UpdateComponent { .. } => true,
        Command::ScaleComponent { request, .. } => request.component_id.as_str() == "zeta-hello",
        _ => false,
    });
    assert!(!touches_zeta, "{:#?}", plan.steps);
    assert_eq!(o.configs, stored);
    let state = |name: &str| {
        let s = plan
            .statuses
            .iter()
            .find(|s| s.name.as_str() == name)
            .unwrap();
        (s.state, s.message.clone().unwrap_or_default())
    };
    assert_eq!(
        state("zeta").0,
        StatusState::Deployed,
        "{:?}",
        state("zeta")
    );
    let (alpha_state, why) = state("alpha");
    assert_eq!(alpha_state, StatusState::Failed);
    assert!(why.contains("zeta"), "{why}");
}

#[test]
fn links_put_by_hand_are_not_overwritten() {
    let mut o = lattice();
    let apps = [app("web", "v1", &sha('a'), "cloud")];
    converge(&apps, &mut o);
    o.links[0].annotations.clear();
    let p = plan(&apps, &o, &Failures::new());
    assert!(p.steps.is_empty(), "{:#?}", p.steps);
    assert_eq!(p.statuses[0].state, StatusState::Failed);
    assert!(
        p.statuses[0]
            .message
            .as_deref()
            .unwrap()
            .contains("by hand")
    );
}

#[test]
fn execution_errors_show_while_the_command_is_still_needed() {
    let o = lattice();
    let apps = [app("web", "v1", &sha('a'), "cloud")];
    let owner = Owner {
        app: apps[0].name.clone(),
        component: "hello".into(),
    };
    let failures = [(owner, "signature refused".to_owned())]
        .into_iter()
        .collect();
    let p = plan(&apps, &o, &failures);
    assert_eq!(p.statuses[0].state, StatusState::Failed);
    assert!(
        p.statuses[0]
            .message
            .as_deref()
            .unwrap()
            .contains("signature refused")
    );
}

/// App `a<i>`: one component, one instance, any host; no provider.
fn one_instance_app(i: u32) -> DeployedApp {
    let mut a = app(&format!("a{i}"), "v1", &sha('a'), "cloud");
    a.manifest.spec.components.truncate(1);
    if let crate::manifest::Trait::SpreadScaler(p) = &mut a.manifest.spec.components[0].traits[0] {
        p.instances = 1;
        p.spread.clear();
    }
    a
}

fn busy(o: &Observed) -> Vec<usize> {
    o.hosts.values().map(|h| h.components.len()).collect()
}

#[test]
fn small_apps_spread_over_the_lattice_instead_of_piling_up() {
    let mut o = lattice();
    let apps: Vec<DeployedApp> = (0..3).map(one_instance_app).collect();
    converge(&apps, &mut o);
    assert_eq!(busy(&o), [1, 1, 1]);
}

#[test]
fn a_late_host_gets_no_new_instances_while_others_can_take_them() {
    let mut o = lattice();
    // Host 0 is the first pick by order and as idle as the others.
    o.hosts.get_mut(&host(0)).unwrap().late = true;
    let apps: Vec<DeployedApp> = (0..2).map(one_instance_app).collect();
    converge(&apps, &mut o);
    assert_eq!(busy(&o), [0, 1, 1], "the late host must be left out");
    // Heard from again: it is the idlest host and gets the next one.
    o.hosts.get_mut(&host(0)).unwrap().late = false;
    let apps: Vec<DeployedApp> = (0..3).map(one_instance_app).collect();
    converge(&apps, &mut o);
    assert_eq!(busy(&o), [1, 1, 1]);
}

#[test]
fn inline_configs_are_the_ones_the_plan_stores() {
    let apps = [app("web", "v1", &sha('a'), "cloud")];
    let desired = Desired::new(&apps, &lattice());
    let from_plan: std::collections::BTreeSet<_> = desired.configs.keys().cloned().collect();
    assert_eq!(desired::inline_configs(&apps), from_plan);
    assert_eq!(from_plan.len(), 1);
}

/// `app` with `spec.rollout`: canary one cloud host, then the cloud, then
/// the edge; staged from `from` through stage `through`.
fn staged(from: &DeployedApp, digest: &str, through: usize) -> DeployedApp {
    let mut next = app("web", "v2", digest, "cloud");
    next.manifest.spec.rollout = Some(
        serde_yaml::from_str(
            r#"
stages:
  - { name: cloud-canary, requirements: { zone: cloud }, max_hosts: 1 }
  - { name: cloud, requirements: { zone: cloud } }
  - { name: edge, requirements: { zone: edge } }
"#,
        )
        .unwrap(),
    );
    next.staged = Some(crate::model::Staged {
        from: from.version.clone(),
        from_manifest: from.manifest.clone(),
        through,
    });
    next
}

fn digest_on(o: &Observed, n: u8) -> &str {
    &o.hosts[&host(n)].components[0].digest
}

#[test]
fn a_staged_rollout_moves_only_the_hosts_of_its_stages() {
    let mut o = lattice();
    let v1 = app("web", "v1", &sha('a'), "cloud");
    converge(std::slice::from_ref(&v1), &mut o);
    // Stage 0: the canary (first cloud host by id) only.
    let canary = staged(&v1, &sha('b'), 0);
    let p = plan(std::slice::from_ref(&canary), &o, &Failures::new());
    let progress = &p.progress[&canary.name];
    assert!(!progress.converged);
    assert_eq!(progress.stage_of[&host(1)], 0);
    assert_eq!(progress.stage_of[&host(2)], 1);
    assert_eq!(progress.stage_of[&host(0)], 2);
    assert!(
        p.steps.iter().all(|s| s.command.host() == Some(&host(1))),
        "{:#?}",
        p.steps
    );
    converge(std::slice::from_ref(&canary), &mut o);
    assert_eq!(digest_on(&o, 1), sha('b'));
    assert_eq!(digest_on(&o, 2), sha('a'));
    assert_eq!(digest_on(&o, 0), sha('a'));
    let p = plan(std::slice::from_ref(&canary), &o, &Failures::new());
    assert!(p.progress[&canary.name].converged);
    assert_eq!(p.progress[&canary.name].updated.len(), 1);
    // The last stage: everything on v2, and the old annotations gone.
    let all = staged(&v1, &sha('b'), 2);
    converge(std::slice::from_ref(&all), &mut o);
    for n in 0..3 {
        assert_eq!(digest_on(&o, n), sha('b'));
        let c = &o.hosts[&host(n)].components[0];
        assert_eq!(c.annotations["trellis.dev/app-version"], "v2");
    }
    // Rolled back: v1 everywhere again, at once.
    converge(std::slice::from_ref(&v1), &mut o);
    assert!((0..3).all(|n| digest_on(&o, n) == sha('a')));
}

#[test]
fn unreachable_hosts_keep_their_share_and_get_no_commands() {
    let mut o = lattice();
    let v1 = app("web", "v1", &sha('a'), "cloud");
    converge(std::slice::from_ref(&v1), &mut o);
    o.hosts.get_mut(&host(0)).unwrap().reachable = false;
    let p = plan(std::slice::from_ref(&v1), &o, &Failures::new());
    assert_eq!(p.steps, [], "nothing moves while the edge host is cut off");
    // A new version reaches the others; the cut-off host waits for it.
    let v2 = app("web", "v2", &sha('b'), "cloud");
    let p = plan(std::slice::from_ref(&v2), &o, &Failures::new());
    assert!(!p.steps.is_empty());
    assert!(
        p.steps.iter().all(|s| s.command.host() != Some(&host(0))),
        "{:#?}",
        p.steps
    );
}

fn link_at(o: &mut Observed, n: u8) -> &mut crate::model::LinkOutcome {
    o.hosts
        .get_mut(&host(n))
        .unwrap()
        .link_status
        .values_mut()
        .next()
        .expect("the host's provider has the link")
}

#[test]
fn a_link_is_deployed_only_once_every_provider_applied_it() {
    let mut o = lattice();
    let apps = [app("web", "v1", &sha('a'), "cloud")];
    converge(&apps, &mut o);
    // One host's listener cannot bind: failed with the provider's reason,
    // and nothing to send (that host retries by itself).
    *link_at(&mut o, 1) = Err("cannot listen on 127.0.0.1:8080: Address already in use".into());
    let p = plan(&apps, &o, &Failures::new());
    assert_eq!(p.steps, []);
    let status = &p.statuses[0];
    assert_eq!(status.state, StatusState::Failed);
    let message = status.message.as_deref().unwrap();
    assert!(
        message.starts_with("http: provider http on host")
            && message.contains("Address already in use"),
        "{message}"
    );
    let http = &status.components[1];
    assert_eq!(http.traits[1].kind, "link");
    assert_eq!(http.traits[1].state, StatusState::Failed);
    assert_eq!(
        http.traits[0].state,
        StatusState::Deployed,
        "the provider runs"
    );
    // Not reported yet: in motion, not deployed.
    o.hosts.get_mut(&host(1)).unwrap().link_status.clear();
    let p = plan(&apps, &o, &Failures::new());
    assert_eq!(p.statuses[0].state, StatusState::Reconciling);
    assert!(
        p.statuses[0]
            .message
            .as_deref()
            .unwrap()
            .contains("to apply the link")
    );
    // Applied (the port freed): deployed, with no command.
    providers_take_links(&mut o);
    let p = plan(&apps, &o, &Failures::new());
    assert_eq!(
        (p.steps.len(), p.statuses[0].state),
        (0, StatusState::Deployed)
    );
}

#[test]
fn a_link_is_deployed_only_once_the_hosts_of_its_ends_reach_its_revision() {
    let mut o = lattice();
    let apps = [app("web", "v1", &sha('a'), "cloud")];
    converge(&apps, &mut o);
    let key = o.links[0].key();
    o.link_revisions.insert(key, 7);
    for view in o.hosts.values_mut() {
        view.links_revision = 7;
    }
    // Host 2 runs an end of the link but has applied only revision 6.
    let behind = o.hosts.get_mut(&host(2)).unwrap();
    assert!(!behind.components.is_empty() || !behind.providers.is_empty());
    behind.links_revision = 6;
    let p = plan(&apps, &o, &Failures::new());
    assert_eq!(
        p.steps,
        [],
        "nothing to send: the host catches up by itself"
    );
    assert_eq!(p.statuses[0].state, StatusState::Reconciling);
    let message = p.statuses[0].message.as_deref().unwrap();
    assert!(message.contains("to apply the link"), "{message}");
    // Caught up: deployed, still with nothing to send.
    o.hosts.get_mut(&host(2)).unwrap().links_revision = 7;
    let p = plan(&apps, &o, &Failures::new());
    assert_eq!(
        (p.steps.len(), p.statuses[0].state),
        (0, StatusState::Deployed)
    );
}

#[test]
fn a_provider_that_does_not_serve_fails_its_scaler_with_the_reason() {
    let mut o = lattice();
    let apps = [app("web", "v1", &sha('a'), "cloud")];
    converge(&apps, &mut o);
    o.hosts.get_mut(&host(2)).unwrap().providers[0].failure =
        Some("process exited with exit status: 3; restarting in 2s".into());
    let p = plan(&apps, &o, &Failures::new());
    assert_eq!(p.steps, [], "its host restarts it");
    let http = &p.statuses[0].components[1];
    assert_eq!(http.traits[0].state, StatusState::Failed);
    let message = http.traits[0].message.as_deref().unwrap();
    assert!(message.contains("exit status: 3"), "{message}");
    assert_eq!(p.statuses[0].state, StatusState::Failed);
}
