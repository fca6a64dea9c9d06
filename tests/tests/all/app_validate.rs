//! `trellis app validate`: offline manifest checks (no NATS needed).

use std::path::Path;
use std::process::{Command, Output};

use trellis_tests::{trellis_bin, workspace_root};

fn validate(file: &Path, json: bool) -> anyhow::Result<Output> {
    let mut cmd = Command::new(trellis_bin());
    cmd.args(["app", "validate"]).arg(file);
    if json {
        cmd.args(["--output", "json"]);
    }
    Ok(cmd.output()?)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_examples_are_valid() -> anyhow::Result<()> {
    for (name, app, version, components) in [
        ("hello.yaml", "hello", "v1", 2),
        ("kv-counter.yaml", "kv-counter", "v1", 3),
        ("outbound.yaml", "outbound", "v1", 3),
        ("echo-messaging.yaml", "echo-messaging", "v1", 2),
        ("blobstore.yaml", "blobstore", "v1", 3),
        ("http-blobstore.yaml", "http-blobstore", "v1", 3),
        ("dog-fetcher.yaml", "dog-fetcher", "v0.0.1", 3),
    ] {
        let file = workspace_root().join("examples").join(name);
        let out = validate(&file, false)?;
        assert!(out.status.success(), "{name}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!(
                "valid (app {app}, version {version}, {components} components)"
            )),
            "{stdout}"
        );

        let out = validate(&file, true)?;
        assert!(out.status.success(), "{name}: {}", text(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        assert_eq!(report["valid"], true, "{report}");
        assert_eq!(report["app"], app, "{report}");
        assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    }
    Ok(())
}

const BROKEN: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: broken, annotations: { version: v1 } }
spec:
  components:
    - name: web
      type: component
      properties: { image: file://./missing.wasm }
      traits:
        - { type: spreadscaler, properties: { instances: 1, spread: [ { name: a, weight: 0 } ] } }
    - name: http
      type: capability
      properties: { image: builtin://http-clinet }
      traits:
        - type: link
          properties:
            target: { name: wbe }
            namespace: WASI
            package: http
            interfaces: [incoming-handler]
"#;

#[test]
fn a_broken_manifest_lists_every_problem_and_fails() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, BROKEN)?;
    let expected = [
        "spec.components[0] (web).traits[0] (spreadscaler).properties.spread[0].weight",
        "spec.components[1] (http).properties.image",
        "spec.components[1] (http).traits[0] (link).properties.target.name",
        "spec.components[1] (http).traits[0] (link).properties.namespace",
        "spec.components[0] (web).properties.image",
    ];

    let out = validate(&file, false)?;
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    for path in expected {
        assert!(
            all.contains(&format!("{path}: ")),
            "missing {path} in:\n{all}"
        );
    }
    assert!(all.contains("5 problems in"), "{all}");
    assert!(all.contains("missing.wasm"), "{all}");

    let out = validate(&file, true)?;
    assert!(!out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["app"], "broken", "{report}");
    let paths: Vec<&str> = report["problems"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["path"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(paths, expected, "{report}");
    Ok(())
}

#[test]
fn a_yaml_error_names_its_position() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "apiVersion: core.oam.dev/v1beta1\nkind: [\n")?;
    let out = validate(&file, false)?;
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("line"), "{all}");
    Ok(())
}

/// Two faults of shape (an unknown field, a word that is no type) and
/// three of rules: all five in one pass, in words a user knows.
const FIVE_FAULTS: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: five }
spec:
  components:
    - name: web
      type: component
      properties: { image: file://./web.wasm, imagePullPolicy: Always }
    - name: worker
      type: function
      properties: { image: file://./worker.wasm }
    - name: api
      type: component
      properties: { image: file://./api.wasm }
      traits:
        - { type: spreadscaler, properties: { instances: many } }
        - { type: link, properties: { target: dbb, namespace: wasi, package: keyvalue, interfaces: [store] } }
    - name: db
      type: capability
      properties: { image: ghcr.io/acme/postgres-provider:1.2 }
"#;

#[test]
fn five_different_faults_are_all_named_in_one_validate() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for wasm in ["web", "worker", "api"] {
        std::fs::write(dir.path().join(format!("{wasm}.wasm")), b"\0asm")?;
    }
    let file = dir.path().join("five.yaml");
    std::fs::write(&file, FIVE_FAULTS)?;
    let out = validate(&file, true)?;
    assert!(!out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let problems: Vec<(String, String)> = report["problems"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| (p["path"].to_string(), p["message"].to_string()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(problems.len(), 5, "{report:#}");
    for (path, words) in [
        ("spec.components[0] (web)", "imagePullPolicy"),
        ("spec.components[1] (worker)", "function"),
        (
            "spec.components[2] (api).traits[0] (spreadscaler).properties",
            "whole number",
        ),
        (
            "spec.components[2] (api).traits[1] (link).properties.target.name",
            "dbb",
        ),
        ("spec.components[3] (db).properties.image", "builtin://"),
    ] {
        assert!(
            problems
                .iter()
                .any(|(p, m)| p == &format!("\"{path}\"") && m.contains(words)),
            "no problem at {path} about {words}: {report:#}"
        );
    }
    let all = report.to_string();
    for rust in ["struct ", "enum ", "u32", "ComponentKind", "Properties"] {
        assert!(!all.contains(rust), "Rust words ({rust}) in {all}");
    }
    let out = validate(&file, false)?;
    assert!(text(&out).contains("5 problems in"), "{}", text(&out));
    Ok(())
}
