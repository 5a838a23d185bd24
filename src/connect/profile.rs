//! A connection profile: everything that decides how a connection is made, apart from where it goes.
//!
//! The agent has one profile made from its options; a request with connect or TLS options of its own
//! gets another, and the pool keys connections by origin *and* profile (see `origin.rs`), so a
//! connection made with one trust store, lookup or local address never serves a request that asked for
//! another.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::proxy::Proxy;
use super::tls::{self, TlsOptions};
use crate::error::Result;

/// Node's `autoSelectFamilyAttemptTimeout` default.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);

/// The options that make a profile, as Node names them.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Id of the caller's `lookup` function; `None` resolves with the system resolver.
    pub lookup: Option<u32>,
    /// Id of the caller's `net.BlockList` (`blockList`): addresses it blocks are never dialled.
    pub block_list: Option<u32>,
    /// `family`: 0 (any), 4 or 6.
    pub family: u8,
    /// `hints`: getaddrinfo flags (`dns.ADDRCONFIG`, `dns.V4MAPPED`, `dns.ALL`).
    pub hints: i32,
    pub local_address: Option<IpAddr>,
    pub local_port: Option<u16>,
    /// `socketPath`: a Unix domain socket instead of TCP.
    pub socket_path: Option<PathBuf>,
    /// `autoSelectFamily`: try every address, the next one after `attempt_timeout` (Happy Eyeballs);
    /// off, only the first address is tried, as Node does.
    pub auto_select_family: bool,
    pub attempt_timeout: Duration,
    pub tls: TlsOptions,
    /// Id of the caller's `checkServerIdentity`, which then replaces the host name check.
    pub check_server_identity: Option<u32>,
    /// Id of the caller's `createConnection`, which then makes every connection of this profile.
    pub create_connection: Option<u32>,
    /// The id JS knows this profile by (0: the agent's), handed back to `createConnection` so that it
    /// gets the options the profile was made from.
    pub js_profile: u32,
    /// The HTTP proxy that carries this profile's connections.
    pub proxy: Option<Proxy>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            lookup: None,
            block_list: None,
            family: 0,
            hints: 0,
            local_address: None,
            local_port: None,
            socket_path: None,
            auto_select_family: true,
            attempt_timeout: ATTEMPT_TIMEOUT,
            tls: TlsOptions {
                reject_unauthorized: true,
                ..TlsOptions::default()
            },
            check_server_identity: None,
            create_connection: None,
            js_profile: 0,
            proxy: None,
        }
    }
}

/// A profile ready to connect with: the options and the TLS configuration built from them.
pub struct Profile {
    pub options: ConnectOptions,
    /// Shared with every profile of equal TLS options (see [`tls::client_config`]).
    pub tls: Arc<rustls::ClientConfig>,
    /// With `rejectUnauthorized: false`: how the server's chain is judged for the socket face's
    /// `socket.authorized` (the connection stands whatever it finds).
    pub judge: Option<tls::ChainJudge>,
}

impl Profile {
    /// The proxy to which requests for an `http:` target are sent in absolute form, if any.
    pub fn forwarding_proxy(&self, secure: bool) -> Option<&Proxy> {
        self.options.proxy.as_ref().filter(|_| !secure)
    }

    pub fn new(mut options: ConnectOptions) -> Result<Self> {
        // A caller's checkServerIdentity replaces the name check, as in Node; the chain is still ours.
        options.tls.names_by_caller = options.check_server_identity.is_some();
        let tls = tls::client_config(&options.tls)?;
        let judge = tls::ChainJudge::of(&options.tls)?;
        Ok(Profile {
            options,
            tls,
            judge,
        })
    }
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
