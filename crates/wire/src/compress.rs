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
        ContentEncoding::Deflate => {
            read_bounded(flate2::read::DeflateDecoder::new(body), "deflate", max).map(Cow::Owned)
        }
        ContentEncoding::Zstd => unzstd(body, max).map(Cow::Owned),
    }
}

/// Decompresses a gzip body (several concatenated members are read as one), up to `max` bytes.
pub fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, WireError> {
    read_bounded(flate2::read::MultiGzDecoder::new(body), "gzip", max)
}

/// Decompresses a zstd frame (or several), up to `max` bytes.
pub fn unzstd(body: &[u8], max: usize) -> Result<Vec<u8>, WireError> {
    let decoder = zstd::stream::read::Decoder::new(body).map_err(|e| WireError::Decompress {
        codec: "zstd",
        reason: e.to_string(),
    })?;
    read_bounded(decoder, "zstd", max)
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

fn read_bounded(reader: impl Read, codec: &'static str, max: usize) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
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
