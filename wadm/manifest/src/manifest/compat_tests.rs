//! Manifests as wasmCloud and wadm write them.

use super::*;

fn report(yaml: &str) -> (Manifest, Vec<Problem>) {
    check(yaml).unwrap()
}

#[test]
fn five_faults_are_all_named_in_one_pass() {
    let yaml = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: faulty }
spec:
  components:
    - name: a
      type: component
      properties: { image: file://a.wasm, colour: blue }
    - name: b
      type: widget
      properties: { image: file://b.wasm }
    - name: c
      type: component
      properties: { image: file://c.wasm }
      traits:
        - type: spreadscaler
          properties: { instances: -1 }
        - type: link
          properties: { target: nowhere, namespace: wasi, package: keyvalue, interfaces: [store] }
    - name: d
      type: capability
      properties: { image: ghcr.io/acme/my-provider:1.0 }
"#;
    let (_, problems) = report(yaml);
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 5, "{text:#?}");
    for (path, words) in [
        ("spec.components[0] (a)", "colour"),
        ("spec.components[1] (b)", "widget"),
        (
            "spec.components[2] (c).traits[0] (spreadscaler).properties",
            "whole number",
        ),
        (
            "spec.components[2] (c).traits[1] (link).properties.target.name",
            "nowhere",
        ),
        (
            "spec.components[3] (d).properties.image",
            "builtin://http-server",
        ),
    ] {
        assert!(
            problems
                .iter()
                .any(|p| p.path == path && p.message.contains(words)),
            "no problem at {path} mentioning {words}: {text:#?}"
        );
    }
    for t in &text {
        for rust in ["struct", "enum ", "u32", "LinkTarget", "ComponentKind"] {
            assert!(!t.contains(rust), "Rust words in `{t}`");
        }
    }
}

#[test]
fn old_link_syntax_is_read_and_warned_about() {
    let yaml = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: old }
spec:
  components:
    - name: hello
      type: actor
      properties: { image: file://hello.wasm }
      traits:
        - type: link
          properties:
            target: kv
            namespace: wasi
            package: keyvalue
            interfaces: [atomics]
            target_config: [ { name: bucket, properties: { bucket: b } } ]
        - type: link
          properties: { target: kv, namespace: wasi, package: keyvalue, interfaces: [store] }
    - name: kv
      type: capability
      properties: { image: ghcr.io/wasmcloud/keyvalue-nats:0.3.1 }
    - name: http
      type: capability
      properties: { image: ghcr.io/wasmcloud/http-server:0.23.0 }
      traits:
        - type: link
          properties:
            target: hello
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source_config: [ { name: listen, properties: { ADDRESS: 127.0.0.1:8000 } } ]
"#;
    let (m, problems) = report(yaml);
    assert_eq!(problems, vec![], "{problems:#?}");
    let Trait::Link(link) = &m.spec.components[0].traits[0] else {
        panic!("not a link");
    };
    assert_eq!(link.target.name, "kv");
    assert_eq!(link.target.config[0].name, "bucket");
    let Trait::Link(http) = &m.spec.components[2].traits[0] else {
        panic!("not a link");
    };
    assert_eq!(http.source.as_ref().unwrap().config[0].name, "listen");
    let warned = warnings(&m);
    let paths: Vec<&str> = warned.iter().map(|w| w.path.as_str()).collect();
    assert!(
        paths.contains(&"spec.components[0] (hello).traits[0] (link).properties")
            && paths.contains(&"spec.components[1] (kv).properties.image")
            && paths.contains(&"spec.components[2] (http).traits[0] (link).properties"),
        "{warned:#?}"
    );
    // Written back in the current syntax, and read again the same.
    let yaml = serde_yaml::to_string(&m).unwrap();
    assert!(
        !yaml.contains("target_config") && !yaml.contains("source_config"),
        "{yaml}"
    );
    let again = parse(&yaml).unwrap();
    assert_eq!(again.spec.components[0].traits.len(), 2);
    assert!(
        warnings(&again)
            .iter()
            .all(|w| !w.message.contains("older link syntax"))
    );
}

#[test]
fn links_are_unique_per_interface_as_wadm_counts_them() {
    let base = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: links }
spec:
  components:
    - name: app
      type: component
      properties: { image: file://a.wasm }
      traits:
        - { type: link, properties: { target: redis, namespace: wasi, package: keyvalue, interfaces: [atomics] } }
        - { type: link, properties: { target: redis, namespace: wasi, package: keyvalue, interfaces: [SECOND] } }
    - name: redis
      type: capability
      properties: { image: builtin://keyvalue-sled }
"#;
    let (_, ok) = report(&base.replace("SECOND", "store"));
    assert_eq!(ok, vec![], "{ok:#?}");
    let (_, dup) = report(&base.replace("SECOND", "atomics"));
    assert_eq!(dup.len(), 1, "{dup:#?}");
    assert!(
        dup[0].message.contains("duplicate link") && dup[0].message.contains("atomics"),
        "{}",
        dup[0]
    );
}

#[test]
fn secrets_need_a_secret_policy_with_a_known_backend() {
    let yaml = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: secretive }
spec:
  policies:
    - { name: nats-kv, type: policy.secret.wasmcloud.dev/v1alpha1, properties: { backend: nats-kv } }
    - { name: vault, type: policy.secret.wasmcloud.dev/v1alpha1, properties: { backend: vault } }
    - { name: other, type: policy.example.dev/v1, properties: { a: b } }
  components:
    - name: app
      type: component
      properties:
        image: file://a.wasm
        secrets:
          - { name: api-password, properties: { policy: nats-kv, key: api_password } }
          - { name: missing, properties: { policy: nope, key: k } }
          - { name: bad-key, properties: { policy: nats-kv, key: "a/b" } }
"#;
    let (m, problems) = report(yaml);
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "spec.policies[1].properties.backend",
            "spec.components[0] (app).properties.secrets[1].properties.policy",
            "spec.components[0] (app).properties.secrets[2].properties.key",
        ],
        "{problems:#?}"
    );
    assert_eq!(
        m.spec.components[0].properties.secrets[0].properties.key,
        "api_password"
    );
    let warned = warnings(&m);
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert_eq!(warned[0].path, "spec.policies[2].type");
}

#[test]
fn shared_app_references_need_no_image() {
    let yaml = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: user }
spec:
  components:
    - name: pong
      type: component
      properties:
        application: { name: shared-pong, component: pong }
    - name: ping
      type: component
      properties: { image: file://ping.wasm }
      traits:
        - { type: link, properties: { target: { name: pong }, namespace: example, package: pong, interfaces: [pingpong] } }
    - name: http
      type: capability
      properties: { application: { name: shared-http, component: http } }
    - name: both
      type: component
      properties: { image: file://x.wasm, application: { name: shared-pong, component: pong } }
"#;
    let (m, problems) = report(yaml);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(
        problems[0].path,
        "spec.components[3] (both).properties.image"
    );
    assert_eq!(
        m.spec.components[0]
            .properties
            .application
            .as_ref()
            .unwrap()
            .name,
        "shared-pong"
    );
    let shared = "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: s\n  annotations: { experimental.wasmcloud.dev/shared: \"true\" }\nspec: { components: [ { name: c, type: component, properties: { image: file://c.wasm } } ] }\n";
    assert!(parse(shared).unwrap().is_shared());
}
