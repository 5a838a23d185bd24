//! Opening connections, as a pipeline: resolve (system resolver or the caller's `lookup`) → dial (TCP
//! with Happy Eyeballs, or a Unix socket) → TLS (rustls, then the caller's `checkServerIdentity`). A
//! caller's `createConnection` replaces the whole pipeline: the socket it makes (TLS included, as
//! Node's `https.Agent#createConnection` makes it) is used as it is. Through a proxy, the dial goes to
//! the proxy (TLS to it for an `https:` proxy), then a CONNECT tunnel carries an `https:` target.
//!
//! The pool asks for a connection to a route ([`OriginKey`]: origin plus [`Profile`]) and gets a
//! [`Transport`], a byte stream that is plain or rustls over TCP or a Unix socket. Everything about
//! reaching the peer lives here, so the pool stays a book of slots and idle lists, and the faces speak
//! HTTP over whatever this returns.

mod dial;
pub mod profile;
pub mod proxy;
pub mod resolve;
mod short_rsa;
pub mod tls;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::{Error, Kind, Result};
use crate::origin::OriginKey;
pub use profile::{ConnectOptions, Profile};
pub use resolve::{CallerStream, Hooks};
use tls::NameMismatch;

/// What a handshake is watched for, beyond the connection itself: Node's `'keylog'` lines (the agent
/// listens for them) and `requestOCSP`'s stapled response (the route asks for it).
#[derive(Clone, Default)]
struct Witness {
    key_log: Option<Arc<tls::KeyLines>>,
    stapled: Option<Arc<tls::Stapled>>,
}

/// What a handshake showed of what its [`Witness`] watched for.
#[derive(Debug, Default)]
pub struct Witnessed {
    /// NSS key log lines, each ending in a newline.
    pub key_log: Vec<Vec<u8>>,
    /// `None`: not asked for; `Some(None)`: asked for, and the server stapled nothing.
    pub stapled: Option<Option<Vec<u8>>>,
    /// On a TLS route with `rejectUnauthorized: false`, how its chain was judged (see
    /// [`tls::ChainJudge`]): the code Node gives its fault; `None` elsewhere.
    pub chain: Option<std::result::Result<(), &'static str>>,
}

impl From<Witness> for Witnessed {
    fn from(witness: Witness) -> Self {
        Witnessed {
            key_log: witness.key_log.map(|l| l.take()).unwrap_or_default(),
            stapled: witness.stapled.map(|s| s.take()),
            chain: None,
        }
    }
}

/// How this agent opens connections.
#[derive(Clone)]
pub struct Connector {
    /// The agent's own profile, for routes that carry none.
    profile: Arc<Profile>,
    /// The caller's JavaScript functions (`lookup`, `checkServerIdentity`); `None` in Rust tests.
    hooks: Option<Arc<dyn Hooks>>,
    /// DNS + TCP + TLS must finish within this.
    pub connect_timeout: Duration,
    /// TCP keep-alive initial delay (`keepAliveMsecs`); `None` leaves it off.
    pub tcp_keepalive: Option<Duration>,
    /// Whether [`Connector::connect_logged`] collects TLS key material (the agent has `'keylog'`
    /// listeners); shared by the clones, so the agent switches it for every face.
    key_log: Arc<AtomicBool>,
}

impl Connector {
    pub fn new(
        profile: Arc<Profile>,
        hooks: Option<Arc<dyn Hooks>>,
        connect_timeout: Duration,
        tcp_keepalive: Option<Duration>,
    ) -> Self {
        Connector {
            profile,
            hooks,
            connect_timeout,
            tcp_keepalive,
            key_log: Arc::default(),
        }
    }

    /// A connector with default options and no JavaScript, for tests of the pool.
    pub fn plain(connect_timeout: Duration) -> Self {
        let profile = Profile::new(ConnectOptions::default()).expect("default options are valid");
        Connector::new(Arc::new(profile), None, connect_timeout, None)
    }

