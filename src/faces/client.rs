//! The Promise face: one HTTP/1.1 exchange spoken by hyper over a pooled connection.
//!
//! A [`Client`] checks a connection out of the pool, sends the request, and returns the response head
//! together with the body if it is small and already at hand, so that most answers cross into JavaScript
//! in one piece. A larger or slower body stays in a [`BodyStream`] that the caller pulls from, which is
//! where backpressure comes from. The connection goes back to the pool when the body ends, with the idle
//! deadline the server asked for (`Keep-Alive: timeout=`).
//!
//! A request that fails on a *reused* connection before any response arrived is sent once more on a fresh
//! connection when that is safe: an idempotent method and a body that can be replayed. That is the
//! keep-alive race (the server closed the idle connection as we reused it), and it never reaches the user.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Request, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use super::linger::Lingering;
use super::Conn;
use crate::connect::{Connector, Profile};
use crate::error::{Error, Kind, Result};
use crate::origin::OriginKey;
use crate::pool::{Checkout, Closed, Connection, Grant, Lease, Pool, Slot};

/// A response body up to this size is read before the head is handed over, so both cross together.
pub const SMALL_BODY: usize = 64 * 1024;
/// Largest response head accepted (`HPE_HEADER_OVERFLOW` beyond).
const MAX_HEAD: usize = 64 * 1024;

/// A pooled hyper connection: the sending half; the connection task runs on its own.
pub struct HyperConn {
    sender: http1::SendRequest<RequestBody>,
    /// Fired when the connection task ends, which drops the socket.
    closed: Closed,
}

impl HyperConn {
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Fires once the connection task has ended, which drops the socket.
    pub fn closed(&self) -> Closed {
        self.closed.clone()
    }
}

/// A request body: nothing, bytes known in full (replayable), or a stream of chunks fed by the caller.
pub enum RequestBody {
    Empty,
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<std::result::Result<Bytes, Error>>),
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Error>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            RequestBody::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| c.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Full(bytes) => bytes.is_none(),
            RequestBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            RequestBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// What the caller asks for.
pub struct RequestSpec {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: RequestBody,
    /// Inactivity limit while the request is active.
    pub timeout: Option<Duration>,
    /// How to connect, when the request has connect options of its own.
    pub profile: Option<Arc<Profile>>,
}

impl RequestSpec {
    /// Parses and checks the caller's input; nothing is sent when this fails.
    pub fn parse(method: &str, url: &str, headers: &[String]) -> Result<(Method, Uri, HeaderMap)> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| {
            Error::new(
                Kind::InvalidToken,
                format!("Method must be a valid HTTP token [\"{method}\"]"),
            )
        })?;
        let uri: Uri = url
            .parse()
            .map_err(|_| Error::new(Kind::InvalidUrl, format!("Invalid URL: {url}")))?;
        OriginKey::from_uri(&uri)?;
        if !headers.len().is_multiple_of(2) {
            return Err(Error::new(
                Kind::InvalidArgValue,
                "headers must come as name/value pairs",
            ));
        }
        let mut map = HeaderMap::with_capacity(headers.len() / 2);
        for pair in headers.chunks_exact(2) {
            let name = HeaderName::from_bytes(pair[0].as_bytes()).map_err(|_| {
                Error::new(
                    Kind::InvalidToken,
                    format!("Header name must be a valid HTTP token [\"{}\"]", pair[0]),
                )
            })?;
            let value = HeaderValue::from_str(&pair[1]).map_err(|_| {
                Error::new(
                    Kind::InvalidChar,
                    format!("Invalid character in header content [\"{}\"]", pair[0]),
                )
            })?;
            map.append(name, value);
        }
        Ok((method, uri, map))
    }

    fn replayable(&self) -> bool {
        let idempotent = matches!(
            self.method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        );
        idempotent && !matches!(self.body, RequestBody::Stream(_))
    }

    /// The request as hyper sends it: origin-form target, `Host` and `Connection` headers added.
    fn next_attempt(&mut self, key: &OriginKey, keep_alive: bool) -> Result<Request<RequestBody>> {
        let body = match &mut self.body {
            RequestBody::Empty => RequestBody::Empty,
            RequestBody::Full(bytes) => RequestBody::Full(bytes.clone()),
            RequestBody::Stream(rx) => {
                RequestBody::Stream(std::mem::replace(rx, mpsc::channel(1).1))
            }
        };
        let target = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = Request::builder()
            .method(self.method.clone())
            .uri(target)
            .body(body)
            .map_err(|e| Error::new(Kind::InvalidUrl, format!("Invalid URL: {e}")))?;
        let headers = req.headers_mut();
        *headers = self.headers.clone();
        if !headers.contains_key(HOST) {
            let default_port = if key.secure { 443 } else { 80 };
            let host = match (self.uri.authority(), self.uri.port_u16()) {
                (Some(a), Some(p)) if p == default_port => a.host().to_string(),
                (Some(a), _) => a
                    .as_str()
                    .rsplit('@')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                (None, _) => key.host.to_string(),
            };
            let host = HeaderValue::from_str(&host)
                .map_err(|_| Error::new(Kind::InvalidUrl, "Invalid URL host"))?;
            headers.insert(HOST, host);
        }
        if !keep_alive {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(req)
    }
}

