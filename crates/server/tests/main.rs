//! Integration tests of kelp-server: a real server on 127.0.0.1 (random port), real
//! sockets, a minimal HTTP/1.1 client and a WebSocket client.

mod auth;
mod conformance;
mod ingest;
mod limits;
mod load;
mod pods;
mod replica_resources;
mod replica_tail;
mod replicas;
mod resources;
mod support;
mod tail;
mod tls;
