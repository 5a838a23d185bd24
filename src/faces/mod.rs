//! HTTP over pooled connections. The two faces share one pool, so one set of caps covers both:
//! [`client`] is hyper's HTTP/1.1 (the dispatcher face, and what the Promise face's exchanges do not
//! take), [`transport`] the connections whose bytes JS speaks over: Node's own HTTP parser on the socket
//! face, the Promise face's exchanges (lib/exchange.js). An idle connection keeps its role and is reused
//! by the same kind of request only.

pub mod client;
mod head;
pub mod keep_alive;
pub mod linger;
pub mod sealed;
pub mod transport;
mod wire;

use crate::pool::{Closed, Connection};

/// A pooled connection of either face.
pub enum Conn {
    Http(client::HyperConn),
    Raw(transport::RawConn),
}

impl Conn {
    /// hyper's: the Promise and dispatcher faces on the tokio thread.
    pub const HTTP: u8 = 0;
    /// Raw bytes for Node's ClientRequest: the socket face.
    pub const RAW: u8 = 1;
    /// Raw bytes for the Promise face's exchange on the JS thread (lib/exchange.js). Kept apart from
    /// the socket face's: an idle socket-face connection is a Node socket object that JS hands back to
    /// the next ClientRequest, which an exchange could not use.
    pub const LOCAL: u8 = 2;
}

impl Connection for Conn {
    fn is_open(&self) -> bool {
        match self {
            Conn::Http(c) => c.is_open(),
            Conn::Raw(c) => c.is_open(),
        }
    }

    fn role(&self) -> u8 {
        match self {
            Conn::Http(_) => Conn::HTTP,
            Conn::Raw(c) => c.role(),
        }
    }

    fn expire(&self) {
        if let Conn::Raw(c) = self {
            c.expire();
        }
    }

    fn parks(&self) -> bool {
        match self {
            Conn::Http(_) => true,
            // A raw connection holds nothing to serve requests: its reader waits without a buffer.
            Conn::Raw(_) => false,
        }
    }

    fn park(&mut self) {
        if let Conn::Http(c) = self {
            c.park();
        }
    }

    fn closed(&self) -> Closed {
        match self {
            Conn::Http(c) => c.closed(),
            Conn::Raw(c) => c.closed(),
        }
    }
}