/// The response head and as much of the body as came with it.
pub struct ResponseParts {
    pub status: u16,
    pub status_text: String,
    /// Names and values alternating, separated by `\n` (neither may contain it).
    pub headers: String,
    pub reused: bool,
    /// The whole body when `rest` is `None`, else its first bytes.
    pub body: Bytes,
    pub rest: Option<BodyStream>,
}

/// Opens hyper connections through the pool and runs exchanges over them.
pub struct Client {
    pool: Pool<Conn>,
    connector: Connector,
}

impl Client {
    pub fn new(pool: Pool<Conn>, connector: Connector) -> Self {
        Client { pool, connector }
    }

    pub fn pool(&self) -> &Pool<Conn> {
        &self.pool
    }

    pub async fn send(&self, spec: Box<RequestSpec>) -> Result<ResponseParts> {
        let key = OriginKey::from_uri(&spec.uri)?.via(spec.profile.clone());
        // Under load most requests spend their time here, waiting for a connection: this state carries
        // only what waiting needs; the exchange's (most of a request's) is allocated once there is a
        // connection, so 10,000 queued requests stay small.
        let lease = self.acquire(&key, false).await?;
        Box::pin(self.exchange(key, spec, lease)).await
    }

    /// Sends `spec` over `lease`, and once more over a fresh connection when a reused one failed
    /// before any response byte and the request may be replayed.
    async fn exchange(
        &self,
        key: OriginKey,
        mut spec: Box<RequestSpec>,
        mut lease: Lease<Conn>,
    ) -> Result<ResponseParts> {
        let keep_alive = self.pool.config().keep_alive;
        let replayable = spec.replayable();
        let mut fresh = false;
        loop {
            let may_retry = lease.reused() && replayable && !fresh;
            let req = spec.next_attempt(&key, keep_alive)?;
            match self.attempt(lease, req, spec.timeout, may_retry).await {
                Some(result) => return result,
                None => {
                    fresh = true;
                    lease = self.acquire(&key, true).await?;
                }
            }
        }
    }

    /// One exchange over `lease`. `None` when it failed before any response byte and `may_retry`:
    /// the caller sends it again on a fresh connection.
    async fn attempt(
        &self,
        mut lease: Lease<Conn>,
        req: Request<RequestBody>,
        timeout: Option<Duration>,
        may_retry: bool,
    ) -> Option<Result<ResponseParts>> {
        let exchange = async {
            let Conn::Http(conn) = lease.conn() else {
                unreachable!("the pool hands the Promise face its own connections")
            };
            let sender = &mut conn.sender;
            sender.ready().await?;
            sender.send_request(req).await
        };
        match with_deadline(&self.pool, timeout, exchange).await {
            Ok(response) => Some(finish(lease, response, timeout).await),
            Err(Failure::Hyper(e)) if may_retry && before_response(&e) => {
                lease.fail();
                self.pool.note_retry();
                None
            }
            Err(failure) => {
                lease.fail();
                Some(Err(failure.into_error(&self.pool)))
            }
        }
    }

    async fn acquire(&self, key: &OriginKey, fresh: bool) -> Result<Lease<Conn>> {
        let slot = match self.pool.checkout(key, Conn::HTTP, fresh)? {
            Checkout::Reuse(lease) => return Ok(lease),
            Checkout::Connect(slot) => slot,
            // `destroy()` fails every waiter itself, so waiting needs no watch of its own.
            Checkout::Queued(waiting) => match waiting.wait().await? {
                Grant::Reuse(lease) => return Ok(lease),
                Grant::Connect(slot) => slot,
            },
        };
        // Boxed: connecting (DNS, TCP, TLS) is the largest state of a request; a request that reuses a
        // connection or waits in the queue should not carry room for it.
        Box::pin(self.open(slot)).await
    }

