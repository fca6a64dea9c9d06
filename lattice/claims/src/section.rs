//! Walking the top-level sections of a WebAssembly binary (core module or
//! component) to find, remove or append the `trellis-claims` custom section.
//!
//! Only the top level is walked: nested modules and components are opaque
//! section payloads. Every length is checked against the bytes that are
//! really there, so no declared size ever drives an allocation.

use std::borrow::Cow;

use sha2::{Digest, Sha256};
use wasm_encoder::{CustomSection, Encode};

use crate::{MAX_JWT_LEN, Refusal, SECTION_NAME};

/// `\0asm`.
const MAGIC: [u8; 4] = *b"\0asm";
/// Version of a core module (layer 0).
const MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];
/// Section id of custom sections, in modules and components alike.
const CUSTOM_ID: u8 = 0;

/// One top-level section.
#[derive(Debug, Clone, Copy)]
struct Section<'a> {
    /// Offset of the id byte.
    start: usize,
    /// Offset just past the payload.
    end: usize,
    /// For a custom section, its name and the bytes after the name.
    custom: Option<(&'a str, &'a [u8])>,
}

/// Iterator over the top-level sections; yields at most one error, then ends.
struct Sections<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

/// Checks the 8-byte preamble and returns an iterator over the sections.
fn sections(wasm: &[u8]) -> Result<Sections<'_>, Refusal> {
    let Some((magic, version)) = wasm.get(..4).zip(wasm.get(4..8)) else {
        return Err(Refusal::malformed(
            "not a WebAssembly binary (shorter than the 8-byte header)",
        ));
    };
    if magic != MAGIC {
        return Err(Refusal::malformed(
            "not a WebAssembly binary (no `\\0asm` magic)",
        ));
    }
    // Core modules are version 1, layer 0; components are layer 1 with a
    // version that has changed across proposal revisions (0x0d today).
    let component = version[2..] == [1, 0];
    if version != MODULE_VERSION && !component {
        return Err(Refusal::malformed(format!(
            "unsupported WebAssembly version {version:02x?}"
        )));
    }
    Ok(Sections {
        bytes: wasm,
        pos: 8,
        failed: false,
    })
}

impl<'a> Iterator for Sections<'a> {
    type Item = Result<Section<'a>, Refusal>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        let item = self.read_section();
        self.failed = item.is_err();
        Some(item)
    }
}

impl<'a> Sections<'a> {
    fn read_section(&mut self) -> Result<Section<'a>, Refusal> {
        let start = self.pos;
        let mut reader = Reader {
            bytes: self.bytes,
            pos: start,
        };
        let id = reader.byte()?;
        let size = reader.leb_u32()? as usize;
        let payload = reader.take(size).map_err(|_| {
            Refusal::malformed(format!(
                "section {id} at offset {start} declares {size} bytes, past the end of the binary"
            ))
        })?;
        let end = reader.pos;
        let custom = if id == CUSTOM_ID {
            let mut inner = Reader {
                bytes: payload,
                pos: 0,
            };
            let name_len = inner.leb_u32()? as usize;
            let name = inner.take(name_len).map_err(|_| {
                Refusal::malformed(format!(
                    "custom section name at offset {start} runs past its section"
                ))
            })?;
            let name = std::str::from_utf8(name).map_err(|_| {
                Refusal::malformed(format!(
                    "custom section name at offset {start} is not UTF-8"
                ))
            })?;
            let data = payload.get(inner.pos..).unwrap_or_default();
            Some((name, data))
        } else {
            None
        };
        self.pos = end;
        Ok(Section { start, end, custom })
    }
}

/// A bounds-checked cursor.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Refusal> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| Refusal::malformed(format!("truncated at offset {}", self.pos)))?;
        self.pos += 1;
        Ok(b)
    }

    /// An unsigned LEB128 of at most 5 bytes whose value fits in 32 bits.
    fn leb_u32(&mut self) -> Result<u32, Refusal> {
        let start = self.pos;
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.byte()?;
            if i == 4 && b & 0xf0 != 0 {
                return Err(Refusal::malformed(format!(
                    "LEB128 at offset {start} is too long or overflows 32 bits"
                )));
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Refusal::malformed(format!(
            "LEB128 at offset {start} is too long"
        )))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ()> {
        let end = self.pos.checked_add(len).ok_or(())?;
        let slice = self.bytes.get(self.pos..end).ok_or(())?;
        self.pos = end;
        Ok(slice)
    }
}

fn is_claims(section: &Section<'_>) -> bool {
    matches!(section.custom, Some((name, _)) if name == SECTION_NAME)
}

/// `wasm` without any `trellis-claims` section, or why its sections cannot
/// be walked.
pub(crate) fn strip_checked(wasm: &[u8]) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::with_capacity(wasm.len());
    out.extend_from_slice(wasm.get(..8).unwrap_or_default());
    for section in sections(wasm)? {
        let section = section?;
        if !is_claims(&section) {
            out.extend_from_slice(wasm.get(section.start..section.end).unwrap_or_default());
        }
    }
    Ok(out)
}

/// Returns `wasm` without any `trellis-claims` custom section.
///
/// Other sections are kept byte for byte and in order. A binary whose
/// top-level sections cannot be walked is returned unchanged (use
/// [`extract`] to learn why).
pub fn strip(wasm: &[u8]) -> Vec<u8> {
    strip_checked(wasm).unwrap_or_else(|_| wasm.to_vec())
}

