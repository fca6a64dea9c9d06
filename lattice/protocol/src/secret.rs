//! Secret references: which stored secret a component or a link side gets,
//! and under what name. Only references travel in control messages and
//! links; values stay encrypted in the lattice's secret store until the
//! host that needs one decrypts it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest [`SecretKey`] or [`SecretName`], in bytes.
pub const MAX_SECRET_KEY_BYTES: usize = 255;
/// Most secrets one workload or one side of a link may name.
pub const MAX_SECRET_REFS: usize = 32;
/// Longest `field` or `version` of a [`SecretRef`], in bytes.
pub const MAX_SECRET_SELECTOR_BYTES: usize = 255;

/// Why a secret key or name is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// `secret key` or `secret name`.
        kind: &'static str,
    },
    /// Longer than [`MAX_SECRET_KEY_BYTES`].
    #[error("{kind} `{shown}...` is longer than {MAX_SECRET_KEY_BYTES} bytes")]
    TooLong {
        /// `secret key` or `secret name`.
        kind: &'static str,
        /// Its first characters.
        shown: String,
    },
    /// A character outside the allowed set.
    #[error("{kind} `{value}` contains {bad:?}; {allowed}")]
    BadChar {
        /// `secret key` or `secret name`.
        kind: &'static str,
        /// The offending value.
        value: String,
        /// The first character not allowed.
        bad: char,
        /// What is allowed.
        allowed: &'static str,
    },
}

fn check(
    kind: &'static str,
    value: &str,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), SecretError> {
    if value.is_empty() {
        return Err(SecretError::Empty { kind });
    }
    if value.len() > MAX_SECRET_KEY_BYTES {
        return Err(SecretError::TooLong {
            kind,
            shown: value.chars().take(32).collect(),
        });
    }
    if let Some(bad) = value.chars().find(|c| !ok(*c)) {
        return Err(SecretError::BadChar {
            kind,
            value: value.chars().take(64).collect(),
            bad,
            allowed,
        });
    }
    Ok(())
}

/// The key a secret is stored under: letters, digits, `-`, `_` and `.`
/// (not first or last, never two in a row), so it is a JetStream KV key as
/// it stands.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretKey(String);

const KEY_ALLOWED: &str = "use letters, digits, `-`, `_` and `.` (not at either end, not two dots in a row), e.g. `db.password`";

impl SecretKey {
    /// Validates a store key.
    pub fn new(value: impl Into<String>) -> Result<Self, SecretError> {
        let value = value.into();
        check("secret key", &value, KEY_ALLOWED, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
        })?;
        if value.starts_with('.') || value.ends_with('.') || value.contains("..") {
            return Err(SecretError::BadChar {
                kind: "secret key",
                value,
                bad: '.',
                allowed: KEY_ALLOWED,
            });
        }
        Ok(Self(value))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SecretKey {
    type Error = SecretError;
    fn try_from(s: String) -> Result<Self, SecretError> {
        Self::new(s)
    }
}

impl From<SecretKey> for String {
    fn from(k: SecretKey) -> String {
        k.0
    }
}

impl std::str::FromStr for SecretKey {
    type Err = SecretError;
    fn from_str(s: &str) -> Result<Self, SecretError> {
        Self::new(s)
    }
}

/// The name a component asks `wasmcloud:secrets/store.get` for (or the
/// config key a provider finds the value under): printable ASCII without
/// spaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

impl SecretName {
    /// Validates a secret name.
    pub fn new(value: impl Into<String>) -> Result<Self, SecretError> {
        let value = value.into();
        check(
            "secret name",
            &value,
            "use printable ASCII without spaces, e.g. `api-password`",
            |c| c.is_ascii_graphic(),
        )?;
        Ok(Self(value))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SecretName {
    type Error = SecretError;
    fn try_from(s: String) -> Result<Self, SecretError> {
        Self::new(s)
    }
}

impl From<SecretName> for String {
    fn from(n: SecretName) -> String {
        n.0
    }
}

/// One secret a workload or link side gets: a reference, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRef {
    /// What the component asks for (or the provider's config key).
    pub name: SecretName,
    /// Where the value is stored.
    pub key: SecretKey,
    /// When the stored value is a JSON object, the member to give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The version asked for (kept for wadm manifests; the store keeps one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kv_keys() {
        for good in ["api_password", "db.password", "A-1", "x"] {
            SecretKey::new(good).unwrap();
        }
        for bad in ["", ".a", "a.", "a..b", "a b", "a/b", "a*", "a>b", "é"] {
            assert!(SecretKey::new(bad).is_err(), "{bad}");
        }
        assert!(SecretKey::new("k".repeat(256)).is_err());
        let err = SecretKey::new("a b").unwrap_err().to_string();
        assert!(
            err.contains("secret key") && err.contains("letters"),
            "{err}"
        );
    }

    #[test]
    fn refs_parse() {
        let r: SecretRef =
            serde_json::from_str(r#"{"name":"api-password","key":"api_password"}"#).unwrap();
        assert_eq!(r.field, None);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"name":"api-password","key":"api_password"}"#
        );
        assert!(serde_json::from_str::<SecretRef>(r#"{"name":"a b","key":"k"}"#).is_err());
    }
}