    async fn open(&self, slot: Slot<Conn>) -> Result<Lease<Conn>> {
        let connected = tokio::select! {
            c = async {
                slot.ready().await;
                self.connector.connect(slot.key()).await
            } => c,
            _ = self.pool.destroyed() => Err(Error::destroyed()),
        };
        let transport = match connected {
            Ok(t) => t,
            Err(e) => {
                slot.fail();
                return Err(e);
            }
        };
        let handshake = http1::Builder::new()
            .max_buf_size(MAX_HEAD)
            .max_headers(1000)
            .handshake(TokioIo::new(Lingering::new(transport)))
            .await;
        let (sender, conn) = match handshake {
            Ok(pair) => pair,
            Err(e) => {
                slot.fail();
                return Err(hyper_error(&e));
            }
        };
        let pool = self.pool.clone();
        let key = slot.key().clone();
        let id = slot.id();
        let closed = Closed::default();
        let socket_closed = closed.clone();
        tokio::spawn(async move {
            let result = conn.await;
            socket_closed.fire();
            pool.forget(&key, id, result.is_err());
        });
        Ok(slot.fill(Conn::Http(HyperConn { sender, closed })))
    }
}

/// Why an exchange stopped.
enum Failure {
    Hyper(hyper::Error),
    TimedOut(Duration),
    Destroyed,
}

impl From<hyper::Error> for Failure {
    fn from(e: hyper::Error) -> Self {
        Failure::Hyper(e)
    }
}

impl Failure {
    fn into_error<C: Connection>(self, pool: &Pool<C>) -> Error {
        match self {
            Failure::Hyper(e) => hyper_error(&e),
            Failure::TimedOut(after) => {
                pool.note_timeout();
                Error::new(
                    Kind::TimedOut,
                    format!("no activity for {after:?} (timeout)"),
                )
            }
            Failure::Destroyed => Error::destroyed(),
        }
    }
}

/// Runs `work` unless the inactivity limit passes first or the agent is destroyed.
async fn with_deadline<C: Connection, T>(
    pool: &Pool<C>,
    limit: Option<Duration>,
    work: impl std::future::Future<Output = std::result::Result<T, hyper::Error>>,
) -> std::result::Result<T, Failure> {
    let limited = async {
        match limit {
            None => work.await.map_err(Failure::from),
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(r) => r.map_err(Failure::from),
                Err(_) => Err(Failure::TimedOut(limit)),
            },
        }
    };
    tokio::select! {
        r = limited => r,
        _ = pool.destroyed() => Err(Failure::Destroyed),
    }
}

/// Whether the exchange failed before any response byte: the request may then be sent again.
fn before_response(e: &hyper::Error) -> bool {
    if e.is_canceled() || e.is_incomplete_message() || e.is_closed() {
        return true;
    }
    io_source(e).is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
        )
    })
}

fn io_source(e: &hyper::Error) -> Option<&std::io::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}

fn error_source(e: &hyper::Error) -> Option<&Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(ours) = s.downcast_ref::<Error>() {
            return Some(ours);
        }
        source = s.source();
    }
    None
}

/// Maps a hyper failure to a Node-coded error.
fn hyper_error(e: &hyper::Error) -> Error {
    if let Some(ours) = error_source(e) {
        return ours.clone();
    }
    if let Some(io) = io_source(e) {
        return Error::from_io(io, "socket");
    }
    if e.is_parse() && e.to_string().contains("too large") {
        return Error::new(Kind::HeaderOverflow, format!("Header overflow: {e}"));
    }
    if e.is_parse() || e.is_parse_status() {
        return Error::new(Kind::Parse, format!("Parse Error: {e}"));
    }
    if e.is_timeout() {
        return Error::new(Kind::TimedOut, e.to_string());
    }
    Error::new(Kind::ConnectionReset, format!("socket hang up: {e}"))
}

/// The idle deadline the response asks for: `None` to keep the agent's, `Some(ZERO)` to not pool.
fn idle_deadline(headers: &HeaderMap) -> Option<Duration> {
    let closes = headers.get_all(CONNECTION).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    });
    if closes {
        return Some(Duration::ZERO);
    }
    super::keep_alive::idle_for(headers.get("keep-alive")?.to_str().ok()?)
}

