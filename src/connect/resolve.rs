//! The first step of connecting: a host name to the addresses to dial.
//!
//! Either the system resolver (getaddrinfo, as Node's `dns.lookup`, with its `family` and `hints`, so
//! that `/etc/hosts` and nsswitch apply) or the caller's `lookup` function, called in JavaScript through
//! [`Hooks`]. An IP literal is dialled as is, without a lookup, as Node does. Failures keep getaddrinfo's
//! own code: `ENOTFOUND` for a name that does not exist, `EAI_AGAIN` for a resolver that did not answer.

use std::ffi::{CStr, CString};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use super::profile::ConnectOptions;
use crate::error::{Error, Kind, Result};

/// What an async answer from JavaScript looks like.
pub type Answer<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

/// A byte stream that lives in JavaScript (the socket a caller's `createConnection` made).
pub trait CallerStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> CallerStream for T {}

/// The function id that stands for Node's own `tls.checkServerIdentity` (the caller's start at 1).
pub const NODE_CHECK_SERVER_IDENTITY: u32 = 0;

/// The caller's functions that run in JavaScript, identified by the ids the binding gave them.
pub trait Hooks: Send + Sync + 'static {
    /// Calls `lookup(host, { family, hints, all: true }, callback)`.
    fn lookup(&self, lookup: u32, host: &str, family: u8, hints: i32) -> Answer<Vec<IpAddr>>;

    /// Asks `blockList.check()` of each address: the ones it lets through, in order; none fails with
    /// Node's `ERR_IP_BLOCKED` for the first.
    fn allowed(&self, block_list: u32, addresses: &[IpAddr]) -> Answer<Vec<IpAddr>>;

    /// Calls `checkServerIdentity(host, certificate)`; an Error it returns fails the connection.
    fn check_server_identity(&self, check: u32, host: &str, chain: Vec<Vec<u8>>) -> Answer<()>;

    /// Calls the caller's `createConnection(options)` with the options of JS profile `profile` (and the
    /// origin's `protocol`: https when `secure`); the socket it makes carries the bytes.
    fn create_connection(
        &self,
        create: u32,
        profile: u32,
        secure: bool,
        host: &str,
        port: u16,
    ) -> Answer<Box<dyn CallerStream>>;
}

/// The addresses to dial for `host:port`, in the resolver's order.
pub async fn resolve(
    host: &str,
    port: u16,
    options: &ConnectOptions,
    hooks: Option<&dyn Hooks>,
) -> Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let ips = match (options.lookup, hooks) {
        (Some(lookup), Some(hooks)) => {
            hooks
                .lookup(lookup, host, options.family, options.hints)
                .await?
        }
        _ => {
            let (host, family, hints) = (host.to_string(), options.family, options.hints);
            tokio::task::spawn_blocking(move || getaddrinfo(&host, family, hints))
                .await
                .map_err(|e| Error::new(Kind::Network("EAI_FAIL"), format!("getaddrinfo: {e}")))??
        }
    };
    if ips.is_empty() {
        return Err(not_found(host));
    }
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

fn not_found(host: &str) -> Error {
    Error::new(Kind::NotFound, format!("getaddrinfo ENOTFOUND {host}"))
}

/// Node's `dns.lookup`: `family` 0 asks for both, and without hints Node adds `AI_ADDRCONFIG` when no
/// family is forced (addresses of a family this machine has no address of are skipped).
fn getaddrinfo(host: &str, family: u8, hints: i32) -> Result<Vec<IpAddr>> {
    let name = CString::new(host).map_err(|_| not_found(host))?;
    let hints = if family == 0 && hints == 0 {
        libc::AI_ADDRCONFIG
    } else {
        hints
    };
    // SAFETY: an all-zero addrinfo is the documented way to start a hints struct.
    let mut request: libc::addrinfo = unsafe { std::mem::zeroed() };
    request.ai_family = match family {
        4 => libc::AF_INET,
        6 => libc::AF_INET6,
        _ => libc::AF_UNSPEC,
    };
    request.ai_socktype = libc::SOCK_STREAM;
    request.ai_flags = hints;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `name` and `request` outlive the call; `list` is freed below with freeaddrinfo.
    let status = unsafe { libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &request, &mut list) };
    if status != 0 {
        return Err(gai_error(status, host));
    }
    let mut ips = Vec::new();
    let mut at = list;
    while !at.is_null() {
        // SAFETY: `at` walks the list getaddrinfo returned, which stays valid until freeaddrinfo.
        let entry = unsafe { &*at };
        if let Some(ip) = ip_of(entry) {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        at = entry.ai_next;
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(list) };
    Ok(ips)
}

fn ip_of(entry: &libc::addrinfo) -> Option<IpAddr> {
    if entry.ai_addr.is_null() {
        return None;
    }
    // SAFETY: ai_addr points to a sockaddr of the family ai_family names.
    unsafe {
        match entry.ai_family {
            libc::AF_INET => {
                let addr = &*(entry.ai_addr as *const libc::sockaddr_in);
                Some(IpAddr::from(addr.sin_addr.s_addr.to_ne_bytes()))
            }
            libc::AF_INET6 => {
                let addr = &*(entry.ai_addr as *const libc::sockaddr_in6);
                Some(IpAddr::from(addr.sin6_addr.s6_addr))
            }
            _ => None,
        }
    }
}

/// getaddrinfo's status as Node names it (`uv__getaddrinfo_translate_error`).
fn gai_error(status: i32, host: &str) -> Error {
    let code = match status {
        libc::EAI_NONAME | libc::EAI_NODATA => return not_found(host),
        libc::EAI_AGAIN => "EAI_AGAIN",
        libc::EAI_FAIL => "EAI_FAIL",
        libc::EAI_FAMILY => "EAI_FAMILY",
        libc::EAI_MEMORY => "EAI_MEMORY",
        libc::EAI_SERVICE => "EAI_SERVICE",
        libc::EAI_SOCKTYPE => "EAI_SOCKTYPE",
        libc::EAI_BADFLAGS => "EAI_BADFLAGS",
        _ => "EAI_FAIL",
    };
    // SAFETY: gai_strerror returns a static string for any status.
    let reason = unsafe { CStr::from_ptr(libc::gai_strerror(status)) }.to_string_lossy();
    Error::new(
        Kind::Network(code),
        format!("getaddrinfo {code} {host} ({reason})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_code() {
        assert_eq!(gai_error(libc::EAI_NONAME, "h").code(), "ENOTFOUND");
        assert_eq!(gai_error(libc::EAI_NODATA, "h").code(), "ENOTFOUND");
        assert_eq!(gai_error(libc::EAI_AGAIN, "h").code(), "EAI_AGAIN");
        assert!(gai_error(libc::EAI_AGAIN, "h")
            .message()
            .starts_with("getaddrinfo EAI_AGAIN h"));
    }

    #[tokio::test]
    async fn system_resolver_honours_family() {
        let options = ConnectOptions::default();
        let any = resolve("localhost", 80, &options, None).await.unwrap();
        assert!(!any.is_empty());
        let v4 = ConnectOptions {
            family: 4,
            ..ConnectOptions::default()
        };
        let only = resolve("localhost", 80, &v4, None).await.unwrap();
        assert!(only.iter().all(SocketAddr::is_ipv4), "{only:?}");
        let ip = resolve("127.0.0.1", 81, &options, None).await.unwrap();
        assert_eq!(ip, vec!["127.0.0.1:81".parse().unwrap()]);
    }
}
