//! The caller's connect functions (`lookup`, `checkServerIdentity`, `createConnection`) and its
//! `blockList`, called in JavaScript while Rust connects.
//!
//! Rust asks through a thread-safe function (one call per new connection that needs one, never per
//! request) and waits for the answer, which JS gives back with `answerLookup` / `answerOk` /
//! `answerError` under the same ticket. Functions are named by ids the JS side gave them (see
//! `lib/connect.js`). An error from the caller's function stays in JS (`lib/held.js`); Rust carries
//! only its token, so the request fails with the very Error the function gave, as with Node.
//!
//! A socket made by `createConnection` stays in JS and becomes a [`JsStream`]: what it receives comes in
//! with `streamData` / `streamEnd` / `streamError` under its ticket, what Rust writes goes out as asks.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

use napi::bindgen_prelude::{Buffer, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use tokio::sync::oneshot;

use crate::connect::resolve::{Answer, CallerStream, Hooks};
use crate::error::{Error, Kind, Result};

/// One question (or, for a caller's socket, one command) for JS: see the kinds below.
#[napi(object)]
pub struct JsAsk {
    pub kind: u32,
    /// The question's ticket; for a caller's socket, its id.
    pub ticket: u32,
    /// The function's id.
    pub func: u32,
    pub host: String,
    pub port: u32,
    /// The JS profile whose options `createConnection` gets.
    pub profile: u32,
    /// Whether the connection `createConnection` makes is for an https origin (its `protocol`).
    pub secure: bool,
    pub family: u32,
    pub hints: i32,
    /// The peer's certificate chain in DER, leaf first (checkServerIdentity); bytes to write (write).
    pub certs: Vec<Buffer>,
    /// The addresses to check against a `blockList`.
    pub addresses: Vec<String>,
}

const LOOKUP: u32 = 1;
const CHECK_SERVER_IDENTITY: u32 = 2;
const CREATE_CONNECTION: u32 = 3;
const WRITE: u32 = 4;
const END: u32 = 5;
const DESTROY: u32 = 6;
const ALLOWED: u32 = 7;

impl JsAsk {
    fn new(kind: u32, func: u32, host: &str) -> Self {
        JsAsk {
            kind,
            ticket: 0,
            func,
            host: host.to_string(),
            port: 0,
            profile: 0,
            secure: false,
            family: 0,
            hints: 0,
            certs: Vec::new(),
            addresses: Vec::new(),
        }
    }
}

/// What a caller's socket received.
enum Inbound {
    Data(Bytes),
    End,
    Failed(Error),
}

enum Reply {
    Addresses(Vec<IpAddr>),
    Done,
}

type Tsfn = ThreadsafeFunction<JsAsk, (), JsAsk, Status, false, true>;
type Pending = Arc<Mutex<HashMap<u32, oneshot::Sender<Result<Reply>>>>>;

pub struct JsHooks {
    tsfn: Tsfn,
    pending: Pending,
    next: AtomicU32,
    /// The callers' sockets in use, by id.
    streams: Mutex<HashMap<u32, mpsc::UnboundedSender<Inbound>>>,
}

/// Forgets a question whose asker gave up (connect timeout, agent destroyed), so that no answer waits.
struct Asked {
    ticket: u32,
    pending: Pending,
}

impl Drop for Asked {
    fn drop(&mut self) {
        lock(&self.pending).remove(&self.ticket);
    }
}

fn lock(
    pending: &Pending,
) -> std::sync::MutexGuard<'_, HashMap<u32, oneshot::Sender<Result<Reply>>>> {
    pending.lock().unwrap_or_else(|e| e.into_inner())
}

impl JsHooks {
    pub fn new(callback: Function<'_, JsAsk, ()>) -> napi::Result<Arc<Self>> {
        let tsfn = callback
            .build_threadsafe_function::<JsAsk>()
            .callee_handled::<false>()
            // In-flight requests keep the process alive; a question is only asked for one of them.
            .weak::<true>()
            .build_callback(|ctx| Ok(ctx.value))?;
        Ok(Arc::new(JsHooks {
            tsfn,
            pending: Default::default(),
            next: AtomicU32::new(1),
            streams: Default::default(),
        }))
    }

    fn ask(&self, ask: JsAsk) -> Answer<Reply> {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        self.ask_as(ticket, ask)
    }

    fn ask_as(&self, ticket: u32, mut ask: JsAsk) -> Answer<Reply> {
        ask.ticket = ticket;
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(ticket, tx);
        let asked = Asked {
            ticket,
            pending: self.pending.clone(),
        };
        let status = self.tsfn.call(ask, ThreadsafeFunctionCallMode::NonBlocking);
        Box::pin(async move {
            let _asked = asked;
            if status != Status::Ok {
                return Err(Error::destroyed());
            }
            rx.await.unwrap_or_else(|_| Err(Error::destroyed()))
        })
    }

    fn answer(&self, ticket: u32, reply: Result<Reply>) {
        if let Some(tx) = lock(&self.pending).remove(&ticket) {
            let _ = tx.send(reply);
        }
    }

    /// The lookup of `ticket` gave these addresses (already checked to be IPs by JS).
    pub fn answer_lookup(&self, ticket: u32, addresses: &[String]) {
        let ips = addresses.iter().filter_map(|a| a.parse().ok()).collect();
        self.answer(ticket, Ok(Reply::Addresses(ips)));
    }

