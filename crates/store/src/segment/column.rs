//! Column codecs inside a block: zstd frames, and the line template/digits split.
//!
//! Lines are stored as templates and digits: every maximal run of ASCII digits is cut out
//! of the line into the digits column (4-bit nibbles, two per byte, padded with `0xF`) and
//! replaced in the template by [`TEMPLATE_MARKER`] and the run's length (runs over 255
//! digits are split); a literal marker byte becomes `TEMPLATE_MARKER, 0`. Templates of one
//! stream repeat a lot and compress far better without the numbers in them.

use std::cell::RefCell;

use crate::format::TEMPLATE_MARKER;

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Appends a frame: raw length (u32 LE), stored length (u32 LE), zstd bytes.
pub(crate) fn put_frame(out: &mut Vec<u8>, raw: &[u8], level: i32) -> std::io::Result<()> {
    if raw.is_empty() {
        out.extend_from_slice(&[0; 8]);
        return Ok(());
    }
    let z = COMPRESSOR.with(|c| -> std::io::Result<Vec<u8>> {
        let mut c = c.borrow_mut();
        if c.as_ref().is_none_or(|(l, _)| *l != level) {
            *c = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match c.as_mut() {
            Some((_, comp)) => comp.compress(raw),
            None => unreachable_compressor(),
        }
    })?;
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&(z.len() as u32).to_le_bytes());
    out.extend_from_slice(&z);
    Ok(())
}

#[cold]
fn unreachable_compressor() -> std::io::Result<Vec<u8>> {
    Err(std::io::Error::other("compressor missing"))
}

/// Reads the frame at the start of `buf`: its decompressed bytes and the bytes consumed.
pub(crate) fn get_frame(buf: &[u8]) -> Result<(Vec<u8>, usize), &'static str> {
    if buf.len() < 8 {
        return Err("truncated frame header");
    }
    let raw = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let len = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    let z = buf.get(8..8 + len).ok_or("truncated frame")?;
    if raw == 0 {
        return Ok((Vec::new(), 8 + len));
    }
    let out = DECOMPRESSOR.with(|d| -> Result<Vec<u8>, &'static str> {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new().map_err(|_| "zstd context")?);
        }
        let d = d.as_mut().ok_or("zstd context")?;
        d.decompress(z, raw)
            .map_err(|_| "zstd frame does not decompress")
    })?;
    if out.len() != raw {
        return Err("frame length mismatch");
    }
    Ok((out, 8 + len))
}

/// Whether `c` ends a template stretch: an ASCII digit or the marker.
#[inline]
fn is_special(c: u8) -> bool {
    c.wrapping_sub(b'0') < 10 || c == TEMPLATE_MARKER
}

/// The position of the first digit or marker in `s`, 16 bytes at a time (a loop the
/// compiler turns into SIMD compares and a mask).
#[inline]
fn next_special(s: &[u8]) -> Option<usize> {
    let mut chunks = s.chunks_exact(16);
    let mut base = 0;
    for chunk in chunks.by_ref() {
        let mut mask = 0u16;
        for (k, &c) in chunk.iter().enumerate() {
            mask |= u16::from(is_special(c)) << k;
        }
        if mask != 0 {
            return Some(base + mask.trailing_zeros() as usize);
        }
        base += 16;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| is_special(c))
        .map(|p| base + p)
}

/// Splits lines into templates and packed digits.
#[derive(Default)]
pub(crate) struct LineSplitter {
    pub templates: Vec<u8>,
    pub digits: Vec<u8>,
    half: bool,
}

