//! `properties.image` references.

use std::fmt;

/// Names accepted after `builtin://`.
pub const BUILTIN_PROVIDERS: &[&str] = &[
    "http-server",
    "http-client",
    "messaging-nats",
    "blobstore-fs",
    "blobstore-nats",
    "keyvalue-sled",
    "keyvalue-nats",
];

/// A parsed `properties.image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `file://PATH`; a relative PATH is relative to the manifest's folder.
    File(String),
    /// `nats://BUCKET/KEY`: an artifact already pushed into the lattice.
    Nats(String),
    /// `builtin://NAME`: a provider compiled into the host.
    Builtin(String),
}

impl ImageRef {
    /// Splits `image` into scheme and rest; the error says what is accepted.
    pub fn parse(image: &str) -> Result<Self, String> {
        let accepted = "use file://PATH, nats://BUCKET/KEY or builtin://NAME";
        let Some((scheme, rest)) = image.split_once("://") else {
            return Err(format!("image `{image}` has no scheme; {accepted}"));
        };
        if rest.is_empty() {
            return Err(format!("image `{image}` names nothing after `{scheme}://`"));
        }
        match scheme {
            "file" => Ok(Self::File(rest.to_owned())),
            "nats" => Ok(Self::Nats(rest.to_owned())),
            "builtin" => Ok(Self::Builtin(rest.to_owned())),
            _ => Err(format!(
                "image `{image}` has unknown scheme `{scheme}://`; {accepted}"
            )),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "file://{p}"),
            Self::Nats(p) => write!(f, "nats://{p}"),
            Self::Builtin(p) => write!(f, "builtin://{p}"),
        }
    }
}