/// Returns `wasm` with its claims replaced by `jwt`: any `trellis-claims`
/// section is removed and one holding `jwt` is appended at the end.
pub fn embed(wasm: &[u8], jwt: &str) -> Vec<u8> {
    append_section(strip(wasm), jwt)
}

/// Appends a `trellis-claims` section holding `jwt` to `stripped`.
pub(crate) fn append_section(mut stripped: Vec<u8>, jwt: &str) -> Vec<u8> {
    let section = CustomSection {
        name: Cow::Borrowed(SECTION_NAME),
        data: Cow::Borrowed(jwt.as_bytes()),
    };
    stripped.push(CUSTOM_ID);
    section.encode(&mut stripped);
    stripped
}

/// The JWT in `wasm`'s `trellis-claims` section: `None` when there is no
/// such section.
///
/// Fails with [`Refusal::Malformed`] when the top-level sections cannot be
/// walked, when there is more than one `trellis-claims` section, or when its
/// content is not UTF-8 or is larger than [`MAX_JWT_LEN`].
pub fn extract(wasm: &[u8]) -> Result<Option<String>, Refusal> {
    let mut found: Option<&[u8]> = None;
    for section in sections(wasm)? {
        let section = section?;
        if let Some((name, data)) = section.custom
            && name == SECTION_NAME
        {
            if found.is_some() {
                return Err(Refusal::malformed(format!(
                    "more than one `{SECTION_NAME}` section"
                )));
            }
            found = Some(data);
        }
    }
    let Some(data) = found else {
        return Ok(None);
    };
    if data.len() > MAX_JWT_LEN {
        return Err(Refusal::malformed(format!(
            "the claims are {} bytes, more than the 16 KiB limit",
            data.len()
        )));
    }
    let jwt =
        std::str::from_utf8(data).map_err(|_| Refusal::malformed("the claims are not UTF-8"))?;
    Ok(Some(jwt.to_owned()))
}

/// Lowercase hex sha256 of `wasm` without its `trellis-claims` section:
/// the value of the `hash` claim.
pub fn component_hash(wasm: &[u8]) -> Result<String, Refusal> {
    strip_checked(wasm).map(|stripped| hash_hex(&stripped))
}

pub(crate) fn hash_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn custom(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        CustomSection {
            name: name.into(),
            data: data.into(),
        }
        .encode(&mut out);
        out
    }

    #[test]
    fn header_alone_has_no_claims() {
        assert_eq!(extract(COMPONENT), Ok(None));
        assert_eq!(extract(b"\0asm\x01\0\0\0"), Ok(None));
        assert_eq!(strip(COMPONENT), COMPONENT);
    }

    #[test]
    fn bad_headers_are_malformed() {
        for bad in [&b""[..], b"\0asm", b"\0asm\x02\0\0\0", b"MZ\0\0\x01\0\0\0"] {
            assert!(
                matches!(extract(bad), Err(Refusal::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn embed_appends_one_section_and_replaces_old_ones() {
        let mut wasm = COMPONENT.to_vec();
        wasm.extend(custom("other", b"keep me"));
        let once = embed(&wasm, "a.b.c");
        assert_eq!(extract(&once), Ok(Some("a.b.c".into())));
        let twice = embed(&once, "d.e.f");
        assert_eq!(extract(&twice), Ok(Some("d.e.f".into())));
        assert_eq!(strip(&twice), wasm);
        assert_eq!(twice.len(), once.len());
    }

    #[test]
    fn two_claims_sections_are_malformed() {
        let mut wasm = COMPONENT.to_vec();
        wasm.extend(custom(SECTION_NAME, b"a"));
        wasm.extend(custom(SECTION_NAME, b"b"));
        assert!(
            matches!(extract(&wasm), Err(Refusal::Malformed(m)) if m.contains("more than one"))
        );
    }

    #[test]
    fn lengths_are_checked() {
        // Declared size past the end.
        let mut wasm = COMPONENT.to_vec();
        wasm.extend([0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]);
        assert!(matches!(extract(&wasm), Err(Refusal::Malformed(_))));
        // Overlong LEB128.
        let mut wasm = COMPONENT.to_vec();
        wasm.extend([1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
        assert!(matches!(extract(&wasm), Err(Refusal::Malformed(m)) if m.contains("LEB128")));
        // Name longer than its section.
        let mut wasm = COMPONENT.to_vec();
        wasm.extend([0, 2, 5, b'a']);
        assert!(matches!(extract(&wasm), Err(Refusal::Malformed(_))));
        // Non-UTF-8 name.
        let mut wasm = COMPONENT.to_vec();
        wasm.extend([0, 2, 1, 0xff]);
        assert!(matches!(extract(&wasm), Err(Refusal::Malformed(m)) if m.contains("UTF-8")));
        // A truncated binary is returned unchanged by `strip`.
        assert_eq!(strip(&wasm), wasm);
    }

    #[test]
    fn oversized_or_non_utf8_claims_are_malformed() {
        let mut wasm = COMPONENT.to_vec();
        wasm.extend(custom(SECTION_NAME, &vec![b'a'; MAX_JWT_LEN + 1]));
        assert!(matches!(extract(&wasm), Err(Refusal::Malformed(m)) if m.contains("16 KiB")));
        let mut wasm = COMPONENT.to_vec();
        wasm.extend(custom(SECTION_NAME, &[0xc3, 0x28]));
        assert!(matches!(extract(&wasm), Err(Refusal::Malformed(_))));
    }
}
