//! HTTP over pooled connections: each face decides what a pooled connection is and how a request
//! uses it. [`client`] is the Promise face (hyper speaks HTTP/1.1).

pub mod client;
