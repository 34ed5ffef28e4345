//! End-to-end tests: they run the real `kelp` binary on real files.

mod agent;
mod agent_delivery;
mod architecture;
mod auth;
mod clock;
mod common;
mod demo;
mod deploy;
mod events;
mod faults;
mod fuzz_inputs;
mod journal;
mod logs;
mod pods;
mod replicas;
mod replicas_bucket;
mod server;
mod simulate;
mod stream;
mod tls;
mod top;
mod ui;
