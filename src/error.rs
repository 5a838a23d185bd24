//! Errors as values with a [`Kind`], each mapped to the `code` Node programs already test for.
//!
//! Node code compares `err.code` (`ECONNREFUSED`, `ETIMEDOUT`, ...), so the kind is the contract. The
//! message of a failed system call is worded as Node words it (`connect ECONNREFUSED 127.0.0.1:1`,
//! `getaddrinfo ENOTFOUND host`): the JS side reads `syscall`, `address`, `port` and `hostname` back out
//! of that wording (lib/errors.js), so every face gets Node's fields from one place. Malformed responses
//! get the name llhttp (Node's parser) gives the same fault ([`Hpe`]), with llhttp's reason. Nothing
//! here knows about JavaScript: the binding turns an [`Error`] into a JS `Error` whose `code` is
//! [`Error::code`].

use std::fmt;
use std::io;

/// What went wrong, in the terms of Node's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The peer refused the TCP connection.
    ConnectionRefused,
    /// The connection was reset or closed before the answer was complete.
    ConnectionReset,
    /// A response that said its connection ends with it was cut short by that end: Node's `aborted`,
    /// which undici reads as the body's end (see [`Cut`]).
    BodyCut(Cut),
    /// Connect, inactivity or queue deadline passed.
    TimedOut,
    /// undici's `headersTimeout`: the response head did not come in time after the request was sent.
    HeadersTimeout,
    /// undici's `bodyTimeout`: no response body byte came in time.
    BodyTimeout,
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
    /// TLS: a certificate of the chain has expired.
    TlsExpired,
    /// TLS: a certificate of the chain fails another of OpenSSL's checks (an issuer that is no CA or
    /// did not sign, a leaf for another purpose, one not yet valid), carrying the code Node gives it.
    TlsChain(&'static str),
    /// TLS: any other handshake or protocol failure.
    TlsProtocol,
    /// TLS: an option OpenSSL refuses in Node, carrying the code Node gives it
    /// (`ERR_OSSL_X509_KEY_VALUES_MISMATCH`).
    OpenSsl(&'static str),
    /// TLS: `ciphers` selects no cipher suite rustls implements.
    NoCipherMatch,
    /// The response could not be parsed: the fault as llhttp names it.
    Parse(Hpe),
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
    /// A bug: a Rust panic was caught before it could strand the request.
    Internal,
}

/// How undici fails a body its response said ends the connection, when that end cuts it short: it reads
/// the end as the body's, so a body short of its Content-Length is its length mismatch, and a chunked one
/// llhttp's fault at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Short of its Content-Length.
    Length,
    /// A chunked body not ended.
    Eof,
}

impl Cut {
    /// undici's code for it (lib/errors.js makes undici's error of it).
    pub fn undici_code(self) -> &'static str {
        match self {
            Cut::Length => "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
            Cut::Eof => "HPE_INVALID_EOF_STATE",
        }
    }
}

/// Faults in a response, by the `HPE_*` name llhttp (Node's HTTP parser) gives them. One table for
/// every face that parses in Rust, so a malformed response fails with the code Node code expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hpe {
    /// The status line does not start with `HTTP/`.
    InvalidConstant,
    InvalidVersion,
    InvalidStatus,
    /// A header name that is not a token, or a header value with a control character.
    InvalidHeaderToken,
    InvalidContentLength,
    /// `Content-Length` twice (llhttp refuses even equal duplicates).
    UnexpectedContentLength,
    /// `Transfer-Encoding` after `Content-Length`: where the body ends is ambiguous.
    InvalidTransferEncoding,
    InvalidChunkSize,
    /// A chunk not followed by CRLF, or a bad chunk extension.
    Strict,
    CrExpected,
    LfExpected,
    /// The response head is larger than allowed.
    HeaderOverflow,
}

