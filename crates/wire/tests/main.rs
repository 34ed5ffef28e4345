//! kelp-wire's integration tests, one module per protocol.

mod bulk;
mod otlp;
mod push;
mod response;
