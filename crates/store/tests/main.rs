//! kelp-store's integration tests (one binary, modules by concern).

mod common;

mod concurrency;
mod corruption;
mod crash;
mod faults;
mod format_v1;
mod ingest;
mod maintenance;
mod scan;
mod semantics;
mod wal;
