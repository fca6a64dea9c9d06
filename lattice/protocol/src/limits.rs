//! Bounds on everything a user or peer puts into the lattice.
//!
//! Labels, annotations, configs, images and link lists end up in
//! heartbeats, ping and inventory replies and KV values, all of which must
//! fit in one NATS message (1 MiB by default). An unbounded label once made
//! a host's heartbeat too big to send, and wadm took the host for dead. So
//! every user-supplied string and list is checked here, at the edge, with
//! an error that names the field, the limit and what to do instead.
//!
//! The numbers leave room: a component description at every limit is
//! about 45 KiB, so an inventory page of [`INVENTORY_PAGE_BYTES`] always
//! holds at least one and still fits in a message.

use std::collections::BTreeMap;

use crate::id::ConfigName;
use crate::link::Link;
use crate::secret::{MAX_SECRET_REFS, MAX_SECRET_SELECTOR_BYTES, SecretRef};

/// Most labels a host may carry (including `os` and `arch`).
pub const MAX_LABELS: usize = 64;
/// Longest label key, in bytes.
pub const MAX_LABEL_KEY_BYTES: usize = 128;
/// Longest label value, in bytes.
pub const MAX_LABEL_VALUE_BYTES: usize = 256;

/// Most annotations on one component, provider or link.
pub const MAX_ANNOTATIONS: usize = 32;
/// Longest annotation key, in bytes.
pub const MAX_ANNOTATION_KEY_BYTES: usize = 128;
/// Longest annotation value, in bytes.
pub const MAX_ANNOTATION_VALUE_BYTES: usize = 1024;

/// Most named configs one workload or one side of a link may name.
pub const MAX_CONFIG_NAMES: usize = 32;
/// Most interfaces one link may cover.
pub const MAX_LINK_INTERFACES: usize = 64;

/// Most keys in one named config.
pub const MAX_CONFIG_ENTRIES: usize = 256;
/// Longest config key, in bytes.
pub const MAX_CONFIG_KEY_BYTES: usize = 256;
/// Longest config value, in bytes (room for a PEM certificate chain).
pub const MAX_CONFIG_VALUE_BYTES: usize = 64 * 1024;
/// Most bytes of keys and values together in one named config; it is one
/// KV value and one `config.get` reply.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// Longest image reference (`file://...`, `nats://...`, `builtin://...`).
pub const MAX_IMAGE_BYTES: usize = 1024;

/// How many bytes of components and providers one `host.inventory` page
/// (and one heartbeat) carries; a bigger inventory is paged.
pub const INVENTORY_PAGE_BYTES: usize = 256 * 1024;
/// The smallest page a caller may ask for (tests ask for small pages).
pub const MIN_INVENTORY_PAGE_BYTES: usize = 1024;
/// The most bytes of workloads one inventory page (and heartbeat) may
/// carry on a connection whose server takes `max_payload` bytes (0:
/// unknown): half of it, within the bounds above.
pub fn inventory_page_limit(max_payload: usize) -> usize {
    match max_payload {
        0 => INVENTORY_PAGE_BYTES,
        max => (max / 2).clamp(MIN_INVENTORY_PAGE_BYTES, INVENTORY_PAGE_BYTES),
    }
}

/// Most pages a reader follows before it gives up on a host whose
/// cursor never ends (a broken or hostile host).
pub const MAX_INVENTORY_PAGES: usize = 10_000;

/// Deepest nesting of one component-model value on the wire (a value in
/// a list in a record is at depth 3). Real WIT types nest a handful of
/// levels; the bound is what lets readers of values recurse safely.
pub const MAX_VALUE_DEPTH: usize = 64;
/// Most nodes in one sequence of values (a `list<u8>` is one node, so
/// this bounds structure, not payload bytes).
pub const MAX_VALUE_NODES: usize = 1_000_000;
/// Longest record field, variant case, enum case or flag name in a value,
/// in bytes.
pub const MAX_VALUE_NAME_BYTES: usize = 1024;
/// Most flags one flags value may set: the component model allows at
/// most 32 flags in a flags type.
pub const MAX_VALUE_FLAGS: usize = 32;