impl LineSplitter {
    /// A splitter for lines of about `bytes` bytes in all (templates take at most that much
    /// but for markers, digits half of it), so the columns rarely grow.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            templates: Vec::with_capacity(bytes + bytes / 8 + 16),
            digits: Vec::with_capacity(bytes / 4 + 16),
            half: false,
        }
    }

    /// Adds one line; returns its template length.
    pub(crate) fn add(&mut self, line: &[u8]) -> usize {
        let start = self.templates.len();
        let mut i = 0;
        while i < line.len() {
            let b = line[i];
            if b.is_ascii_digit() {
                let rest = &line[i..line.len().min(i + 255)];
                let run = rest
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                self.push_digits(&rest[..run]);
                i += run;
                self.templates
                    .extend_from_slice(&[TEMPLATE_MARKER, run as u8]);
                continue;
            }
            // Copy the stretch up to the next digit or marker in one go.
            let end = next_special(&line[i..]).map_or(line.len(), |p| i + p);
            if end > i {
                self.templates.extend_from_slice(&line[i..end]);
                i = end;
            } else {
                self.templates.extend_from_slice(&[TEMPLATE_MARKER, 0]);
                i += 1;
            }
        }
        self.templates.len() - start
    }

    /// Digit nibbles written so far: where the next line's digits start.
    pub(crate) fn nibbles(&self) -> usize {
        self.digits.len() * 2 - usize::from(self.half)
    }

    /// Appends ASCII digits as nibbles: the pending low nibble first, then two digits a
    /// byte.
    #[inline]
    fn push_digits(&mut self, mut ds: &[u8]) {
        if self.half {
            let Some((&d, rest)) = ds.split_first() else {
                return;
            };
            self.push_digit(d - b'0');
            ds = rest;
        }
        let pairs = ds.chunks_exact(2);
        let odd = pairs.remainder().first().copied();
        self.digits
            .extend(pairs.map(|p| ((p[0] - b'0') << 4) | (p[1] - b'0')));
        if let Some(d) = odd {
            self.push_digit(d - b'0');
        }
    }

    #[inline]
    fn push_digit(&mut self, d: u8) {
        if self.half {
            if let Some(last) = self.digits.last_mut() {
                *last = (*last & 0xf0) | d;
            }
        } else {
            self.digits.push((d << 4) | 0x0f);
        }
        self.half = !self.half;
    }
}

/// Rebuilds lines from templates and digits.
pub(crate) struct LineJoiner<'a> {
    digits: &'a [u8],
    nibble: usize,
}

impl<'a> LineJoiner<'a> {
    pub(crate) fn new(digits: &'a [u8]) -> Self {
        Self { digits, nibble: 0 }
    }

    /// Moves to digit nibble `nibble` (a line's start, from the checkpoint frame).
    pub(crate) fn seek(&mut self, nibble: usize) {
        self.nibble = nibble;
    }

