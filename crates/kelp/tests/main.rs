//! End-to-end tests: they run the real `kelp` binary on real files.

mod agent;
mod agent_delivery;
mod architecture;
mod common;
mod demo;
mod deploy;
mod logs;
mod pods;
mod server;
mod simulate;
mod stream;
mod top;
mod ui;