    /// Opens a connection along `route`, TLS included, within the connect timeout.
    pub async fn connect(&self, route: &OriginKey) -> Result<Transport> {
        self.connect_within(route, Witness::default()).await
    }

    /// As [`Connector::connect`], with what the handshake showed that only the socket face reports
    /// (see [`Witnessed`]).
    pub async fn connect_logged(&self, route: &OriginKey) -> Result<(Transport, Witnessed)> {
        let secure = route.secure;
        let witness = Witness {
            key_log: (secure && self.key_log.load(Ordering::Relaxed))
                .then(|| Arc::new(tls::KeyLines::default())),
            stapled: (secure && self.profile(route).options.tls.request_ocsp)
                .then(|| Arc::new(tls::Stapled::default())),
        };
        let transport = self.connect_within(route, witness.clone()).await?;
        let mut witnessed = Witnessed::from(witness);
        if let (true, Some(judge)) = (secure, &self.profile(route).judge) {
            witnessed.chain = Some(
                judge
                    .judge(&transport.peer_certificates())
                    .map_err(|e| e.code()),
            );
        }
        Ok((transport, witnessed))
    }

    /// Whether TLS key material is collected for [`Connector::connect_logged`] from now on.
    pub fn log_keys(&self, on: bool) {
        self.key_log.store(on, Ordering::Relaxed);
    }