    /// Steps over the line of `template` without rebuilding it.
    pub(crate) fn skip(&mut self, template: &[u8]) -> Result<(), &'static str> {
        let mut i = 0;
        while let Some(p) = memchr::memchr(TEMPLATE_MARKER, &template[i..]) {
            let n = *template.get(i + p + 1).ok_or("truncated template marker")?;
            self.nibble += usize::from(n);
            i += p + 2;
            if i >= template.len() {
                break;
            }
        }
        Ok(())
    }

    /// Appends the line of `template` to `out`.
    pub(crate) fn join(&mut self, template: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
        let mut i = 0;
        while i < template.len() {
            let end =
                memchr::memchr(TEMPLATE_MARKER, &template[i..]).map_or(template.len(), |p| i + p);
            out.extend_from_slice(&template[i..end]);
            if end == template.len() {
                break;
            }
            let n = *template.get(end + 1).ok_or("truncated template marker")?;
            if n == 0 {
                out.push(TEMPLATE_MARKER);
            } else {
                for _ in 0..n {
                    let byte = *self
                        .digits
                        .get(self.nibble / 2)
                        .ok_or("digits column too short")?;
                    let d = if self.nibble % 2 == 0 {
                        byte >> 4
                    } else {
                        byte & 0x0f
                    };
                    if d > 9 {
                        return Err("bad digit nibble");
                    }
                    out.push(b'0' + d);
                    self.nibble += 1;
                }
            }
            i = end + 2;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Just;

    #[test]
    fn templates_round_trip() {
        let lines: Vec<&[u8]> = vec![
            b"",
            b"GET /a/123 200 0.004",
            b"\x01raw marker\x01 7",
            b"9",
            b"no digits",
        ];
        let long = "1".repeat(600);
        let mut all = lines.clone();
        all.push(long.as_bytes());
        let mut s = LineSplitter::default();
        let lens: Vec<usize> = all.iter().map(|l| s.add(l)).collect();
        let mut j = LineJoiner::new(&s.digits);
        let mut off = 0;
        for (l, n) in all.iter().zip(lens) {
            let mut out = Vec::new();
            j.join(&s.templates[off..off + n], &mut out).unwrap();
            assert_eq!(&out, l);
            off += n;
        }
    }

    /// The splitter as first written, byte by byte: the bytes are the on-disk format.
    fn reference_split(lines: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
        let (mut t, mut nibbles) = (Vec::new(), Vec::new());
        for line in lines {
            let mut i = 0;
            while i < line.len() {
                if line[i].is_ascii_digit() {
                    let mut run = 0u8;
                    while i < line.len() && line[i].is_ascii_digit() && run < 255 {
                        nibbles.push(line[i] - b'0');
                        run += 1;
                        i += 1;
                    }
                    t.extend_from_slice(&[TEMPLATE_MARKER, run]);
                } else if line[i] == TEMPLATE_MARKER {
                    t.extend_from_slice(&[TEMPLATE_MARKER, 0]);
                    i += 1;
                } else {
                    t.push(line[i]);
                    i += 1;
                }
            }
        }
        let digits = nibbles
            .chunks(2)
            .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0x0f))
            .collect();
        (t, digits)
    }

    #[test]
    fn split_bytes_are_pinned() {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for i in 0..400usize {
            let mut l = format!(
                "2024-05-01T12:{:02}:{:02}.{i:03}Z level=info msg=\"request served\" path=/api/v{}/items/{} bytes={} ",
                i % 60,
                i % 7,
                i % 3,
                i * 7919,
                i * 31
            )
            .into_bytes();
            l.truncate(i % (l.len() + 1));
            if i % 5 == 0 {
                l.insert(l.len() / 2, TEMPLATE_MARKER);
            }
            if i % 11 == 0 {
                l.extend(std::iter::repeat_n(b'7', i));
            }
            l.extend_from_slice(&[0xc3, 0xa9, b'x']);
            lines.push(l);
        }
        let mut s = LineSplitter::default();
        for l in &lines {
            s.add(l);
        }
        assert_eq!((s.templates, s.digits), reference_split(&lines));
        for l in &lines {
            for at in 0..l.len() {
                let want = l[at..].iter().position(|&c| is_special(c));
                assert_eq!(next_special(&l[at..]), want);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever the digit runs (odd, even, across lines, over 255), the splitter writes
        /// the reference's bytes.
        #[test]
        fn split_bytes_match_the_reference(
            lines in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::prop_oneof![6 => 48u8..58, 3 => Just(b'a'), 1 => Just(TEMPLATE_MARKER)],
                    0..400,
                ),
                0..8,
            )
        ) {
            let mut s = LineSplitter::default();
            for l in &lines {
                s.add(l);
            }
            proptest::prop_assert_eq!((s.templates, s.digits), reference_split(&lines));
        }
    }

    #[test]
    fn frames_round_trip() {
        let mut out = Vec::new();
        put_frame(&mut out, b"hello hello hello", 3).unwrap();
        put_frame(&mut out, b"", 3).unwrap();
        let (a, n) = get_frame(&out).unwrap();
        assert_eq!(a, b"hello hello hello");
        let (b, _) = get_frame(&out[n..]).unwrap();
        assert!(b.is_empty());
    }
}
