//! Reading YAML into a [`Manifest`] while collecting every shape problem.
//!
//! serde stops at the first field that does not fit. A user with five
//! faults should hear of five, so the document is first read as plain
//! YAML and then taken apart piece by piece: a component whose shape is
//! wrong is reported (with its path) and left out, and the rest is still
//! read and checked.

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use super::humanize::humanize;
use super::types::{API_VERSION, Component, KIND, Manifest, Metadata, Policy, Spec};
use super::{ManifestError, Problem};

/// Parses and validates `yaml`: the manifest as far as it could be read,
/// and every shape and rule problem, with paths into the text as written
/// (a component left out for its shape keeps its place in the numbering).
/// `Err` only when the text is not YAML or not a mapping at all.
pub fn check(yaml: &str) -> Result<(Manifest, Vec<Problem>), ManifestError> {
    let (manifest, read) = read(yaml)?;
    let mut problems = read.problems;
    for mut p in super::validate(&manifest) {
        // A link to a component whose shape was wrong names a component
        // that exists; its own problem was reported.
        if p.path.ends_with(".target.name")
            && read
                .dropped
                .iter()
                .any(|d| p.message.contains(&format!("`{d}`")))
        {
            continue;
        }
        if let Some(rest) = p.path.strip_prefix("spec.components[")
            && let Some((index, tail)) = rest.split_once(']')
            && let Ok(index) = index.parse::<usize>()
            && let Some(original) = read.kept.get(index)
        {
            p.path = format!("spec.components[{original}]{tail}");
        }
        problems.push(p);
    }
    Ok((manifest, problems))
}

/// Parses `yaml`, returning the manifest as far as it could be read and the
/// shape problems found (rules are not checked: see [`check`]).
pub fn parse_report(yaml: &str) -> Result<(Manifest, Vec<Problem>), ManifestError> {
    read(yaml).map(|(m, r)| (m, r.problems))
}

fn read(yaml: &str) -> Result<(Manifest, Reader), ManifestError> {
    let value: Value = serde_yaml::from_str(yaml).map_err(|e| {
        let location = e.location();
        ManifestError::Syntax {
            message: e.to_string(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
        }
    })?;
    let Value::Mapping(top) = &value else {
        return Err(ManifestError::Syntax {
            message: "a manifest is a mapping with apiVersion, kind, metadata and spec".into(),
            line: None,
            column: None,
        });
    };
    if let Ok(m) = serde_yaml::from_value::<Manifest>(value.clone()) {
        let r = Reader {
            kept: (0..m.spec.components.len()).collect(),
            ..Reader::default()
        };
        return Ok((m, r));
    }
    let mut r = Reader::default();
    r.unknown_keys(top, "", &["apiVersion", "kind", "metadata", "spec"]);
    let api_version = r.field(top, "apiVersion", "", API_VERSION.to_owned());
    let kind = r.field(top, "kind", "", KIND.to_owned());
    let metadata = r.field(
        top,
        "metadata",
        "",
        Metadata {
            // A placeholder that passes the name rules: the real fault was
            // reported already.
            name: "app".into(),
            annotations: Default::default(),
            labels: Default::default(),
        },
    );
    let spec = match top.get("spec") {
        Some(Value::Mapping(spec)) => r.spec(spec),
        Some(_) => {
            r.push(
                "spec",
                "is not a mapping; write `spec:` with `components:` under it",
            );
            empty_spec()
        }
        None => {
            r.push(
                "spec",
                "is missing; add `spec:` with a list of `components:`",
            );
            empty_spec()
        }
    };
    let manifest = Manifest {
        api_version,
        kind,
        metadata,
        spec,
    };
    Ok((manifest, r))
}

fn empty_spec() -> Spec {
    Spec {
        components: Vec::new(),
        policies: Vec::new(),
        rollout: None,
    }
}

#[derive(Default)]
struct Reader {
    problems: Vec<Problem>,
    /// Index as written of each component read.
    kept: Vec<usize>,
    /// Names of components left out for their shape.
    dropped: Vec<String>,
}

impl Reader {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn unknown_keys(&mut self, map: &Mapping, at: &str, known: &[&str]) {
        for key in map.keys() {
            let name = key.as_str().unwrap_or("?");
            if !known.contains(&name) {
                self.push(
                    join(at, name),
                    format!("is not a field here; use {}", known.join(", ")),
                );
            }
        }
    }

    /// `map[key]` read as `T`; `default` (after a problem) when missing or
    /// of the wrong shape.
    fn field<T: DeserializeOwned>(&mut self, map: &Mapping, key: &str, at: &str, default: T) -> T {
        let path = join(at, key);
        match map.get(key) {
            None => {
                self.push(path, "is missing");
                default
            }
            Some(v) => self.value(v.clone(), &path).unwrap_or(default),
        }
    }

    fn value<T: DeserializeOwned>(&mut self, v: Value, path: &str) -> Option<T> {
        match serde_yaml::from_value(v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.push(path, humanize(&e.to_string()));
                None
            }
        }
    }

    fn spec(&mut self, spec: &Mapping) -> Spec {
        self.unknown_keys(spec, "spec", &["components", "policies", "rollout"]);
        let components = match spec.get("components") {
            Some(Value::Sequence(items)) => {
                let mut read = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match self.value::<Component>(item.clone(), &item_path(i, item)) {
                        Some(c) => {
                            read.push(c);
                            self.kept.push(i);
                        }
                        None => {
                            let name = item.get("name").and_then(Value::as_str);
                            self.dropped.extend(name.map(str::to_owned));
                        }
                    }
                }
                read
            }
            Some(_) => {
                self.push(
                    "spec.components",
                    "is not a list; write one `- name: ...` per component",
                );
                Vec::new()
            }
            None => {
                self.push("spec.components", "is missing; list at least one component");
                Vec::new()
            }
        };
        let policies = match spec.get("policies") {
            Some(Value::Sequence(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    self.value::<Policy>(p.clone(), &format!("spec.policies[{i}]"))
                })
                .collect(),
            Some(_) => {
                self.push("spec.policies", "is not a list");
                Vec::new()
            }
            None => Vec::new(),
        };
        let rollout = spec
            .get("rollout")
            .and_then(|r| self.value(r.clone(), "spec.rollout"));
        Spec {
            components,
            policies,
            rollout,
        }
    }
}

/// `spec.components[i] (name)`, as [`super::component_path`] writes it.
fn item_path(i: usize, item: &Value) -> String {
    match item.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => format!("spec.components[{i}] ({name})"),
        _ => format!("spec.components[{i}]"),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}
