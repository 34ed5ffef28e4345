//! kelp-bucket's integration tests: the store over real buckets (a local directory through
//! object_store, and a real S3-compatible server on 127.0.0.1).

mod local;
mod peer;
mod s3;
mod support;
