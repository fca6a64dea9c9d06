//! Planning manifests written for wadm: unscaled providers, wasmCloud
//! provider images, per-interface links, shared apps.

use trellis_protocol::signature::ComponentTypes;
use trellis_protocol::wadm::{AppStatus, AppVersion, StatusState};
use trellis_protocol::{AppName, HostId};

use super::*;
use crate::manifest;
use crate::model::HostView;

fn deployed(yaml: &str) -> DeployedApp {
    let (manifest, problems) = manifest::check(yaml).unwrap();
    assert_eq!(problems, vec![], "{yaml}");
    DeployedApp {
        name: AppName::new(manifest.name()).unwrap(),
        version: AppVersion::new("v1").unwrap(),
        manifest,
        staged: None,
    }
}

fn one_host() -> Observed {
    let mut o = Observed::default();
    let id = HostId::new(format!("NA{}", "C".repeat(54))).unwrap();
    o.hosts.insert(id, HostView::default());
    o
}

const SHARED: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: pong-app
  annotations: { experimental.wasmcloud.dev/shared: "true" }
spec:
  components:
    - name: pong
      type: component
      properties: { image: "nats://ART/sha256-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" }
      traits: [ { type: spreadscaler, properties: { instances: 1 } } ]
"#;

const USER: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: ping-app }
spec:
  components:
    - name: ping
      type: component
      properties: { image: "nats://ART/sha256-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" }
      traits:
        - type: spreadscaler
          properties: { replicas: 1 }
        - type: link
          properties: { target: pong, namespace: example, package: pong, interfaces: [pingpong] }
        - type: link
          properties: { target: kv, namespace: wasi, package: keyvalue, interfaces: [atomics] }
        - type: link
          properties: { target: kv, namespace: wasi, package: keyvalue, interfaces: [store] }
    - name: pong
      type: component
      properties:
        application: { name: pong-app, component: pong }
    - name: kv
      type: capability
      properties: { image: ghcr.io/wasmcloud/keyvalue-redis:0.28.1 }
    - name: http
      type: capability
      properties: { image: ghcr.io/wasmcloud/http-server:0.23.0 }
      traits:
        - type: link
          properties:
            target: ping
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source_config: [ { name: ping-listen, properties: { address: "127.0.0.1:0" } } ]
"#;

#[test]
fn a_wadm_manifest_plans_as_wadm_would() {
    let mut o = one_host();
    let apps = [deployed(SHARED), deployed(USER)];
    let p = plan(&apps, &o, &Failures::new());
    let starts: Vec<(&str, &str)> = p
        .steps
        .iter()
        .filter_map(|s| match &s.command {
            Command::StartProvider { request, .. } => {
                Some((request.provider_id.as_str(), request.image.as_str()))
            }
            _ => None,
        })
        .collect();
    // Unscaled providers run once, on their builtin.
    assert_eq!(
        starts,
        vec![
            ("ping-app-http", "builtin://http-server"),
            ("ping-app-kv", "builtin://keyvalue-nats"),
        ],
        "{:#?}",
        p.steps
    );
    let links: Vec<&trellis_protocol::link::Link> = p
        .steps
        .iter()
        .filter_map(|s| match &s.command {
            Command::PutLink(l) => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(links.len(), 3, "{links:#?}");
    let kv = links
        .iter()
        .find(|l| l.target_id.as_str() == "ping-app-kv")
        .unwrap();
    let kv_ifaces: Vec<&str> = kv.interfaces.iter().map(|i| i.as_str()).collect();
    assert_eq!(kv_ifaces, ["atomics", "store"]);
    // The stand-in names the shared app's component; nothing else runs it.
    assert!(
        links
            .iter()
            .any(|l| l.target_id.as_str() == "pong-app-pong")
    );
    assert!(!p.steps.iter().any(|s| matches!(&s.command,
        Command::ScaleComponent { request, .. } if request.component_id.as_str() == "ping-app-pong")));
    let user = status_of(&p, "ping-app");
    let http = user.components.iter().find(|c| c.name == "http").unwrap();
    assert!(
        http.traits.iter().any(|t| t.kind == "image"
            && t.message
                .as_deref()
                .unwrap_or("")
                .contains("builtin://http-server")),
        "{http:#?}"
    );
    // Hosts do it; the next plan is empty and all is deployed.
    super::tests::apply(&mut o, &p.steps);
    let again = plan(&apps, &o, &Failures::new());
    assert_eq!(again.steps, [], "{:#?}", again.steps);
    for s in &again.statuses {
        assert_eq!(s.state, StatusState::Deployed, "{s:#?}");
    }
}

/// The status the plan gives app `name`.
fn status_of<'a>(p: &'a Plan, name: &str) -> &'a AppStatus {
    p.statuses
        .iter()
        .find(|s| s.name.as_str() == name)
        .unwrap_or_else(|| panic!("no status for {name}"))
}

