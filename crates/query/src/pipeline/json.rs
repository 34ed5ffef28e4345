//! A small JSON reader for the `json` and `unpack` stages: it keeps numbers as their text
//! and the raw text of objects and arrays, which the parsers return as is.

/// A parsed JSON value, borrowing from the input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Num(&'a str),
    Str(String),
    /// Members in order, and the object's raw text.
    Obj(Vec<(String, Json<'a>)>, &'a str),
    /// Elements and the array's raw text.
    Arr(Vec<Json<'a>>, &'a str),
}

impl Json<'_> {
    /// The value as a label value: strings unquoted, numbers and raw objects as text,
    /// `null` empty.
    pub fn to_label(&self) -> String {
        match self {
            Json::Null => String::new(),
            Json::Bool(b) => b.to_string(),
            Json::Num(n) => (*n).to_owned(),
            Json::Str(s) => s.clone(),
            Json::Obj(_, raw) | Json::Arr(_, raw) => (*raw).to_owned(),
        }
    }
}

/// Parses a complete JSON document (surrounding whitespace allowed); `None` if invalid.
/// Nesting deeper than 256 levels is invalid.
pub(crate) fn parse(text: &str) -> Option<Json<'_>> {
    let mut p = P { s: text, i: 0 };
    let v = p.value(0)?;
    p.ws();
    (p.i == text.len()).then_some(v)
}

struct P<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> P<'a> {
    fn b(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.b(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.b() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Json<'a>> {
        if depth > 256 {
            return None;
        }
        self.ws();
        let start = self.i;
        match self.b()? {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.ws();
                        let k = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        let v = self.value(depth + 1)?;
                        members.push((k, v));
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(Json::Obj(members, &self.s[start..self.i]))
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(Json::Arr(items, &self.s[start..self.i]))
            }
            b'"' => self.string().map(Json::Str),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            b'n' => self.word("null", Json::Null),
            b'-' | b'0'..=b'9' => {
                let bytes = self.s.as_bytes();
                while self.i < bytes.len()
                    && matches!(
                        bytes[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let n = &self.s[start..self.i];
                n.parse::<f64>().ok().map(|_| Json::Num(n))
            }
            _ => None,
        }
    }

    fn word(&mut self, w: &str, v: Json<'a>) -> Option<Json<'a>> {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            Some(v)
        } else {
            None
        }
    }

    fn string(&mut self) -> Option<String> {
        if self.b() != Some(b'"') {
            return None;
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.s[self.i..];
            let stop = rest.find(['"', '\\'])?;
            let chunk = &rest[..stop];
            if chunk.bytes().any(|b| b < 0x20) {
                return None;
            }
            out.push_str(chunk);
            self.i += stop;
            if self.b()? == b'"' {
                self.i += 1;
                return Some(out);
            }
            self.i += 1;
            let esc = self.b()?;
            self.i += 1;
            match esc {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let hi = self.hex4()?;
                    let c = if (0xD800..0xDC00).contains(&hi) && self.s[self.i..].starts_with("\\u")
                    {
                        self.i += 2;
                        let lo = self.hex4()?;
                        char::from_u32(
                            0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3ff),
                        )
                    } else {
                        char::from_u32(hi)
                    };
                    out.push(c.unwrap_or('\u{fffd}'));
                }
                _ => return None,
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_number_text_and_raw_objects() {
        let v = parse(r#" {"a": 6.03, "b": {"c": [1, 2]}, "s": "x\"y\u00e9"} "#).unwrap();
        let Json::Obj(m, _) = v else { panic!() };
        assert_eq!(m[0].1, Json::Num("6.03"));
        assert_eq!(m[1].1.to_label(), r#"{"c": [1, 2]}"#);
        assert_eq!(m[2].1.to_label(), "x\"yé");
        assert!(parse("{").is_none() && parse("nope").is_none() && parse("{} x").is_none());
    }
}
