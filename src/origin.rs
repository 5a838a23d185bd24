//! Where a connection goes and how it is made: the *route* that separates one host pool from another.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::connect::Profile;
use crate::error::{Error, Kind, Result};

/// A route: scheme, host and port of a request target, plus the [`Profile`] that says how the
/// connection is made (TLS trust, lookup, local address, Unix socket...). A connection is never shared
/// across routes, so a request with its own trust or its own DNS never gets a connection made otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginKey {
    pub secure: bool,
    /// Host as written in the URL, without IPv6 brackets.
    pub host: Arc<str>,
    pub port: u16,
    /// `None`: the agent's own options.
    pub profile: Option<ProfileRef>,
}

/// A profile compared by identity: equal options registered twice are two routes, which costs at most a
/// connection, while comparing certificate bytes on every checkout would cost every request.
#[derive(Clone, Debug)]
pub struct ProfileRef(pub Arc<Profile>);

impl PartialEq for ProfileRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ProfileRef {}

impl Hash for ProfileRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.0), state);
    }
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
            profile: None,
        }
    }

    /// The same origin reached as `profile` says (`None`: as the agent's options say).
    pub fn via(mut self, profile: Option<Arc<Profile>>) -> Self {
        self.profile = profile.map(ProfileRef);
        self
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