impl Hpe {
    pub fn code(self) -> &'static str {
        match self {
            Hpe::InvalidConstant => "HPE_INVALID_CONSTANT",
            Hpe::InvalidVersion => "HPE_INVALID_VERSION",
            Hpe::InvalidStatus => "HPE_INVALID_STATUS",
            Hpe::InvalidHeaderToken => "HPE_INVALID_HEADER_TOKEN",
            Hpe::InvalidContentLength => "HPE_INVALID_CONTENT_LENGTH",
            Hpe::UnexpectedContentLength => "HPE_UNEXPECTED_CONTENT_LENGTH",
            Hpe::InvalidTransferEncoding => "HPE_INVALID_TRANSFER_ENCODING",
            Hpe::InvalidChunkSize => "HPE_INVALID_CHUNK_SIZE",
            Hpe::Strict => "HPE_STRICT",
            Hpe::CrExpected => "HPE_CR_EXPECTED",
            Hpe::LfExpected => "HPE_LF_EXPECTED",
            Hpe::HeaderOverflow => "HPE_HEADER_OVERFLOW",
        }
    }
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
            Kind::ConnectionReset | Kind::BodyCut(_) => "ECONNRESET",
            Kind::TimedOut => "ETIMEDOUT",
            Kind::HeadersTimeout => "UND_ERR_HEADERS_TIMEOUT",
            Kind::BodyTimeout => "UND_ERR_BODY_TIMEOUT",
            Kind::QueueTimeout => "ERR_POOL_TIMEOUT",
            Kind::QueueFull => "ERR_POOL_QUEUE_FULL",
            Kind::NotFound => "ENOTFOUND",
            Kind::Network(code) => code,
            Kind::TlsAltName => "ERR_TLS_CERT_ALTNAME_INVALID",
            Kind::TlsSelfSigned => "DEPTH_ZERO_SELF_SIGNED_CERT",
            Kind::TlsUnknownIssuer => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            Kind::TlsExpired => "CERT_HAS_EXPIRED",
            Kind::TlsChain(code) => code,
            Kind::TlsProtocol => "EPROTO",
            Kind::OpenSsl(code) => code,
            Kind::NoCipherMatch => "ERR_SSL_NO_CIPHER_MATCH",
            Kind::Parse(fault) => fault.code(),
            Kind::InvalidChar => "ERR_INVALID_CHAR",
            Kind::InvalidToken => "ERR_INVALID_HTTP_TOKEN",
            Kind::InvalidUrl => "ERR_INVALID_URL",
            Kind::InvalidProtocol => "ERR_INVALID_PROTOCOL",
            Kind::InvalidArgValue => "ERR_INVALID_ARG_VALUE",
            Kind::Callback => "ERR_KEEPALIVE_CALLBACK",
            Kind::Aborted => "ABORT_ERR",
            Kind::Destroyed => "ERR_AGENT_DESTROYED",
            Kind::BodyStream => "ERR_STREAM_PREMATURE_CLOSE",
            Kind::Internal => "ERR_INTERNAL_ASSERTION",
        }
    }

    pub fn destroyed() -> Self {
        Error::new(Kind::Destroyed, "the agent was destroyed")
    }

    pub fn aborted() -> Self {
        Error::new(Kind::Aborted, "The operation was aborted")
    }

    /// A response the parser refused, with llhttp's reason (`Parse Error: Invalid status code`).
    pub fn parse(fault: Hpe, reason: &str) -> Self {
        Error::new(Kind::Parse(fault), format!("Parse Error: {reason}"))
    }

    /// A connect that did not finish in time, worded as the kernel's `ETIMEDOUT` is in Node.
    pub fn connect_timed_out(host: &str, port: u16) -> Self {
        Error::new(Kind::TimedOut, format!("connect ETIMEDOUT {host}:{port}"))
    }

    /// Classifies an I/O error of the system call `syscall` (`connect`, `read`, `write`); a failed system
    /// call is worded as Node words it: `read ECONNRESET`. TLS failures keep their own codes.
    pub fn from_io(err: &io::Error, syscall: &str) -> Self {
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
        let mut error = Error::new(kind, String::new());
        error.message = format!("{syscall} {}", error.code());
        error
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

    /// Node's wording, which lib/errors.js reads `syscall`, `address` and `port` back out of.
    #[test]
    fn system_errors_are_worded_as_node_words_them() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(Error::from_io(&reset, "read").message(), "read ECONNRESET");
        assert_eq!(
            Error::connect_timed_out("127.0.0.1", 9).message(),
            "connect ETIMEDOUT 127.0.0.1:9"
        );
    }
}
