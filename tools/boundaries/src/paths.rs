//! The module paths one file names: every `use` tree expanded to its
//! paths, every path in code (`crate::a::f()`, `super::X`, `child::g()`),
//! the `mod name;` declarations, and which `use`s are re-exports.

use crate::tokens::{Tok, Token, lex};

/// A path named in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Line it is on (of the `use` keyword for a `use` tree).
    pub line: u32,
    /// Inline modules (`mod tests { ... }`) around it, outermost first;
    /// `super::` and `self::` start from the innermost.
    pub inline: Vec<String>,
    /// Segments as written; the first may be `crate`, `super` or `self`.
    pub segments: Vec<String>,
    /// For a `pub use` at file level: the name the item is exported
    /// under (its alias or last segment). `None` for globs and others.
    pub export: Option<String>,
}

/// What one file says about modules.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileScan {
    /// Every path that may name a module of this crate.
    pub refs: Vec<Reference>,
    /// `mod name;` declarations at file level (child module files).
    pub child_mods: Vec<String>,
}

/// Reads the module paths out of Rust source.
pub fn scan(src: &str) -> FileScan {
    let toks = lex(src);
    let mut out = FileScan::default();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut pending_mod: Option<String> = None;
    let mut depth = 0usize;
    let mut i = 0;
    // Every branch advances `i`.
    while i < toks.len() {
        match &toks[i].tok {
            Tok::Ident(kw) if kw == "mod" => {
                if let Some(Tok::Ident(name)) = toks.get(i + 1).map(|t| &t.tok) {
                    match toks.get(i + 2).map(|t| &t.tok) {
                        Some(Tok::Punct(';')) if inline.is_empty() => {
                            out.child_mods.push(name.clone())
                        }
                        Some(Tok::Punct('{')) => pending_mod = Some(name.clone()),
                        _ => {}
                    }
                }
                i += 2;
                continue;
            }
            Tok::Ident(kw) if kw == "use" => {
                let exported = inline.is_empty() && is_pub(&toks, i);
                let line = toks[i].line;
                let mut j = i + 1;
                let mut trees = Vec::new();
                use_tree(&toks, &mut j, Vec::new(), &mut trees);
                for (segments, name) in trees {
                    out.refs.push(Reference {
                        line,
                        inline: names(&inline),
                        segments,
                        export: if exported { name } else { None },
                    });
                }
                while j < toks.len() && toks[j].tok != Tok::Punct(';') {
                    j += 1;
                }
                i = j.max(i + 1);
                continue;
            }
            Tok::Ident(first) if starts_path(&toks, i) => {
                let mut segments = vec![first.clone()];
                let mut j = i + 1;
                while let (Some(Tok::PathSep), Some(Tok::Ident(s))) =
                    (toks.get(j).map(|t| &t.tok), toks.get(j + 1).map(|t| &t.tok))
                {
                    segments.push(s.clone());
                    j += 2;
                }
                out.refs.push(Reference {
                    line: toks[i].line,
                    inline: names(&inline),
                    segments,
                    export: None,
                });
                i = j;
                continue;
            }
            Tok::Punct('{') => {
                depth += 1;
                if let Some(name) = pending_mod.take() {
                    inline.push((name, depth));
                }
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn names(inline: &[(String, usize)]) -> Vec<String> {
    inline.iter().map(|(n, _)| n.clone()).collect()
}

/// `a::` where `a` is not itself the tail of a path or `$crate`.
fn starts_path(toks: &[Token], i: usize) -> bool {
    let next_is_sep = toks.get(i + 1).is_some_and(|t| t.tok == Tok::PathSep);
    let prev = i.checked_sub(1).map(|p| &toks[p].tok);
    next_is_sep && !matches!(prev, Some(Tok::PathSep) | Some(Tok::Punct('$')))
}

/// `pub use` or `pub(...) use`, the `use` at `i`.
fn is_pub(toks: &[Token], i: usize) -> bool {
    let ident = |k: usize, s: &str| toks.get(k).is_some_and(|t| t.tok == Tok::Ident(s.into()));
    if i >= 1 && ident(i - 1, "pub") {
        return true;
    }
    if i >= 1 && toks[i - 1].tok == Tok::Punct(')') {
        // Back to the `(` of `pub(crate)` / `pub(in path)`; a few tokens at most.
        let mut k = i - 1;
        while k > 0 && i - k < 8 {
            k -= 1;
            if toks[k].tok == Tok::Punct('(') {
                return k >= 1 && ident(k - 1, "pub");
            }
        }
    }
    false
}

/// Expands one use tree starting at `*i` into (path, exported name).
fn use_tree(
    toks: &[Token],
    i: &mut usize,
    mut path: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let tok = |k: usize| toks.get(k).map(|t| &t.tok);
    loop {
        match tok(*i) {
            Some(Tok::PathSep) => *i += 1,
            Some(Tok::Ident(s)) => {
                *i += 1;
                // `{self, ...}` names the prefix itself.
                if !(s == "self" && !path.is_empty()) {
                    path.push(s.clone());
                }
                match tok(*i) {
                    Some(Tok::PathSep) => {
                        *i += 1;
                        continue;
                    }
                    Some(Tok::Ident(kw)) if kw == "as" => {
                        let alias = match tok(*i + 1) {
                            Some(Tok::Ident(a)) if a != "_" => Some(a.clone()),
                            _ => None,
                        };
                        *i += 2;
                        out.push((path, alias));
                    }
                    _ => {
                        let name = path.last().cloned();
                        out.push((path, name));
                    }
                }
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                loop {
                    match tok(*i) {
                        Some(Tok::Punct('}')) => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Punct(',')) => *i += 1,
                        None | Some(Tok::Punct(';')) => return,
                        _ => {
                            let before = *i;
                            use_tree(toks, i, path.clone(), out);
                            if *i == before {
                                *i += 1;
                            }
                        }
                    }
                }
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push((path, None));
                return;
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(src: &str) -> Vec<String> {
        scan(src)
            .refs
            .iter()
            .map(|r| r.segments.join("::"))
            .collect()
    }

    #[test]
    fn use_trees_expand() {
        assert_eq!(
            paths("use crate::{a::{self, X}, b::Y as Z, c::*};"),
            ["crate::a", "crate::a::X", "crate::b::Y", "crate::c"]
        );
    }

    #[test]
    fn paths_in_code_count_and_tails_do_not() {
        assert_eq!(
            paths("fn f() { crate::a::g(); Vec::<u8>::new(); <T as super::T>::x(); $crate::m::n }"),
            ["crate::a::g", "Vec", "super::T"]
        );
    }

    #[test]
    fn reexports_and_inline_modules_are_told_apart() {
        let s = scan(
            "pub use x::A;\npub(crate) use y::B as C;\nuse z::D;\nmod k;\n#[cfg(test)]\nmod tests { pub use super::E; }",
        );
        let exports: Vec<_> = s.refs.iter().map(|r| r.export.clone()).collect();
        assert_eq!(exports, [Some("A".into()), Some("C".into()), None, None]);
        assert_eq!(s.child_mods, ["k"]);
        assert_eq!(s.refs[3].inline, ["tests"]);
    }
}