    async fn connect_within(&self, route: &OriginKey, witness: Witness) -> Result<Transport> {
        let profile = self.profile(route);
        let connecting = self.connect_inner(route, profile, witness);
        match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(result) => result,
            Err(_) => Err(Error::connect_timed_out(&route.host, route.port)),
        }
    }

    async fn connect_inner(
        &self,
        route: &OriginKey,
        profile: &Profile,
        witness: Witness,
    ) -> Result<Transport> {
        let options = &profile.options;
        if let (Some(create), Some(hooks)) = (options.create_connection, &self.hooks) {
            let stream = hooks
                .create_connection(
                    create,
                    options.js_profile,
                    route.secure,
                    &route.host,
                    route.port,
                )
                .await?;
            return Ok(Transport::Plain(Stream::Caller(stream)));
        }
        let mut stream = match (&options.socket_path, &options.proxy) {
            (Some(path), _) => Stream::Unix(dial::unix(path).await?),
            (None, Some(proxy)) => {
                let stream = self.dial(&proxy.host, proxy.port, options).await?;
                if proxy.secure {
                    let tls = self
                        .tls(profile, &proxy.host, stream, Witness::default())
                        .await?;
                    Stream::Caller(Box::new(tls))
                } else {
                    stream
                }
            }
            (None, None) => self.dial(&route.host, route.port, options).await?,
        };
        if !route.secure {
            // Through a proxy, an http: target is spoken to the proxy in absolute form (see the faces).
            return Ok(Transport::Plain(stream));
        }
        if let Some(proxy) = &options.proxy {
            proxy::connect(&mut stream, proxy, &route.host, route.port).await?;
        }
        // `servername: ''` sends no SNI (see `tls::build`); the host's name is checked, as in Node.
        let name = match options.tls.servername.as_deref() {
            Some(name) if !name.is_empty() => name,
            _ => &route.host,
        };
        let transport = Transport::Tls(Box::new(self.tls(profile, name, stream, witness).await?));
        if let (Some(check), Some(hooks), true) = (
            options.check_server_identity,
            &self.hooks,
            options.tls.reject_unauthorized,
        ) {
            hooks
                .check_server_identity(check, name, transport.peer_certificates())
                .await?;
        }
        Ok(transport)
    }

    /// Resolves `host` and connects to one of its addresses (those the caller's `blockList` lets through).
    async fn dial(&self, host: &str, port: u16, options: &ConnectOptions) -> Result<Stream> {
        let mut addrs = resolve::resolve(host, port, options, self.hooks.as_deref()).await?;
        if let (Some(list), Some(hooks)) = (options.block_list, &self.hooks) {
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            let allowed = hooks.allowed(list, &ips).await?;
            addrs.retain(|a| allowed.contains(&a.ip()));
        }
        let tcp = dial::tcp(&addrs, options).await?;
        self.tune(&tcp);
        Ok(Stream::Tcp(tcp))
    }

    /// TLS over `stream` with the profile's configuration, verifying `name`; what `witness` asks for is
    /// kept by a copy of the configuration made for this handshake (sessions still shared).
    async fn tls(
        &self,
        profile: &Profile,
        name: &str,
        stream: Stream,
        witness: Witness,
    ) -> Result<TlsStream<Stream>> {
        let server_name = match name.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(name.to_string()).map_err(|_| {
                Error::new(
                    Kind::InvalidArgValue,
                    format!("invalid TLS server name {name:?}"),
                )
            })?,
        };
        let mut config = match witness.stapled {
            None => profile.tls.clone(),
            Some(stapled) => tls::stapling(&profile.tls, &profile.options.tls, stapled)?,
        };
        if let Some(lines) = witness.key_log {
            let mut logging = (*config).clone();
            logging.key_log = lines;
            config = Arc::new(logging);
        }
        let failed = match TlsConnector::from(config)
            .connect(server_name, stream)
            .await
        {
            Ok(tls) => return Ok(tls),
            Err(e) => e,
        };
        let mut ours = Error::from_io(&failed, "TLS handshake");
        // The peer went away before the handshake ended: Node's words for it.
        if ours.code() == "ECONNRESET" {
            ours = Error::new(
                Kind::ConnectionReset,
                "Client network socket disconnected before secure TLS connection was established",
            );
        }
        // A name that does not match is told as Node tells it: its own `tls.checkServerIdentity` on the
        // certificate gives the error (reason, host and cert included). Ours stands if it finds none.
        if let (Some(mismatch), Some(hooks)) = (NameMismatch::behind(&failed), &self.hooks) {
            let leaf = vec![mismatch.leaf.clone()];
            hooks
                .check_server_identity(resolve::NODE_CHECK_SERVER_IDENTITY, name, leaf)
                .await?;
        }
        Err(ours)
    }

    /// The profile `route` is made with: its own, or the agent's.
    pub fn profile<'a>(&'a self, route: &'a OriginKey) -> &'a Profile {
        route.profile.as_ref().map_or(&self.profile, |p| &p.0)
    }

    fn tune(&self, stream: &TcpStream) {
        // Both are best effort, as in Node: a socket that refuses them still works.
        let _ = stream.set_nodelay(true);
        if let Some(delay) = self.tcp_keepalive {
            let _ = SockRef::from(stream).set_tcp_keepalive(&TcpKeepalive::new().with_time(delay));
        }
    }
}

/// An OS error as Node reports it: `connect ECONNREFUSED 127.0.0.1:80`, with the errno's name as code.
pub(crate) fn os_error(err: &io::Error, syscall: &str, target: &str) -> Error {
    let name = match err.raw_os_error() {
        Some(libc::ECONNREFUSED) => "ECONNREFUSED",
        Some(libc::ECONNRESET) => "ECONNRESET",
        Some(libc::ETIMEDOUT) => "ETIMEDOUT",
        Some(libc::EHOSTUNREACH) => "EHOSTUNREACH",
        Some(libc::ENETUNREACH) => "ENETUNREACH",
        Some(libc::EADDRINUSE) => "EADDRINUSE",
        Some(libc::EADDRNOTAVAIL) => "EADDRNOTAVAIL",
        Some(libc::EACCES) => "EACCES",
        Some(libc::EPERM) => "EPERM",
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::ENOTSOCK) => "ENOTSOCK",
        Some(libc::EINVAL) => "EINVAL",
        Some(libc::EAFNOSUPPORT) => "EAFNOSUPPORT",
        _ => return Error::from_io(err, &format!("{syscall} {target}")),
    };
    let kind = match name {
        "ECONNREFUSED" => Kind::ConnectionRefused,
        "ECONNRESET" => Kind::ConnectionReset,
        "ETIMEDOUT" => Kind::TimedOut,
        other => Kind::Network(other),
    };
    Error::new(kind, format!("{syscall} {name} {target}"))
}

