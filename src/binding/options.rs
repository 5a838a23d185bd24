//! The agent's options as they arrive from `index.js`, already validated there with Node's error codes
//! (`lib/options.js`), and their conversion into the pool's and the connector's configuration. The
//! connect options ([`NativeConnect`]) come the same way for a request that has its own.

use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::connect::profile::{ConnectOptions, ATTEMPT_TIMEOUT};
use crate::connect::proxy::Proxy;
use crate::connect::tls::{SessionCache, TlsOptions, TlsVersion};
use crate::error::{Error, Kind, Result};
use crate::pool::{PoolConfig, Scheduling, NO_DEADLINE};

/// Options after validation: numbers are finite or `Infinity`, durations in milliseconds (an infinite
/// `free_socket_timeout`: no idle deadline).
#[napi(object)]
pub struct NativeOptions {
    pub keep_alive: bool,
    pub keep_alive_msecs: f64,
    pub max_sockets: f64,
    pub max_total_sockets: f64,
    pub max_free_sockets: f64,
    pub scheduling: String,
    pub agent_keep_alive_timeout_buffer: f64,
    pub free_socket_timeout: f64,
    /// napi would spell it `socketActiveTtl`; the option is agentkeepalive's `socketActiveTTL`.
    #[napi(js_name = "socketActiveTTL")]
    pub socket_active_ttl: Option<f64>,
    pub connect_timeout: f64,
    pub queue_timeout: Option<f64>,
    pub max_queue_size: Option<f64>,
    /// Requests a connection serves before it closes (undici's `maxRequestsPerClient`); none: no limit.
    pub max_requests_per_connection: Option<f64>,
    /// undici's `keepAliveMaxTimeout`, in ms (see [`PoolConfig::keep_alive_max_timeout`]).
    pub keep_alive_max_timeout: Option<f64>,
    pub connect: NativeConnect,
}

/// An HTTP proxy, parsed from its URL by `lib/proxy.js`.
#[napi(object)]
pub struct NativeProxy {
    pub secure: bool,
    pub host: String,
    pub port: u32,
    /// `Basic ...`, from the URL's credentials.
    pub authorization: Option<String>,
}

/// How connections are made: the agent's, or a request's own. Functions come as ids (`lib/connect.js`).
#[napi(object)]
pub struct NativeConnect {
    pub lookup: Option<u32>,
    /// The id of the caller's `net.BlockList`.
    pub block_list: Option<u32>,
    pub family: Option<u32>,
    pub hints: Option<i32>,
    pub local_address: Option<String>,
    pub local_port: Option<u32>,
    pub socket_path: Option<String>,
    pub auto_select_family: Option<bool>,
    pub auto_select_family_attempt_timeout: Option<f64>,
    pub check_server_identity: Option<u32>,
    pub create_connection: Option<u32>,
    /// The id JS knows this profile by; none for the agent's own.
    pub profile_id: Option<u32>,
    /// Node's `maxCachedSessions`: TLS sessions kept for resumption (see [`SessionCache`] when absent).
    pub max_cached_sessions: Option<u32>,
    pub proxy: Option<NativeProxy>,
    pub ca: Option<Vec<Buffer>>,
    pub cert: Option<Vec<Buffer>>,
    pub key: Option<Buffer>,
    pub reject_unauthorized: bool,
    pub servername: Option<String>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub pfx: Option<Buffer>,
    pub passphrase: Option<String>,
    pub ciphers: Option<String>,
    /// Node's OpenSSL has a suite `ciphers` names outright (see [`TlsOptions::openssl_names`]).
    pub openssl_ciphers: Option<bool>,
    /// Node's `ecdhCurve`, `'auto'` left out (see [`TlsOptions::curves`]).
    pub ecdh_curve: Option<String>,
    /// Node's `sigalgs` (see [`TlsOptions::sigalgs`]).
    pub sigalgs: Option<String>,
    /// Node's `ALPNProtocols`, each name's bytes.
    #[napi(js_name = "ALPNProtocols")]
    pub alpn_protocols: Option<Vec<Buffer>>,
    /// Node's `requestOCSP`: the socket face reports what the server stapled.
    #[napi(js_name = "requestOCSP")]
    pub request_ocsp: Option<bool>,
}

fn count(n: f64) -> usize {
    if n.is_finite() {
        n as usize
    } else {
        usize::MAX
    }
}

fn millis(ms: f64) -> Duration {
    Duration::from_millis(ms.max(0.0) as u64)
}

/// The caps Node's Agent reads at each request, as assigned to the agent after it was made
/// (`agent.maxSockets = 50`); validated in JS as the constructor's options are.
#[napi(object)]
pub struct NativeLimits {
    pub keep_alive: bool,
    pub max_sockets: f64,
    pub max_total_sockets: f64,
    pub max_free_sockets: f64,
    pub scheduling: String,
    /// Node's `agentKeepAliveTimeoutBuffer`, in ms (see [`PoolConfig::keep_alive_timeout_buffer`]).
    pub agent_keep_alive_timeout_buffer: f64,
}