    pub fn answer_ok(&self, ticket: u32) {
        self.answer(ticket, Ok(Reply::Done));
    }

    /// The function failed; JS holds its Error under `token`.
    pub fn answer_error(&self, ticket: u32, token: u32, message: &str) {
        self.answer(ticket, Err(held(token, message)));
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<u32, mpsc::UnboundedSender<Inbound>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn to_stream(&self, id: u32, inbound: Inbound) {
        if let Some(tx) = self.streams().get(&id) {
            let _ = tx.send(inbound);
        }
    }

    /// The caller's socket `id` received `chunk`.
    pub fn stream_data(&self, id: u32, chunk: Bytes) {
        self.to_stream(id, Inbound::Data(chunk));
    }

    /// The caller's socket `id` ended (or closed).
    pub fn stream_end(&self, id: u32) {
        self.to_stream(id, Inbound::End);
    }

    /// The caller's socket `id` failed; JS holds the Error under `token`.
    pub fn stream_error(&self, id: u32, token: u32, message: &str) {
        self.to_stream(id, Inbound::Failed(held(token, message)));
    }

    /// Tells JS what to do with the caller's socket `id`; false when JS can no longer be reached.
    fn command(&self, id: u32, kind: u32, data: Option<Bytes>) -> bool {
        let mut ask = JsAsk::new(kind, 0, "");
        ask.ticket = id;
        ask.certs = data.into_iter().map(|d| Buffer::from(d.to_vec())).collect();
        self.tsfn.call(ask, ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok
    }
}

fn held(token: u32, message: &str) -> Error {
    Error::new(Kind::Callback, format!("#{token} {message}"))
}

/// A socket made by the caller's `createConnection`, seen from Rust. Writes are not bounded here: the
/// JS socket buffers them, as a Node socket does for any writer.
struct JsStream {
    id: u32,
    hooks: Arc<JsHooks>,
    inbound: mpsc::UnboundedReceiver<Inbound>,
    unread: Bytes,
    ended: bool,
}

impl AsyncRead for JsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.unread.is_empty() {
            match std::task::ready!(this.inbound.poll_recv(cx)) {
                Some(Inbound::Data(chunk)) => this.unread = chunk,
                Some(Inbound::End) | None => return Poll::Ready(Ok(())),
                Some(Inbound::Failed(e)) => return Poll::Ready(Err(io::Error::other(e))),
            }
        }
        let n = this.unread.len().min(buf.remaining());
        buf.put_slice(&this.unread.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for JsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.ended
            || !self
                .hooks
                .command(self.id, WRITE, Some(Bytes::copy_from_slice(data)))
        {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.ended {
            this.ended = true;
            this.hooks.command(this.id, END, None);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for JsStream {
    fn drop(&mut self) {
        self.hooks.streams().remove(&self.id);
        self.hooks.command(self.id, DESTROY, None);
    }
}

impl Hooks for Arc<JsHooks> {
    fn lookup(&self, func: u32, host: &str, family: u8, hints: i32) -> Answer<Vec<IpAddr>> {
        let mut ask = JsAsk::new(LOOKUP, func, host);
        ask.family = family.into();
        ask.hints = hints;
        let reply = self.ask(ask);
        Box::pin(async move {
            match reply.await? {
                Reply::Addresses(ips) => Ok(ips),
                Reply::Done => Ok(Vec::new()),
            }
        })
    }

    fn allowed(&self, func: u32, addresses: &[IpAddr]) -> Answer<Vec<IpAddr>> {
        let mut ask = JsAsk::new(ALLOWED, func, "");
        ask.addresses = addresses.iter().map(IpAddr::to_string).collect();
        let reply = self.ask(ask);
        Box::pin(async move {
            match reply.await? {
                Reply::Addresses(ips) => Ok(ips),
                Reply::Done => Ok(Vec::new()),
            }
        })
    }

    fn check_server_identity(&self, func: u32, host: &str, chain: Vec<Vec<u8>>) -> Answer<()> {
        let mut ask = JsAsk::new(CHECK_SERVER_IDENTITY, func, host);
        ask.certs = chain.into_iter().map(Buffer::from).collect();
        let reply = self.ask(ask);
        Box::pin(async move { reply.await.map(|_| ()) })
    }

    fn create_connection(
        &self,
        func: u32,
        profile: u32,
        secure: bool,
        host: &str,
        port: u16,
    ) -> Answer<Box<dyn CallerStream>> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        // Registered before JS is asked: bytes may arrive before the answer does.
        let (tx, inbound) = mpsc::unbounded_channel();
        self.streams().insert(id, tx);
        let stream = JsStream {
            id,
            hooks: self.clone(),
            inbound,
            unread: Bytes::new(),
            ended: false,
        };
        let mut ask = JsAsk::new(CREATE_CONNECTION, func, host);
        ask.port = port.into();
        ask.profile = profile;
        ask.secure = secure;
        let reply = self.ask_as(id, ask);
        Box::pin(async move {
            // On failure the stream is dropped, which forgets it and tells JS to destroy the socket.
            reply.await?;
            Ok(Box::new(stream) as Box<dyn CallerStream>)
        })
    }
}
