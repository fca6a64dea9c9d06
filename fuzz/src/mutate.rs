//! A small deterministic byte mutator: no coverage feedback, but seeded
//! from valid messages of each decoder and salted with the values that
//! break length handling (maximal varints, huge numbers, deep nesting).

/// xorshift64*: fast, deterministic, good enough to pick mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Byte strings that make decoders trip over lengths and counts.
const INTERESTING: &[&[u8]] = &[
    // postcard varints: u64::MAX, 1 << 40, u32::MAX
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    // an over-long varint
    &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ],
    // LEB128 u32::MAX (wasm section sizes)
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0x00],
    &[0xff],
    &[0x7f],
    &[0x80],
];

/// Text that makes JSON/YAML decoders trip.
const TEXT: &[&str] = &[
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "1e999",
    "4294967296",
    "null",
    "\"\"",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":",
    "\"../../etc/passwd\"",
    "\"/tmp/fifo\"",
    "\"\\u0000\"",
    "\"*\"",
    "\">\"",
    "\"a.b\"",
    "&a [*a, *a, *a, *a]",
    "*a",
    "!!binary AAAA",
    "\n  - ",
    ": ",
    "\u{feff}",
    "\u{10ffff}",
];

/// Mutates `input` in place with 1 to 8 random edits, drawing on `dict`
/// (the target's own tokens) and on `other` (another seed, for splicing).
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>, dict: &[&str], other: &[u8], max_len: usize) {
    let edits = 1 + rng.below(8);
    for _ in 0..edits {
        match rng.below(11) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.next_u64() as u8;
            }
            2 => {
                let i = rng.below(input.len() + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                input.splice(i..i, bytes);
            }
            3 if !input.is_empty() => {
                let i = rng.below(input.len());
                let n = 1 + rng.below((input.len() - i).min(32));
                input.drain(i..i + n);
            }
            4 if !input.is_empty() => {
                // Duplicate a range (repeats fields, nests brackets).
                let i = rng.below(input.len());
                let n = 1 + rng.below((input.len() - i).min(64));
                let copy = input[i..i + n].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, copy);
            }
            5 => {
                let value = INTERESTING[rng.below(INTERESTING.len())];
                overwrite_or_insert(rng, input, value);
            }
            6 => {
                let token = TEXT[rng.below(TEXT.len())].as_bytes();
                overwrite_or_insert(rng, input, token);
            }
            7 if !dict.is_empty() => {
                let token = dict[rng.below(dict.len())].as_bytes();
                overwrite_or_insert(rng, input, token);
            }
            8 if !other.is_empty() => {
                // Splice: our head, the other seed's tail.
                let cut = rng.below(input.len() + 1);
                let from = rng.below(other.len());
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            9 if !input.is_empty() => {
                input.truncate(rng.below(input.len()));
            }
            _ => {
                // Replace an ASCII digit run with a huge number.
                if let Some(i) = input.iter().position(|b| b.is_ascii_digit()) {
                    let end = input[i..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .map_or(input.len(), |n| i + n);
                    input.splice(i..end, b"99999999999999999999".iter().copied());
                }
            }
        }
    }
    input.truncate(max_len);
}

fn overwrite_or_insert(rng: &mut Rng, input: &mut Vec<u8>, value: &[u8]) {
    let i = rng.below(input.len() + 1);
    if rng.one_in(2) {
        let end = (i + value.len()).min(input.len());
        input.splice(i..end, value.iter().copied());
    } else {
        input.splice(i..i, value.iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_and_bounded() {
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut input = b"{\"a\": 1}".to_vec();
            for _ in 0..1000 {
                mutate(&mut rng, &mut input, &["x"], b"[1,2]", 256);
                assert!(input.len() <= 256);
            }
            input
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
