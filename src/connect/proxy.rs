//! The tunnel step of connecting: through an HTTP proxy, an `https:` target is reached with a CONNECT
//! tunnel (TLS to the target then runs inside it, in Rust); an `http:` target is not tunnelled: the
//! faces send absolute-form requests to the proxy itself, with its `Proxy-Authorization`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Kind, Result};

/// Largest CONNECT answer head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// An HTTP proxy, from a `proxy` URL (or the environment, chosen by the JS side).
#[derive(Clone, Debug)]
pub struct Proxy {
    /// An `https:` proxy: TLS to the proxy first.
    pub secure: bool,
    pub host: String,
    pub port: u16,
    /// `Basic ...` from the URL's credentials.
    pub authorization: Option<String>,
}

fn tunnel_error(message: String) -> Error {
    Error::new(Kind::Network("ERR_PROXY_TUNNEL"), message)
}

/// Asks the proxy on `stream` for a tunnel to `host:port`; on a 2xx answer the stream is the tunnel.
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<()> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = &proxy.authorization {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    let io = |e: std::io::Error| Error::from_io(&e, "proxy");
    stream.write_all(head.as_bytes()).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    // Read the answer's head a byte at a time: a byte past it would belong to the tunnel.
    let mut answer = Vec::with_capacity(256);
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_HEAD {
            return Err(tunnel_error(format!(
                "Failed to establish a tunnel to {authority}: the proxy's answer head exceeds {MAX_HEAD} bytes"
            )));
        }
        let byte = stream.read_u8().await.map_err(|e| {
            tunnel_error(format!(
                "Failed to establish a tunnel to {authority}: the proxy closed the connection ({e})"
            ))
        })?;
        answer.push(byte);
    }
    let status_line = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(()),
        Some(status) => Err(tunnel_error(format!(
            "Failed to establish a tunnel to {authority}: the proxy answered {status} ({status_line})"
        ))),
        None => Err(tunnel_error(format!(
            "Failed to establish a tunnel to {authority}: the proxy answered {status_line:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy() -> Proxy {
        Proxy {
            secure: false,
            host: "127.0.0.1".into(),
            port: 1,
            authorization: Some("Basic dTpw".into()),
        }
    }

    #[tokio::test]
    async fn tunnel_request_and_answers() {
        let (mut client, mut server) = tokio::io::duplex(4096);
        let serve = tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            let n = server.read(&mut buf).await.unwrap();
            server
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\nhello")
                .await
                .unwrap();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        });
        connect(&mut client, &proxy(), "example.test", 443)
            .await
            .unwrap();
        let sent = serve.await.unwrap();
        assert_eq!(
            sent,
            "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
        );
        // What follows the head is the tunnel's, untouched.
        let mut rest = [0u8; 5];
        client.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"hello");

        let (mut client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            let _ = server.read(&mut buf).await;
            let _ = server
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                .await;
        });
        let err = connect(&mut client, &proxy(), "::1", 443)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "ERR_PROXY_TUNNEL");
        assert!(err.message().contains("[::1]:443"), "{}", err.message());
        assert!(err.message().contains("407"), "{}", err.message());
    }
}
