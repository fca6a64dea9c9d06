use proptest::prelude::*;

use super::*;

const EXAMPLE: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: hello, annotations: { version: v1 } }
spec:
  components:
    - name: hello
      type: component
      properties: { image: file://./build/hello_http.wasm }
      traits:
        - type: spreadscaler
          properties:
            instances: 4
            spread:
              - { name: edge, requirements: { zone: edge }, weight: 75 }
              - { name: cloud, requirements: { zone: cloud }, weight: 25 }
    - name: http
      type: capability
      properties: { image: builtin://http-server }
      traits:
        - type: daemonscaler
          properties: { instances: 1 }
        - type: link
          properties:
            target: { name: hello }
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: { config: [ { name: http-cfg, properties: { address: 127.0.0.1:8080 } } ] }
"#;

fn paths(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn the_design_brief_example_is_valid() {
    let m = parse(EXAMPLE).unwrap();
    assert_eq!(validate(&m), vec![]);
    assert_eq!(m.name(), "hello");
    assert_eq!(m.version(), Some("v1"));
    assert_eq!(m.spec.components.len(), 2);
    assert_eq!(m.component_id(&m.spec.components[1]), "hello-http");
    let Trait::SpreadScaler(s) = &m.spec.components[0].traits[0] else {
        panic!("not a spreadscaler: {:?}", m.spec.components[0].traits[0]);
    };
    assert_eq!(s.instances, 4);
    assert_eq!(s.spread[0].weight, Some(75));
    let Trait::Link(link) = &m.spec.components[1].traits[1] else {
        panic!("not a link");
    };
    assert_eq!(link.link_name(), "default");
    let source = link.source.as_ref().unwrap();
    assert_eq!(source.config[0].name, "http-cfg");
}

#[test]
fn serializing_and_parsing_again_gives_the_same_manifest() {
    let m = parse(EXAMPLE).unwrap();
    let yaml = serde_yaml::to_string(&m).unwrap();
    assert_eq!(parse(&yaml).unwrap(), m);
}

#[test]
fn five_mistakes_are_all_reported_with_their_paths() {
    let yaml = EXAMPLE
        .replace("kind: Application", "kind: App")
        .replace("builtin://http-server", "builtin://http-serve")
        .replace("weight: 25", "weight: 0")
        .replace("target: { name: hello }", "target: { name: helo }")
        .replace("[incoming-handler]", "[Incoming_Handler]");
    let problems = validate(&parse(&yaml).unwrap());
    assert_eq!(
        paths(&problems),
        vec![
            "kind",
            "spec.components[0] (hello).traits[0] (spreadscaler).properties.spread[1].weight",
            "spec.components[1] (http).properties.image",
            "spec.components[1] (http).traits[1] (link).properties.target.name",
            "spec.components[1] (http).traits[1] (link).properties.interfaces[0]",
        ],
        "{problems:#?}"
    );
    assert!(
        problems[2].message.contains("http-server"),
        "{}",
        problems[2]
    );
    assert!(
        problems[3].message.contains("hello, http"),
        "{}",
        problems[3]
    );
}

#[test]
fn yaml_errors_carry_a_position() {
    let err = parse("apiVersion: x\nkind: [unclosed\n").unwrap_err();
    let ManifestError::Syntax {
        line,
        column,
        message,
    } = err
    else {
        panic!("not a syntax error: {err}");
    };
    assert!(line.is_some() && column.is_some(), "{message}");
    assert!(message.contains("line"), "{message}");

    let missing = EXAMPLE.replace(
        "properties: { image: builtin://http-server }",
        "properties: { imag: builtin://http-server }",
    );
    let err = parse(&missing).unwrap_err();
    assert!(err.to_string().contains("imag"), "{err}");
    assert!(
        matches!(err, ManifestError::Syntax { line: Some(_), .. }),
        "{err}"
    );
}

#[test]
fn malformed_traits_are_problems_and_custom_ones_warnings() {
    let yaml = EXAMPLE
        .replace("type: daemonscaler", "type: autoscaler")
        .replace("instances: 4", "instances: 4\n            replicaz: 2");
    let m = parse(&yaml).unwrap();
    let problems = validate(&m);
    assert_eq!(
        paths(&problems),
        vec!["spec.components[0] (hello).traits[0] (spreadscaler).properties"],
        "{problems:#?}"
    );
    assert!(problems[0].message.contains("replicaz"), "{}", problems[0]);
    let warned = warnings(&m);
    assert_eq!(
        paths(&warned),
        vec!["spec.components[1] (http).traits[0] (autoscaler).type"],
        "{warned:#?}"
    );
    assert!(warned[0].message.contains("ignored"), "{}", warned[0]);
}

#[test]
fn names_ids_scalers_and_configs_are_checked() {
    let yaml = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: app, annotations: { version: "v 1" } }
spec:
  components:
    - name: a
      type: component
      properties:
        image: builtin://keyvalue-sled
        id: app-b
        config: [ { name: c, properties: { k: "1" } } ]
      traits:
        - { type: spreadscaler, properties: { instances: 1 } }
        - { type: daemonscaler, properties: { instances: 0 } }
    - name: a
      type: capability
      properties:
        image: ftp://x
        config: [ { name: c, properties: { k: "2" } }, { name: "bad.name" } ]
    - name: b
      type: capability
      properties: { image: "nats://artifacts/sha256-00" }
"#;
    let problems = validate(&parse(yaml).unwrap());
    let a0 = "spec.components[0] (a)";
    let a1 = "spec.components[1] (a)";
    assert_eq!(
        paths(&problems),
        vec![
            "metadata.annotations.version".to_owned(),
            format!("{a0}.properties.image"),
            format!("{a0}.traits[1] (daemonscaler)"),
            format!("{a0}.traits[1] (daemonscaler).properties.instances"),
            format!("{a1}.name"),
            format!("{a1}.properties.image"),
            format!("{a1}.properties.config[0].properties"),
            format!("{a1}.properties.config[1].name"),
            "spec.components[2] (b).name".to_owned(),
        ],
        "{problems:#?}"
    );
    assert!(problems[8].message.contains("app-b"), "{}", problems[8]);
}

#[test]
fn values_over_the_protocol_limits_are_problems_before_anything_is_stored() {
    let long_value = "v".repeat(trellis_protocol::limits::MAX_CONFIG_VALUE_BYTES + 1);
    let yaml = EXAMPLE
        .replace(
            "address: 127.0.0.1:8080",
            &format!("address: 127.0.0.1:8080, \"a*\": x, big: {long_value}"),
        )
        .replace(
            "file://./build/hello_http.wasm",
            &format!(
                "file://./{}.wasm",
                "x".repeat(trellis_protocol::limits::MAX_IMAGE_BYTES)
            ),
        );
    let problems = validate(&parse(&yaml).unwrap());
    let config =
        "spec.components[1] (http).traits[1] (link).properties.source.config[0].properties";
    assert_eq!(
        paths(&problems),
        vec!["spec.components[0] (hello).properties.image", config],
        "{problems:#?}"
    );
    assert!(problems[0].message.contains("limit"), "{}", problems[0]);
    // The first bad key is named, with what keys may be.
    assert!(problems[1].message.contains("a*"), "{}", problems[1]);
}

#[test]
fn a_bad_app_name_is_reported_once() {
    let yaml = EXAMPLE.replace("name: hello, annotations", "name: hel.lo, annotations");
    let problems = validate(&parse(&yaml).unwrap());
    assert_eq!(paths(&problems), vec!["metadata.name"], "{problems:#?}");
}

#[test]
fn image_schemes() {
    assert_eq!(
        ImageRef::parse("file://./a.wasm"),
        Ok(ImageRef::File("./a.wasm".into()))
    );
    assert_eq!(
        ImageRef::parse("nats://b/k"),
        Ok(ImageRef::Nats("b/k".into()))
    );
    assert!(ImageRef::parse("a.wasm").is_err());
    assert!(ImageRef::parse("file://").is_err());
    // No registry part: a typo, not a reference; the error says what works.
    let err = ImageRef::parse("oci://x").unwrap_err();
    assert!(
        err.contains("not a registry") || err.contains("REGISTRY/"),
        "{err}"
    );
    assert!(
        err.contains("trellis push FILE") && err.contains("file://"),
        "{err}"
    );
    let err = ImageRef::parse("wasmcloud/hello:1").unwrap_err();
    assert!(err.contains("not a registry"), "{err}");
    // OCI references as wasmCloud writes them, bare or after oci://.
    let digest = format!("sha256:{}", "a".repeat(64));
    for image in [
        "ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0".to_owned(),
        "127.0.0.1:5000/demo/hello:0.1.0".to_owned(),
        "localhost/x".to_owned(),
        format!("ghcr.io/org/repo:1.0@{digest}"),
    ] {
        assert_eq!(ImageRef::parse(&image), Ok(ImageRef::Oci(image.clone())));
        let with_scheme = format!("oci://{image}");
        assert_eq!(
            ImageRef::parse(&with_scheme),
            Ok(ImageRef::Oci(image.clone()))
        );
        assert_eq!(ImageRef::Oci(image).to_string(), with_scheme);
    }
    assert!(ImageRef::parse("ghcr.io/org/repo@sha256:abc").is_err());
    assert_eq!(
        ImageRef::parse("wasmcloud+builtin://http-server"),
        Ok(ImageRef::Builtin("http-server".into()))
    );
}

proptest! {
    #[test]
    fn any_lattice_safe_app_and_component_names_validate(
        app in "[a-zA-Z0-9_-]{1,40}",
        names in proptest::collection::btree_set("[a-z][a-z0-9-]{0,20}", 1..5),
        instances in 0u32..10,
    ) {
        let components: Vec<Component> = names
            .iter()
            .map(|name| Component {
                name: name.clone(),
                kind: ComponentKind::Component,
                properties: Properties {
                    image: format!("file://{name}.wasm"),
                    application: None,
                    id: None,
                    config: vec![],
                    secrets: vec![],
                    reuse: None,
                },
                traits: vec![Trait::SpreadScaler(SpreadScalerProperties {
                    instances,
                    spread: vec![],
                })],
            })
            .collect();
        let m = Manifest {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            metadata: Metadata { name: app, annotations: Default::default(), labels: Default::default() },
            spec: Spec {
                components,
                policies: vec![],
                rollout: None,
            },
        };
        prop_assert_eq!(validate(&m), vec![]);
        let yaml = serde_yaml::to_string(&m).unwrap();
        prop_assert_eq!(parse(&yaml).unwrap(), m);
    }

    #[test]
    fn parse_never_panics(yaml in "\\PC{0,200}") {
        let _ = parse(&yaml);
    }
}
