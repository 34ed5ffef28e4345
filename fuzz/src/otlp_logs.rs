//! OTLP/HTTP logs decoding (protobuf and JSON) on arbitrary bodies: never panics.

use kelp_model::Timestamp;
use kelp_wire::otlp::decode_logs;

/// One input.
pub fn run(data: &[u8]) {
    let now = Timestamp::from_unix_secs(1_700_000_000);
    let _ = decode_logs(Some("application/x-protobuf"), data, now);
    let _ = decode_logs(Some("application/json"), data, now);
}
