//! A real S3-compatible server for tests (placeholder until the server is chosen).
