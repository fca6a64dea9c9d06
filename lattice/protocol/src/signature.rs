//! The function types of a component's custom interfaces
//! (`component.types.<host>`), and the check a link between two
//! components makes with them: every function the source imports through
//! the link must be exported by the target with the same type.
//!
//! Types travel as WIT-like text (`func(u32, list<u8>) -> result<string,
//! string>`), written by the host from the component's own type
//! information, so two components agree exactly when their texts are
//! equal and a mismatch can be shown to a person as it is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::ComponentId;
use crate::link::Link;

/// Most functions listed per interface; beyond it a host refuses the
/// request rather than answer with part of an interface.
pub const MAX_LISTED_FUNCTIONS: usize = 512;
/// Longest function type text; a longer one ends in `…` and a digest of
/// the whole, so equal types still compare equal.
pub const MAX_SIGNATURE_BYTES: usize = 1024;

/// Function name -> its type, for one interface.
pub type Functions = BTreeMap<String, String>;

/// `component.types.{host}` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentTypesRequest {
    /// The component, which must run on the host asked.
    pub component_id: ComponentId,
}

/// `component.types.{host}` reply: the functions of every interface the
/// component imports or exports outside `wasi`, keyed by the interface's
/// name as the component has it (`example:pong/pingpong@0.1.0`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentTypes {
    /// Exported interfaces.
    #[serde(default)]
    pub exports: BTreeMap<String, Functions>,
    /// Imported interfaces.
    #[serde(default)]
    pub imports: BTreeMap<String, Functions>,
}

/// `ns:pkg/iface@1.2.3` without its `@version`.
pub fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(name, _)| name)
}

/// The numeric parts of a name's version, for picking the highest (what a
/// callee does when it exports several versions); a name without one
/// sorts first.
pub fn version_of(name: &str) -> Vec<u64> {
    name.split_once('@')
        .map(|(_, version)| {
            version
                .split(['.', '-', '+'])
                .map(|part| part.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default()
}

/// What is wrong with `link` given both ends' types: one line per
/// problem, empty when every imported function the link covers is
/// exported by the target with the same type. An interface the source
/// does not import is not the target's problem (the link covers it for
/// nothing), so it is not reported.
pub fn link_mismatches(
    link: &Link,
    source: &ComponentTypes,
    target: &ComponentTypes,
) -> Vec<String> {
    let mut problems = Vec::new();
    for interface in &link.interfaces {
        let wanted = format!("{}:{}/{}", link.wit_namespace, link.wit_package, interface);
        let imported = source
            .imports
            .iter()
            .filter(|(name, _)| unversioned(name) == wanted);
        // The callee serves the highest version it exports.
        let exported = target
            .exports
            .iter()
            .filter(|(name, _)| unversioned(name) == wanted)
            .max_by(|a, b| version_of(a.0).cmp(&version_of(b.0)));
        for (_, functions) in imported {
            let Some((_, offered)) = exported else {
                let has: Vec<&str> = target.exports.keys().map(String::as_str).collect();
                problems.push(format!(
                    "{} imports {wanted}, which {} does not export (it exports {})",
                    link.source_id,
                    link.target_id,
                    if has.is_empty() {
                        "no custom interfaces".to_owned()
                    } else {
                        has.join(", ")
                    }
                ));
                break;
            };
            for (function, ty) in functions {
                match offered.get(function) {
                    Some(theirs) if theirs == ty => {}
                    Some(theirs) => problems.push(format!(
                        "{wanted}.{function}: {} imports it as `{ty}`, {} exports it as `{theirs}`",
                        link.source_id, link.target_id
                    )),
                    None => problems.push(format!(
                        "{wanted}.{function}: {} imports it as `{ty}`, {} exports no such function",
                        link.source_id, link.target_id
                    )),
                }
            }
        }
    }
    problems
}

impl crate::reply::ControlRequest for ComponentTypesRequest {
    type Reply = ComponentTypes;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LinkName;
    use crate::link::WitName;

    fn link(interfaces: &[&str]) -> Link {
        Link {
            source_id: ComponentId::new("relay").unwrap(),
            target_id: ComponentId::new("pong").unwrap(),
            name: LinkName::default(),
            wit_namespace: WitName::new("example").unwrap(),
            wit_package: WitName::new("pong").unwrap(),
            interfaces: interfaces
                .iter()
                .map(|i| WitName::new(*i).unwrap())
                .collect(),
            source_config: Vec::new(),
            target_config: Vec::new(),
            source_secrets: Vec::new(),
            target_secrets: Vec::new(),
            annotations: Default::default(),
        }
    }

    fn types(interfaces: &[(&str, &[(&str, &str)])]) -> BTreeMap<String, Functions> {
        interfaces
            .iter()
            .map(|(name, functions)| {
                let functions = functions
                    .iter()
                    .map(|(f, t)| ((*f).to_owned(), (*t).to_owned()))
                    .collect();
                ((*name).to_owned(), functions)
            })
            .collect()
    }

    fn source() -> ComponentTypes {
        ComponentTypes {
            imports: types(&[(
                "example:pong/pingpong@0.1.0",
                &[("ping", "func() -> string")],
            )]),
            ..Default::default()
        }
    }

    #[test]
    fn equal_types_pass_whatever_the_versions() {
        let target = ComponentTypes {
            exports: types(&[
                ("example:pong/pingpong@0.1.0", &[("ping", "func() -> u32")]),
                (
                    "example:pong/pingpong@0.2.0",
                    &[("ping", "func() -> string"), ("extra", "func()")],
                ),
            ]),
            ..Default::default()
        };
        assert_eq!(
            link_mismatches(&link(&["pingpong"]), &source(), &target),
            Vec::<String>::new(),
            "the highest exported version is the one called, and extra functions do no harm"
        );
    }

    #[test]
    fn each_problem_names_the_function_and_both_types() {
        let target = ComponentTypes {
            exports: types(&[("example:pong/pingpong@0.1.0", &[("ping", "func() -> u32")])]),
            ..Default::default()
        };
        assert_eq!(
            link_mismatches(&link(&["pingpong"]), &source(), &target),
            vec![
                "example:pong/pingpong.ping: relay imports it as `func() -> string`, pong \
                 exports it as `func() -> u32`"
            ]
        );
        let target = ComponentTypes {
            exports: types(&[("example:pong/pingpong@0.1.0", &[("pong", "func()")])]),
            ..Default::default()
        };
        assert_eq!(
            link_mismatches(&link(&["pingpong"]), &source(), &target),
            vec![
                "example:pong/pingpong.ping: relay imports it as `func() -> string`, pong \
                 exports no such function"
            ]
        );
        let target = ComponentTypes {
            exports: types(&[("example:other/x@1.0.0", &[])]),
            ..Default::default()
        };
        assert_eq!(
            link_mismatches(&link(&["pingpong"]), &source(), &target),
            vec![
                "relay imports example:pong/pingpong, which pong does not export (it exports \
                 example:other/x@1.0.0)"
            ]
        );
    }

    #[test]
    fn versions_are_compared_by_number() {
        assert_eq!(unversioned("a:b/c@0.2.10"), "a:b/c");
        assert_eq!(unversioned("a:b/c"), "a:b/c");
        assert!(version_of("a:b/c@0.2.10") > version_of("a:b/c@0.2.9"));
        assert!(version_of("a:b/c@0.1.0") > version_of("a:b/c"));
    }

    #[test]
    fn interfaces_the_source_does_not_import_are_not_checked() {
        let target = ComponentTypes::default();
        assert!(link_mismatches(&link(&["shapes"]), &source(), &target).is_empty());
    }
}
