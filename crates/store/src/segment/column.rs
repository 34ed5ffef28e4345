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

/// Splits lines into templates and packed digits.
///
/// Both columns are written by index into buffers kept longer than their contents, and a
/// line is walked by its digit and marker bits, found 16 bytes at a time, rather than byte by
/// byte: stretches of text are copied 16 bytes at once when they are short.
#[derive(Default)]
pub(crate) struct LineSplitter {
    /// `templates[..tlen]` is the column; the rest is room.
    templates: Vec<u8>,
    tlen: usize,
    /// Nibble `k` is the high half of `digits[k / 2]` when `k` is even.
    digits: Vec<u8>,
    nib: usize,
    /// Per 64 bytes of the current line: which are digits or the marker (`special`), and
    /// which are digits.
    special: Vec<u64>,
    digit: Vec<u64>,
}

impl LineSplitter {
    /// A splitter for lines of about `bytes` bytes in all (templates take at most that much
    /// but for markers, digits half of it), so the columns rarely grow.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            templates: vec![0; bytes + bytes / 8 + 64],
            digits: vec![0; bytes / 4 + 64],
            ..Self::default()
        }
    }

    /// The templates column.
    pub(crate) fn templates(&self) -> &[u8] {
        &self.templates[..self.tlen]
    }

    /// The digits column.
    pub(crate) fn digits(&self) -> &[u8] {
        &self.digits[..self.nib.div_ceil(2)]
    }

    /// Adds one line; returns its template length.
    pub(crate) fn add(&mut self, line: &[u8]) -> usize {
        let n = line.len();
        let start = self.tlen;
        // A byte becomes at most two template bytes; 16 more for a short stretch's copy.
        let need = start + 2 * n + 16;
        if self.templates.len() < need {
            let grow = need.max(self.templates.len() * 2);
            self.templates.resize(grow, 0);
        }
        let need = self.nib / 2 + n / 2 + 2;
        if self.digits.len() < need {
            let grow = need.max(self.digits.len() * 2);
            self.digits.resize(grow, 0);
        }
        self.classify(line);
        let (t, dig) = (&mut self.templates, &mut self.digits);
        let (mut o, mut nib, mut i) = (start, self.nib, 0);
        loop {
            let p = next_bit(&self.special, i, false).min(n);
            let len = p - i;
            if len <= 16 && i + 16 <= n {
                t[o..o + 16].copy_from_slice(&line[i..i + 16]);
            } else {
                t[o..o + len].copy_from_slice(&line[i..p]);
            }
            o += len;
            if p == n {
                break;
            }
            if self.digit[p / 64] & (1 << (p % 64)) != 0 {
                let end = next_bit(&self.digit, p, true).min(n).min(p + 255);
                // The pending low nibble first, then two digits a byte; an odd last digit
                // leaves the low nibble's 0xF pad.
                let mut k = p;
                if nib & 1 == 1 {
                    let b = &mut dig[nib / 2];
                    *b = (*b & 0xf0) | (line[k] - b'0');
                    (nib, k) = (nib + 1, k + 1);
                }
                while k + 1 < end {
                    dig[nib / 2] = ((line[k] - b'0') << 4) | (line[k + 1] - b'0');
                    (nib, k) = (nib + 2, k + 2);
                }
                if k < end {
                    dig[nib / 2] = ((line[k] - b'0') << 4) | 0x0f;
                    nib += 1;
                }
                t[o] = TEMPLATE_MARKER;
                t[o + 1] = (end - p) as u8;
                i = end;
            } else {
                t[o] = TEMPLATE_MARKER;
                t[o + 1] = 0;
                i = p + 1;
            }
            o += 2;
        }
        self.tlen = o;
        self.nib = nib;
        o - start
    }

    /// Fills `special` and `digit` for `line` (bits past its end are clear).
    fn classify(&mut self, line: &[u8]) {
        self.special.clear();
        self.digit.clear();
        let (mut s, mut d) = (0u64, 0u64);
        let mut k = 0;
        let mut chunks = line.chunks_exact(16);
        for chunk in chunks.by_ref() {
            let (cs, cd) = masks16(chunk.try_into().unwrap_or(&[0; 16]));
            s |= u64::from(cs) << k;
            d |= u64::from(cd) << k;
            k += 16;
            if k == 64 {
                self.special.push(s);
                self.digit.push(d);
                (s, d, k) = (0, 0, 0);
            }
        }
        let mut last = [0u8; 16];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        let (cs, cd) = masks16(&last);
        self.special.push(s | u64::from(cs) << k);
        self.digit.push(d | u64::from(cd) << k);
    }

    /// Digit nibbles written so far: where the next line's digits start.
    pub(crate) fn nibbles(&self) -> usize {
        self.nib
    }
}

