//! The second step of connecting: a TCP connection to one of the resolved addresses, or a Unix socket.
//!
//! With `autoSelectFamily` (Node's default) the addresses are tried as RFC 8305's Happy Eyeballs does:
//! families interleaved, the next attempt started when the previous one failed or after the attempt
//! timeout (250 ms) while the earlier ones keep going, the first to connect wins and the others are
//! dropped. So an address that black-holes costs the attempt timeout, not the whole connect timeout.
//! Without it, only the first address is tried, as Node does.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use tokio::net::{TcpSocket, TcpStream, UnixStream};
use tokio::task::JoinSet;

use super::os_error;
use super::profile::ConnectOptions;
use crate::error::{Error, Kind, Result};

/// `addr` as Node's connect errors name it: the address as it is written (no brackets for IPv6), a
/// colon, the port (`connect ECONNREFUSED ::1:80`).
fn peer(addr: SocketAddr) -> String {
    format!("{}:{}", addr.ip(), addr.port())
}

/// Connects to the first of `addrs` that answers.
pub async fn tcp(addrs: &[SocketAddr], options: &ConnectOptions) -> Result<TcpStream> {
    let order = order(addrs, options);
    let Some(&first) = order.first() else {
        return Err(Error::new(Kind::NotFound, "no address to connect to"));
    };
    if !options.auto_select_family || order.len() == 1 {
        return attempt(first, local_for(first, options))
            .await
            .map_err(|e| os_error(&e, "connect", &peer(first)));
    }
    let mut running = JoinSet::new();
    let mut next = 0;
    let mut last = None;
    let start = |running: &mut JoinSet<_>, next: &mut usize| {
        let addr = order[*next];
        let local = local_for(addr, options);
        running.spawn(async move { (addr, attempt(addr, local).await) });
        *next += 1;
    };
    start(&mut running, &mut next);
    loop {
        let more = next < order.len();
        tokio::select! {
            Some(done) = running.join_next() => match done {
                Ok((_, Ok(stream))) => return Ok(stream),
                Ok((addr, Err(e))) => {
                    last = Some(os_error(&e, "connect", &peer(addr)));
                    if more {
                        start(&mut running, &mut next);
                    }
                }
                Err(e) => last = Some(Error::new(Kind::Network("EIO"), format!("connect: {e}"))),
            },
            _ = tokio::time::sleep(options.attempt_timeout), if more => start(&mut running, &mut next),
            else => {
                return Err(last.unwrap_or_else(|| Error::new(Kind::NotFound, "no address to connect to")))
            }
        }
    }
}

pub async fn unix(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path)
        .await
        .map_err(|e| os_error(&e, "connect", &path.display().to_string()))
}

async fn attempt(addr: SocketAddr, local: Option<SocketAddr>) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(local) = local {
        socket.bind(local)?;
    }
    socket.connect(addr).await
}

/// Where to bind before connecting to `addr`: `localAddress` and/or `localPort`.
fn local_for(addr: SocketAddr, options: &ConnectOptions) -> Option<SocketAddr> {
    match (options.local_address, options.local_port) {
        (None, None) => None,
        (Some(ip), port) => Some(SocketAddr::new(ip, port.unwrap_or(0))),
        (None, Some(port)) => {
            let any = if addr.is_ipv4() {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            };
            Some(SocketAddr::new(any, port))
        }
    }
}

/// The order of attempts: families interleaved, starting with the resolver's first; with a
/// `localAddress`, only addresses of its family (when there are any).
fn order(addrs: &[SocketAddr], options: &ConnectOptions) -> Vec<SocketAddr> {
    let mut addrs = addrs.to_vec();
    if let Some(local) = options.local_address {
        let same: Vec<_> = addrs
            .iter()
            .copied()
            .filter(|a| a.is_ipv4() == local.is_ipv4())
            .collect();
        if !same.is_empty() {
            addrs = same;
        }
    }
    let Some(first) = addrs.first().copied() else {
        return addrs;
    };
    let (mut lead, mut other): (Vec<_>, Vec<_>) = addrs
        .into_iter()
        .partition(|a| a.is_ipv4() == first.is_ipv4());
    lead.reverse();
    other.reverse();
    let mut out = Vec::with_capacity(lead.len() + other.len());
    while let Some(a) = lead.pop() {
        out.push(a);
        if let Some(b) = other.pop() {
            out.push(b);
        }
    }
    out.extend(other.into_iter().rev());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn families_interleave() {
        let list = [
            addr("[::1]:1"),
            addr("[::2]:1"),
            addr("10.0.0.1:1"),
            addr("[::3]:1"),
        ];
        let got = order(&list, &ConnectOptions::default());
        assert_eq!(
            got,
            [
                addr("[::1]:1"),
                addr("10.0.0.1:1"),
                addr("[::2]:1"),
                addr("[::3]:1")
            ]
        );
        let v4 = ConnectOptions {
            local_address: Some("127.0.0.1".parse().unwrap()),
            ..ConnectOptions::default()
        };
        assert_eq!(order(&list, &v4), [addr("10.0.0.1:1")]);
    }

    /// A listener on 127.0.0.2 whose accept queue is full: SYNs to it are dropped, so connecting hangs,
    /// as to an address that black-holes. Returns it with the connection that fills its queue.
    fn black_hole(port: u16) -> Option<(socket2::Socket, std::net::TcpStream)> {
        use socket2::{Domain, Socket, Type};
        let hole = SocketAddr::from(([127, 0, 0, 2], port));
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
        socket.bind(&hole.into()).ok()?;
        // Backlog 0: one connection waiting to be accepted fills the queue.
        socket.listen(0).ok()?;
        let fill = std::net::TcpStream::connect(hole).ok()?;
        Some((socket, fill))
    }

    /// Happy Eyeballs: a black-holed first address costs the attempt timeout, then the second connects;
    /// without autoSelectFamily the first address alone is tried, and the connect times out.
    #[tokio::test(start_paused = true)]
    async fn black_holed_address_costs_the_attempt_timeout() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = live.local_addr().unwrap().port();
        let Some((_hole, _fill)) = black_hole(port) else {
            eprintln!("skipped: cannot bind 127.0.0.2:{port}");
            return;
        };
        let addrs = [
            SocketAddr::from(([127, 0, 0, 2], port)),
            SocketAddr::from(([127, 0, 0, 1], port)),
        ];
        let options = ConnectOptions {
            attempt_timeout: Duration::from_millis(100),
            ..ConnectOptions::default()
        };
        let started = tokio::time::Instant::now();
        let stream = tokio::time::timeout(Duration::from_secs(10), tcp(&addrs, &options))
            .await
            .expect("Happy Eyeballs moves on")
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addrs[1]);
        assert!(started.elapsed() >= Duration::from_millis(100));

        let sequential = ConnectOptions {
            auto_select_family: false,
            ..options
        };
        let stuck =
            tokio::time::timeout(Duration::from_millis(500), tcp(&addrs, &sequential)).await;
        assert!(stuck.is_err(), "only the black-holed address is tried");
    }

    #[tokio::test]
    async fn binds_local_address_and_port() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = live.local_addr().unwrap();
        let options = ConnectOptions {
            local_address: Some("127.0.0.3".parse().unwrap()),
            ..ConnectOptions::default()
        };
        let stream = tcp(&[target], &options).await.unwrap();
        assert_eq!(
            stream.local_addr().unwrap().ip(),
            options.local_address.unwrap()
        );

        let err = tcp(
            &[target],
            &ConnectOptions {
                local_address: Some("192.0.2.1".parse().unwrap()),
                ..ConnectOptions::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "EADDRNOTAVAIL");
    }
}
