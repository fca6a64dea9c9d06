//! Key pairs in nkeys text form (prefix letter, base32, CRC16) on Ed25519,
//! and seed files (one seed, mode 0600).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::KeyError;

/// A seed file is a few dozen bytes; more than this is not a seed file.
const MAX_SEED_FILE: u64 = 4096;

/// The kinds of key Trellis uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// An issuer that signs components (`A...`, nkeys "account").
    Account,
    /// A component's identity, the subject of its claims (`M...`, nkeys
    /// "module").
    Component,
    /// A capability provider's identity (`V...`, nkeys "service").
    Provider,
    /// A host's identity (`N...`, nkeys "server").
    Host,
}

impl KeyKind {
    /// Every kind.
    pub const ALL: [KeyKind; 4] = [Self::Account, Self::Component, Self::Provider, Self::Host];

    /// The first letter of public keys of this kind (seeds start with `S`
    /// followed by it).
    pub fn prefix(self) -> char {
        match self {
            Self::Account => 'A',
            Self::Component => 'M',
            Self::Provider => 'V',
            Self::Host => 'N',
        }
    }

    /// Lowercase name (`account`, `component`, `provider`, `host`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Component => "component",
            Self::Provider => "provider",
            Self::Host => "host",
        }
    }

    /// The kind of a public key, by its first letter.
    pub fn of_public_key(public_key: &str) -> Option<Self> {
        let first = public_key.chars().next()?;
        Self::ALL.into_iter().find(|k| k.prefix() == first)
    }

    /// The kind of a key pair.
    pub fn of(key: &nkeys::KeyPair) -> Option<Self> {
        Self::of_public_key(&key.public_key())
    }

    fn nkeys_type(self) -> nkeys::KeyPairType {
        match self {
            Self::Account => nkeys::KeyPairType::Account,
            Self::Component => nkeys::KeyPairType::Module,
            Self::Provider => nkeys::KeyPairType::Service,
            Self::Host => nkeys::KeyPairType::Server,
        }
    }
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name for the kind of any nkeys public key, including kinds Trellis
/// does not use (`operator`, `user`, `cluster`, `curve`), for messages.
pub fn kind_name(public_key: &str) -> &'static str {
    if let Some(kind) = KeyKind::of_public_key(public_key) {
        return kind.name();
    }
    match public_key.chars().next() {
        Some('O') => "operator",
        Some('U') => "user",
        Some('C') => "cluster",
        Some('X') => "curve",
        _ => "unknown",
    }
}

/// A fresh random key pair of `kind`.
pub fn generate(kind: KeyKind) -> nkeys::KeyPair {
    nkeys::KeyPair::new(kind.nkeys_type())
}

/// Reads the key pair from a seed file (the seed, surrounding whitespace
/// ignored). Any nkeys seed is accepted; check [`KeyKind::of`] for the kind.
pub fn read_seed_file(path: &Path) -> Result<nkeys::KeyPair, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_SEED_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => KeyError::BadSeed {
                path: path.to_path_buf(),
                reason: "the file is not text".into(),
            },
            _ => io(e),
        })?;
    let bad = |reason: String| KeyError::BadSeed {
        path: path.to_path_buf(),
        reason,
    };
    if text.len() as u64 > MAX_SEED_FILE {
        return Err(bad("the file is far too large for a seed".into()));
    }
    let seed = text.trim();
    if !seed.starts_with('S') {
        return Err(bad(format!(
            "a seed starts with `S`{}",
            KeyKind::of_public_key(seed)
                .map(|k| format!(" (this looks like a {k} public key, which cannot sign)"))
                .unwrap_or_default()
        )));
    }
    nkeys::KeyPair::from_seed(seed).map_err(|e| bad(e.to_string()))
}

/// Writes `seed` (and a newline) to `path` with mode 0600.
///
/// An existing file is refused with [`KeyError::Exists`] unless `force`;
/// with `force` it is replaced atomically (a temporary file in the same
/// directory, then a rename), so it never holds a partial seed or wider
/// permissions.
pub fn write_seed_file(path: &Path, seed: &str, force: bool) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let contents = format!("{seed}\n");
    if !force {
        return match create_private(path, contents.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(KeyError::Exists {
                path: path.to_path_buf(),
            }),
            other => other.map_err(io),
        };
    }
    let tmp = temp_path(path).ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file path",
        ))
    })?;
    let _ = std::fs::remove_file(&tmp);
    let written =
        create_private(&tmp, contents.as_bytes()).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io)
}

fn temp_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy();
    Some(path.with_file_name(format!(".{name}.tmp-{}", std::process::id())))
}

fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_their_prefixes() -> Result<(), Box<dyn std::error::Error>> {
        for kind in KeyKind::ALL {
            let key = generate(kind);
            assert!(key.public_key().starts_with(kind.prefix()), "{kind}");
            assert_eq!(key.seed()?.chars().nth(1), Some(kind.prefix()), "{kind}");
            assert_eq!(KeyKind::of(&key), Some(kind));
        }
        assert_eq!(
            kind_name(&nkeys::KeyPair::new_operator().public_key()),
            "operator"
        );
        Ok(())
    }

    #[test]
    fn seed_files_round_trip_with_mode_0600() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("issuer.nk");
        let key = generate(KeyKind::Account);
        write_seed_file(&path, &key.seed()?, false)?;
        assert_eq!(read_seed_file(&path)?.public_key(), key.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path)?.permissions().mode() & 0o777,
                0o600
            );
        }
        let other = generate(KeyKind::Account);
        assert!(matches!(
            write_seed_file(&path, &other.seed()?, false),
            Err(KeyError::Exists { .. })
        ));
        write_seed_file(&path, &other.seed()?, true)?;
        assert_eq!(read_seed_file(&path)?.public_key(), other.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path)?.permissions().mode() & 0o777,
                0o600
            );
        }
        Ok(())
    }

    #[test]
    fn bad_seed_files_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("bad");
        std::fs::write(&path, generate(KeyKind::Account).public_key())?;
        let err = read_seed_file(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("account public key"), "{err}");
        std::fs::write(&path, [0xff, 0xfe])?;
        assert!(matches!(
            read_seed_file(&path),
            Err(KeyError::BadSeed { .. })
        ));
        std::fs::write(&path, "SAnotaseed")?;
        assert!(matches!(
            read_seed_file(&path),
            Err(KeyError::BadSeed { .. })
        ));
        assert!(matches!(
            read_seed_file(&dir.path().join("missing")),
            Err(KeyError::Io { .. })
        ));
        Ok(())
    }
}
