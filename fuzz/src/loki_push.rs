//! Loki push decoding on arbitrary bodies, as JSON, as snappy protobuf, and as Kelp's
//! native zstd push: never panics, and whatever decodes re-encodes to the same streams;
//! where the JSON scanner for the common shape answers, the serde decoder answers the same.

use kelp_wire::{decode_push, encode_push_protobuf, native};

const MAX: usize = 1 << 20;

/// One input.
pub fn run(data: &[u8]) {
    for content_type in ["application/json", "application/x-protobuf"] {
        if let Ok(streams) = decode_push(Some(content_type), data) {
            let again = decode_push(
                Some("application/x-protobuf"),
                &encode_push_protobuf(&streams),
            )
            .expect("our own encoding decodes");
            assert_eq!(again, streams);
        }
    }
    let body = bytes::Bytes::copy_from_slice(data);
    if let Some(fast) = kelp_wire::push::json::decode_json_fast(&body) {
        let slow = kelp_wire::push::json::decode_json_serde(body).expect("serde takes it too");
        assert_eq!(fast, slow);
    }
    let _ = native::decode(data, MAX);
}