/// Most export or import names a host lists per component in its
/// inventory; a component with more is listed with the first ones and a
/// last entry that says how many were left out.
pub const MAX_LISTED_INTERFACES: usize = 128;

/// A value over one of the limits above, or a key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Too many entries in a list or map.
    #[error("{field} has {count} entries, more than the limit of {max}; {hint}")]
    TooMany {
        /// The field, as the user knows it.
        field: String,
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
        /// What to do instead.
        hint: &'static str,
    },
    /// A string longer than its limit.
    #[error("{field} is {len} bytes, more than the limit of {max}; {hint}")]
    TooLong {
        /// The field (and key), as the user knows it.
        field: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
        /// What to do instead.
        hint: &'static str,
    },
    /// A key with a character it may not contain.
    #[error("{field} `{shown}` contains {bad}; {allowed}")]
    BadChar {
        /// The field, as the user knows it.
        field: String,
        /// The offending key, shortened and escaped for display.
        shown: String,
        /// The first offending character, described.
        bad: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// An empty key.
    #[error("{field} has an empty key; keys must not be empty")]
    EmptyKey {
        /// The field, as the user knows it.
        field: String,
    },
}

/// Shows at most 64 characters of `s`, escaped, so an error about a huge
/// or binary value stays readable (and small).
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

fn describe(c: char) -> String {
    match c {
        '\0' => "a NUL character".into(),
        c if c.is_control() => format!("the control character {:?}", c),
        ' ' => "a space".into(),
        c => format!("`{c}`"),
    }
}

fn check_count(
    field: &str,
    count: usize,
    max: usize,
    hint: &'static str,
) -> Result<(), LimitError> {
    if count > max {
        return Err(LimitError::TooMany {
            field: field.to_owned(),
            count,
            max,
            hint,
        });
    }
    Ok(())
}

fn check_len(field: String, len: usize, max: usize, hint: &'static str) -> Result<(), LimitError> {
    if len > max {
        return Err(LimitError::TooLong {
            field,
            len,
            max,
            hint,
        });
    }
    Ok(())
}

/// Keys of labels and annotations: visible ASCII, no spaces, and no `*`
/// or `>` (they are matched in spread requirements and shown in tables).
const KEY_ALLOWED: &str = "keys are printable ASCII characters without spaces, `*` or `>` (e.g. `zone` or `example.com/team`)";

fn check_key(field: &str, key: &str, max: usize) -> Result<(), LimitError> {
    if key.is_empty() {
        return Err(LimitError::EmptyKey {
            field: field.to_owned(),
        });
    }
    check_len(
        format!("{field} key `{}`", shown(key)),
        key.len(),
        max,
        "use a shorter key",
    )?;
    if let Some(bad) = key
        .chars()
        .find(|c| !c.is_ascii_graphic() || *c == '*' || *c == '>')
    {
        return Err(LimitError::BadChar {
            field: format!("{field} key"),
            shown: shown(key),
            bad: describe(bad),
            allowed: KEY_ALLOWED,
        });
    }
    Ok(())
}

fn check_value(
    field: &str,
    key: &str,
    value: &str,
    max: usize,
    hint: &'static str,
) -> Result<(), LimitError> {
    check_len(format!("{field} `{}`", shown(key)), value.len(), max, hint)?;
    if let Some(bad) = value
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(LimitError::BadChar {
            field: format!("{field} `{}`", shown(key)),
            shown: shown(value),
            bad: describe(bad),
            allowed: "values are text without control characters (newlines and tabs are fine)",
        });
    }
    Ok(())
}

/// Checks a host's labels (after a put was applied, so the count is the
/// total).
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), LimitError> {
    check_count(
        "labels",
        labels.len(),
        MAX_LABELS,
        "delete labels you no longer need",
    )?;
    for (k, v) in labels {
        check_key("label", k, MAX_LABEL_KEY_BYTES)?;
        check_value(
            "value of label",
            k,
            v,
            MAX_LABEL_VALUE_BYTES,
            "labels are for placement; keep large data in a named config",
        )?;
    }
    Ok(())
}

