//! The socket face: pooled connections as plain byte pipes, for Node's own HTTP parser.
//!
//! Node's `ClientRequest` writes HTTP/1.1 bytes and parses the answer itself; what it needs from us is a
//! socket. Each connection here runs one task ([`Pipe`]) that pushes what arrives to the owner as
//! [`SocketEvent::Data`] (and stops reading while the owner is paused, or while more than [`READ_AHEAD`]
//! bytes it pushed wait for JS to take them: backpressure that holds even while the JS thread is too busy
//! to say pause), and drains a queue of outgoing chunks, bounded by [`HIGH_WATER`] with a
//! [`SocketEvent::Drain`] when it empties. While a connection is idle in the pool the task keeps reading
//! it: EOF, an error or any byte closes it, so a stray response is never read as the answer to the next
//! request. An idle connection costs little: one small task, no buffer (every read lands in its thread's
//! one buffer and leaves it copied at its own size, see [`with_scratch`]), and one waker slot for
//! everything that may wake it (see [`Mailbox`]).
//!
//! A plain-TCP connection may instead be *carried by its fd*: once connected, the socket's file descriptor
//! is handed to JS (in [`SocketEvent::Connected`]) and libuv drives its bytes on the JS thread, with no
//! thread hop. The pool keeps counting it as before; what it cannot do is touch the fd, which JS may have
//! closed and the kernel given to another socket. So JS reports when it is done with it and when the fd
//! is really closed ([`Sockets::destroy`]), and when the pool drops it (idle deadline, eviction, destroy)
//! JS is told to close it ([`SocketEvent::Closed`]); its slot stays closing until JS reports the close.
//!
//! [`Sockets`] is the face's front desk. Its answers to a checkout are synchronous (reused, connecting,
//! queued) so that the JS side can update Node's maps inside `addRequest`; only connecting and waiting
//! happen later, reported as events in order through one [`EventSink`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::linger::LINGER;
use super::sealed::Sealed;
use super::Conn;
use crate::connect::tls::Negotiated;
use crate::connect::{Connector, Stream, Transport};
use crate::error::{Error, Result};
use crate::origin::OriginKey;
use crate::pool::{Closed, ConnId, Grant, IdMap, IdleFor, Lease, Pool, Slot, Turn, Want};

/// Queued outgoing bytes beyond which `write` asks the caller to wait for [`SocketEvent::Drain`].
pub const HIGH_WATER: usize = 64 * 1024;
/// Size of one read (of the thread's one read buffer, see [`with_scratch`]).
const READ_CHUNK: usize = 64 * 1024;
/// Bytes read but not yet taken by JS (its event batch not yet made) beyond which the reader waits: a
/// reader that JS does not keep up with holds at most this and one more read, not the whole body.
pub const READ_AHEAD: usize = 64 * 1024;

/// Where a freshly connected socket leads.
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    pub remote: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    pub alpn: Option<String>,
    /// What the TLS handshake settled, for TLS connections.
    pub tls: Option<Negotiated>,
    /// The certificates the server sent (DER, leaf first), for TLS connections.
    pub peer_chain: Vec<Vec<u8>>,
    /// The handshake's TLS key material, NSS key log lines, when the agent asked for it.
    pub key_log: Vec<Vec<u8>>,
    /// What the server stapled to its certificate, when the route asked (`requestOCSP`): `Some(None)`
    /// if it stapled nothing.
    pub stapled: Option<Option<Vec<u8>>>,
    /// With `rejectUnauthorized: false`: how the server's chain was judged (`socket.authorized`).
    pub chain: Option<std::result::Result<(), &'static str>>,
}

impl ConnInfo {
    pub fn of(transport: &Transport) -> Self {
        ConnInfo {
            remote: transport.peer_addr(),
            local: transport.local_addr(),
            alpn: transport
                .alpn()
                .map(|p| String::from_utf8_lossy(&p).into_owned()),
            tls: transport.negotiated(),
            peer_chain: transport.peer_certificates(),
            key_log: Vec::new(),
            stapled: None,
            chain: None,
        }
    }
}

/// What the socket face tells its owner, in order.
pub enum SocketEvent {
    /// Connection `id` is open.
    Connected {
        id: ConnId,
        info: ConnInfo,
        /// The connected socket's file descriptor, now owned by the receiver (the fd carrier); `None`:
        /// its bytes flow through this face's tasks.
        fd: Option<i32>,
    },
    Data {
        id: ConnId,
        bytes: Bytes,
        /// Tells the reader when JS took these bytes.
        ahead: ReadAhead,
    },
    /// The peer finished sending.
    End { id: ConnId },
    /// The write queue of `id` emptied below the high-water mark.
    Drain { id: ConnId },
    /// Connection `id` is gone (failed to connect, reset, or closed by the pool); for an fd-carried one:
    /// the pool dropped it, and JS must close the fd.
    Closed { id: ConnId, error: Option<Error> },
    /// Queued request `ticket` got a connection: [`Sockets::claim`] tells which.
    Granted { ticket: u64 },
    /// Queued request `ticket` will get no connection.
    Refused { ticket: u64, error: Error },
}

/// Receives socket events; the binding forwards them to JavaScript.
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: SocketEvent);
}

enum Command {
    Write(Bytes),
    End,
}

/// State shared by a connection's task and its handles.
struct Shared {
    open: AtomicBool,
    idle: AtomicBool,
    paused: AtomicBool,
    /// Set by [`RawHandle::stop`]: the connection's task closes it.
    stopping: AtomicBool,
    queued: AtomicUsize,
    wants_drain: AtomicBool,
    /// Closed by the pool because its idle deadline passed: the owner hears of it as a timeout.
    expired: AtomicBool,
    /// Fired when the socket is closed: dropped by its task, or never connected.
    closed: Closed,
    /// Fd-carried: JS no longer uses the connection (it said so, or was told to close it).
    told: AtomicBool,
    /// Bytes pushed as [`SocketEvent::Data`] that JS has not taken yet (see [`READ_AHEAD`]).
    unread: AtomicUsize,
    /// Whether the connection takes the pipe, whose task drains the outbox: writes to an fd-carried
    /// one (JS writes its fd) are not kept.
    piped: AtomicBool,
    mailbox: Mutex<Mailbox>,
}