impl NativeLimits {
    pub fn apply(&self, config: &mut PoolConfig) {
        config.keep_alive = self.keep_alive;
        config.max_sockets = count(self.max_sockets);
        config.max_total_sockets = count(self.max_total_sockets);
        config.max_free_sockets = count(self.max_free_sockets);
        config.scheduling = if self.scheduling == "fifo" {
            Scheduling::Fifo
        } else {
            Scheduling::Lifo
        };
        config.keep_alive_timeout_buffer = millis(self.agent_keep_alive_timeout_buffer);
    }
}

impl NativeOptions {
    /// The pool's configuration. Without keep-alive nothing stays idle ([`PoolConfig::keep_alive`]);
    /// the idle deadline is kept for when it is turned on.
    pub fn pool_config(&self) -> PoolConfig {
        let mut config = PoolConfig {
            free_socket_timeout: if self.free_socket_timeout.is_finite() {
                millis(self.free_socket_timeout)
            } else {
                NO_DEADLINE
            },
            socket_active_ttl: self.socket_active_ttl.map(millis),
            keep_alive_max_timeout: self.keep_alive_max_timeout.map(millis),
            queue_timeout: self.queue_timeout.map(millis),
            max_queue_size: self.max_queue_size.map(count),
            ..PoolConfig::default()
        };
        NativeLimits {
            keep_alive: self.keep_alive,
            max_sockets: self.max_sockets,
            max_total_sockets: self.max_total_sockets,
            max_free_sockets: self.max_free_sockets,
            scheduling: self.scheduling.clone(),
            agent_keep_alive_timeout_buffer: self.agent_keep_alive_timeout_buffer,
        }
        .apply(&mut config);
        config
    }

    pub fn connect_timeout(&self) -> Duration {
        millis(self.connect_timeout)
    }

    pub fn tcp_keepalive(&self) -> Option<Duration> {
        Some(millis(self.keep_alive_msecs.max(1.0)))
    }
}

impl NativeConnect {
    /// `owner`: the agent whose TLS session cache the connections use (see [`SessionCache`]).
    fn tls_options(&self, owner: u64) -> TlsOptions {
        let pems = |list: &Option<Vec<Buffer>>| -> Vec<Vec<u8>> {
            list.iter().flatten().map(|b| b.to_vec()).collect()
        };
        let version = |v: &Option<String>| match v.as_deref() {
            Some("TLSv1.3") => Some(TlsVersion::Tls13),
            Some("TLSv1.2") => Some(TlsVersion::Tls12),
            _ => None,
        };
        let only_version = match (version(&self.min_version), version(&self.max_version)) {
            (Some(TlsVersion::Tls13), _) => Some(TlsVersion::Tls13),
            (_, Some(TlsVersion::Tls12)) => Some(TlsVersion::Tls12),
            _ => None,
        };
        TlsOptions {
            ca: self
                .ca
                .as_ref()
                .map(|list| list.iter().map(|b| b.to_vec()).collect()),
            cert: pems(&self.cert),
            key: self.key.as_ref().map(|b| b.to_vec()),
            reject_unauthorized: self.reject_unauthorized,
            only_version,
            servername: self.servername.clone(),
            names_by_caller: false,
            pfx: self.pfx.as_ref().map(|b| b.to_vec()),
            passphrase: self.passphrase.clone(),
            ciphers: self.ciphers.clone(),
            openssl_names: self.openssl_ciphers.unwrap_or(false),
            curves: self.ecdh_curve.clone(),
            sigalgs: self.sigalgs.clone(),
            alpn: self
                .alpn_protocols
                .as_ref()
                .map(|names| names.iter().map(|b| b.to_vec()).collect()),
            sessions: SessionCache {
                owner,
                size: self
                    .max_cached_sessions
                    .map_or(SessionCache::default().size, |n| n as usize),
            },
            request_ocsp: self.request_ocsp.unwrap_or(false),
        }
    }

    /// The options of a profile of agent `owner`.
    pub fn connect_options(&self, owner: u64) -> Result<ConnectOptions> {
        let invalid = |name: &str, value: &dyn std::fmt::Display| {
            Error::new(
                Kind::InvalidArgValue,
                format!("The argument 'options.{name}' is invalid. Received {value}"),
            )
        };
        let local_address = match &self.local_address {
            None => None,
            Some(a) => Some(a.parse().map_err(|_| invalid("localAddress", a))?),
        };
        let local_port = match self.local_port {
            None => None,
            Some(p) => Some(u16::try_from(p).map_err(|_| invalid("localPort", &p))?),
        };
        Ok(ConnectOptions {
            lookup: self.lookup,
            block_list: self.block_list,
            family: self.family.unwrap_or(0) as u8,
            hints: self.hints.unwrap_or(0),
            local_address,
            local_port,
            socket_path: self.socket_path.clone().map(Into::into),
            auto_select_family: self.auto_select_family.unwrap_or(true),
            attempt_timeout: self
                .auto_select_family_attempt_timeout
                .map_or(ATTEMPT_TIMEOUT, millis),
            tls: self.tls_options(owner),
            check_server_identity: self.check_server_identity,
            create_connection: self.create_connection,
            js_profile: self.profile_id.unwrap_or(0),
            proxy: match &self.proxy {
                None => None,
                Some(p) => Some(Proxy {
                    secure: p.secure,
                    host: p.host.clone(),
                    port: u16::try_from(p.port).map_err(|_| invalid("proxy", &p.port))?,
                    authorization: p.authorization.clone(),
                }),
            },
        })
    }
}