/// Which of 16 bytes are digits or the marker, and which are digits: eight bytes at a time
/// in a `u64` (SWAR), each byte's answer in its high bit, then gathered into a bit each.
#[inline]
fn masks16(c: &[u8; 16]) -> (u16, u16) {
    let (a, b) = c.split_at(8);
    let (sa, da) = masks8(u64::from_le_bytes(a.try_into().unwrap_or([0; 8])));
    let (sb, db) = masks8(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    (
        u16::from(sa) | u16::from(sb) << 8,
        u16::from(da) | u16::from(db) << 8,
    )
}

#[inline]
fn masks8(v: u64) -> (u8, u8) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const fn splat(b: u8) -> u64 {
        b as u64 * 0x0101_0101_0101_0101
    }
    // No byte carries into the next: each low-7-bit value plus at most 0x80 stays < 0x100.
    let low = v & LOW7;
    let ascii = !v & HIGH;
    let ge_0 = low + splat(0x80 - b'0');
    let gt_9 = low + splat(0x80 - b'9' - 1);
    let digit = ge_0 & !gt_9 & ascii;
    let x = v ^ splat(TEMPLATE_MARKER);
    let marker = !(((x & LOW7) + LOW7) | x) & HIGH;
    (gather(digit | marker), gather(digit))
}

/// The high bits of a `u64`'s eight bytes as the eight bits of a `u8` (byte `k` → bit `k`).
#[inline]
fn gather(m: u64) -> u8 {
    ((m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8
}

/// The first bit at or after `from` that is set (clear when `clear`) in the bit string
/// `words`; past the end when there is none.
#[inline]
fn next_bit(words: &[u64], from: usize, clear: bool) -> usize {
    let flip = if clear { !0 } else { 0 };
    let mut w = from / 64;
    let Some(&first) = words.get(w) else {
        return usize::MAX;
    };
    let mut x = (first ^ flip) & (!0u64 << (from % 64));
    loop {
        if x != 0 {
            return w * 64 + x.trailing_zeros() as usize;
        }
        w += 1;
        match words.get(w) {
            Some(&v) => x = v ^ flip,
            None => return usize::MAX,
        }
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
        let mut j = LineJoiner::new(s.digits());
        let mut off = 0;
        for (l, n) in all.iter().zip(lens) {
            let mut out = Vec::new();
            j.join(&s.templates()[off..off + n], &mut out).unwrap();
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
        assert_eq!(
            (s.templates().to_vec(), s.digits().to_vec()),
            reference_split(&lines)
        );
    }

    #[test]
    fn byte_masks_are_exact() {
        for b in 0..=255u8 {
            for at in 0..16 {
                let mut c = [b'a'; 16];
                c[at] = b;
                let (s, d) = masks16(&c);
                let digit = b.is_ascii_digit();
                assert_eq!(d, u16::from(digit) << at, "{b:#x} at {at}");
                assert_eq!(
                    s,
                    u16::from(digit || b == TEMPLATE_MARKER) << at,
                    "{b:#x} at {at}"
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Whatever the digit runs (odd, even, across lines, over 255), the splitter writes
        /// the reference's bytes.
        #[test]
        fn split_bytes_match_the_reference(
            lines in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::prop_oneof![6 => 48u8..58, 3 => Just(b'a'), 1 => Just(TEMPLATE_MARKER), 2 => proptest::prelude::any::<u8>()],
                    0..400,
                ),
                0..8,
            )
        ) {
            let mut s = LineSplitter::default();
            for l in &lines {
                s.add(l);
            }
            proptest::prop_assert_eq!((s.templates().to_vec(), s.digits().to_vec()), reference_split(&lines));
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
