//! String literals: Go's double-quoted strings with escapes, and backtick raw strings.

use super::LexError;

/// A double-quoted string starting at `*pos`, unescaped with Go's rules (`\n`, `\"`, `\\`,
/// `\x41`, `\101`, `\u00e9`, `\U0001F600`, ...). The result must be valid UTF-8.
pub(super) fn quoted(src: &str, pos: &mut usize) -> Result<String, LexError> {
    let start = *pos;
    *pos += 1;
    let mut out = Vec::new();
    loop {
        let Some(c) = src[*pos..].chars().next() else {
            return Err((start, "literal not terminated".into()));
        };
        match c {
            '"' => {
                *pos += 1;
                break;
            }
            '\n' => return Err((start, "literal not terminated".into())),
            '\\' => {
                let at = *pos;
                *pos += 1;
                escape(src, pos, &mut out).map_err(|reason| (at, reason.into()))?;
            }
            c => {
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                *pos += c.len_utf8();
            }
        }
    }
    String::from_utf8(out).map_err(|_| (start, "invalid UTF-8 in string".into()))
}

/// A backtick string starting at `*pos`: no escapes; carriage returns are dropped, as Go does.
pub(super) fn raw(src: &str, pos: &mut usize) -> Result<String, LexError> {
    let start = *pos;
    let Some(len) = src[start + 1..].find('`') else {
        *pos = src.len();
        return Err((start, "literal not terminated".into()));
    };
    *pos = start + len + 2;
    Ok(src[start + 1..start + 1 + len].replace('\r', ""))
}

/// One escape after a backslash.
fn escape(src: &str, pos: &mut usize, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let Some(c) = src[*pos..].chars().next() else {
        return Err("literal not terminated");
    };
    *pos += c.len_utf8();
    let byte = match c {
        'a' => 0x07,
        'b' => 0x08,
        'f' => 0x0c,
        'n' => b'\n',
        'r' => b'\r',
        't' => b'\t',
        'v' => 0x0b,
        '\\' => b'\\',
        '"' => b'"',
        '0'..='7' => {
            *pos -= 1;
            let v = digits(src, pos, 3, 8)?;
            u8::try_from(v).map_err(|_| "octal escape value > 255")?
        }
        'x' => {
            let v = digits(src, pos, 2, 16)?;
            u8::try_from(v).map_err(|_| "invalid char escape")?
        }
        'u' | 'U' => {
            let n = if c == 'u' { 4 } else { 8 };
            let v = digits(src, pos, n, 16)?;
            let ch = char::from_u32(v).ok_or("escape sequence is invalid Unicode code point")?;
            out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
            return Ok(());
        }
        _ => return Err("invalid char escape"),
    };
    out.push(byte);
    Ok(())
}

/// Exactly `n` digits in `radix`.
fn digits(src: &str, pos: &mut usize, n: usize, radix: u32) -> Result<u32, &'static str> {
    let mut v: u32 = 0;
    for _ in 0..n {
        let d = src[*pos..]
            .chars()
            .next()
            .and_then(|c| c.to_digit(radix))
            .ok_or("invalid char escape")?;
        v = v * radix + d;
        *pos += 1;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<String, LexError> {
        quoted(s, &mut 0)
    }

    #[test]
    fn go_escapes() {
        assert_eq!(q(r#""a\"b\\c\n\t""#).unwrap(), "a\"b\\c\n\t");
        assert_eq!(q(r#""\x41\101\u00e9\U0001F600""#).unwrap(), "AAé😀");
        assert_eq!(q(r#""\w""#).unwrap_err().1, "invalid char escape");
        assert_eq!(q(r#""\'""#).unwrap_err().1, "invalid char escape");
        assert_eq!(q(r#""\xff""#).unwrap_err().1, "invalid UTF-8 in string");
        assert_eq!(q(r#""\uD800""#).unwrap_err().0, 1);
        assert_eq!(q("\"open").unwrap_err().1, "literal not terminated");
        assert_eq!(q("\"a\nb\"").unwrap_err().1, "literal not terminated");
    }

    #[test]
    fn raw_strings() {
        assert_eq!(raw("`\\w+\r\n`", &mut 0).unwrap(), "\\w+\n");
        assert!(raw("`open", &mut 0).is_err());
    }
}
