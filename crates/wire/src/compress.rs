//! Bounded decompression of request bodies, and the compressors Kelp's senders use.
//!
//! Every decompressor takes a limit on its output, so a small "zip bomb" cannot make the
//! server allocate gigabytes: past the limit decoding stops with [`WireError::TooLarge`].

use std::borrow::Cow;
use std::io::{Read, Write};

use crate::error::WireError;

/// The default limit on a decompressed body: 100 MiB, Loki's default
/// `distributor.max-recv-msg-size`.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 100 << 20;

/// A `Content-Encoding` this crate can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// No header, an empty one, or `identity`.
    Identity,
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: raw DEFLATE (RFC 1951), as Loki reads it.
    Deflate,
    /// `snappy`: Loki's protobuf bodies are snappy-compressed anyway, so for them this is the
    /// same as identity; for JSON it is rejected.
    Snappy,
    /// `zstd`: Kelp's native push (see `docs/wire.md`).
    Zstd,
}

impl ContentEncoding {
    /// Parses a `Content-Encoding` header value (case-insensitive, surrounding spaces
    /// ignored); anything unknown gives Loki's `Content-Encoding "x" not supported`.
    pub fn parse(header: Option<&str>) -> Result<Self, WireError> {
        let raw = header.unwrap_or("");
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            "deflate" => Ok(Self::Deflate),
            "snappy" => Ok(Self::Snappy),
            "zstd" => Ok(Self::Zstd),
            _ => Err(WireError::UnsupportedEncoding {
                encoding: raw.to_owned(),
            }),
        }
    }
}

/// Removes a `Content-Encoding` of gzip, deflate or zstd, producing at most `max` bytes.
/// Identity and snappy are returned as they are (borrowed): snappy is part of the body
/// format, not a transfer encoding, for the endpoints that accept it.
pub fn decode_content_encoding(
    encoding: ContentEncoding,
    body: &[u8],
    max: usize,
) -> Result<Cow<'_, [u8]>, WireError> {
    match encoding {
        ContentEncoding::Identity | ContentEncoding::Snappy => Ok(Cow::Borrowed(body)),
        ContentEncoding::Gzip => gunzip(body, max).map(Cow::Owned),
        ContentEncoding::Deflate => read_bounded(
            flate2::bufread::DeflateDecoder::new(body),
            "deflate",
            max,
            0,
        )
        .map(Cow::Owned),
        ContentEncoding::Zstd => unzstd(body, max).map(Cow::Owned),
    }
}

/// Decompresses a gzip body (several concatenated members are read as one), up to `max` bytes.
pub fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, WireError> {
    // The trailer's ISIZE (the last member's length mod 2^32) sizes the output up front,
    // so reading does not grow (and copy) the buffer by doubling. It is only a hint from
    // the sender: capped at the limit and at what DEFLATE's best ratio (1032:1) allows.
    let hint = match body.len().checked_sub(4) {
        Some(at) if body.len() >= 18 => {
            let isize = u32::from_le_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
            usize::try_from(isize).unwrap_or(usize::MAX)
        }
        _ => 0,
    };
    let hint = hint.min(body.len().saturating_mul(1032));
    // The usual body is one gzip member whose trailer gives its exact size: libdeflate
    // inflates it in one call, about twice as fast as a streaming inflater. Anything else
    // (several members, a trailer that lies, a size over the limit) takes the streaming
    // path, which enforces the limit as it reads.
    if hint > 0 && hint <= max && single_member(body) {
        let mut out = vec![0u8; hint];
        let mut d = libdeflater::Decompressor::new();
        if let Ok(n) = d.gzip_decompress(body, &mut out) {
            if n == hint {
                return Ok(out);
            }
        }
    }
    read_bounded(
        flate2::bufread::MultiGzDecoder::new(body),
        "gzip",
        max,
        hint,
    )
}

/// Whether a gzip body surely holds one member: every member starts with the magic
/// `1f 8b 08`, so a body without it past the first header has no second member. (libdeflate
/// stops after the first member and would drop the others; a body that merely contains
/// those bytes inside its compressed data takes the streaming path.)
fn single_member(body: &[u8]) -> bool {
    body.len() >= 18
        && memchr::memmem::find(&body[10..body.len() - 8], &[0x1f, 0x8b, 0x08]).is_none()
}

/// Decompresses a zstd frame (or several), up to `max` bytes.
pub fn unzstd(body: &[u8], max: usize) -> Result<Vec<u8>, WireError> {
    let decoder =
        zstd::stream::read::Decoder::with_buffer(body).map_err(|e| WireError::Decompress {
            codec: "zstd",
            reason: e.to_string(),
        })?;
    // The first frame's declared content size, if any, sizes the output (a hint, capped).
    let hint = zstd::zstd_safe::get_frame_content_size(body)
        .ok()
        .flatten()
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    read_bounded(decoder, "zstd", max, hint)
}

