//! Integration tests of kelp-k8s: the rules of the node-logging spec (§1–3), table by
//! table, and property tests of every codec.

mod cri;
mod docker;
mod join;
mod path;
mod spec_example;

use kelp_model::Timestamp;

/// Parses an RFC 3339 test timestamp.
fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s.as_bytes()).unwrap()
}