/// What reaches a pipe connection's one task from other threads. Everything that concerns the task (a
/// write, a resume, room to read ahead, a stop) wakes it through `waker`, and it looks at all of it on
/// each wake: one waker slot instead of a Notify per reason and a channel per connection, which a
/// thousand idle connections each paid for.
#[derive(Default)]
struct Mailbox {
    /// The pipe's writes waiting for the task: a plain queue, empty and allocation-free while idle.
    outbox: VecDeque<Command>,
    waker: Option<Waker>,
}

/// The reader's count of bytes read ahead of JS, for the one who hands them to JS.
#[derive(Clone)]
pub struct ReadAhead(Arc<Shared>);

impl ReadAhead {
    /// JS took `n` bytes: a reader waiting for room reads again once what is left is within bounds.
    pub fn taken(&self, n: usize) {
        let before = self.0.unread.fetch_sub(n, Ordering::SeqCst);
        if before > READ_AHEAD && before - n <= READ_AHEAD {
            self.0.wake();
        }
    }
}

/// What a checkout asks of a connection it opens: who speaks over it ([`Conn::RAW`] or [`Conn::LOCAL`])
/// and how long its connect may take (the Promise face's inactivity `timeout`, as hyper's connects
/// get it; `None`: the agent's connect timeout alone).
#[derive(Clone, Copy, Debug)]
pub struct Opening {
    pub role: u8,
    pub limit: Option<std::time::Duration>,
}

/// A way to drive one connection: write to it, pause it, stop it.
#[derive(Clone)]
pub struct RawHandle {
    shared: Arc<Shared>,
    /// Who speaks over it: [`Conn::RAW`] or [`Conn::LOCAL`].
    role: u8,
}

impl RawHandle {
    fn new(role: u8) -> Self {
        let shared = Arc::new(Shared {
            open: AtomicBool::new(true),
            idle: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            wants_drain: AtomicBool::new(false),
            expired: AtomicBool::new(false),
            closed: Closed::default(),
            told: AtomicBool::new(false),
            unread: AtomicUsize::new(0),
            piped: AtomicBool::new(false),
            mailbox: Mutex::default(),
        });
        RawHandle { shared, role }
    }

    /// The connection takes the pipe: writes made from here on wait in its outbox for its task.
    fn pipe(&self) {
        self.shared.piped.store(true, Ordering::SeqCst);
    }

    /// Queues `bytes`; false asks the caller to wait for [`SocketEvent::Drain`] before writing more. A
    /// connection that does not take the pipe (fd-carried: JS writes its fd), or that is stopped, takes
    /// nothing. An empty write (`socket.write(Buffer.alloc(0))`) is done at once: queued, the task's
    /// write of nothing read as the peer taking no more, and the connection was torn down.
    pub fn write(&self, bytes: Bytes) -> bool {
        if bytes.is_empty() {
            return true;
        }
        let shared = &self.shared;
        let queued = shared.queued.fetch_add(bytes.len(), Ordering::SeqCst) + bytes.len();
        if !shared.post(Command::Write(bytes)) {
            return true;
        }
        if queued < HIGH_WATER {
            return true;
        }
        shared.wants_drain.store(true, Ordering::SeqCst);
        // The task may have emptied the queue between the count and the flag: then nobody would drain.
        if shared.queued.load(Ordering::SeqCst) < HIGH_WATER
            && shared.wants_drain.swap(false, Ordering::SeqCst)
        {
            return true;
        }
        false
    }

    pub fn end(&self) {
        self.shared.post(Command::End);
    }

    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::SeqCst);
    }

    /// The owner reads again. The task is woken only if the pause stopped it: one that reads needs no
    /// wake, and a wake from the JS thread costs a syscall there and a context switch (every connection
    /// given back to the pool is resumed).
    pub fn resume(&self) {
        if self.shared.paused.swap(false, Ordering::SeqCst) {
            self.shared.wake();
        }
    }

    fn stop(&self) {
        self.shared.open.store(false, Ordering::SeqCst);
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake();
    }
}

/// A socket-face connection as the pool holds it; dropping it closes the connection.
pub struct RawConn {
    handle: RawHandle,
    /// Set when JS owns the fd: dropping the connection then asks JS to close it.
    carried: Option<(ConnId, Arc<dyn EventSink>)>,
}

impl RawConn {
    /// Who speaks over it (see [`Conn::LOCAL`]).
    pub fn role(&self) -> u8 {
        self.handle.role
    }

    pub fn is_open(&self) -> bool {
        self.handle.shared.open.load(Ordering::SeqCst)
    }

    pub fn expire(&self) {
        self.handle.shared.expired.store(true, Ordering::SeqCst);
    }

    /// Fires once its socket is closed (both halves dropped).
    pub fn closed(&self) -> Closed {
        self.handle.shared.closed.clone()
    }
}

