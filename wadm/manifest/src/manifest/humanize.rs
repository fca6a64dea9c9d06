//! serde's error messages reworded for a manifest's author. Reading
//! (`parse`) and the rules (`validate`) both pass such messages on, so
//! the wording lives below both.

/// serde's message in words a manifest's author knows: no Rust type names.
pub fn humanize(message: &str) -> String {
    if message.contains("did not match any variant of untagged enum") {
        return "does not have a form this field accepts".into();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(|c: char| c.is_ascii_alphabetic()) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let word_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let word = &rest[..word_end];
        let after = &rest[word_end..];
        let named = |prefix: &str| -> Option<(&str, usize)> {
            let tail = after.strip_prefix(' ')?;
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            (word == prefix && end > 0).then(|| (&tail[..end], word_end + 1 + end))
        };
        if let Some((ty, len)) = named("struct") {
            out.push_str(describe(ty));
            rest = &rest[len..];
        } else if let Some((_, len)) = named("enum") {
            out.push_str("one of the allowed values");
            rest = &rest[len..];
        } else {
            out.push_str(match word {
                "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number",
                "i32" | "i64" => "a number",
                "map" => "a mapping",
                "seq" | "sequence" => "a list",
                other => other,
            });
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn describe(ty: &str) -> &'static str {
    match ty {
        "LinkTarget" => "a mapping with `name` and optional `config`",
        "ConfigRef" => "a mapping with `name` and optional `properties`",
        "SecretRef" => "a mapping with `name` and `properties` (policy, key)",
        "SecretProperties" => "a mapping with `policy` and `key`",
        "Properties" => "a mapping with `image`",
        "Spread" => "a mapping with `name` and `requirements`",
        "Metadata" => "a mapping with `name`",
        "Component" => "a mapping with `name`, `type` and `properties`",
        _ => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_type_names_become_words() {
        assert_eq!(
            humanize("invalid type: string \"x\", expected struct LinkTarget"),
            "invalid type: string \"x\", expected a mapping with `name` and optional `config`"
        );
        assert_eq!(
            humanize("invalid value: integer `-1`, expected u32"),
            "invalid value: integer `-1`, expected a whole number"
        );
        assert_eq!(
            humanize("invalid type: map, expected enum ComponentKind"),
            "invalid type: a mapping, expected one of the allowed values"
        );
        assert!(!humanize("expected struct Anything").contains("Anything"));
    }
}
