//! Elasticsearch `_bulk` parsing on arbitrary bodies: never panics, one result item per
//! action, and the response it builds is valid JSON.

use kelp_model::Timestamp;
use kelp_wire::bulk::{bulk_response, parse_bulk, BulkMapping};

/// One input.
pub fn run(data: &[u8]) {
    let mapping = BulkMapping::default();
    let now = Timestamp::from_unix_secs(1_700_000_000);
    if let Ok(req) = parse_bulk(data, Some("logs"), &mapping, now) {
        let body = bulk_response(1, &req.items);
        serde_json::from_slice::<serde_json::Value>(&body).expect("response is JSON");
    }
}