/// Forwards `AsyncRead`/`AsyncWrite` of an enum to the stream each variant holds.
macro_rules! delegate_io {
    ($ty:ident { $($variant:ident),+ }) => {
        impl AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() { $($ty::$variant(s) => Pin::new(s).poll_read(cx, buf),)+ }
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                match self.get_mut() { $($ty::$variant(s) => Pin::new(s).poll_write(cx, buf),)+ }
            }

            fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
                match self.get_mut() { $($ty::$variant(s) => Pin::new(s).poll_write_vectored(cx, bufs),)+ }
            }

            fn is_write_vectored(&self) -> bool {
                match self { $($ty::$variant(s) => s.is_write_vectored(),)+ }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() { $($ty::$variant(s) => Pin::new(s).poll_flush(cx),)+ }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() { $($ty::$variant(s) => Pin::new(s).poll_shutdown(cx),)+ }
            }
        }
    };
}

/// A dialled byte stream: TCP, a Unix domain socket, or the socket a caller's `createConnection` made.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Caller(Box<dyn CallerStream>),
}

delegate_io!(Stream { Tcp, Unix, Caller });

/// A connected byte stream: plain, or TLS over a [`Stream`].
pub enum Transport {
    Plain(Stream),
    Tls(Box<TlsStream<Stream>>),
}

delegate_io!(Transport { Plain, Tls });

impl Transport {
    fn tcp(&self) -> Option<&TcpStream> {
        let stream = match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => s.get_ref().0,
        };
        match stream {
            Stream::Tcp(tcp) => Some(tcp),
            Stream::Unix(_) | Stream::Caller(_) => None,
        }
    }

    /// The peer's address; `None` over a Unix socket.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.tcp()?.peer_addr().ok()
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp()?.local_addr().ok()
    }

    /// The negotiated ALPN protocol, for TLS connections.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        match self {
            Transport::Plain(_) => None,
            Transport::Tls(s) => s.get_ref().1.alpn_protocol().map(<[u8]>::to_vec),
        }
    }

    /// What the TLS handshake settled, for TLS connections.
    pub fn negotiated(&self) -> Option<tls::Negotiated> {
        match self {
            Transport::Plain(_) => None,
            Transport::Tls(s) => tls::Negotiated::of(s.get_ref().1),
        }
    }

    /// The server's certificate chain in DER, leaf first, for TLS connections.
    pub fn peer_certificates(&self) -> Vec<Vec<u8>> {
        match self {
            Transport::Plain(_) => Vec::new(),
            Transport::Tls(s) => s
                .get_ref()
                .1
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.to_vec()).collect())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection gets TCP_NODELAY and, with `keepAliveMsecs`, TCP keep-alive after that delay.
    #[tokio::test]
    async fn connections_are_tuned() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let origin = OriginKey::new(false, "127.0.0.1", port);
        let tuned = Connector {
            tcp_keepalive: Some(Duration::from_millis(2000)),
            ..Connector::plain(Duration::from_secs(5))
        };
        let Transport::Plain(Stream::Tcp(stream)) = tuned.connect(&origin).await.unwrap() else {
            panic!("http gives plain TCP");
        };
        let sock = SockRef::from(&stream);
        assert!(stream.nodelay().unwrap());
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(2));

        let Transport::Plain(Stream::Tcp(plain)) = Connector::plain(Duration::from_secs(5))
            .connect(&origin)
            .await
            .unwrap()
        else {
            panic!("http gives plain TCP");
        };
        assert!(plain.nodelay().unwrap());
        assert!(!SockRef::from(&plain).keepalive().unwrap());
    }
}
