//! Content digests that cross the wire.
//!
//! A host names cached files after an artifact's digest, so a digest is a
//! path component as well as a checksum: anything but exactly 64 lowercase
//! hex characters (`../../etc/passwd`, `/tmp/fifo`) is refused where it is
//! parsed, before any code can join it onto a directory.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Characters in a hex-encoded sha256.
pub const SHA256_HEX_LEN: usize = 64;

/// Why a string is not a sha256 digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "sha256 digest `{shown}` is not valid: {reason}; a digest is exactly 64 lowercase hex \
     characters (0-9, a-f)"
)]
pub struct DigestError {
    /// The offending value, cut short when long.
    pub shown: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A sha256 digest in lowercase hex: exactly 64 characters of `0-9a-f`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Digest(String);

impl Sha256Digest {
    /// Validates `value` and wraps it.
    pub fn new(value: impl Into<String>) -> Result<Self, DigestError> {
        let value = value.into();
        let err = |reason: String| DigestError {
            shown: shorten(&value),
            reason,
        };
        if value.len() != SHA256_HEX_LEN {
            return Err(err(format!(
                "it has {} bytes, not {SHA256_HEX_LEN}",
                value.len()
            )));
        }
        if let Some(bad) = value.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(err(format!("it contains `{}`", bad.escape_debug())));
        }
        Ok(Self(value))
    }

    /// The digest of 32 raw hash bytes.
    pub fn from_bytes(hash: &[u8; 32]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(SHA256_HEX_LEN);
        for byte in hash {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        Self(out)
    }

    /// The digest as a string slice (safe as a file name).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Bounds what an error echoes back: the value may be megabytes.
fn shorten(value: &str) -> String {
    const SHOWN: usize = 80;
    match value.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_owned(),
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Sha256Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, DigestError> {
        Self::new(s)
    }
}

impl TryFrom<String> for Sha256Digest {
    type Error = DigestError;
    fn try_from(s: String) -> Result<Self, DigestError> {
        Self::new(s)
    }
}

impl From<Sha256Digest> for String {
    fn from(d: Sha256Digest) -> String {
        d.0
    }
}

impl AsRef<str> for Sha256Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Sha256Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn accepts_lowercase_hex_of_64() {
        let d = Sha256Digest::new(GOOD).unwrap();
        assert_eq!(d.as_str(), GOOD);
        assert_eq!(d.to_string(), GOOD);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{GOOD}\""));
        assert_eq!(serde_json::from_str::<Sha256Digest>(&json).unwrap(), d);
    }

    #[test]
    fn refuses_paths_and_near_misses() {
        for bad in [
            "../../etc/passwd",
            "/tmp/fifo",
            "",
            &GOOD[..63],
            &format!("{GOOD}0"),
            &GOOD.to_ascii_uppercase(),
            &format!("../{}", &GOOD[3..]),
            &format!("{}/", &GOOD[..63]),
            &format!("{}\0", &GOOD[..63]),
            &format!("{}g", &GOOD[..63]),
        ] {
            let err = Sha256Digest::new(bad).unwrap_err().to_string();
            assert!(err.contains("64 lowercase hex"), "{bad:?}: {err}");
            let json = serde_json::to_string(bad).unwrap();
            let err = serde_json::from_str::<Sha256Digest>(&json)
                .unwrap_err()
                .to_string();
            assert!(err.contains("is not valid"), "{bad:?}: {err}");
        }
        // A multi-byte character of the right byte length is still refused.
        let sneaky = format!("{}é", &GOOD[..62]);
        assert_eq!(sneaky.len(), 64);
        assert!(Sha256Digest::new(sneaky).is_err());
    }

    #[test]
    fn errors_do_not_echo_huge_values() {
        let huge = "x".repeat(1 << 20);
        let err = Sha256Digest::new(huge).unwrap_err().to_string();
        assert!(err.len() < 400, "{} bytes", err.len());
    }

    #[test]
    fn from_bytes_is_lowercase_hex() {
        let mut hash = [0u8; 32];
        hash[0] = 0xab;
        hash[31] = 0x0f;
        let d = Sha256Digest::from_bytes(&hash);
        assert_eq!(d.as_str().len(), 64);
        assert!(d.as_str().starts_with("ab00"));
        assert!(d.as_str().ends_with("0f"));
        assert_eq!(Sha256Digest::new(d.as_str()).unwrap(), d);
    }

    proptest! {
        #[test]
        fn valid_exactly_when_64_lowercase_hex(s in "[0-9a-fA-F./]{60,68}") {
            let expected = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            prop_assert_eq!(Sha256Digest::new(s).is_ok(), expected);
        }
    }
}
