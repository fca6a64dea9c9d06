//! What a manifest says that Trellis reads but does not act on as written:
//! told to the user, never a refusal (as wadm warns and goes on).

use super::Problem;
use super::component_path;
use super::providers::builtin_for_image;
use super::types::{ComponentKind, Manifest, SECRET_POLICY_TYPE, Trait};

/// Every warning for `m`, each with its path.
pub fn warnings(m: &Manifest) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, p) in m.spec.policies.iter().enumerate() {
        if p.kind != SECRET_POLICY_TYPE {
            out.push(Problem::new(
                format!("spec.policies[{i}].type"),
                format!(
                    "policy type `{}` is not one Trellis acts on; it is kept and ignored",
                    p.kind
                ),
            ));
        }
    }
    for (i, c) in m.spec.components.iter().enumerate() {
        let at = component_path(i, c);
        if c.kind == ComponentKind::Capability
            && let Some((_, note)) = builtin_for_image(&c.properties.image)
        {
            out.push(Problem::new(format!("{at}.properties.image"), note));
        }
        for (t, tr) in c.traits.iter().enumerate() {
            let at = format!("{at}.traits[{t}] ({})", tr.kind());
            match tr {
                Trait::Link(p) if !p.deprecated.is_empty() => out.push(Problem::new(
                    format!("{at}.properties"),
                    format!(
                        "{} is wadm's older link syntax, read as `target: {{name, config}}` and \
                         `source: {{config}}`; write it that way, the old one may go",
                        p.deprecated
                            .iter()
                            .map(|d| format!("`{d}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
                Trait::Invalid(raw) if raw.error.is_none() => out.push(Problem::new(
                    format!("{at}.type"),
                    format!(
                        "custom trait type `{}` is not one Trellis acts on (spreadscaler, \
                         daemonscaler, link); it is kept and ignored",
                        raw.kind
                    ),
                )),
                _ => {}
            }
        }
    }
    out
}