/// Checks annotations of a workload or link.
pub fn check_annotations(annotations: &BTreeMap<String, String>) -> Result<(), LimitError> {
    check_count(
        "annotations",
        annotations.len(),
        MAX_ANNOTATIONS,
        "keep fewer annotations",
    )?;
    for (k, v) in annotations {
        check_key("annotation", k, MAX_ANNOTATION_KEY_BYTES)?;
        check_value(
            "value of annotation",
            k,
            v,
            MAX_ANNOTATION_VALUE_BYTES,
            "annotations are short markers; keep large data in a named config",
        )?;
    }
    Ok(())
}

/// Checks a list of named configs (`field` says whose, e.g. `source_config`).
pub fn check_config_names(field: &str, names: &[ConfigName]) -> Result<(), LimitError> {
    check_count(
        field,
        names.len(),
        MAX_CONFIG_NAMES,
        "merge the values into fewer named configs",
    )
}

/// Checks an image reference.
pub fn check_image(image: &str) -> Result<(), LimitError> {
    check_len(
        format!("image `{}`", shown(image)),
        image.len(),
        MAX_IMAGE_BYTES,
        "push the artifact and use the short nats:// reference `trellis push` prints",
    )?;
    if let Some(bad) = image.chars().find(|c| c.is_control()) {
        return Err(LimitError::BadChar {
            field: "image".into(),
            shown: shown(image),
            bad: describe(bad),
            allowed: "images are references without control characters",
        });
    }
    Ok(())
}

/// Checks the lists and annotations of a link.
pub fn check_link(link: &Link) -> Result<(), LimitError> {
    check_count(
        "interfaces",
        link.interfaces.len(),
        MAX_LINK_INTERFACES,
        "split the link by package",
    )?;
    check_config_names("source_config", &link.source_config)?;
    check_config_names("target_config", &link.target_config)?;
    check_refs("source_secrets", &link.source_secrets)?;
    check_refs("target_secrets", &link.target_secrets)?;
    check_annotations(&link.annotations)
}

/// Checks a list of secret references (`field` says whose, e.g.
/// `source_secrets`): count, selector lengths, no name twice.
pub fn check_refs(field: &str, refs: &[SecretRef]) -> Result<(), LimitError> {
    if refs.len() > MAX_SECRET_REFS {
        return Err(LimitError::TooMany {
            field: field.to_owned(),
            count: refs.len(),
            max: MAX_SECRET_REFS,
            hint: "store related values as one JSON secret and pick members with `field`",
        });
    }
    for r in refs {
        for (what, value) in [("field", &r.field), ("version", &r.version)] {
            if let Some(v) = value
                && v.len() > MAX_SECRET_SELECTOR_BYTES
            {
                return Err(LimitError::TooLong {
                    field: format!("{what} of secret {} in {field}", r.name),
                    len: v.len(),
                    max: MAX_SECRET_SELECTOR_BYTES,
                    hint: "name a shorter JSON member",
                });
            }
        }
    }
    if let Some(dup) = refs
        .iter()
        .enumerate()
        .find(|(i, r)| refs[..*i].iter().any(|o| o.name == r.name))
    {
        return Err(LimitError::BadChar {
            field: field.to_owned(),
            shown: dup.1.name.to_string(),
            bad: "a name given twice".into(),
            allowed: "each secret name may appear once per workload or link side",
        });
    }
    Ok(())
}

/// Config keys are what a component asks `wasi:config` for: printable
/// ASCII without spaces, and never a NATS wildcard (`*`, `>`) or NUL, so
/// a key can never turn into a pattern where it is used in a subject or
/// KV key.
const CONFIG_KEY_ALLOWED: &str = "config keys are printable ASCII characters without spaces, `*` or `>` (e.g. `address` or `tls.cert`)";