#[test]
fn a_stand_in_without_its_shared_app_fails_with_the_reason() {
    let o = one_host();
    let apps = [deployed(USER)];
    let p = plan(&apps, &o, &Failures::new());
    let user = &p.statuses[0];
    let pong = user.components.iter().find(|c| c.name == "pong").unwrap();
    assert_eq!(pong.state, StatusState::Failed, "{pong:#?}");
    let message = format!("{pong:?}");
    assert!(message.contains("shared app `pong-app`"), "{message}");
}

#[test]
fn a_link_to_a_component_that_does_not_export_its_interface_fails_in_status() {
    let mut o = one_host();
    let apps = [deployed(SHARED), deployed(&USER.replace(
        "        application: { name: pong-app, component: pong }",
        "        image: \"nats://ART/sha256-cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"\n      traits: [ { type: spreadscaler, properties: { instances: 1 } } ]",
    ))];
    let p = plan(&apps, &o, &Failures::new());
    super::tests::apply(&mut o, &p.steps);
    let exports = |o: &mut Observed, list: &[&str]| {
        for h in o.hosts.values_mut() {
            for c in h
                .components
                .iter_mut()
                .filter(|c| c.id.as_str() == "ping-app-pong")
            {
                c.exports = list.iter().map(|s| s.to_string()).collect();
            }
        }
    };
    exports(&mut o, &["trellis:examples/shapes@0.1.0"]);
    let p = plan(&apps, &o, &Failures::new());
    let user = status_of(&p, "ping-app");
    let ping = user.components.iter().find(|c| c.name == "ping").unwrap();
    let link = &ping.traits[1];
    assert_eq!(link.state, StatusState::Failed, "{ping:#?}");
    let message = link.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("does not export example:pong/pingpong")
            && message.contains("trellis:examples/shapes@0.1.0"),
        "{message}"
    );
    exports(
        &mut o,
        &[
            "example:pong/pingpong@0.1.0",
            "trellis:examples/shapes@0.1.0",
        ],
    );
    let p = plan(&apps, &o, &Failures::new());
    let user = status_of(&p, "ping-app");
    assert_eq!(user.state, StatusState::Deployed, "{user:#?}");

    // With both ends' function types known (by digest), the link is
    // checked function by function.
    let digest = |o: &Observed, id: &str| {
        o.hosts
            .values()
            .flat_map(|h| &h.components)
            .find(|c| c.id.as_str() == id)
            .map(|c| c.digest.clone())
            .unwrap()
    };
    let functions = |name: &str, ty: &str| {
        let ping = [("ping".to_owned(), ty.to_owned())].into_iter().collect();
        [(name.to_owned(), ping)].into_iter().collect()
    };
    let (source, target) = (digest(&o, "ping-app-ping"), digest(&o, "ping-app-pong"));
    assert_ne!(source, target);
    let with_types = |o: &mut Observed, exported: &str| {
        o.types.insert(
            source.clone(),
            ComponentTypes {
                imports: functions("example:pong/pingpong", "func() -> string"),
                ..Default::default()
            },
        );
        o.types.insert(
            target.clone(),
            ComponentTypes {
                exports: functions("example:pong/pingpong@0.1.0", exported),
                ..Default::default()
            },
        );
    };
    with_types(&mut o, "func() -> u32");
    let p = plan(&apps, &o, &Failures::new());
    let user = status_of(&p, "ping-app");
    let ping = user.components.iter().find(|c| c.name == "ping").unwrap();
    let link = &ping.traits[1];
    assert_eq!(link.state, StatusState::Failed, "{ping:#?}");
    let message = link.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("does not export what ping-app-ping imports through the link")
            && message.contains("imports it as `func() -> string`")
            && message.contains("exports it as `func() -> u32`"),
        "{message}"
    );
    with_types(&mut o, "func() -> string");
    let p = plan(&apps, &o, &Failures::new());
    let user = status_of(&p, "ping-app");
    assert_eq!(user.state, StatusState::Deployed, "{user:#?}");
}
