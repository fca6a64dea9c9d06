//! Validated identifiers.
//!
//! Every id ends up inside a NATS subject, so the rules keep out the characters
//! NATS gives meaning to (`.`, `*`, `>`, whitespace) and bound the length.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which kind of id was being parsed.
        kind: &'static str,
    },
    /// The string is longer than the limit.
    #[error("{kind} `{value}` is longer than {max} characters")]
    TooLong {
        /// Which kind of id was being parsed.
        kind: &'static str,
        /// The offending value.
        value: String,
        /// The limit.
        max: usize,
    },
    /// The string contains a character outside the allowed set.
    #[error("{kind} `{value}` contains `{bad}`; use only {allowed}")]
    BadChar {
        /// Which kind of id was being parsed.
        kind: &'static str,
        /// The offending value.
        value: String,
        /// The first character that is not allowed.
        bad: char,
        /// Human description of the allowed set.
        allowed: &'static str,
    },
    /// A host id that is not an nkey public key of a server (`N...`).
    #[error("host id `{0}` is not a host public key (an `N` followed by 55 base32 characters)")]
    NotHostKey(String),
}

fn check_token(kind: &'static str, value: &str, max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > max {
        return Err(IdError::TooLong {
            kind,
            value: value.to_owned(),
            max,
        });
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(IdError::BadChar {
            kind,
            value: value.to_owned(),
            bad,
            allowed: "letters, digits, `-` and `_`",
        });
    }
    Ok(())
}

macro_rules! token_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `value` and wraps it.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check_token($kind, &value, $max)?;
                Ok(Self(value))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

token_id!(
    /// A lattice name: the first token after `trellis.` of every subject.
    LatticeName,
    "lattice name",
    64
);
token_id!(
    /// Name of a wadm application (`metadata.name` of its manifest).
    AppName,
    "app name",
    64
);
token_id!(
    /// Id of a component or a capability provider, unique within a lattice.
    ///
    /// Components and providers share one id space because either can be the
    /// source or the target of a link.
    ComponentId,
    "component id",
    128
);
token_id!(
    /// Name of a link; several links of one source and interface differ by name.
    LinkName,
    "link name",
    64
);
token_id!(
    /// Name of a named config (a string map stored in the lattice).
    ConfigName,
    "config name",
    128
);
token_id!(
    /// Id of one chunked body transfer between two hosts.
    StreamId,
    "stream id",
    64
);

impl LatticeName {
    /// The lattice used when none is given.
    pub fn default_lattice() -> Self {
        Self("default".into())
    }
}

impl Default for LinkName {
    fn default() -> Self {
        Self("default".into())
    }
}

/// A host's id: its Ed25519 public key in nkeys text form (`N` + 55 base32 chars).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostId(String);

impl HostId {
    /// Validates the shape of an nkey server public key; the checksum is the
    /// key library's business, this only keeps garbage out of subjects.
    pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        let shape_ok = value.len() == 56
            && value.starts_with('N')
            && value
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
        if shape_ok {
            Ok(Self(value))
        } else {
            Err(IdError::NotHostKey(value))
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for HostId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl TryFrom<String> for HostId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl From<HostId> for String {
    fn from(id: HostId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_reject_subject_metacharacters() {
        for bad in ["a.b", "a*", ">", "a b", "", "é"] {
            assert!(ComponentId::new(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            ComponentId::new("hello-http_1").unwrap().as_str(),
            "hello-http_1"
        );
    }

    #[test]
    fn errors_name_the_kind_and_value() {
        let err = LatticeName::new("a.b").unwrap_err().to_string();
        assert!(
            err.contains("lattice name") && err.contains("a.b") && err.contains('.'),
            "{err}"
        );
    }

    #[test]
    fn host_ids_must_look_like_server_keys() {
        let good = format!("N{}", "A".repeat(55));
        assert!(HostId::new(good).is_ok());
        assert!(HostId::new(format!("U{}", "A".repeat(55))).is_err());
        assert!(HostId::new("Nshort").is_err());
        assert!(HostId::new(format!("N{}", "a".repeat(55))).is_err());
    }

    #[test]
    fn serde_validates() {
        let parsed: Result<ComponentId, _> = serde_json::from_str("\"x.y\"");
        assert!(parsed.is_err());
        let ok: ComponentId = serde_json::from_str("\"xy\"").unwrap();
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"xy\"");
    }
}
