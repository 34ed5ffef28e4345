//! Integration tests: fixture cgroup and log trees in tempdirs, this machine's real
//! `/proc` and `/sys/fs/cgroup`, and golden outputs from the spec.

mod api;
mod cgroup;
mod collector;
mod fixture;
mod mapping;
mod node;
mod rate;
mod top;
