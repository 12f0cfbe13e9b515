//! A small EDN reader: enough of the grammar for Jepsen histories (maps, vectors, lists, sets,
//! keywords, strings, numbers, nil/true/false, symbols, `;` comments, `#_` discards, and tagged
//! literals such as `#jepsen.history.Op{...}` or `#inst "..."`, whose tag is dropped).
//! Every value remembers the line it starts on, so errors and ops can name their line.

/// An EDN value.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    Nil,
    Bool(bool),
    /// Integers and floats, kept as written (without an `N`/`M` suffix).
    Number(String),
    Str(String),
    Keyword(String),
    Symbol(String),
    Char(String),
    Vector(Vec<Edn>),
    List(Vec<Edn>),
    Set(Vec<Edn>),
    /// Entries, and the line the map starts on.
    Map(Vec<(Edn, Edn)>, usize),
}

impl Edn {
    /// The value of keyword `k` in a map.
    pub fn get(&self, k: &str) -> Option<&Edn> {
        match self {
            Edn::Map(kv, _) => kv.iter().find_map(|(key, v)| match key {
                Edn::Keyword(name) if name == k => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// EDN text, with strings unquoted at the top level (the value as a register stores it).
    pub fn to_value_text(&self) -> String {
        match self {
            Edn::Str(s) => s.clone(),
            other => other.to_edn(),
        }
    }

    pub fn to_edn(&self) -> String {
        let seq = |open: &str, items: &[Edn], close: &str| {
            let inner: Vec<String> = items.iter().map(Edn::to_edn).collect();
            format!("{open}{}{close}", inner.join(" "))
        };
        match self {
            Edn::Nil => "nil".into(),
            Edn::Bool(b) => b.to_string(),
            Edn::Number(n) => n.clone(),
            Edn::Str(s) => format!("{s:?}"),
            Edn::Keyword(k) => format!(":{k}"),
            Edn::Symbol(s) => s.clone(),
            Edn::Char(c) => format!("\\{c}"),
            Edn::Vector(v) => seq("[", v, "]"),
            Edn::List(v) => seq("(", v, ")"),
            Edn::Set(v) => seq("#{", v, "}"),
            Edn::Map(kv, _) => {
                let inner: Vec<String> = kv
                    .iter()
                    .map(|(k, v)| format!("{} {}", k.to_edn(), v.to_edn()))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
        }
    }
}

/// A syntax error at a line (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct EdnError {
    pub line: usize,
    pub message: String,
}

pub struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
}

const MAX_DEPTH: usize = 200;

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Reader {
            s: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError {
            line: self.line,
            message: message.into(),
        })
    }

    fn skip_ws(&mut self) {
        while self.pos < self.s.len() {
            match self.s[self.pos] {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' => self.pos += 1,
                b';' => {
                    while self.pos < self.s.len() && self.s[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// The next top-level value and the line it starts on; `None` at the end of input.
    pub fn next_value(&mut self) -> Result<Option<(usize, Edn)>, EdnError> {
        self.skip_ws();
        if self.pos >= self.s.len() {
            return Ok(None);
        }
        let line = self.line;
        let v = self.value(0)?;
        Ok(Some((line, v)))
    }

    fn is_delim(b: u8) -> bool {
        matches!(
            b,
            b' ' | b'\t'
                | b'\r'
                | b'\n'
                | b','
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'"'
                | b';'
        )
    }

    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self.pos < self.s.len() && !Self::is_delim(self.s[self.pos]) {
            self.pos += 1;
        }
        // Tokens end at ASCII delimiters, so the slice stays on UTF-8 boundaries.
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("")
    }

    fn seq(&mut self, close: u8, depth: usize) -> Result<Vec<Edn>, EdnError> {
        let open_line = self.line;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.pos >= self.s.len() {
                return Err(EdnError {
                    line: open_line,
                    message: format!("unclosed collection (expected '{}')", close as char),
                });
            }
            if self.s[self.pos] == close {
                self.pos += 1;
                return Ok(items);
            }
            if matches!(self.s[self.pos], b')' | b']' | b'}') {
                return self.err(format!(
                    "unexpected '{}' (expected '{}')",
                    self.s[self.pos] as char, close as char
                ));
            }
            if let Some(v) = self.value_or_discard(depth + 1)? {
                items.push(v);
            }
        }
    }

    fn value_or_discard(&mut self, depth: usize) -> Result<Option<Edn>, EdnError> {
        if self.s[self.pos..].starts_with(b"#_") {
            self.pos += 2;
            self.skip_ws();
            if self.pos >= self.s.len() {
                return self.err("#_ at end of input");
            }
            self.value(depth)?;
            return Ok(None);
        }
        self.value(depth).map(Some)
    }

    fn value(&mut self, depth: usize) -> Result<Edn, EdnError> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        self.skip_ws();
        if self.pos >= self.s.len() {
            return self.err("unexpected end of input");
        }
        let b = self.s[self.pos];
        match b {
            b'(' => {
                self.pos += 1;
                Ok(Edn::List(self.seq(b')', depth)?))
            }
            b'[' => {
                self.pos += 1;
                Ok(Edn::Vector(self.seq(b']', depth)?))
            }
            b'{' => {
                let line = self.line;
                self.pos += 1;
                let items = self.seq(b'}', depth)?;
                if items.len() % 2 != 0 {
                    return Err(EdnError {
                        line,
                        message: "map with an odd number of forms".into(),
                    });
                }
                let mut it = items.into_iter();
                let mut kv = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    kv.push((k, v));
                }
                Ok(Edn::Map(kv, line))
            }
            b')' | b']' | b'}' => self.err(format!("unexpected '{}'", b as char)),
            b'"' => self.string(),
            b'\\' => {
                self.pos += 1;
                let t = self.token();
                let t = if t.is_empty() && self.pos < self.s.len() {
                    self.pos += 1;
                    std::str::from_utf8(&self.s[self.pos - 1..self.pos]).unwrap_or("?")
                } else {
                    t
                };
                Ok(Edn::Char(t.to_string()))
            }
            b'#' => {
                if self.s.get(self.pos + 1) == Some(&b'{') {
                    self.pos += 2;
                    return Ok(Edn::Set(self.seq(b'}', depth)?));
                }
                if self.s.get(self.pos + 1) == Some(&b'_') {
                    self.pos += 2;
                    self.value(depth + 1)?;
                    return self.value(depth + 1);
                }
                self.pos += 1;
                let tag = self.token();
                if tag.is_empty() {
                    return self.err("'#' without a tag");
                }
                // Tagged literal: keep the value, drop the tag.
                self.value(depth + 1)
            }
            _ => {
                let t = self.token();
                if t.is_empty() {
                    return self.err(format!("unexpected character '{}'", b as char));
                }
                Ok(match t {
                    "nil" => Edn::Nil,
                    "true" => Edn::Bool(true),
                    "false" => Edn::Bool(false),
                    _ if t.starts_with(':') => {
                        if t.len() == 1 {
                            return self.err("empty keyword ':'");
                        }
                        Edn::Keyword(t[1..].to_string())
                    }
                    _ if t.as_bytes()[0].is_ascii_digit()
                        || (t.len() > 1
                            && matches!(t.as_bytes()[0], b'-' | b'+')
                            && t.as_bytes()[1].is_ascii_digit()) =>
                    {
                        let n = t.trim_end_matches(['N', 'M']);
                        let n = n.strip_prefix('+').unwrap_or(n);
                        if n.parse::<f64>().is_err() && n.parse::<i128>().is_err() {
                            return self.err(format!("bad number '{t}'"));
                        }
                        Edn::Number(n.to_string())
                    }
                    _ => Edn::Symbol(t.to_string()),
                })
            }
        }
    }

    fn string(&mut self) -> Result<Edn, EdnError> {
        let start_line = self.line;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        while self.pos < self.s.len() {
            let b = self.s[self.pos];
            self.pos += 1;
            match b {
                b'"' => {
                    return String::from_utf8(out)
                        .map(Edn::Str)
                        .or_else(|_| self.err("string is not valid UTF-8"));
                }
                b'\n' => {
                    self.line += 1;
                    out.push(b);
                }
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        break;
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'u' => {
                            let hex = self.s.get(self.pos..self.pos + 4);
                            let c = hex
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32);
                            let Some(c) = c else {
                                return self.err("bad \\u escape in string");
                            };
                            self.pos += 4;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return self.err(format!("bad escape '\\{}' in string", e as char)),
                    }
                }
                _ => out.push(b),
            }
        }
        Err(EdnError {
            line: start_line,
            message: "unterminated string".into(),
        })
    }
}
