//! Where a connection goes: the key that separates one host pool from another.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Kind, Result};

/// Scheme, host and port of a request target. Within one agent the TLS options are fixed, so these three
/// decide whether a connection may be reused: a connection is never shared across keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginKey {
    pub secure: bool,
    /// Host as written in the URL, without IPv6 brackets.
    pub host: Arc<str>,
    pub port: u16,
}

impl OriginKey {
    pub fn new(secure: bool, host: &str, port: u16) -> Self {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        OriginKey {
            secure,
            host: Arc::from(host),
            port,
        }
    }

    /// Reads scheme, host and port of an absolute `http:` or `https:` URI.
    pub fn from_uri(uri: &http::Uri) -> Result<Self> {
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(Error::new(
                    Kind::InvalidProtocol,
                    format!(
                        "Protocol \"{other}:\" not supported. Expected \"http:\" or \"https:\""
                    ),
                ))
            }
            None => return Err(Error::new(Kind::InvalidUrl, format!("Invalid URL: {uri}"))),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::new(Kind::InvalidUrl, format!("Invalid URL: {uri}")))?;
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        Ok(OriginKey::new(secure, host, port))
    }

    /// Node's `agent.getName()` form, `host:port:`, used as the key of the status maps.
    pub fn node_name(&self) -> String {
        format!("{}:{}:", self.host, self.port)
    }

    fn is_ipv6(&self) -> bool {
        self.host.contains(':')
    }
}

/// The origin as undici writes it: `http://host:port`.
impl fmt::Display for OriginKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "https" } else { "http" };
        if self.is_ipv6() {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_uris() {
        let k = OriginKey::from_uri(&"https://example.test/x".parse().unwrap()).unwrap();
        assert_eq!((k.secure, &*k.host, k.port), (true, "example.test", 443));
        let k = OriginKey::from_uri(&"http://[::1]:8080/".parse().unwrap()).unwrap();
        assert_eq!(&*k.host, "::1");
        assert_eq!(k.to_string(), "http://[::1]:8080");
        assert_eq!(k.node_name(), "::1:8080:");
        let err = OriginKey::from_uri(&"ftp://h/".parse().unwrap()).unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_PROTOCOL");
        let err = OriginKey::from_uri(&"/relative".parse().unwrap()).unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_URL");
    }
}
