//! Just enough of a Rust lexer to find paths: identifiers, `::` and single
//! punctuation characters, each with its line. Comments, string, byte,
//! raw and character literals, lifetimes and numbers are dropped, so a
//! path inside a doc comment or a string never counts as a use.

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An identifier or keyword (raw identifiers without their `r#`).
    Ident(String),
    /// `::`.
    PathSep,
    /// Any other single character that is not whitespace.
    Punct(char),
}

/// A token and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub tok: Tok,
    /// Where it starts.
    pub line: u32,
}

/// Splits `src` into tokens.
pub fn lex(src: &str) -> Vec<Token> {
    Lexer {
        chars: src.chars().collect(),
        pos: 0,
        line: 1,
        out: Vec::new(),
    }
    .run()
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    out: Vec<Token>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn push(&mut self, tok: Tok, line: u32) {
        self.out.push(Token { tok, line });
    }

    fn run(mut self) -> Vec<Token> {
        // Every branch consumes at least one character, so this ends.
        while let Some(c) = self.peek(0) {
            let line = self.line;
            match c {
                c if c.is_whitespace() => {
                    self.bump();
                }
                '/' if self.peek(1) == Some('/') => self.line_comment(),
                '/' if self.peek(1) == Some('*') => self.block_comment(),
                '"' => self.string(),
                '\'' => self.quote(),
                ':' if self.peek(1) == Some(':') => {
                    self.pos += 2;
                    self.push(Tok::PathSep, line);
                }
                c if c.is_ascii_digit() => {
                    while self
                        .peek(0)
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                    {
                        self.bump();
                    }
                }
                c if c == '_' || c.is_alphabetic() => self.word(line),
                c => {
                    self.bump();
                    self.push(Tok::Punct(c), line);
                }
            }
        }
        self.out
    }

    fn line_comment(&mut self) {
        while self.peek(0).is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn block_comment(&mut self) {
        self.pos += 2;
        let mut depth = 1usize;
        while depth > 0 {
            match (self.peek(0), self.peek(1)) {
                (None, _) => return,
                (Some('/'), Some('*')) => {
                    self.pos += 2;
                    depth += 1;
                }
                (Some('*'), Some('/')) => {
                    self.pos += 2;
                    depth -= 1;
                }
                _ => {
                    self.bump();
                }
            }
        }
    }

    /// A `"..."` string with escapes; the opening quote is next. A
    /// string that is nothing but a `crate::`, `super::` or `self::` path
    /// (serde's `default = "..."`, `with = "..."`) names a module as
    /// surely as code does, so its path is kept.
    fn string(&mut self) {
        let line = self.line;
        self.bump();
        let start = self.pos;
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    self.bump();
                }
                '"' => break,
                _ => {}
            }
        }
        let text: String = self.chars[start..self.pos.saturating_sub(1).max(start)]
            .iter()
            .collect();
        let first = text.split("::").next().unwrap_or("");
        let is_ident = |p: &str| {
            p.chars()
                .next()
                .is_some_and(|c| c == '_' || c.is_alphabetic())
                && p.chars().all(|c| c == '_' || c.is_alphanumeric())
        };
        if matches!(first, "crate" | "super" | "self")
            && text.contains("::")
            && text.split("::").all(is_ident)
        {
            for (i, part) in text.split("::").enumerate() {
                if i > 0 {
                    self.push(Tok::PathSep, line);
                }
                self.push(Tok::Ident(part.to_owned()), line);
            }
        }
    }

    /// `r#"..."#` with any number of `#`; `r` is consumed, `#` or `"` is next.
    fn raw_string(&mut self) {
        let mut hashes = 0usize;
        while self.peek(0) == Some('#') {
            self.bump();
            hashes += 1;
        }
        if self.peek(0) != Some('"') {
            return;
        }
        self.bump();
        while let Some(c) = self.bump() {
            if c == '"' && (0..hashes).all(|i| self.peek(i) == Some('#')) {
                self.pos += hashes;
                return;
            }
        }
    }

    /// A character literal or a lifetime; the quote is next.
    fn quote(&mut self) {
        self.bump();
        match (self.peek(0), self.peek(1)) {
            (Some('\\'), _) => {
                while let Some(c) = self.bump() {
                    if c == '\'' {
                        return;
                    }
                }
            }
            (Some(_), Some('\'')) => {
                self.bump();
                self.bump();
            }
            // A lifetime: its name is dropped with it.
            _ => {
                while self
                    .peek(0)
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
                {
                    self.bump();
                }
            }
        }
    }

    fn word(&mut self, line: u32) {
        let start = self.pos;
        while self
            .peek(0)
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            self.bump();
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        match (word.as_str(), self.peek(0)) {
            ("b" | "c", Some('"')) => self.string(),
            ("b", Some('\'')) => self.quote(),
            ("r" | "br" | "cr", Some('"')) => self.raw_string(),
            ("r" | "br" | "cr", Some('#'))
                if self.peek(1) == Some('"') || self.peek(1) == Some('#') =>
            {
                self.raw_string()
            }
            ("r", Some('#')) => {
                // A raw identifier: `r#type`.
                self.bump();
                let start = self.pos;
                while self
                    .peek(0)
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
                {
                    self.bump();
                }
                let ident: String = self.chars[start..self.pos].iter().collect();
                self.push(Tok::Ident(ident), line);
            }
            _ => self.push(Tok::Ident(word), line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(src: &str) -> Vec<String> {
        lex(src)
            .into_iter()
            .filter_map(|t| match t.tok {
                Tok::Ident(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comments_and_literals_hide_their_paths() {
        let src = "// crate::a\n/* crate::b /* nested */ crate::c */ let s = \"see crate::d\";\n\
                   let r = r#\"crate::e \"# ; let c = '\"'; let l: &'static str = b\"x\";\nuse crate::f;";
        assert_eq!(
            idents(src),
            [
                "let", "s", "let", "r", "let", "c", "let", "l", "str", "use", "crate", "f"
            ]
        );
    }

    #[test]
    fn a_string_that_is_a_crate_path_counts() {
        let src = "#[serde(default = \"crate::a::f\", rename = \"crate\", alias = \"x::y\")]";
        assert_eq!(
            idents(src),
            ["serde", "default", "crate", "a", "f", "rename", "alias"]
        );
    }

    #[test]
    fn lines_are_counted() {
        let toks = lex("a\n\n/* x\n */ b::c");
        assert_eq!(toks[0].line, 1);
        assert_eq!(toks[1].line, 4);
        assert_eq!(toks[2].tok, Tok::PathSep);
    }
}