impl Shared {
    /// Hands `command` to the pipe's task; false when nobody will write it (not piped, or stopped).
    fn post(&self, command: Command) -> bool {
        if !self.piped.load(Ordering::SeqCst) || !self.open.load(Ordering::SeqCst) {
            return false;
        }
        let waker = {
            let mut mailbox = self.mailbox();
            mailbox.outbox.push_back(command);
            mailbox.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    fn mailbox(&self) -> std::sync::MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the connection's task, whatever it waits for.
    fn wake(&self) {
        let waker = self.mailbox().waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The task's waker is kept before the task looks at anything, so that a change made after it
    /// looked wakes it.
    fn listen(&self, cx: &Context<'_>) {
        let mut mailbox = self.mailbox();
        if !mailbox
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            mailbox.waker = Some(cx.waker().clone());
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Resolves once the connection is stopped ([`RawHandle::stop`]).
    async fn stopped(&self) {
        std::future::poll_fn(|cx| {
            self.listen(cx);
            if self.stopping() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

impl Drop for RawConn {
    fn drop(&mut self) {
        let shared = &self.handle.shared;
        if let Some((id, sink)) = &self.carried {
            // The pool let go of it (idle deadline, eviction, destroy) while JS still holds the fd.
            if !shared.told.swap(true, Ordering::SeqCst) {
                let error = shared.expired.load(Ordering::SeqCst).then(idle_expired);
                sink.emit(SocketEvent::Closed { id: *id, error });
            }
        }
        self.handle.stop();
    }
}

fn idle_expired() -> Error {
    Error::new(crate::error::Kind::TimedOut, "the idle deadline passed")
}

/// Who holds a connection while the JS side uses it.
enum Held {
    Connecting(RawHandle),
    /// Boxed: most entries are idle ones, and the map keeps room for as many entries as it ever held.
    Leased(Box<Lease<Conn>>, RawHandle),
    /// Out of the pool for good (upgrade, CONNECT): still ours to drive.
    Detached(RawConn),
    /// Back in the pool's idle list; kept here so that its owner can still close it.
    Idle(RawHandle),
}

impl Held {
    fn handle(&self) -> &RawHandle {
        match self {
            Held::Connecting(h) | Held::Leased(_, h) | Held::Idle(h) => h,
            Held::Detached(c) => &c.handle,
        }
    }
}

/// The answer to a socket checkout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An idle connection, ready now.
    Reused(ConnId),
    /// A new connection, being opened: [`SocketEvent::Connected`] or [`SocketEvent::Closed`] follows.
    Connecting(ConnId),
    /// Waiting for room: [`SocketEvent::Granted`] (then [`Sockets::claim`]) or [`SocketEvent::Refused`]
    /// follows.
    Queued(u64),
}

/// The socket face of one agent.
pub struct Sockets {
    pool: Pool<Conn>,
    connector: Connector,
    sink: Arc<dyn EventSink>,
    held: Mutex<IdMap<Held>>,
    /// Connections whose fd JS owns, until JS reports the fd closed: where each belongs, and its state.
    carried: Mutex<IdMap<(OriginKey, RawHandle)>>,
    /// The rustls sessions of fd-carried TLS connections.
    sealed: Sealed,
    tickets: Mutex<Tickets>,
    next_ticket: AtomicU64,
    /// New connections granted by [`Sockets::checkout`] that do not dial until their owner says so
    /// ([`Sockets::dial`]): the connect task of each.
    undialled: Mutex<IdMap<Dialling>>,
}

/// A new connection's connect task, not yet started.
type Dialling = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Queued socket-face requests: where each waits (to cancel it), and what each was given until its
/// owner claims it.
#[derive(Default)]
struct Tickets {
    waiting: IdMap<(OriginKey, u64)>,
    granted: IdMap<Outcome>,
}

impl Sockets {
    pub fn new(pool: Pool<Conn>, connector: Connector, sink: Arc<dyn EventSink>) -> Arc<Self> {
        Arc::new(Sockets {
            pool,
            connector,
            sink,
            held: Mutex::default(),
            carried: Mutex::default(),
            sealed: Sealed::default(),
            tickets: Mutex::new(Tickets::default()),
            undialled: Mutex::default(),
            next_ticket: AtomicU64::new(1),
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, IdMap<Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The TLS sessions JS opens and seals the records of fd-carried TLS connections with.
    pub fn sealed(&self) -> &Sealed {
        &self.sealed
    }

    fn carried(&self) -> std::sync::MutexGuard<'_, IdMap<(OriginKey, RawHandle)>> {
        self.carried.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn handle(&self, id: ConnId) -> Option<RawHandle> {
        self.held().get(&id).map(|h| h.handle().clone())
    }

    fn tickets(&self) -> std::sync::MutexGuard<'_, Tickets> {
        self.tickets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for a connection to `key`, answering at once. `want` is not [`Want::Any`] for a request
    /// replayed because its reused connection closed before answering; that counts as a retry.
    /// `fd`: a new plain-TCP connection is handed to JS as its fd (the fd carrier). `open`: who speaks
    /// over it and how long a connect may take (see [`Opening`]).
    pub fn checkout(
        self: &Arc<Self>,
        key: &OriginKey,
        want: Want,
        fd: bool,
        open: Opening,
    ) -> Result<Outcome> {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let this = self.clone();
        let granted =
            Box::new(move |answer: Result<Grant<Conn>>| this.granted(ticket, answer, fd, open));
        let turn = self.pool.checkout_then(key, open.role, want, granted)?;
        if want != Want::Any {
            self.pool.note_retry();
        }
        Ok(match turn {
            Turn::Now(Grant::Reuse(lease)) => Outcome::Reused(self.hold(lease)),
            // The caller learns the id from this answer, before any event of the connection, and says
            // when it may dial (see `dial`).
            Turn::Now(Grant::Connect(slot)) => {
                Outcome::Connecting(self.open(slot, fd, open, Start::Later, |_| {}))
            }
            Turn::Queued(seq) => {
                let mut tickets = self.tickets();
                // The grant may already have come, on another thread: then there is nothing to cancel.
                if !tickets.granted.contains_key(&ticket) {
                    tickets.waiting.insert(ticket, (key.clone(), seq));
                }
                Outcome::Queued(ticket)
            }
        })
    }

    /// A queued request's turn came (on whichever thread freed the room): hold what it was given until
    /// its owner claims it, and tell the owner.
    fn granted(
        self: &Arc<Self>,
        ticket: u64,
        answer: Result<Grant<Conn>>,
        fd: bool,
        open: Opening,
    ) {
        match answer {
            Ok(Grant::Reuse(lease)) => {
                let id = self.hold(lease);
                self.announce(ticket, Outcome::Reused(id));
            }
            // Announced before it starts connecting: its events (its fd) must not reach JS before the
            // grant does, or JS would not know whose connection they are.
            Ok(Grant::Connect(slot)) => {
                self.open(slot, fd, open, Start::Now, |id| {
                    self.announce(ticket, Outcome::Connecting(id))
                });
            }
            Err(error) => {
                self.tickets().waiting.remove(&ticket);
                self.sink.emit(SocketEvent::Refused { ticket, error });
            }
        }
    }

    /// Records what queued request `ticket` was given, for its owner to claim, and tells the owner.
    fn announce(&self, ticket: u64, outcome: Outcome) {
        let mut tickets = self.tickets();
        tickets.waiting.remove(&ticket);
        tickets.granted.insert(ticket, outcome);
        drop(tickets);
        self.sink.emit(SocketEvent::Granted { ticket });
    }

    /// What queued request `ticket` was given, once: `None` while it still waits (or was refused).
    pub fn claim(&self, ticket: u64) -> Option<Outcome> {
        self.tickets().granted.remove(&ticket)
    }

    /// Takes queued request `ticket` out of the queue at once (its request was aborted): it opens no
    /// connection and stops counting toward `maxQueueSize`. Returns false when its turn already came;
    /// then its owner must [`Sockets::claim`] and give the connection back.
    pub fn cancel(&self, ticket: u64) -> bool {
        let Some((key, seq)) = self.tickets().waiting.remove(&ticket) else {
            return false;
        };
        self.pool.cancel(&key, seq)
    }

    fn hold(&self, mut lease: Lease<Conn>) -> ConnId {
        let Conn::Raw(raw) = lease.conn() else {
            unreachable!("the pool hands the socket face its own connections")
        };
        let handle = raw.handle.clone();
        handle.shared.idle.store(false, Ordering::SeqCst);
        let id = lease.id();
        self.held()
            .insert(id, Held::Leased(Box::new(lease), handle));
        id
    }

    /// Connects for `slot` (at once, or once its owner calls [`Sockets::dial`]: see [`Start`]); writes
    /// made meanwhile are queued and sent once connected. With `fd`, a plain-TCP connection is handed to
    /// JS once connected. `announce` runs once the connection is held and before it starts: nothing of
    /// it reaches JS before what `announce` emits.
    fn open(
        self: &Arc<Self>,
        slot: Slot<Conn>,
        fd: bool,
        open: Opening,
        start: Start,
        announce: impl FnOnce(ConnId),
    ) -> ConnId {
        let id = slot.id();
        let handle = RawHandle::new(open.role);
        // Without an fd, writes made while connecting wait in the pipe's queue; an fd-carried connection's
        // socket holds its own until the fd comes (and one that takes the pipe after all gets it then).
        if !fd {
            handle.pipe();
        }
        self.held().insert(id, Held::Connecting(handle.clone()));
        announce(id);
        let this = self.clone();
        let task = async move {
            let connecting = async {
                slot.ready().await;
                this.connector.connect_logged(slot.key()).await
            };
            let limited = async {
                let key = slot.key();
                match open.limit {
                    None => connecting.await,
                    Some(limit) => tokio::time::timeout(limit, connecting)
                        .await
                        .unwrap_or_else(|_| Err(Error::connect_timed_out(&key.host, key.port))),
                }
            };
            let connected = tokio::select! {
                c = limited => c,
                _ = handle.shared.stopped() => Err(Error::new(crate::error::Kind::ConnectionReset, "socket destroyed while connecting")),
                _ = this.pool.destroyed() => Err(Error::destroyed()),
            };
            // Read before an fd-carried connection's TLS session leaves its stream.
            let (connected, info) = match connected {
                Ok((transport, witnessed)) => {
                    let info = ConnInfo {
                        key_log: witnessed.key_log,
                        stapled: witnessed.stapled,
                        chain: witnessed.chain,
                        ..ConnInfo::of(&transport)
                    };
                    (Ok(transport), info)
                }
                Err(e) => (Err(e), ConnInfo::default()),
            };
            match connected.and_then(|transport| carried_fd(transport, fd)) {
                Err(error) => {
                    slot.fail();
                    this.held().remove(&id);
                    this.sink.emit(SocketEvent::Closed {
                        id,
                        error: Some(error),
                    });
                }
                Ok(Carry::Fd(tcp, session)) => this.hand_over(slot, tcp, session, info, handle),
                Ok(Carry::Pipe(transport)) => {
                    handle.pipe();
                    this.run(slot, transport, info, handle)
                }
            }
        };
        match start {
            Start::Now => drop(tokio::spawn(task)),
            Start::Later => {
                self.undialled().insert(id, Box::pin(task));
            }
        }
        id
    }

    /// New connection `id`, granted by [`Sockets::checkout`], may dial now (see [`Start::Later`]).
    pub fn dial(&self, id: ConnId) {
        let task = self.undialled().remove(&id);
        if let Some(task) = task {
            tokio::spawn(task);
        }
    }

    fn undialled(&self) -> std::sync::MutexGuard<'_, IdMap<Dialling>> {
        self.undialled.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(
        self: &Arc<Self>,
        slot: Slot<Conn>,
        transport: Transport,
        info: ConnInfo,
        handle: RawHandle,
    ) {
        let id = slot.id();
        let key = slot.key().clone();
        let lease = slot.fill(Conn::Raw(RawConn {
            handle: handle.clone(),
            carried: None,
        }));
        {
            let mut held = self.held();
            match held.get(&id) {
                Some(Held::Connecting(_)) => {
                    held.insert(id, Held::Leased(Box::new(lease), handle.clone()));
                }
                // Destroyed by its owner while connecting: close it (dropping the lease).
                _ => {
                    drop(held);
                    drop(lease);
                    drop(transport);
                    handle.shared.closed.fire();
                    return;
                }
            }
        }
        self.sink
            .emit(SocketEvent::Connected { id, info, fd: None });
        let pipe = Pipe {
            id,
            transport,
            shared: handle.shared,
            sockets: self.clone(),
            writing: Bytes::new(),
            ending: false,
            unflushed: false,
        };
        tokio::spawn(pipe.run(key));
    }

    /// The fd carrier: the pool counts the connection, JS owns its fd from the [`SocketEvent::Connected`]
    /// on. JS's socket queues what it writes until then. Over TLS, `session` (its handshake done) goes to
    /// [`Sealed`], and JS has each chunk opened and sealed there.
    fn hand_over(
        self: &Arc<Self>,
        slot: Slot<Conn>,
        tcp: std::net::TcpStream,
        session: Option<Box<rustls::ClientConnection>>,
        info: ConnInfo,
        handle: RawHandle,
    ) {
        let id = slot.id();
        let key = slot.key().clone();
        let lease = slot.fill(Conn::Raw(RawConn {
            handle: handle.clone(),
            carried: Some((id, self.sink.clone())),
        }));
        {
            let mut held = self.held();
            if !matches!(held.get(&id), Some(Held::Connecting(_))) {
                // Destroyed by its owner while connecting: close it here, JS never sees the fd.
                drop(held);
                handle.shared.told.store(true, Ordering::SeqCst);
                drop(lease);
                drop(tcp);
                handle.shared.closed.fire();
                return;
            }
            held.insert(id, Held::Leased(Box::new(lease), handle.clone()));
            // Recorded under the `held` lock: a destroy from now on knows the fd is JS's.
            self.carried().insert(id, (key, handle));
            if let Some(session) = session {
                self.sealed.insert(id, *session);
            }
        }
        let fd = into_fd(tcp);
        self.sink.emit(SocketEvent::Connected {
            id,
            info,
            fd: Some(fd),
        });
    }

    pub fn write(&self, id: ConnId, bytes: Bytes) -> bool {
        self.handle(id).is_none_or(|h| h.write(bytes))
    }

    pub fn end(&self, id: ConnId) {
        if let Some(h) = self.handle(id) {
            h.end();
        }
    }

    pub fn pause(&self, id: ConnId) {
        if let Some(h) = self.handle(id) {
            h.pause();
        }
    }

    pub fn resume(&self, id: ConnId) {
        if let Some(h) = self.handle(id) {
            h.resume();
        }
    }

    /// Gives connection `id` back to the pool after a response, with the server's hint and the socket's
    /// own deadline. Returns how long it may stay idle, or `None` when it was closed instead.
    pub fn release(&self, id: ConnId, idle: IdleFor) -> Option<Duration> {
        let mut held = self.held();
        let Some(Held::Leased(lease, handle)) = held.remove(&id) else {
            return None;
        };
        // Recorded first: a waiter may take the connection within `release` (and hold it anew).
        held.insert(id, Held::Idle(handle.clone()));
        drop(held);
        handle.shared.idle.store(true, Ordering::SeqCst);
        handle.resume();
        // The deadline the pool keeps (socketActiveTTL's rest included), for JS's `socket.timeout`.
        let config = self.pool.config();
        let deadline = config.idle_deadline(idle);
        let deadline = config
            .ttl_left(lease.created(), Instant::now())
            .map_or(deadline, |left| deadline.min(left));
        lease.release_idle(idle);
        if handle.shared.open.load(Ordering::SeqCst) {
            return Some(deadline);
        }
        self.held().remove(&id);
        None
    }

    /// JS is done with connection `id`, whatever its state: the connection closes. For an fd-carried
    /// one, `fd_open` says that JS has not closed the fd yet (it lingers, or is still on its way to JS):
    /// the slot then stays closing until a second call, without `fd_open`, once it is closed. `fault`:
    /// JS closes an idle one because bytes came that nobody asked for (counted as an error close, as the
    /// pipe's reader counts it).
    pub fn destroy(&self, id: ConnId, fd_open: bool, fault: bool) {
        // Never dialled: dropping its task gives its room back (no connect was tried, so no error).
        let undialled = self.undialled().remove(&id);
        drop(undialled);
        let (held, carried) = {
            let mut held = self.held();
            let carried = self.carried().get(&id).cloned();
            (held.remove(&id), carried)
        };
        let Some((key, handle)) = carried else {
            if let Some(held) = held {
                held.handle().stop();
                // Dropping a lease closes the connection and frees its slot.
                drop(held);
            }
            return;
        };
        // JS closes the fd itself: the pool must not ask it to.
        handle.shared.told.store(true, Ordering::SeqCst);
        if matches!(held, Some(Held::Idle(_))) {
            self.pool.forget(&key, id, fault);
        }
        // A lease dropped: the connection starts closing, holding its slot until `closed` fires.
        drop(held);
        if !fd_open {
            self.carried().remove(&id);
            self.sealed.remove(id);
            handle.stop();
            handle.shared.closed.fire();
        }
    }

    /// Takes connection `id` out of the pool for good (upgrade, CONNECT); it stays open for its owner.
    pub fn detach(&self, id: ConnId) {
        let mut held = self.held();
        if let Some(Held::Leased(lease, _)) = held.remove(&id) {
            if let Conn::Raw(raw) = lease.detach() {
                held.insert(id, Held::Detached(raw));
            }
        }
    }

    /// A connection's reader stopped: forget it everywhere and tell the owner.
    fn closed(&self, key: &OriginKey, id: ConnId, error: Option<Error>) {
        let held = self.held().remove(&id);
        drop(held);
        self.pool.forget(key, id, error.is_some());
        self.sink.emit(SocketEvent::Closed { id, error });
    }
}

/// When a new connection starts connecting.
enum Start {
    /// At once: it was granted to a request that waited, whose owner has yielded already.
    Now,
    /// When its owner calls [`Sockets::dial`]: a connection granted at once, during the owner's call.
    /// Node's agent connects a turn after `http.request()` (its `net.connect` defers even an IP
    /// address's), so a server that a program starts listening in the same turn (`server.listen(port,
    /// host)` listens a turn later) is listening by then; connecting from the tokio thread at once
    /// would be refused.
    Later,
}

/// How a connected socket's bytes will move: its fd handed to JS (with the TLS session over it, if
/// any), or this face's tasks.
enum Carry {
    Fd(std::net::TcpStream, Option<Box<rustls::ClientConnection>>),
    Pipe(Transport),
}

/// TCP, plain or TLS, when `fd` asks for it and the platform can hand an fd to libuv, goes to JS as its
/// fd; Unix sockets and callers' streams stay here.
fn carried_fd(transport: Transport, fd: bool) -> Result<Carry> {
    let std_tcp =
        |tcp: tokio::net::TcpStream| tcp.into_std().map_err(|e| Error::from_io(&e, "connect"));
    match transport {
        #[cfg(unix)]
        Transport::Plain(Stream::Tcp(tcp)) if fd => Ok(Carry::Fd(std_tcp(tcp)?, None)),
        #[cfg(unix)]
        Transport::Tls(tls) if fd && matches!(tls.get_ref().0, Stream::Tcp(_)) => {
            let (stream, session) = tls.into_inner();
            let Stream::Tcp(tcp) = stream else {
                unreachable!("checked above")
            };
            Ok(Carry::Fd(std_tcp(tcp)?, Some(Box::new(session))))
        }
        other => Ok(Carry::Pipe(other)),
    }
}

#[cfg(unix)]
fn into_fd(tcp: std::net::TcpStream) -> i32 {
    std::os::fd::IntoRawFd::into_raw_fd(tcp)
}

#[cfg(not(unix))]
fn into_fd(_tcp: std::net::TcpStream) -> i32 {
    unreachable!("only Unix platforms hand over an fd")
}

/// A pipe connection's one task: it writes what JS queued and reads what arrives, in the same poll, so
/// that a write waiting for room never stops the reads (a server may not read on until it is answered).
struct Pipe {
    id: ConnId,
    transport: Transport,
    shared: Arc<Shared>,
    sockets: Arc<Sockets>,
    /// What is left of the chunk being written.
    writing: Bytes,
    /// JS ended its side: the write side shuts down once what was queued before is written.
    ending: bool,
    /// Written since the last flush (a TLS session may hold records back until flushed).
    unflushed: bool,
}

/// Why a pipe connection's task stops driving it.
enum Stop {
    /// We closed it: the pool or JS did, or a write failed.
    Ours,
    /// The peer did: it finished sending (`None`), reset it, or sent bytes nobody asked for.
    Theirs(Option<Error>),
}

impl Pipe {
    async fn run(mut self, key: OriginKey) {
        let stop = std::future::poll_fn(|cx| self.poll_drive(cx)).await;
        let shared = self.shared.clone();
        let ours = matches!(stop, Stop::Ours);
        let mut error = match stop {
            Stop::Ours => None,
            Stop::Theirs(error) => error,
        };
        if error.is_none() && shared.expired.load(Ordering::SeqCst) {
            error = Some(idle_expired());
        }
        shared.open.store(false, Ordering::SeqCst);
        shared.stopping.store(true, Ordering::SeqCst);
        self.sockets.closed(&key, self.id, error);
        // FIN (and TLS's close_notify), then, when we are the ones closing, the peer's FIN: a peer that
        // takes nothing more costs at most LINGER. Boxed: the timer would otherwise enlarge the task
        // for the whole life of the connection.
        let closing = Box::pin(tokio::time::timeout(LINGER, async {
            let _ = self.transport.shutdown().await;
            if ours {
                while let Ok(1..) = std::future::poll_fn(|cx| {
                    with_scratch(|buf| {
                        std::task::ready!(Pin::new(&mut self.transport).poll_read(cx, buf))?;
                        Poll::Ready(Ok::<_, std::io::Error>(buf.filled().len()))
                    })
                })
                .await
                {}
            }
        }));
        let _ = closing.await;
        drop(self);
        shared.closed.fire();
    }

    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Stop> {
        self.shared.listen(cx);
        if self.shared.stopping() {
            return Poll::Ready(Stop::Ours);
        }
        if self.poll_write(cx).is_err() {
            return Poll::Ready(Stop::Ours);
        }
        self.poll_read(cx)
    }

    /// Writes what JS queued until the socket takes no more; an error stops the connection. Queued
    /// chunks are written whole and in order; [`SocketEvent::Drain`] follows once fewer than
    /// [`HIGH_WATER`] bytes are left.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> std::io::Result<()> {
        let shared = &*self.shared;
        loop {
            if self.writing.is_empty() && !self.ending {
                let mut mailbox = shared.mailbox();
                match mailbox.outbox.pop_front() {
                    Some(Command::Write(bytes)) => self.writing = bytes,
                    Some(Command::End) => self.ending = true,
                    None => {
                        // Idle: the queue gives its buffer back, or each idle connection keeps one.
                        if shared.idle.load(Ordering::SeqCst) {
                            mailbox.outbox = VecDeque::new();
                        }
                        break;
                    }
                }
            }
            if self.ending {
                match Pin::new(&mut self.transport).poll_shutdown(cx) {
                    Poll::Pending => return Ok(()),
                    Poll::Ready(_) => {
                        // Anything queued after the end fails to write, as on a socket that ended.
                        self.ending = false;
                        self.unflushed = false;
                        continue;
                    }
                }
            }
            let n = match Pin::new(&mut self.transport).poll_write(cx, &self.writing) {
                Poll::Pending => return Ok(()),
                Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
                Poll::Ready(result) => result?,
            };
            let _ = self.writing.split_to(n);
            self.unflushed = true;
            let left = shared.queued.fetch_sub(n, Ordering::SeqCst) - n;
            if left < HIGH_WATER && shared.wants_drain.swap(false, Ordering::SeqCst) {
                self.sockets.sink.emit(SocketEvent::Drain { id: self.id });
            }
        }
        if self.unflushed {
            match Pin::new(&mut self.transport).poll_flush(cx) {
                Poll::Pending => {}
                Poll::Ready(result) => {
                    result?;
                    self.unflushed = false;
                }
            }
        }
        Ok(())
    }

    /// Reads and hands JS what arrives, while JS wants it and keeps up (see [`READ_AHEAD`]). An idle
    /// connection is read too: EOF, an error or any byte ends it.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Stop> {
        let shared = &*self.shared;
        let sink = &self.sockets.sink;
        loop {
            let idle = shared.idle.load(Ordering::SeqCst);
            if (shared.paused.load(Ordering::SeqCst) && !idle)
                || shared.unread.load(Ordering::SeqCst) > READ_AHEAD
            {
                return Poll::Pending;
            }
            let read = std::task::ready!(poll_read_bytes(&mut self.transport, cx));
            // Released while the read waited: bytes that came since are nobody's.
            let idle = shared.idle.load(Ordering::SeqCst);
            // A TLS peer that closes without close_notify has still finished sending, as Node sees it.
            let read = match read {
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(Bytes::new()),
                other => other,
            };
            match read {
                Ok(bytes) if bytes.is_empty() => {
                    if !idle {
                        sink.emit(SocketEvent::End { id: self.id });
                    }
                    return Poll::Ready(Stop::Theirs(None));
                }
                // Bytes nobody asked for: never let them reach the next request.
                Ok(_) if idle => {
                    return Poll::Ready(Stop::Theirs(Some(Error::new(
                        crate::error::Kind::ConnectionReset,
                        "unsolicited data on an idle connection",
                    ))));
                }
                Ok(bytes) => {
                    shared.unread.fetch_add(bytes.len(), Ordering::SeqCst);
                    sink.emit(SocketEvent::Data {
                        id: self.id,
                        bytes,
                        ahead: ReadAhead(self.shared.clone()),
                    })
                }
                Err(e) => return Poll::Ready(Stop::Theirs(Some(Error::from_io(&e, "read")))),
            }
        }
    }
}

thread_local! {
    /// The thread's one read buffer: every pipe reader on the thread reads into it (see [`with_scratch`]).
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// Runs `read` on the thread's read buffer. A reader borrows it only within one poll, so one buffer
/// serves every connection on the thread; a connection waiting for its answer, or idle and waiting for
/// an EOF, holds none. A buffer of its own would keep at least the pages its reads touched, for each of
/// thousands of idle connections, where copying out what one read returned costs a small answer
/// nothing and a 64 KiB read a few microseconds.
fn with_scratch<T>(read: impl FnOnce(&mut ReadBuf<'_>) -> T) -> T {
    SCRATCH.with_borrow_mut(|scratch| read(&mut ReadBuf::new(scratch)))
}

/// One read of `reader`: what it returned, copied out at its size (empty: the peer finished sending).
fn poll_read_bytes<R: AsyncRead + Unpin>(
    reader: &mut R,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<Bytes>> {
    with_scratch(|buf| {
        std::task::ready!(std::pin::Pin::new(reader).poll_read(cx, buf))?;
        Poll::Ready(Ok(Bytes::copy_from_slice(buf.filled())))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::net::TcpListener;
    use tokio::sync::Notify;

    use super::*;
    use crate::pool::PoolConfig;

    /// Keeps the events it is given, as the queue to JS does until JS takes its batch.
    #[derive(Default)]
    struct Untaken {
        events: Mutex<Vec<SocketEvent>>,
        arrived: Notify,
    }

    impl EventSink for Untaken {
        fn emit(&self, event: SocketEvent) {
            self.events.lock().unwrap().push(event);
            self.arrived.notify_one();
        }
    }

    impl Untaken {
        /// The data bytes among the events held now; with `take`, JS takes them (as its batch is made).
        fn data(&self, take: bool) -> usize {
            let mut events = self.events.lock().unwrap();
            let mut bytes = 0;
            for event in events.iter() {
                if let SocketEvent::Data {
                    bytes: b, ahead, ..
                } = event
                {
                    bytes += b.len();
                    if take {
                        ahead.taken(b.len());
                    }
                }
            }
            if take {
                events.clear();
            }
            bytes
        }
    }

    /// A server that sends `total` bytes to its first client as fast as the client takes them.
    async fn sender(total: usize) -> OriginKey {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let chunk = vec![7u8; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                stream.write_all(&chunk).await.unwrap();
                sent += chunk.len();
            }
            // Held open: the client reads to the end of the bytes, not to an EOF.
            std::future::pending::<()>().await;
        });
        OriginKey::new(false, "127.0.0.1", port)
    }

    // The paused clock advances only once every task waits (the sender on a full socket, the reader on
    // JS): then a long sleep ends at once, with everything read that ever will be.
    #[tokio::test(start_paused = true)]
    async fn the_pipe_reads_no_further_ahead_of_js_than_read_ahead() {
        // More than loopback's socket buffers hold, so the sender blocks if the reader stops.
        let total = 32 * 1024 * 1024;
        let key = sender(total).await;
        let (sockets, sink) = face();
        let Outcome::Connecting(id) = sockets.checkout(&key, Want::Any, false, opening()).unwrap()
        else {
            panic!("expected a new connection");
        };
        sockets.dial(id);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let ahead = sink.data(false);
        assert!(ahead >= READ_AHEAD, "read {ahead} bytes");
        assert!(
            ahead <= READ_AHEAD + READ_CHUNK,
            "read {ahead} bytes ahead of JS"
        );

        // As JS takes what was read, the reader goes on, to the last byte.
        let mut received = 0;
        while received < total {
            received += sink.data(true);
            if received < total {
                sink.arrived.notified().await;
            }
        }
        assert_eq!(received, total);
    }

    /// Counts the wakes of the task it stands for.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    // Every connection given back to the pool is resumed: a reader that was not paused keeps reading
    // and must not be woken (from the JS thread, a wake costs a syscall and a context switch).
    #[test]
    fn resume_wakes_the_task_only_after_a_pause() {
        let handle = RawHandle::new(Conn::RAW);
        let wakes = Arc::new(CountingWaker::default());
        let waker = Waker::from(wakes.clone());
        handle.shared.listen(&Context::from_waker(&waker));
        handle.resume();
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);

        handle.pause();
        handle.shared.listen(&Context::from_waker(&waker));
        handle.resume();
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert!(!handle.shared.paused.load(Ordering::SeqCst));
    }

    /// A socket face over a fresh pool, whose events stay in the sink until a test takes them.
    fn face() -> (Arc<Sockets>, Arc<Untaken>) {
        let sink = Arc::new(Untaken::default());
        let pool = Pool::new(PoolConfig::default(), tokio::runtime::Handle::current());
        let sockets = Sockets::new(
            pool,
            Connector::plain(Duration::from_secs(60)),
            sink.clone(),
        );
        (sockets, sink)
    }

    fn opening() -> Opening {
        Opening {
            role: Conn::RAW,
            limit: None,
        }
    }

    /// Waits until `sink` holds a `Connected` for each of `ids`.
    async fn connected(sink: &Untaken, ids: &[ConnId]) {
        loop {
            let notified = sink.arrived.notified();
            let all = {
                let events = sink.events.lock().unwrap();
                ids.iter().all(|id| {
                    events
                        .iter()
                        .any(|e| matches!(e, SocketEvent::Connected { id: c, .. } if c == id))
                })
            };
            if all {
                return;
            }
            notified.await;
        }
    }

    // A connection granted during its owner's call dials only once the owner says so (Node's agent
    // connects a turn later); one destroyed before that never dials and leaves its room free.
    #[tokio::test]
    async fn a_connection_granted_at_once_dials_when_told_and_one_destroyed_first_never_does() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let key = OriginKey::new(false, "127.0.0.1", listener.local_addr().unwrap().port());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            let mut kept = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                kept.push(stream);
            }
        });
        let sink = Arc::new(Untaken::default());
        let config = PoolConfig {
            max_sockets: 1,
            ..PoolConfig::default()
        };
        let pool = Pool::new(config, tokio::runtime::Handle::current());
        let sockets = Sockets::new(
            pool,
            Connector::plain(Duration::from_secs(60)),
            sink.clone(),
        );
        let Outcome::Connecting(never) =
            sockets.checkout(&key, Want::Any, false, opening()).unwrap()
        else {
            panic!("expected a new connection");
        };
        // The only room (maxSockets 1) is free again once it is destroyed, undialled.
        sockets.destroy(never, false, false);
        let Outcome::Connecting(id) = sockets.checkout(&key, Want::Any, false, opening()).unwrap()
        else {
            panic!("the room the undialled connection held is free again");
        };
        sockets.dial(id);
        connected(&sink, &[id]).await;
        // The accept of the one dialled is counted by now or soon; never a second.
        for _ in 0..1000 {
            if accepted.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert!(!sink.events.lock().unwrap().iter().any(
            |e| matches!(e, SocketEvent::Connected { id: c, .. } | SocketEvent::Closed { id: c, .. } if *c == never)
        ));
    }

    // An idle connection should cost as little as Node's own socket: one task, holding no buffer.
    #[tokio::test]
    async fn a_pipe_connection_is_one_task_idle_or_busy() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let key = OriginKey::new(false, "127.0.0.1", listener.local_addr().unwrap().port());
        // One task accepts and keeps every connection open.
        tokio::spawn(async move {
            let mut kept = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                kept.push(stream);
            }
        });
        let (sockets, sink) = face();
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();

        let count = 8;
        let mut ids = Vec::new();
        for _ in 0..count {
            match sockets.checkout(&key, Want::Any, false, opening()).unwrap() {
                Outcome::Connecting(id) => ids.push(id),
                other => panic!("expected a new connection, got {other:?}"),
            }
        }
        for id in &ids {
            sockets.dial(*id);
        }
        connected(&sink, &ids).await;
        // The connecting tasks end once their connections run (a bounded wait: the count decides).
        for _ in 0..1000 {
            if metrics.num_alive_tasks() <= before + count {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(metrics.num_alive_tasks(), before + count);
        for id in &ids {
            assert!(sockets.release(*id, IdleFor::default()).is_some());
        }
        tokio::task::yield_now().await;
        assert_eq!(metrics.num_alive_tasks(), before + count);
    }

    // One task both writes and reads: a write waiting for the peer to read must not stop the reads, or
    // a server that answers before it reads the whole upload (and blocks on that) deadlocks with us.
    #[tokio::test]
    async fn a_write_waiting_for_room_never_stops_the_reads() {
        let total = 16 * 1024 * 1024;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let key = OriginKey::new(false, "127.0.0.1", listener.local_addr().unwrap().port());
        // Sends everything before it reads anything: more than loopback's buffers hold, both ways.
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.write_all(&vec![1u8; total]).await.unwrap();
            let mut read = 0;
            let mut buf = vec![0u8; 64 * 1024];
            while read < total {
                let n = tokio::io::AsyncReadExt::read(&mut stream, &mut buf)
                    .await
                    .unwrap();
                assert!(n > 0, "the client closed after {read} bytes");
                read += n;
            }
            read
        });
        let (sockets, sink) = face();
        let Outcome::Connecting(id) = sockets.checkout(&key, Want::Any, false, opening()).unwrap()
        else {
            panic!("expected a new connection");
        };
        sockets.dial(id);
        // The whole upload is queued at once (past the high-water mark: JS would wait for a drain).
        for chunk in vec![2u8; total].chunks(256 * 1024) {
            sockets.write(id, Bytes::copy_from_slice(chunk));
        }
        let received = tokio::time::timeout(Duration::from_secs(60), async {
            let mut received = 0;
            while received < total {
                let notified = sink.arrived.notified();
                received += sink.data(true);
                if received < total {
                    notified.await;
                }
            }
            received
        })
        .await
        .expect("the download stalled behind the upload");
        assert_eq!(received, total);
        let uploaded = tokio::time::timeout(Duration::from_secs(60), server)
            .await
            .expect("the upload stalled")
            .unwrap();
        assert_eq!(uploaded, total);
    }
}
