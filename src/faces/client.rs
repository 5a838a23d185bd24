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
//!
//! The request's `timeout` is inactivity over its whole active life: connecting, waiting for the head,
//! and the body both ways; every byte that moves (see [`super::wire`]) starts it again. undici's two
//! limits may come on top: `headers_timeout` from the end of the request until the response head,
//! `body_timeout` between the bytes of the response body.
//!
//! A request may ask to be told about the connections opened for it ([`ConnectWatch`]): undici's
//! connect events, which the binding reports only while someone subscribes to them.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONNECTION, HOST};
use http::{HeaderMap, Method, Request, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot};

use super::head::{self, Scan};
use super::linger::Lingering;
use super::transport::ConnInfo;
use super::wire::{Moved, Streaming, Wire, Wired};
use super::Conn;
use crate::connect::proxy::Proxy;
use crate::connect::{Connector, Profile};
use crate::error::{Cut, Error, Hpe, Kind, Result};
use crate::origin::OriginKey;
use crate::pool::{Checkout, Closed, ConnId, Connection, Grant, IdleFor, Lease, Pool, Slot, Want};

/// A response body up to this size is read before the head is handed over, so both cross together.
pub const SMALL_BODY: usize = 64 * 1024;
/// The methods a request may be sent twice with (RFC 9110's idempotent methods), comma-separated: the
/// keep-alive race replays such a request on a fresh connection. The socket face (`lib/socket.js`) reads
/// this and [`IDEMPOTENCY_KEY_HEADERS`] through the binding, so both faces follow one rule.
pub const REPLAYABLE_METHODS: &str = "GET,HEAD,OPTIONS,TRACE,PUT,DELETE";
/// Headers that make a request of any method replayable (an idempotency key: Go's rule), comma-separated.
pub const IDEMPOTENCY_KEY_HEADERS: &str = "idempotency-key,x-idempotency-key";
/// Largest response head accepted (`HPE_HEADER_OVERFLOW` beyond).
pub const MAX_HEAD: usize = 64 * 1024;

/// A pooled hyper connection: the sending half, and what its bytes do; the connection task runs on its own.
///
/// A connection idle for a while is *parked* (the pool's reaper calls [`HyperConn::park`]): the sending
/// half is dropped, hyper's dispatcher ends and gives the bare socket back to the connection task, and
/// hyper's per-connection state (its request channel and both buffers, ≈ 27 KiB) is freed; the task
/// watches the socket for the server closing it. The next request asks the task for a new hyper
/// connection over the same socket (a handshake is a few allocations, no bytes on the wire).
pub struct HyperConn {
    /// `None` while parked.
    sender: Option<http1::SendRequest<RequestBody>>,
    /// Asks the connection task for a new sending half, while parked.
    unpark: mpsc::UnboundedSender<oneshot::Sender<http1::SendRequest<RequestBody>>>,
    /// Fired when the connection task ends, which drops the socket.
    closed: Closed,
    wire: Arc<Wire>,
    /// Reports its end (while the client watches ends).
    end: Option<Arc<EndReport>>,
    /// Requests sent on it, and how many it may serve before it closes (0: no limit).
    served: u32,
    max_requests: u32,
}

impl Drop for HyperConn {
    fn drop(&mut self) {
        if let Some(end) = &self.end {
            end.arrive();
        }
    }
}

impl HyperConn {
    /// A request is on it (`on`), or it is done with one: let go while one is, it was given up.
    fn set_busy(&self, on: bool) {
        if let Some(end) = &self.end {
            end.busy.store(on, Ordering::Release);
        }
    }

    /// A request failed on it with `error`, which closes it: its end is told with that error.
    fn failed_with(&self, error: &Error) {
        if let Some(end) = &self.end {
            *end.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.clone());
        }
    }

    /// Whether it may serve another request: its connection is up and has served fewer than its limit.
    pub fn is_open(&self) -> bool {
        if self.max_requests != 0 && self.served >= self.max_requests {
            return false;
        }
        match &self.sender {
            Some(sender) => !sender.is_closed(),
            None => !self.unpark.is_closed(),
        }
    }

    /// Frees hyper's state while the connection is idle (see the type's doc).
    pub fn park(&mut self) {
        self.sender = None;
    }

    /// The sending half, asking the connection task for a new one if parked; `None` when the socket
    /// closed meanwhile (the server closed it as the request came: the keep-alive race).
    async fn sender(&mut self) -> Option<&mut http1::SendRequest<RequestBody>> {
        if self.sender.is_none() {
            let (tx, rx) = oneshot::channel();
            self.unpark.send(tx).ok()?;
            self.sender = Some(rx.await.ok()?);
        }
        self.sender.as_mut()
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
    Stream(BodyChunks),
}

impl RequestBody {
    /// The body for the next attempt: a full body again, a stream only once (it is never replayed).
    fn replay(&mut self) -> RequestBody {
        match self {
            RequestBody::Empty => RequestBody::Empty,
            RequestBody::Full(bytes) => RequestBody::Full(bytes.clone()),
            RequestBody::Stream(_) => std::mem::replace(self, RequestBody::Empty),
        }
    }
}

/// A streamed request body as hyper pulls it: chunks, at most `capacity` of them waiting (backpressure),
/// and the caller's failure, which travels apart so that a full channel can never drop it.
pub struct BodyChunks {
    chunks: mpsc::Receiver<Bytes>,
    /// `None` once it reported that the feed ended without failing.
    failed: Option<oneshot::Receiver<Error>>,
    /// Tells the connection's wire the body is still coming, until it ends.
    streaming: Option<Streaming>,
}

/// The caller's end of a streamed body: send chunks, then drop it to end the body or [`BodyFeed::fail`].
pub struct BodyFeed {
    pub chunks: mpsc::Sender<Bytes>,
    failed: oneshot::Sender<Error>,
}

