//! Loki's push API (spec §2): content negotiation, the JSON and protobuf bodies.
//!
//! [`decode_push_encoded`] is the whole of §2.1: it removes the `Content-Encoding`, picks
//! JSON or snappy-protobuf from the `Content-Type`, and decodes into [`StreamEntries`].

pub mod json;
mod json_de;
mod json_fast;
pub mod proto;

use bytes::Bytes;
use kelp_model::{LabelPair, StreamEntries};

use crate::compress::{self, ContentEncoding, DEFAULT_MAX_DECOMPRESSED_BYTES};
use crate::error::WireError;

/// Which body a push request carries, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFormat {
    /// `application/json`: the JSON body of §2.2.
    Json,
    /// Any other media type (normally `application/x-protobuf`): a snappy-compressed
    /// `logproto.PushRequest`, §2.3.
    Protobuf,
}

/// Picks the body format as Loki does: the media type (parameters ignored, case-insensitive)
/// `application/json` is JSON, any other syntactically valid media type is protobuf, and a
/// missing or empty header is an error (`mime: no media type`).
///
/// ```
/// use kelp_wire::{push_format, PushFormat};
/// assert_eq!(push_format(Some("application/json; charset=utf-8")).unwrap(), PushFormat::Json);
/// assert_eq!(push_format(Some("application/x-protobuf")).unwrap(), PushFormat::Protobuf);
/// assert_eq!(push_format(None).unwrap_err().to_string(), "mime: no media type");
/// ```
pub fn push_format(content_type: Option<&str>) -> Result<PushFormat, WireError> {
    let media = media_type(content_type.unwrap_or(""))?;
    Ok(if media.eq_ignore_ascii_case("application/json") {
        PushFormat::Json
    } else {
        PushFormat::Protobuf
    })
}

/// The media type of a `Content-Type` value, checked as Go's `mime.ParseMediaType` checks it.
fn media_type(value: &str) -> Result<&str, WireError> {
    let err = |reason| Err(WireError::ContentType { reason });
    let media = value.split(';').next().unwrap_or("").trim();
    if media.is_empty() {
        return err("mime: no media type");
    }
    let is_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    match media.split_once('/') {
        None if is_token(media) => Ok(media),
        None => err("mime: expected slash after first token"),
        Some((t, _)) if !is_token(t) => err("mime: expected slash after first token"),
        Some((_, "")) => err("mime: expected token after slash"),
        Some((_, sub)) if !is_token(sub) => err("mime: unexpected content after media subtype"),
        Some(_) => Ok(media),
    }
}

/// Decodes a push body whose `Content-Encoding` is already removed, with the default
/// decompression limit ([`DEFAULT_MAX_DECOMPRESSED_BYTES`]) for the snappy layer.
///
/// ```
/// use kelp_model::{Entry, Labels, StreamEntries, Timestamp};
///
/// let body = br#"{"streams":[{"stream":{"app":"checkout"},"values":[["1714557600000000000","order 42"]]}]}"#;
/// let streams = kelp_wire::decode_push(Some("application/json"), body).unwrap();
/// assert_eq!(streams[0].labels.get("app"), Some("checkout"));
/// assert_eq!(&streams[0].entries[0].line[..], b"order 42");
///
/// let proto = kelp_wire::encode_push_protobuf(&streams);
/// assert_eq!(kelp_wire::decode_push(Some("application/x-protobuf"), &proto).unwrap(), streams);
/// ```
pub fn decode_push(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<StreamEntries>, WireError> {
    decode_push_encoded(content_type, None, body, DEFAULT_MAX_DECOMPRESSED_BYTES)
}

/// Decodes a push request body as Loki does (§2.1), given its `Content-Type` and
/// `Content-Encoding` headers; no decompressed form may exceed `max_decompressed` bytes.
///
/// | encoding | JSON | protobuf |
/// | --- | --- | --- |
/// | none, `identity` | JSON | snappy block, then protobuf |
/// | `gzip`, `deflate` | decompress, JSON | decompress, snappy, protobuf |
/// | `snappy` | rejected | snappy, protobuf |
/// | `zstd` (Kelp's extension: native push) | decompress, JSON | decompress, protobuf (no snappy) |
pub fn decode_push_encoded(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    max_decompressed: usize,
) -> Result<Vec<StreamEntries>, WireError> {
    let encoding = ContentEncoding::parse(content_encoding)?;
    let format = push_format(content_type)?;
    match (format, encoding) {
        (PushFormat::Json, ContentEncoding::Snappy) => Err(WireError::UnsupportedEncoding {
            encoding: content_encoding.unwrap_or("snappy").to_owned(),
        }),
        (PushFormat::Json, ContentEncoding::Identity) => {
            if body.len() > max_decompressed {
                return Err(WireError::TooLarge {
                    what: "JSON body",
                    limit: max_decompressed,
                });
            }
            json::decode_json(Bytes::copy_from_slice(body))
        }
        (PushFormat::Json, _) => {
            let raw = compress::decode_content_encoding(encoding, body, max_decompressed)?;
            json::decode_json(Bytes::from(raw.into_owned()))
        }
        (PushFormat::Protobuf, ContentEncoding::Zstd) => {
            let raw = compress::unzstd(body, max_decompressed)?;
            proto::decode_protobuf(Bytes::from(raw))
        }
        (PushFormat::Protobuf, _) => {
            let snappy = compress::decode_content_encoding(encoding, body, max_decompressed)?;
            proto::decode_protobuf_snappy(&snappy, max_decompressed)
        }
    }
}

/// A metadata pair, or none when the value is empty (an empty value means absent, as for
/// labels).
pub(crate) fn metadata_pair(name: String, value: String) -> Option<LabelPair> {
    (!value.is_empty()).then_some(LabelPair { name, value })
}