/// Decompresses a snappy *block* (Go's `snappy.Decode`, not the framed format), refusing
/// one whose declared length exceeds `max` before allocating.
pub fn unsnappy(body: &[u8], max: usize) -> Result<Vec<u8>, WireError> {
    let fail = |e: snap::Error| WireError::Decompress {
        codec: "snappy",
        reason: e.to_string(),
    };
    let len = snap::raw::decompress_len(body).map_err(fail)?;
    if len > max {
        return Err(WireError::TooLarge {
            what: "decompressed snappy body",
            limit: max,
        });
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(fail)
}

/// Compresses `data` as one snappy block.
pub fn snappy(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0; snap::raw::max_compress_len(data.len())];
    // Compressing into a buffer of `max_compress_len` bytes cannot fail for inputs under
    // 4 GiB; larger ones are a sender bug, and an empty body is then sent (and rejected).
    let n = snap::raw::Encoder::new()
        .compress(data, &mut out)
        .unwrap_or_default();
    out.truncate(n);
    out
}

/// Compresses `data` as gzip at the default level.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Compresses `data` as one zstd frame at `level` (1 to 22; 3 is zstd's default).
pub fn zstd(data: &[u8], level: i32) -> Vec<u8> {
    // Compressing from memory to memory fails only on an invalid level, which zstd clamps.
    zstd::bulk::compress(data, level).unwrap_or_default()
}

/// Reads `reader` to its end, failing past `max` bytes; `hint` (the expected length, from
/// the sender, capped at `max + 1`) is allocated up front.
fn read_bounded(
    reader: impl Read,
    codec: &'static str,
    max: usize,
    hint: usize,
) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(hint.min(max.saturating_add(1)));
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| WireError::Decompress {
            codec,
            reason: e.to_string(),
        })?;
    if out.len() > max {
        return Err(WireError::TooLarge {
            what: match codec {
                "gzip" => "decompressed gzip body",
                "deflate" => "decompressed deflate body",
                _ => "decompressed zstd body",
            },
            limit: max,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let data = b"hello hello hello hello".repeat(100);
        assert_eq!(gunzip(&gzip(&data), 1 << 20).unwrap(), data);
        assert_eq!(unzstd(&zstd(&data, 3), 1 << 20).unwrap(), data);
        assert_eq!(unsnappy(&snappy(&data), 1 << 20).unwrap(), data);
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        for (enc, body) in [
            (ContentEncoding::Gzip, gzip(&zeros)),
            (ContentEncoding::Zstd, zstd(&zeros, 3)),
        ] {
            let err = decode_content_encoding(enc, &body, 1000).unwrap_err();
            assert!(err.is_too_large(), "{err}");
        }
        let err = unsnappy(&snappy(&zeros), 1000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "request body too large: decompressed snappy body exceeds the limit of 1000 bytes"
        );
        // Exactly at the limit is fine.
        assert_eq!(
            gunzip(&gzip(&zeros), zeros.len()).unwrap().len(),
            zeros.len()
        );
    }

    #[test]
    fn size_hints_are_only_hints() {
        let data = b"line 1 of the log\n".repeat(1000);
        // Two members: the trailer's ISIZE is only the last one's length.
        let mut two = gzip(&data);
        two.extend_from_slice(&gzip(b"tail"));
        let mut want = data.clone();
        want.extend_from_slice(b"tail");
        assert_eq!(gunzip(&two, 1 << 20).unwrap(), want);
        // Members A, B, A: the first and the last agree on length and CRC, so only the
        // member count tells that the middle one must not be dropped.
        let (a, b) = (
            b"heartbeat ok\n".repeat(50),
            b"the one line in between\n".to_vec(),
        );
        let mut aba = gzip(&a);
        aba.extend_from_slice(&gzip(&b));
        aba.extend_from_slice(&gzip(&a));
        assert_eq!(gunzip(&aba, 1 << 20).unwrap(), [&a[..], &b, &a].concat());
        // One member, decoded in one call: the same bytes as the streaming decoder.
        for len in [0usize, 1, 100, 70_000] {
            let d: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            assert_eq!(gunzip(&gzip(&d), 1 << 20).unwrap(), d);
        }
        // A trailer lying about the length: too small, too large, over the limit.
        let good = gzip(&data);
        let at = good.len() - 4;
        for lie in [0u32, 1, 17_999, 18_001, u32::MAX] {
            let mut body = good.clone();
            body[at..].copy_from_slice(&lie.to_le_bytes());
            // The CRC still matches, ISIZE does not: flate2 rejects it, without a panic or
            // an allocation over the limit.
            let r = gunzip(&body, 20_000);
            assert!(r.is_err() || r.unwrap() == data);
        }
        assert!(gunzip(&good, data.len() - 1).unwrap_err().is_too_large());
        // zstd with its content size in the frame header.
        let z = zstd(&data, 3);
        assert_eq!(unzstd(&z, data.len()).unwrap(), data);
        assert!(unzstd(&z, data.len() - 1).unwrap_err().is_too_large());
    }

    #[test]
    fn encodings_parse_like_loki() {
        assert_eq!(
            ContentEncoding::parse(None).unwrap(),
            ContentEncoding::Identity
        );
        assert_eq!(
            ContentEncoding::parse(Some(" GZIP ")).unwrap(),
            ContentEncoding::Gzip
        );
        let err = ContentEncoding::parse(Some("br")).unwrap_err();
        assert_eq!(err.to_string(), r#"Content-Encoding "br" not supported"#);
        assert!(gunzip(b"not gzip", 100).is_err());
    }
}