impl BodyFeed {
    /// Fails the body: hyper then aborts the request instead of ending the body.
    pub fn fail(self, error: Error) {
        // Sent before the chunk sender drops, so the end of the chunks is never seen without it.
        let _ = self.failed.send(error);
    }
}

/// A streamed body's two ends; at most `capacity` chunks wait between them.
pub fn body_channel(capacity: usize) -> (BodyFeed, BodyChunks) {
    let (chunks_tx, chunks) = mpsc::channel(capacity);
    let (failed_tx, failed) = oneshot::channel();
    let feed = BodyFeed {
        chunks: chunks_tx,
        failed: failed_tx,
    };
    let body = BodyChunks {
        chunks,
        failed: Some(failed),
        streaming: None,
    };
    (feed, body)
}

impl BodyChunks {
    fn failure(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        let failed = self.failed.as_mut()?;
        match Pin::new(failed).poll(cx) {
            Poll::Pending => None,
            Poll::Ready(result) => {
                self.failed = None;
                result.ok()
            }
        }
    }

    fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Bytes, Error>>> {
        if let Some(error) = self.failure(cx) {
            return Poll::Ready(Some(Err(error)));
        }
        match self.chunks.poll_recv(cx) {
            Poll::Ready(Some(chunk)) => Poll::Ready(Some(Ok(chunk))),
            // The feed is gone: it ended the body, unless it failed it on the way out.
            Poll::Ready(None) => {
                self.streaming = None;
                Poll::Ready(self.failure(cx).map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
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
            RequestBody::Stream(body) => body
                .poll_chunk(cx)
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

/// How a connection opened for a request got on: undici's `beforeConnect`, `connected`, `connectError`.
pub enum ConnectStage {
    Started,
    /// Open (TLS included), as connection `ConnId` of the pool.
    Connected(ConnInfo, ConnId),
    Failed(Error),
}

/// How a hyper connection ended, for undici's `'disconnect'` (which says why).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The server closed it, or sent bytes nobody asked for, while it was idle.
    Peer,
    /// A response said it ends with it (`Connection: close`, or HTTP/1.0 without keep-alive).
    Reset,
    /// The pool let go of it (its idle deadline, an eviction, the agent's destruction).
    Dropped,
    /// It failed (a reset, a protocol error, a request cut short).
    Failed,
    /// Its request was given up (aborted, its body abandoned) while it was in use.
    Aborted,
}

/// Told when a connection the client opened ends (the agent watches only while asked to), with the
/// error of the request it failed under, if it did: undici's `'disconnect'` gives that error.
pub type EndWatch = Arc<dyn Fn(ConnId, Ended, Option<Error>) + Send + Sync>;

/// Tells a connection's end to the [`EndWatch`] once both its task has ended and the pool has let go of
/// it: so a response that said the connection ends with it (`reset`, noted when its head is read) is
/// known even when the server's close reached the task first. An [`EndHold`] keeps it untold longer.
struct EndReport {
    ends: EndWatch,
    id: ConnId,
    /// How the task ended, once it has.
    ended: Mutex<Ended>,
    /// A response said the connection ends with it.
    reset: AtomicBool,
    /// The error of the request it failed under.
    failure: Mutex<Option<Error>>,
    /// A request is on it: let go now, it was given up.
    busy: AtomicBool,
    /// Of the two (the task, the pool's [`HyperConn`]) and the [`EndHold`]s, how many are still to come.
    left: AtomicU8,
}

/// Keeps a connection's end untold while the response read from it is on its way to its caller: a body
/// that ended releases the connection, and a `Connection: close` one ends it, before the caller has
/// been told the response's end. undici tells `'disconnect'` after the response, so the caller drops the
/// hold once it has told that end on ([`ResponseParts::hold`], [`BodyStream::take_hold`]).
pub struct EndHold(Arc<EndReport>);

impl EndHold {
    /// Holds `report` back; the connection is still leased, so it has not been told.
    fn on(report: &Arc<EndReport>) -> Self {
        report.left.fetch_add(1, Ordering::AcqRel);
        EndHold(report.clone())
    }
}

impl Drop for EndHold {
    fn drop(&mut self) {
        self.0.arrive();
    }
}

impl EndReport {
    fn arrive(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let ended = *self.ended.lock().unwrap_or_else(|e| e.into_inner());
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let ended = if failure.is_none() && self.busy.load(Ordering::Acquire) {
            Ended::Aborted
        } else if self.reset.load(Ordering::Acquire) {
            Ended::Reset
        } else {
            ended
        };
        (self.ends)(self.id, ended, failure);
    }
}

/// Told each [`ConnectStage`] of the connections opened for one request.
pub type ConnectWatch = Box<dyn Fn(ConnectStage) + Send + Sync>;

/// Told each informational (1xx) response head before the final one: status, reason, and the headers
/// as [`ResponseParts::headers`]. undici hands these to its handlers.
pub type InformationalWatch = Arc<dyn Fn(u16, &str, String) + Send + Sync>;

/// What the caller asks for.
pub struct RequestSpec {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: RequestBody,
    /// Inactivity limit while the request is active.
    pub timeout: Option<Duration>,
    /// undici's `headersTimeout`: from the end of the request until the whole response head.
    pub headers_timeout: Option<Duration>,
    /// undici's `bodyTimeout`: the longest wait for response body bytes.
    pub body_timeout: Option<Duration>,
    /// How to connect, when the request has connect options of its own.
    pub profile: Option<Arc<Profile>>,
    /// Told how the connections opened for this request get on.
    pub watch: Option<ConnectWatch>,
    /// undici's `idempotent`: whether the request may be sent twice, given by the caller; `None`
    /// follows the method and the idempotency headers.
    pub idempotent: Option<bool>,
    /// Told each 1xx head the request receives.
    pub informational: Option<InformationalWatch>,
}

/// The headers every request gets besides the caller's, as hyper's requests get them: `Host` from the
/// URL (without a default port or credentials) unless given, and `Connection: close` without keep-alive
/// or, unless given, `Connection: keep-alive` with it, as Node's keep-alive agents and undici send it: an
/// HTTP/1.0 server or proxy keeps a connection open only when asked.
fn add_host_and_connection(
    headers: &mut HeaderMap,
    uri: &Uri,
    key: &OriginKey,
    keep_alive: bool,
) -> Result<()> {
    if !headers.contains_key(HOST) {
        let default_port = if key.secure { 443 } else { 80 };
        let host = match (uri.authority(), uri.port_u16()) {
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
    } else if !headers.contains_key(CONNECTION) {
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    Ok(())
}

/// Methods whose requests carry a body by nature: sent without one, they say `Content-Length: 0`.
const BODY_METHODS: [Method; 3] = [Method::POST, Method::PUT, Method::PATCH];

/// How a request body is framed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// A body held in full, of this many bytes.
    Length(usize),
    /// A body streamed as it comes, chunked.
    Chunked,
    /// Framed by the caller's own `Content-Length` (see [`exchange_head`]).
    Declared,
}

/// Whether a declared framing (see [`declared_length`]) fits the body: its length, or any length for a
/// body streamed as it comes.
fn fits(declared: Option<Framing>, framing: Framing) -> bool {
    match (declared, framing) {
        (Some(Framing::Length(_)), Framing::Chunked) => true,
        (declared, framing) => declared == Some(framing),
    }
}

/// What the caller's `Content-Length` headers declare: `None` without one, `Some(None)` when they do not
/// declare one length, else the framing of a body of that length.
fn declared_length(headers: &HeaderMap) -> Option<Option<Framing>> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let first = values.next()?;
    let length = first
        .to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<usize>().ok());
    if values.next().is_some() {
        return Some(None);
    }
    Some(length.map(Framing::Length))
}

/// The bytes of a request head for an exchange on the JS thread (lib/exchange.js), checked as
/// [`RequestSpec::parse`] checks what goes to hyper, with the same added headers and the body's
/// `framing`. The caller's own `Content-Length` stays when it is the length of the body held in full, or
/// declares the length of a streamed one (which is then sent as it comes, not chunked): fetch declares
/// the length of what it gives. `None` when the caller framed it otherwise (`Transfer-Encoding`, a length
/// that does not fit) or the method is `CONNECT`: hyper sends those.
pub fn exchange_head(
    method: &str,
    url: &str,
    caller: &[String],
    framing: Framing,
    keep_alive: bool,
) -> Result<Option<Vec<u8>>> {
    let (method, uri, mut headers) = RequestSpec::parse(method, url, caller)?;
    let declared = declared_length(&headers);
    if method == Method::CONNECT
        || headers.contains_key(http::header::TRANSFER_ENCODING)
        || declared.is_some_and(|declared| !fits(declared, framing))
    {
        return Ok(None);
    }
    let framing = match declared {
        // The caller's own Content-Length stays, where it put it.
        Some(_) => Framing::Declared,
        None => framing,
    };
    let key = OriginKey::from_uri(&uri)?;
    add_host_and_connection(&mut headers, &uri, &key, keep_alive)?;
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(64 + target.len() + headers.len() * 32);
    head.extend_from_slice(method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    // The caller's headers as given, names in their own case and in their order (as undici and Node
    // send them: some servers read names case-sensitively); then those added here (Host, Connection).
    let mut line = |name: &[u8], value: &[u8]| {
        head.extend_from_slice(name);
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    };
    // Without keep-alive, `Connection: close` replaces the caller's.
    let replaced = |name: &str| !keep_alive && name.eq_ignore_ascii_case(CONNECTION.as_str());
    for pair in caller.chunks_exact(2).filter(|pair| !replaced(&pair[0])) {
        // Latin1, checked by `parse`.
        let value: Vec<u8> = pair[1].chars().map(|c| c as u8).collect();
        line(pair[0].as_bytes(), &value);
    }
    for (name, value) in &headers {
        let given = caller
            .chunks_exact(2)
            .any(|pair| pair[0].eq_ignore_ascii_case(name.as_str()));
        if !given || replaced(name.as_str()) {
            line(name.as_str().as_bytes(), value.as_bytes());
        }
    }
    match framing {
        Framing::Length(length) => {
            head.extend_from_slice(format!("content-length: {length}\r\n").as_bytes())
        }
        Framing::None if BODY_METHODS.contains(&method) => {
            head.extend_from_slice(b"content-length: 0\r\n")
        }
        Framing::None | Framing::Declared => {}
        Framing::Chunked => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    head.extend_from_slice(b"\r\n");
    Ok(Some(head))
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
            // Sent as latin1, as Node sends them; a character beyond it cannot be.
            let latin1: Option<Vec<u8>> = pair[1].chars().map(|c| u8::try_from(c).ok()).collect();
            let value = latin1
                .and_then(|bytes| HeaderValue::from_bytes(&bytes).ok())
                .ok_or_else(|| {
                    Error::new(
                        Kind::InvalidChar,
                        format!("Invalid character in header content [\"{}\"]", pair[0]),
                    )
                })?;
            map.append(name, value);
        }
        Ok((method, uri, map))
    }

    /// The limits on one phase of the exchange: inactivity, and undici's limit of that phase.
    fn limits(&self, phase: Phase) -> Limits {
        let limit = match phase {
            Phase::Head => self.headers_timeout,
            Phase::Body => self.body_timeout,
        };
        Limits {
            idle: self.timeout,
            phase: limit.map(|limit| (phase, limit)),
        }
    }

    /// Whether it may be sent twice: idempotent as the caller says (undici's `idempotent`), else an
    /// idempotent method or any method with an idempotency key ([`REPLAYABLE_METHODS`],
    /// [`IDEMPOTENCY_KEY_HEADERS`]); and a body held in full.
    fn replayable(&self) -> bool {
        let idempotent = self
            .idempotent
            .unwrap_or_else(|| self.idempotent_by_default());
        idempotent && !matches!(self.body, RequestBody::Stream(_))
    }

    fn idempotent_by_default(&self) -> bool {
        REPLAYABLE_METHODS
            .split(',')
            .any(|m| m == self.method.as_str())
            || IDEMPOTENCY_KEY_HEADERS
                .split(',')
                .any(|h| self.headers.contains_key(h))
    }

    /// The request as hyper sends it: origin-form target (absolute-form, with the proxy's
    /// `Proxy-Authorization`, when `proxy` forwards it), `Host` and `Connection` headers added.
    fn next_attempt(
        &mut self,
        key: &OriginKey,
        keep_alive: bool,
        proxy: Option<&Proxy>,
    ) -> Result<Request<RequestBody>> {
        let body = self.body.replay();
        let target = match proxy {
            Some(_) => self.uri.to_string(),
            None => self
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
        };
        let mut req = Request::builder()
            .method(self.method.clone())
            .uri(target)
            .body(body)
            .map_err(|e| Error::new(Kind::InvalidUrl, format!("Invalid URL: {e}")))?;
        let empty = match req.body() {
            RequestBody::Empty | RequestBody::Full(None) => true,
            RequestBody::Full(Some(bytes)) => bytes.is_empty(),
            RequestBody::Stream(_) => false,
        };
        let headers = req.headers_mut();
        *headers = self.headers.clone();
        add_host_and_connection(headers, &self.uri, key, keep_alive)?;
        // As the exchanges' heads say it (`exchange_head`): hyper writes no length for an empty body.
        let framed = headers.contains_key(http::header::CONTENT_LENGTH)
            || headers.contains_key(http::header::TRANSFER_ENCODING);
        if empty && !framed && BODY_METHODS.contains(&self.method) {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        if let Some(auth) = proxy.and_then(|p| p.authorization.as_deref()) {
            let auth = HeaderValue::from_str(auth)
                .map_err(|_| Error::new(Kind::InvalidChar, "Invalid proxy credentials"))?;
            headers.insert(http::header::PROXY_AUTHORIZATION, auth);
        }
        if let Some(inform) = &self.informational {
            let inform = inform.clone();
            hyper::ext::on_informational(&mut req, move |res| {
                let status = res.status();
                inform(
                    status.as_u16(),
                    status.canonical_reason().unwrap_or_default(),
                    joined(res.headers()),
                );
            });
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
    /// The trailers, as `headers`, when the whole body came and had some.
    pub trailers: Option<String>,
    pub rest: Option<BodyStream>,
    /// When the whole body came and the client watches ends: its connection's end, held until the
    /// caller has handed the response on and drops this.
    pub hold: Option<EndHold>,
}

/// Opens hyper connections through the pool and runs exchanges over them.
pub struct Client {
    pool: Pool<Conn>,
    connector: Connector,
    /// Told as each connection it opened ends.
    ends: Option<EndWatch>,
    /// Requests a connection serves before it closes (undici's `maxRequestsPerClient`); 0: no limit.
    max_requests: u32,
}

impl Client {
    pub fn new(pool: Pool<Conn>, connector: Connector, ends: Option<EndWatch>) -> Self {
        Client {
            pool,
            connector,
            ends,
            max_requests: 0,
        }
    }

    /// Connections it opens serve `max` requests at most (0: no limit), then close.
    pub fn with_max_requests(mut self, max: u32) -> Self {
        self.max_requests = max;
        self
    }

    pub fn pool(&self) -> &Pool<Conn> {
        &self.pool
    }

    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Where `spec` goes: the pool's key for its origin and connect profile.
    pub fn key(spec: &RequestSpec) -> Result<OriginKey> {
        Ok(OriginKey::from_uri(&spec.uri)?.via(spec.profile.clone()))
    }

    /// Sends `spec` once the pool granted it a connection or room for one (see
    /// [`Pool::checkout_call`]: under load most requests wait there, as a callback that holds only the
    /// spec; the exchange's state, most of a request's, exists once there is a connection).
    pub async fn send(&self, spec: Box<RequestSpec>, grant: Grant<Conn>) -> Result<ResponseParts> {
        let (key, lease) = match grant {
            Grant::Reuse(lease) => (lease.key().clone(), lease),
            // Boxed: connecting (DNS, TCP, TLS) is the largest state of a request; a request that reuses
            // a connection should not carry room for it.
            Grant::Connect(slot) => (
                slot.key().clone(),
                Box::pin(self.open(slot, spec.timeout, spec.watch.as_ref())).await?,
            ),
        };
        Box::pin(self.exchange(key, spec, lease)).await
    }

    /// Sends `spec` over `lease`, and again when a reused connection failed before any response byte
    /// and the request may be replayed: first over any connection but an idle one, then, if that was
    /// reused too and failed the same way, over a new one (see [`Want`]).
    async fn exchange(
        &self,
        key: OriginKey,
        mut spec: Box<RequestSpec>,
        mut lease: Lease<Conn>,
    ) -> Result<ResponseParts> {
        let keep_alive = self.pool.config().keep_alive;
        let replayable = spec.replayable();
        let proxy = self.connector.profile(&key).forwarding_proxy(key.secure);
        let mut replays = 0;
        loop {
            let may_retry = lease.reused() && replayable;
            let req = spec.next_attempt(&key, keep_alive, proxy)?;
            let limits = [spec.limits(Phase::Head), spec.limits(Phase::Body)];
            match self.attempt(lease, req, limits, may_retry).await {
                Some(result) => return result,
                None => {
                    replays += 1;
                    let want = Want::for_replay(replays);
                    lease = self
                        .acquire(&key, want, spec.timeout, spec.watch.as_ref())
                        .await?;
                }
            }
        }
    }

    /// One exchange over `lease`, under the limits of its head and of its body. `None` when it failed
    /// before any response byte and `may_retry`: the caller sends it again on a fresh connection.
    async fn attempt(
        &self,
        mut lease: Lease<Conn>,
        mut req: Request<RequestBody>,
        [head_limits, body_limits]: [Limits; 2],
        may_retry: bool,
    ) -> Option<Result<ResponseParts>> {
        let wire = http_of(&mut lease).wire.clone();
        if http_of(&mut lease).sender().await.is_none() {
            // A parked connection closed as it was taken: as a reused one closed before answering.
            lease.fail();
            if may_retry {
                self.pool.note_retry();
                return None;
            }
            return Some(Err(Error::new(Kind::ConnectionReset, "socket hang up")));
        }
        wire.expect_head();
        if let RequestBody::Stream(chunks) = req.body_mut() {
            chunks.streaming = Some(wire.streaming());
        }
        let exchange = async {
            let conn = http_of(&mut lease);
            conn.served += 1;
            conn.set_busy(true);
            let sender = conn.sender.as_mut().expect("unparked above");
            sender.ready().await?;
            sender.send_request(req).await
        };
        match with_deadline(&self.pool, head_limits, &wire, exchange).await {
            Ok(response) => Some(finish(lease, response, body_limits, wire).await),
            Err(Failure::Hyper(e)) if may_retry && before_response(&e) => {
                // The server's close, not ours: told as the connection task saw it.
                http_of(&mut lease).set_busy(false);
                lease.fail();
                self.pool.note_retry();
                None
            }
            Err(failure) => {
                let error = failure.into_error(&self.pool, &wire.take_head());
                http_of(&mut lease).failed_with(&error);
                lease.fail();
                Some(Err(error))
            }
        }
    }

    /// A connection for `key`; with a `timeout`, connecting is limited by it too (inactivity covers it).
    /// `watch` is told how a connection opened for it gets on.
    async fn acquire(
        &self,
        key: &OriginKey,
        want: Want,
        timeout: Option<Duration>,
        watch: Option<&ConnectWatch>,
    ) -> Result<Lease<Conn>> {
        let slot = match self.pool.checkout(key, Conn::HTTP, want)? {
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
        Box::pin(self.open(slot, timeout, watch)).await
    }

    async fn open(
        &self,
        slot: Slot<Conn>,
        timeout: Option<Duration>,
        watch: Option<&ConnectWatch>,
    ) -> Result<Lease<Conn>> {
        let key = slot.key();
        let tell = |stage| {
            if let Some(watch) = watch {
                watch(stage);
            }
        };
        // The room is really free once a connection evicted for it has closed.
        let connecting = async {
            slot.ready().await;
            tell(ConnectStage::Started);
            self.connector.connect(key).await
        };
        let limited = async {
            match timeout {
                None => connecting.await,
                Some(limit) => tokio::time::timeout(limit, connecting)
                    .await
                    .unwrap_or_else(|_| Err(Error::connect_timed_out(&key.host, key.port))),
            }
        };
        // A connect given up here frees its slot (`slot.fail()`), so the next waiter gets its own turn.
        let connected = tokio::select! {
            c = limited => c,
            _ = self.pool.destroyed() => Err(Error::destroyed()),
        };
        let transport = match connected {
            Ok(t) => t,
            Err(e) => {
                slot.fail();
                // As undici: a connect cut short by the agent's destruction is no connect error.
                if e.kind() != Kind::Destroyed {
                    tell(ConnectStage::Failed(e.clone()));
                }
                return Err(e);
            }
        };
        if watch.is_some() {
            tell(ConnectStage::Connected(ConnInfo::of(&transport), slot.id()));
        }
        let wire = Arc::new(Wire::new(MAX_HEAD + 4));
        let handshake = builder()
            .handshake(TokioIo::new(Wired::new(
                Lingering::new(transport),
                wire.clone(),
            )))
            .await;
        let (sender, conn) = match handshake {
            Ok(pair) => pair,
            Err(e) => {
                slot.fail();
                return Err(hyper_error(&e, &[]));
            }
        };
        let closed = Closed::default();
        let end = self.ends.clone().map(|ends| {
            Arc::new(EndReport {
                ends,
                id: slot.id(),
                ended: Mutex::new(Ended::Failed),
                reset: AtomicBool::new(false),
                failure: Mutex::new(None),
                busy: AtomicBool::new(false),
                left: AtomicU8::new(2),
            })
        });
        let gone = Gone {
            closed: closed.clone(),
            pool: self.pool.clone(),
            key: slot.key().clone(),
            id: slot.id(),
            ended: Ended::Failed,
            end: end.clone(),
        };
        let (unpark, unparks) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let ended = drive(conn, unparks).await;
            gone.ended(ended);
        });
        Ok(slot.fill(Conn::Http(HyperConn {
            sender: Some(sender),
            unpark,
            closed,
            wire,
            end,
            served: 0,
            max_requests: self.max_requests,
        })))
    }
}

fn builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.max_buf_size(MAX_HEAD).max_headers(1000);
    builder
}

type Unparks = mpsc::UnboundedReceiver<oneshot::Sender<http1::SendRequest<RequestBody>>>;
type HyperIo = TokioIo<Wired<Lingering<crate::connect::Transport>>>;

/// The connection task: runs hyper's connection; once parked (its sending half dropped, nothing in
/// flight), keeps the bare socket until a request asks for a new sending half, or the server closes it
/// (or sends anything: nobody asked for it). Returns how it ended.
async fn drive(mut conn: http1::Connection<HyperIo, RequestBody>, mut unparks: Unparks) -> Ended {
    loop {
        let Ok(parts) = conn.without_shutdown().await else {
            return Ended::Failed;
        };
        // Bytes read past the last response: nobody asked for them.
        if !parts.read_buf.is_empty() {
            return Ended::Failed;
        }
        let mut io = parts.io.into_inner();
        let asked = tokio::select! {
            asked = unparks.recv() => asked.ok_or(Ended::Dropped),
            _ = closing(&mut io) => Err(Ended::Peer),
        };
        let reply = match asked {
            Ok(reply) => reply,
            Err(ended) => {
                // Closed as hyper closes it: FIN, then the peer's (see `Lingering`).
                use tokio::io::AsyncWriteExt;
                let _ = io.shutdown().await;
                return ended;
            }
        };
        let Ok((sender, next)) = builder().handshake(TokioIo::new(io)).await else {
            return Ended::Failed;
        };
        let _ = reply.send(sender);
        conn = next;
    }
}

/// Resolves when a parked socket reads EOF, an error or any byte.
async fn closing(io: &mut Wired<Lingering<crate::connect::Transport>>) {
    use tokio::io::AsyncReadExt;
    let mut byte = [0u8; 1];
    let _ = io.read(&mut byte).await;
}

/// Tells the pool a connection is gone when its task ends, also when it ends in a panic (unwinding drops
/// it): the slot is freed and whoever waits for the close runs, so a bug in hyper strands nothing.
struct Gone {
    closed: Closed,
    pool: Pool<Conn>,
    key: OriginKey,
    id: ConnId,
    /// [`Ended::Failed`] until the connection ended otherwise.
    ended: Ended,
    /// The connection's [`HyperConn::end`].
    end: Option<Arc<EndReport>>,
}

impl Gone {
    fn ended(mut self, ended: Ended) {
        self.ended = ended;
    }
}

impl Drop for Gone {
    fn drop(&mut self) {
        self.closed.fire();
        self.pool
            .forget(&self.key, self.id, self.ended == Ended::Failed);
        if let Some(end) = &self.end {
            *end.ended.lock().unwrap_or_else(|e| e.into_inner()) = self.ended;
            end.arrive();
        }
    }
}

/// The Promise face's own connection under `lease`.
fn http_of(lease: &mut Lease<Conn>) -> &mut HyperConn {
    match lease.conn() {
        Conn::Http(conn) => conn,
        Conn::Raw(_) => unreachable!("the pool hands the Promise face its own connections"),
    }
}

/// Why an exchange stopped.
enum Failure {
    Hyper(hyper::Error),
    TimedOut(Duration),
    /// undici's limit of the phase ran out.
    PhaseTimedOut(Phase),
    Destroyed,
}

/// The part of an exchange a limit of undici's covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the response head (`headersTimeout`): counted from the last byte sent.
    Head,
    /// Reading the response body (`bodyTimeout`): counted from the last byte received.
    Body,
}

/// The limits on one phase of an exchange: the request's inactivity limit, and undici's for the phase.
#[derive(Clone, Copy)]
struct Limits {
    idle: Option<Duration>,
    phase: Option<(Phase, Duration)>,
}

impl From<hyper::Error> for Failure {
    fn from(e: hyper::Error) -> Self {
        Failure::Hyper(e)
    }
}

impl Failure {
    /// The connection ended before the body did (hyper's decoders read an early end so), or was reset:
    /// for a response that said it ends there, undici reads either as that end.
    fn ended_early(&self) -> bool {
        use std::io::ErrorKind::{ConnectionReset, UnexpectedEof};
        matches!(self, Failure::Hyper(e) if io_source(e).is_some_and(|io| matches!(io.kind(), UnexpectedEof | ConnectionReset)))
    }

    /// `head`: the bytes of the response head received so far, to name a parse fault.
    fn into_error<C: Connection>(self, pool: &Pool<C>, head: &[u8]) -> Error {
        match self {
            Failure::Hyper(e) => hyper_error(&e, head),
            Failure::TimedOut(after) => {
                pool.note_timeout();
                Error::new(
                    Kind::TimedOut,
                    format!("no activity for {after:?} (timeout)"),
                )
            }
            Failure::PhaseTimedOut(phase) => {
                pool.note_timeout();
                match phase {
                    Phase::Head => Error::new(Kind::HeadersTimeout, "Headers Timeout Error"),
                    Phase::Body => Error::new(Kind::BodyTimeout, "Body Timeout Error"),
                }
            }
            Failure::Destroyed => Error::destroyed(),
        }
    }
}

/// Runs `work` unless a limit runs out on `wire` first, or the agent is destroyed.
async fn with_deadline<C: Connection, T>(
    pool: &Pool<C>,
    limits: Limits,
    wire: &Wire,
    work: impl Future<Output = std::result::Result<T, hyper::Error>>,
) -> std::result::Result<T, Failure> {
    let idle = async {
        match limits.idle {
            Some(limit) => {
                wire.quiet_for(limit, Moved::Either).await;
                Failure::TimedOut(limit)
            }
            None => std::future::pending().await,
        }
    };
    let phase = async {
        match limits.phase {
            Some((phase, limit)) => {
                let watched = match phase {
                    Phase::Head => Moved::Written,
                    Phase::Body => Moved::Read,
                };
                wire.quiet_for(limit, watched).await;
                Failure::PhaseTimedOut(phase)
            }
            None => std::future::pending().await,
        }
    };
    let limited = async {
        if limits.idle.is_none() && limits.phase.is_none() {
            return work.await.map_err(Failure::from);
        }
        tokio::select! {
            r = work => r.map_err(Failure::from),
            failure = idle => Err(failure),
            failure = phase => Err(failure),
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

/// Maps a hyper failure to a Node-coded error; `head` is what was received of the response head.
fn hyper_error(e: &hyper::Error, head: &[u8]) -> Error {
    if let Some(ours) = error_source(e) {
        return ours.clone();
    }
    if e.is_parse() || e.is_parse_status() {
        return match head::scan(head, MAX_HEAD) {
            Scan::Fault(fault) => fault,
            // hyper's only word for it is its message.
            _ if e.to_string().contains("too large") => {
                Error::parse(Hpe::HeaderOverflow, "Header overflow")
            }
            _ if e.is_parse_status() => Error::parse(Hpe::InvalidStatus, "Invalid status code"),
            _ => Error::parse(Hpe::InvalidConstant, &e.to_string()),
        };
    }
    if let Some(io) = io_source(e) {
        if let Some(fault) = chunk_fault(io) {
            return fault;
        }
        return match io.kind() {
            // The body ended early: Node's response fails with `aborted`.
            std::io::ErrorKind::UnexpectedEof => Error::new(Kind::ConnectionReset, "aborted"),
            std::io::ErrorKind::BrokenPipe => Error::from_io(io, "write"),
            _ => Error::from_io(io, "read"),
        };
    }
    if e.is_timeout() {
        return Error::new(Kind::TimedOut, e.to_string());
    }
    // Closed before the answer began, as Node says it.
    Error::new(Kind::ConnectionReset, "socket hang up")
}

/// A malformed chunked body, as llhttp names it (hyper reports these as I/O errors of the decoder).
fn chunk_fault(io: &std::io::Error) -> Option<Error> {
    use std::io::ErrorKind::{InvalidData, InvalidInput};
    if !matches!(io.kind(), InvalidData | InvalidInput) {
        return None;
    }
    let text = io.to_string().to_ascii_lowercase();
    let (fault, reason) = if text.contains("chunk size") && text.contains("overflow") {
        (Hpe::InvalidChunkSize, "Chunk size overflow")
    } else if text.contains("chunk size") {
        (Hpe::InvalidChunkSize, "Invalid character in chunk size")
    } else if text.contains("chunk extension") {
        (Hpe::Strict, "Invalid character in chunk extensions")
    } else if text.contains("chunk body") || text.contains("chunk end") {
        (Hpe::Strict, "Expected LF after chunk data")
    } else if text.contains("over limit") {
        // hyper's limit on a chunked body's trailers (16 KiB), as llhttp names a head too long.
        (Hpe::HeaderOverflow, "Header overflow")
    } else if text.contains("trailer") || text.contains("header") {
        (Hpe::InvalidHeaderToken, "Invalid header token")
    } else {
        return None;
    };
    Some(Error::parse(fault, reason))
}

/// Headers as the binding passes them: names and values alternating, `\n`-separated, values latin1.
fn joined(headers: &HeaderMap) -> String {
    let mut text = String::with_capacity(headers.len() * 32);
    for (name, value) in headers {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(name.as_str());
        text.push('\n');
        text.extend(value.as_bytes().iter().map(|&b| b as char));
    }
    text
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

/// Whether a response ends its connection as hyper reads it: `Connection: close`, or HTTP/1.0 without
/// `Connection: keep-alive`.
fn ends_connection(parts: &http::response::Parts) -> bool {
    let says = |token: &str| {
        parts.headers.get_all(CONNECTION).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    says("close") || (parts.version == http::Version::HTTP_10 && !says("keep-alive"))
}

async fn finish(
    mut lease: Lease<Conn>,
    response: http::Response<Incoming>,
    limits: Limits,
    wire: Arc<Wire>,
) -> Result<ResponseParts> {
    let (parts, incoming) = response.into_parts();
    let hold = http_of(&mut lease).end.as_ref().map(EndHold::on);
    let idle_for = idle_deadline(&parts.headers);
    // Not to be kept: the response says so, or its Keep-Alive hint leaves nothing of its time.
    let hint_ends =
        || lease.pool().config().hinted(IdleFor::hinted(idle_for)) == Some(Duration::ZERO);
    let body_end = if incoming.size_hint().exact().is_some() {
        BodyEnd::Length
    } else if parts.headers.contains_key(http::header::TRANSFER_ENCODING) {
        BodyEnd::Chunked
    } else {
        BodyEnd::Close
    };
    // A body delimited by the close ends its connection too, as llhttp (and undici) read it.
    let ends = ends_connection(&parts) || body_end == BodyEnd::Close;
    if ends || (idle_for.is_some() && hint_ends()) {
        if let Some(end) = &http_of(&mut lease).end {
            end.reset.store(true, Ordering::Release);
        }
    }
    // The head as received: names in their case, headers in their order, and llhttp's stricter checks
    // (a repeated Content-Length, Content-Length with Transfer-Encoding: where this response ends is
    // ambiguous, so the connection must not be read again).
    let head = match head::scan(&wire.take_head(), MAX_HEAD) {
        Scan::Head(head) => head,
        Scan::Fault(error) => {
            http_of(&mut lease).failed_with(&error);
            lease.fail();
            return Err(error);
        }
        Scan::Incomplete => {
            let error = Error::new(Kind::Internal, "the response head was not seen whole");
            http_of(&mut lease).failed_with(&error);
            lease.fail();
            return Err(error);
        }
    };
    let reused = lease.reused();
    if parts.status == http::StatusCode::SWITCHING_PROTOCOLS {
        // A switch nobody asked for (upgrades go through the socket face): what follows on the connection
        // is no HTTP, so it closes, and the answer has no body to wait for (whether the server's close or
        // this answer came first).
        http_of(&mut lease).set_busy(false);
        drop(lease);
        return Ok(ResponseParts {
            status: 101,
            status_text: head.status_text,
            headers: head.headers,
            reused,
            body: Bytes::new(),
            trailers: None,
            rest: None,
            hold,
        });
    }
    let known_small = incoming
        .size_hint()
        .exact()
        .is_some_and(|n| n as usize <= SMALL_BODY);
    let mut stream = BodyStream {
        idle_for,
        ends,
        body_end,
        incoming,
        lease: Some(lease),
        wire,
        limits,
        trailers: None,
        stalled: None,
        hold: None,
    };
    let body = stream.prefix(known_small).await;
    let (trailers, rest, hold) = if stream.is_done() {
        (stream.trailers(), None, hold)
    } else {
        // A body that failed already let its connection go: its end is told now, not at the next read.
        if stream.stalled.is_none() {
            stream.hold = hold;
        }
        (None, Some(stream), None)
    };
    Ok(ResponseParts {
        status: parts.status.as_u16(),
        status_text: head.status_text,
        headers: head.headers,
        reused,
        body,
        trailers,
        rest,
        hold,
    })
}

/// The part of a response body not yet read, still holding its connection.
pub struct BodyStream {
    incoming: Incoming,
    /// Released when the body ends; dropped (connection closed) if the body is abandoned or fails.
    lease: Option<Lease<Conn>>,
    wire: Arc<Wire>,
    idle_for: Option<Duration>,
    limits: Limits,
    trailers: Option<HeaderMap>,
    /// The body failed (stalled past `bodyTimeout`, cut short) while a small body was awaited with its
    /// head: undici gives the head, then fails the body, so the error waits for the next read.
    stalled: Option<Error>,
    /// Its connection's end, held until the caller has told the body's end on (see [`EndHold`]).
    hold: Option<EndHold>,
    /// The response said its connection ends with it.
    ends: bool,
    body_end: BodyEnd,
}

/// Where a response body ends, for what an early end of its connection makes of it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyEnd {
    /// At its Content-Length.
    Length,
    /// At its last chunk.
    Chunked,
    /// With the connection. A TLS peer's close without close_notify (which rustls reports as an early
    /// end) ends it too, as Node's TLS socket and undici take it.
    Close,
}

impl BodyStream {
    fn is_done(&self) -> bool {
        self.lease.is_none() && self.stalled.is_none()
    }

    /// The hold on its connection's end (see [`EndHold`]), for the caller to drop once it has told the
    /// body's end on.
    pub fn take_hold(&mut self) -> Option<EndHold> {
        self.hold.take()
    }

    /// The trailers, once the body ended with some (as `ResponseParts::headers`).
    pub fn trailers(&self) -> Option<String> {
        self.trailers.as_ref().map(joined)
    }

    /// Reads what is at hand, up to [`SMALL_BODY`]; with `wait`, also waits for it (a small body whose
    /// length is known is coming anyway). A failure waits for the next read (`stalled`).
    async fn prefix(&mut self, wait: bool) -> Bytes {
        // Sized once when the length is known: growing by doubling would copy a 64 KiB body 4 times.
        let expected = self.incoming.size_hint().exact().unwrap_or(0) as usize;
        let mut buf = BytesMut::with_capacity(expected.min(SMALL_BODY));
        // A body that filled the limit exactly but has ended is read to its end too: then it goes whole
        // with the head, and its connection back to the pool, without one more crossing for the end.
        while buf.len() < SMALL_BODY || (self.incoming.is_end_stream() && !self.is_done()) {
            let frame = if wait {
                self.frame().await
            } else {
                tokio::select! {
                    biased;
                    frame = self.frame() => frame,
                    _ = std::future::ready(()) => break,
                }
            };
            match frame {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    self.stalled = Some(e);
                    break;
                }
            }
        }
        buf.freeze()
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
        let more = self.prefix(false).await;
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
        if let Some(stalled) = self.stalled.take() {
            return Err(stalled);
        }
        loop {
            let Some(lease) = self.lease.as_ref() else {
                return Ok(None);
            };
            let pool = lease.pool().clone();
            let next = with_deadline(&pool, self.limits, &self.wire, async {
                self.incoming.frame().await.transpose()
            })
            .await;
            match next {
                Ok(Some(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Ok(Some(data)),
                    Ok(_) => {}
                    Err(frame) => self.trailers = frame.into_trailers().ok(),
                },
                Ok(None) => {
                    if let Some(mut lease) = self.lease.take() {
                        http_of(&mut lease).set_busy(false);
                        lease.release(self.idle_for);
                    }
                    return Ok(None);
                }
                Err(failure) if self.body_end == BodyEnd::Close && failure.ended_early() => {
                    // The body's end; its connection, ended, closes (no failure of its own).
                    if let Some(mut lease) = self.lease.take() {
                        http_of(&mut lease).set_busy(false);
                    }
                    return Ok(None);
                }
                Err(failure) => {
                    let cut = match self.body_end {
                        _ if !self.ends || !failure.ended_early() => None,
                        BodyEnd::Length => Some(Cut::Length),
                        _ => Some(Cut::Eof),
                    };
                    let error = match cut {
                        // Node's word for a body cut short, whether by an end or a reset.
                        Some(cut) => Error::new(Kind::BodyCut(cut), "aborted"),
                        None => failure.into_error(&pool, &[]),
                    };
                    if let Some(lease) = self.lease.as_mut() {
                        http_of(lease).failed_with(&error);
                    }
                    self.fail();
                    return Err(error);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[&str], framing: Framing) -> Option<String> {
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        exchange_head("POST", "http://127.0.0.1:8080/up", &headers, framing, true)
            .expect("a valid request")
            .map(|bytes| String::from_utf8(bytes).expect("ascii"))
    }

    #[test]
    fn a_declared_length_that_matches_the_body_is_sent_once_as_given() {
        let sent = head(&["Content-Length", "4"], Framing::Length(4)).expect("an exchange");
        assert_eq!(
            sent.to_ascii_lowercase()
                .matches("content-length: 4\r\n")
                .count(),
            1
        );
        assert!(head(&[], Framing::Length(4))
            .expect("an exchange")
            .contains("content-length: 4\r\n"));
        // A stream of a declared length goes as it comes, not chunked.
        let streamed = head(&["content-length", "9"], Framing::Chunked).expect("an exchange");
        assert!(streamed.contains("content-length: 9\r\n") && !streamed.contains("chunked"));
    }

    #[test]
    fn framing_the_body_does_not_match_goes_to_hyper() {
        for (headers, framing) in [
            (&["Content-Length", "5"][..], Framing::Length(4)),
            (&["Content-Length", "+4"][..], Framing::Length(4)),
            (
                &["Content-Length", "4", "Content-Length", "4"][..],
                Framing::Length(4),
            ),
            (&["Transfer-Encoding", "chunked"][..], Framing::Length(4)),
        ] {
            assert_eq!(head(headers, framing), None, "{headers:?} {framing:?}");
        }
    }
}