async fn finish(
    lease: Lease<Conn>,
    response: http::Response<Incoming>,
    timeout: Option<Duration>,
) -> Result<ResponseParts> {
    let (parts, incoming) = response.into_parts();
    let mut headers = String::with_capacity(parts.headers.len() * 32);
    for (name, value) in &parts.headers {
        if !headers.is_empty() {
            headers.push('\n');
        }
        headers.push_str(name.as_str());
        headers.push('\n');
        // Header values are bytes; Node reads them as latin1, and so do we.
        headers.extend(value.as_bytes().iter().map(|&b| b as char));
    }
    // hyper bounds its read buffer, not the head: enforce the head limit here, as Node's parser does.
    if headers.len() > MAX_HEAD {
        lease.fail();
        return Err(Error::new(
            Kind::HeaderOverflow,
            format!("Header overflow: the response head exceeds {MAX_HEAD} bytes"),
        ));
    }
    // hyper lets Transfer-Encoding win and keeps the connection; a client that cannot tell where this
    // response ends must not read the next one from the same bytes.
    if parts.headers.contains_key(TRANSFER_ENCODING) && parts.headers.contains_key(CONTENT_LENGTH) {
        lease.fail();
        return Err(Error::new(
            Kind::AmbiguousLength,
            "Response has both Content-Length and Transfer-Encoding",
        ));
    }
    let reused = lease.reused();
    let known_small = incoming
        .size_hint()
        .exact()
        .is_some_and(|n| n as usize <= SMALL_BODY);
    let mut stream = BodyStream {
        idle_for: idle_deadline(&parts.headers),
        incoming,
        lease: Some(lease),
        timeout,
    };
    let body = stream.prefix(known_small).await?;
    let rest = (!stream.is_done()).then_some(stream);
    Ok(ResponseParts {
        status: parts.status.as_u16(),
        status_text: reason_phrase(&parts),
        headers,
        reused,
        body,
        rest,
    })
}

/// The server's own reason phrase (hyper keeps it only when it differs from the canonical one).
fn reason_phrase(parts: &http::response::Parts) -> String {
    match parts.extensions.get::<hyper::ext::ReasonPhrase>() {
        Some(reason) => String::from_utf8_lossy(reason.as_bytes()).into_owned(),
        None => parts.status.canonical_reason().unwrap_or("").to_string(),
    }
}

/// The part of a response body not yet read, still holding its connection.
pub struct BodyStream {
    incoming: Incoming,
    /// Released when the body ends; dropped (connection closed) if the body is abandoned or fails.
    lease: Option<Lease<Conn>>,
    idle_for: Option<Duration>,
    timeout: Option<Duration>,
}

impl BodyStream {
    fn is_done(&self) -> bool {
        self.lease.is_none()
    }

    /// Reads what is at hand, up to [`SMALL_BODY`]; with `wait`, also waits for it (a small body whose
    /// length is known is coming anyway).
    async fn prefix(&mut self, wait: bool) -> Result<Bytes> {
        // Sized once when the length is known: growing by doubling would copy a 64 KiB body 4 times.
        let expected = self.incoming.size_hint().exact().unwrap_or(0) as usize;
        let mut buf = BytesMut::with_capacity(expected.min(SMALL_BODY));
        while buf.len() < SMALL_BODY {
            let frame = if wait {
                self.frame().await?
            } else {
                tokio::select! {
                    biased;
                    frame = self.frame() => frame?,
                    _ = std::future::ready(()) => break,
                }
            };
            match frame {
                Some(chunk) => buf.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok(buf.freeze())
    }

    /// The next chunk, or `None` at the end. Chunks already at hand are joined to cut crossings.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if self.is_done() {
            return Ok(None);
        }
        let Some(first) = self.frame().await? else {
            return Ok(None);
        };
        if first.len() >= SMALL_BODY || self.is_done() {
            return Ok(Some(first));
        }
        let more = self.prefix(false).await?;
        if more.is_empty() {
            return Ok(Some(first));
        }
        let mut joined = BytesMut::with_capacity(first.len() + more.len());
        joined.extend_from_slice(&first);
        joined.extend_from_slice(&more);
        Ok(Some(joined.freeze()))
    }

    /// One data frame; at the end the connection goes back to the pool.
    async fn frame(&mut self) -> Result<Option<Bytes>> {
        loop {
            let Some(lease) = self.lease.as_ref() else {
                return Ok(None);
            };
            let pool = lease.pool().clone();
            let next = with_deadline(&pool, self.timeout, async {
                self.incoming.frame().await.transpose()
            })
            .await;
            match next {
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Ok(Some(data));
                        }
                    }
                }
                Ok(None) => {
                    if let Some(lease) = self.lease.take() {
                        lease.release(self.idle_for);
                    }
                    return Ok(None);
                }
                Err(failure) => {
                    self.fail();
                    return Err(failure.into_error(&pool));
                }
            }
        }
    }

    fn fail(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.fail();
        }
    }
}
