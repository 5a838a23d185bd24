//! Errors as values with a [`Kind`], each mapped to the `code` Node programs already test for.
//!
//! Node code compares `err.code` (`ECONNREFUSED`, `ETIMEDOUT`, ...), so the kind is the contract and the
//! message is for people. Nothing here knows about JavaScript: the binding turns an [`Error`] into a JS
//! `Error` whose `code` is [`Error::code`].

use std::fmt;
use std::io;

/// What went wrong, in the terms of Node's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The peer refused the TCP connection.
    ConnectionRefused,
    /// The connection was reset or closed before the answer was complete.
    ConnectionReset,
    /// Connect, inactivity or queue deadline passed.
    TimedOut,
    /// Waited in the queue longer than `queueTimeout`.
    QueueTimeout,
    /// The queue of the origin holds `maxQueueSize` requests already.
    QueueFull,
    /// The host name did not resolve.
    NotFound,
    /// Other network failure (unreachable, ...), carrying the OS error name when known.
    Network(&'static str),
    /// TLS: the certificate does not name the host.
    TlsAltName,
    /// TLS: a self-signed certificate that is not trusted.
    TlsSelfSigned,
    /// TLS: the chain does not end in a trusted root.
    TlsUnknownIssuer,
    /// TLS: the certificate is expired or not yet valid.
    TlsExpired,
    /// TLS: any other handshake or protocol failure.
    TlsProtocol,
    /// The response could not be parsed.
    Parse,
    /// The response head was larger than allowed.
    HeaderOverflow,
    /// The response carried both `Content-Length` and `Transfer-Encoding`: its end is ambiguous (the
    /// shape of response splitting), so it is refused as Node's parser refuses it.
    AmbiguousLength,
    /// A header value carries a character that may not be sent (CR, LF, NUL).
    InvalidChar,
    /// A header name or method is not an HTTP token.
    InvalidToken,
    /// The URL does not parse.
    InvalidUrl,
    /// The URL's scheme is not `http:` or `https:`.
    InvalidProtocol,
    /// An argument has a value that is not allowed.
    InvalidArgValue,
    /// A caller's function (`lookup`, `checkServerIdentity`) failed; the message starts with the token
    /// under which the JS side holds its Error (`lib/held.js`).
    Callback,
    /// The request was aborted by its caller.
    Aborted,
    /// The agent was destroyed.
    Destroyed,
    /// The request body stream failed.
    BodyStream,
}

/// An error with a kind and a human message.
#[derive(Clone, Debug)]
pub struct Error {
    kind: Kind,
    message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The Node-style `code` for this error.
    pub fn code(&self) -> &'static str {
        match self.kind {
            Kind::ConnectionRefused => "ECONNREFUSED",
            Kind::ConnectionReset => "ECONNRESET",
            Kind::TimedOut => "ETIMEDOUT",
            Kind::QueueTimeout => "ERR_POOL_TIMEOUT",
            Kind::QueueFull => "ERR_POOL_QUEUE_FULL",
            Kind::NotFound => "ENOTFOUND",
            Kind::Network(code) => code,
            Kind::TlsAltName => "ERR_TLS_CERT_ALTNAME_INVALID",
            Kind::TlsSelfSigned => "DEPTH_ZERO_SELF_SIGNED_CERT",
            Kind::TlsUnknownIssuer => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            Kind::TlsExpired => "CERT_HAS_EXPIRED",
            Kind::TlsProtocol => "EPROTO",
            Kind::Parse => "HPE_INVALID_CONSTANT",
            Kind::HeaderOverflow => "HPE_HEADER_OVERFLOW",
            Kind::AmbiguousLength => "HPE_INVALID_TRANSFER_ENCODING",
            Kind::InvalidChar => "ERR_INVALID_CHAR",
            Kind::InvalidToken => "ERR_INVALID_HTTP_TOKEN",
            Kind::InvalidUrl => "ERR_INVALID_URL",
            Kind::InvalidProtocol => "ERR_INVALID_PROTOCOL",
            Kind::InvalidArgValue => "ERR_INVALID_ARG_VALUE",
            Kind::Callback => "ERR_KEEPALIVE_CALLBACK",
            Kind::Aborted => "ABORT_ERR",
            Kind::Destroyed => "ERR_AGENT_DESTROYED",
            Kind::BodyStream => "ERR_STREAM_PREMATURE_CLOSE",
        }
    }

    pub fn destroyed() -> Self {
        Error::new(Kind::Destroyed, "the agent was destroyed")
    }

    pub fn aborted() -> Self {
        Error::new(Kind::Aborted, "The operation was aborted")
    }

    /// Classifies an I/O error from connecting, reading or writing.
    pub fn from_io(err: &io::Error, context: &str) -> Self {
        let kind = match err.kind() {
            io::ErrorKind::ConnectionRefused => Kind::ConnectionRefused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => Kind::ConnectionReset,
            io::ErrorKind::TimedOut => Kind::TimedOut,
            io::ErrorKind::AddrNotAvailable => Kind::Network("EADDRNOTAVAIL"),
            io::ErrorKind::HostUnreachable => Kind::Network("EHOSTUNREACH"),
            io::ErrorKind::NetworkUnreachable => Kind::Network("ENETUNREACH"),
            _ => {
                if let Some(tls) = err
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<rustls::Error>())
                {
                    return crate::connect::tls::classify(tls);
                }
                // Already ours (a caller's socket failed): keep it.
                if let Some(ours) = err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
                    return ours.clone();
                }
                Kind::Network("EIO")
            }
        };
        Error::new(kind, format!("{context}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_node_codes() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(Error::from_io(&refused, "connect").code(), "ECONNREFUSED");
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(Error::from_io(&reset, "read").code(), "ECONNRESET");
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(Error::from_io(&eof, "read").code(), "ECONNRESET");
    }
}
