//! Opening connections: DNS, TCP (no-delay, TCP keep-alive) and TLS.
//!
//! The pool asks for a connection to an [`OriginKey`] and gets a [`Transport`], a byte stream that is
//! either plain TCP or rustls over TCP. Everything about reaching the peer lives here, so the pool stays a
//! book of slots and idle lists, and the faces speak HTTP over whatever this returns.

pub mod tls;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::{Error, Kind, Result};
use crate::origin::OriginKey;

/// How this agent opens connections.
#[derive(Clone)]
pub struct Connector {
    tls: Option<Arc<rustls::ClientConfig>>,
    servername: Option<String>,
    /// DNS + TCP + TLS must finish within this.
    pub connect_timeout: Duration,
    /// TCP keep-alive initial delay (`keepAliveMsecs`); `None` leaves it off.
    pub tcp_keepalive: Option<Duration>,
}

impl Connector {
    pub fn new(
        tls: &tls::TlsOptions,
        connect_timeout: Duration,
        tcp_keepalive: Option<Duration>,
    ) -> Result<Self> {
        Ok(Connector {
            tls: Some(tls::client_config(tls)?),
            servername: tls.servername.clone(),
            connect_timeout,
            tcp_keepalive,
        })
    }

    /// A connector for plain `http:` only, for tests of the pool.
    pub fn plain(connect_timeout: Duration) -> Self {
        Connector {
            tls: None,
            servername: None,
            connect_timeout,
            tcp_keepalive: None,
        }
    }

    /// Opens a connection to `origin`, TLS included, within the connect timeout.
    pub async fn connect(&self, origin: &OriginKey) -> Result<Transport> {
        match tokio::time::timeout(self.connect_timeout, self.connect_inner(origin)).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                Kind::TimedOut,
                format!(
                    "connect ETIMEDOUT {}:{} (after {:?})",
                    origin.host, origin.port, self.connect_timeout
                ),
            )),
        }
    }

    async fn connect_inner(&self, origin: &OriginKey) -> Result<Transport> {
        let tcp = self.connect_tcp(origin).await?;
        if !origin.secure {
            return Ok(Transport::Tcp(tcp));
        }
        let config = self.tls.clone().ok_or_else(|| {
            Error::new(
                Kind::InvalidProtocol,
                "this connector has no TLS configuration",
            )
        })?;
        let name = self.servername.as_deref().unwrap_or(&origin.host);
        let server_name = match name.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(name.to_string()).map_err(|_| {
                Error::new(
                    Kind::InvalidArgValue,
                    format!("invalid TLS server name {name:?}"),
                )
            })?,
        };
        let stream = TlsConnector::from(config)
            .connect(server_name, tcp)
            .await
            .map_err(|e| Error::from_io(&e, "TLS handshake"))?;
        Ok(Transport::Tls(Box::new(stream)))
    }

    async fn connect_tcp(&self, origin: &OriginKey) -> Result<TcpStream> {
        let addrs: Vec<SocketAddr> = match origin.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, origin.port)],
            Err(_) => tokio::net::lookup_host((&*origin.host, origin.port))
                .await
                .map_err(|e| {
                    Error::new(
                        Kind::NotFound,
                        format!("getaddrinfo ENOTFOUND {}: {e}", origin.host),
                    )
                })?
                .collect(),
        };
        let mut last = Error::new(
            Kind::NotFound,
            format!("getaddrinfo ENOTFOUND {}", origin.host),
        );
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    self.tune(&stream);
                    return Ok(stream);
                }
                Err(e) => last = Error::from_io(&e, &format!("connect {addr}")),
            }
        }
        Err(last)
    }

    fn tune(&self, stream: &TcpStream) {
        // Both are best effort, as in Node: a socket that refuses them still works.
        let _ = stream.set_nodelay(true);
        if let Some(delay) = self.tcp_keepalive {
            let _ = SockRef::from(stream).set_tcp_keepalive(&TcpKeepalive::new().with_time(delay));
        }
    }
}

/// A connected byte stream: plain TCP or TLS over TCP.
pub enum Transport {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Transport {
    fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Tcp(s) => s,
            Transport::Tls(s) => s.get_ref().0,
        }
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.tcp().peer_addr().ok()
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp().local_addr().ok()
    }

    /// The negotiated ALPN protocol, for TLS connections.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        match self {
            Transport::Tcp(_) => None,
            Transport::Tls(s) => s.get_ref().1.alpn_protocol().map(<[u8]>::to_vec),
        }
    }

    /// The server's certificate chain in DER, leaf first, for TLS connections.
    pub fn peer_certificates(&self) -> Vec<Vec<u8>> {
        match self {
            Transport::Tcp(_) => Vec::new(),
            Transport::Tls(s) => s
                .get_ref()
                .1
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.to_vec()).collect())
                .unwrap_or_default(),
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Tcp(s) => s.is_write_vectored(),
            Transport::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s).poll_shutdown(cx),
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
        let Transport::Tcp(stream) = tuned.connect(&origin).await.unwrap() else {
            panic!("http gives plain TCP");
        };
        let sock = SockRef::from(&stream);
        assert!(stream.nodelay().unwrap());
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(2));

        let Transport::Tcp(plain) = Connector::plain(Duration::from_secs(5))
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