/// Checks the values of a named config before it is stored.
pub fn check_config_values(
    name: &ConfigName,
    values: &BTreeMap<String, String>,
) -> Result<(), LimitError> {
    let field = format!("config {name}");
    check_count(
        &field,
        values.len(),
        MAX_CONFIG_ENTRIES,
        "split it into several named configs",
    )?;
    let mut total = 0usize;
    for (k, v) in values {
        if k.is_empty() {
            return Err(LimitError::EmptyKey { field });
        }
        check_len(
            format!("{field}: key `{}`", shown(k)),
            k.len(),
            MAX_CONFIG_KEY_BYTES,
            "use a shorter key",
        )?;
        if let Some(bad) = k
            .chars()
            .find(|c| !c.is_ascii_graphic() || *c == '*' || *c == '>')
        {
            return Err(LimitError::BadChar {
                field: format!("{field}: key"),
                shown: shown(k),
                bad: describe(bad),
                allowed: CONFIG_KEY_ALLOWED,
            });
        }
        check_len(
            format!("{field}: value of `{}`", shown(k)),
            v.len(),
            MAX_CONFIG_VALUE_BYTES,
            "keep large data in the object store or a key-value bucket",
        )?;
        total = total.saturating_add(k.len()).saturating_add(v.len());
    }
    check_len(
        format!("{field} (keys and values together)"),
        total,
        MAX_CONFIG_BYTES,
        "split it into several named configs",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_huge_label_is_refused_with_the_limit_and_a_hint() {
        let big = "x".repeat(600 * 1024);
        let err = check_labels(&map(&[("zone", &big)]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("label `zone`") && err.contains("614400") && err.contains("256"),
            "{err}"
        );
        assert!(err.contains("named config"), "{err}");
        assert!(check_labels(&map(&[("zone", "edge"), ("example.com/team", "a")])).is_ok());
        let many: BTreeMap<String, String> = (0..=MAX_LABELS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        let err = check_labels(&many).unwrap_err().to_string();
        assert!(err.contains("labels has 65 entries"), "{err}");
    }

    #[test]
    fn config_keys_must_be_printable_and_not_wildcards() {
        let name = ConfigName::new("cfg").unwrap();
        for (key, what) in [
            (">", "`>`"),
            ("a*", "`*`"),
            ("a\0b", "NUL"),
            ("a b", "space"),
        ] {
            let err = check_config_values(&name, &map(&[(key, "v")]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("config cfg") && err.contains(what),
                "{key:?}: {err}"
            );
            assert!(!err.contains('\0'), "the error shows NUL escaped: {err:?}");
        }
        assert!(check_config_values(&name, &map(&[("tls.cert", "-----BEGIN\nX")])).is_ok());
        let err = check_config_values(&name, &map(&[("", "v")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty key"), "{err}");
    }

    #[test]
    fn config_size_is_bounded_per_value_and_in_total() {
        let name = ConfigName::new("cfg").unwrap();
        let err = check_config_values(
            &name,
            &map(&[("k", &"v".repeat(MAX_CONFIG_VALUE_BYTES + 1))]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("value of `k`"), "{err}");
        let values: BTreeMap<String, String> = (0..8)
            .map(|i| (format!("k{i}"), "v".repeat(MAX_CONFIG_VALUE_BYTES - 8)))
            .collect();
        let err = check_config_values(&name, &values).unwrap_err().to_string();
        assert!(err.contains("together"), "{err}");
    }

    #[test]
    fn lists_and_images_are_bounded() {
        let names: Vec<ConfigName> = (0..50_000)
            .map(|i| ConfigName::new(format!("c{i}")).unwrap())
            .collect();
        let err = check_config_names("source_config", &names)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("source_config has 50000 entries") && err.contains("32"),
            "{err}"
        );
        let err = check_image(&"i".repeat(2 << 20)).unwrap_err().to_string();
        assert!(err.contains("trellis push"), "{err}");
        assert!(err.len() < 400, "the error does not echo the whole value");
        let err = check_annotations(&map(&[("a", &"v".repeat(1 << 20))]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("annotation `a`"), "{err}");
    }

    #[test]
    fn secret_refs_are_bounded_and_named_once() {
        let r: SecretRef =
            serde_json::from_str(r#"{"name":"api-password","key":"api_password"}"#).unwrap();
        check_refs("secrets", std::slice::from_ref(&r)).unwrap();
        let err = check_refs("secrets", &[r.clone(), r.clone()]).unwrap_err();
        assert!(err.to_string().contains("api-password"), "{err}");
        let many = vec![r; MAX_SECRET_REFS + 1];
        assert!(matches!(
            check_refs("secrets", &many),
            Err(LimitError::TooMany { .. })
        ));
    }
}
