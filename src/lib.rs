//! keepalive-agent: a keep-alive HTTP agent for Node.js whose connections live in a Rust pool.
//!
//! Layers point one way: [`binding`] (N-API, JS values) → [`faces`] (HTTP over pooled connections) →
//! [`pool`] (caps, queue, idle lists) → [`connect`] (DNS, TCP, TLS). Everything below `binding` is plain
//! Rust and is tested with `cargo test` against real sockets on 127.0.0.1.

pub mod connect;
pub mod error;
pub mod faces;
pub mod origin;
pub mod pool;

mod binding;
