//! The connection pool: per-origin caps, a FIFO wait queue, idle lists and their deadlines, and the stats.
//!
//! The pool owns no sockets and speaks no HTTP. It keeps the books of *slots*: every connection, whether
//! being connected, leased to a request or idle, holds one slot of its origin and one of the agent, and
//! `maxSockets`/`maxTotalSockets` bound those counts. A request [`Pool::checkout`]s and gets one of three
//! answers at once, without waiting: an idle connection ([`Lease`]), the right to open one ([`Slot`]), or
//! a place in the queue ([`Waiting`]). Only connecting and waiting take time, and both are the caller's.
//! Because the answer is synchronous, Node's socket face can update its maps inside `addRequest` as Node
//! does, and reusing an idle connection costs no thread hop.
//!
//! Every way a slot ends (connect failed, connection closed, idle deadline passed, lease dropped) goes
//! through one place that hands the freed capacity to the oldest waiter, so no waiter is stranded.
//! Connections are generic ([`Connection`]): the Promise face pools hyper senders, the socket face raw
//! byte pipes, and both count against the same caps.

mod state;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, Weak};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch, Notify};

use crate::error::{Error, Result};
use crate::origin::OriginKey;
use state::{Aftermath, Answer, Grant as RawGrant, Ready, State, Tell};
pub use state::{Counters, OriginStats, Status};

/// Which connections a checkout may be given: a request replayed after the keep-alive race must not
/// meet the race again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Any: an idle one first.
    Any,
    /// Not an idle one (a first replay: the server may have closed the other idle ones too). One
    /// released while the request waits in the queue may serve: it has just answered.
    NotIdle,
    /// Only one dialled for it (a second replay: the connection it took as it was released closed
    /// under it too). A released connection closes to make it room.
    New,
}

impl Want {
    /// What the `replays`th sending of a request may take (0: the first sending).
    pub fn for_replay(replays: u32) -> Self {
        match replays {
            0 => Want::Any,
            1 => Want::NotIdle,
            _ => Want::New,
        }
    }
}

/// An idle deadline that never comes (a century: far enough, and `Instant` arithmetic cannot overflow).
pub const NO_DEADLINE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Which idle connection is reused first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduling {
    /// Most recently used first: fewer connections stay warm, and the one reused is the least likely to
    /// have been closed by the server's idle timeout.
    Lifo,
    /// Least recently used first: spreads requests over every idle connection.
    Fifo,
}

/// The pool's limits and deadlines, in Node's terms (`usize::MAX` is `Infinity`).
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub keep_alive: bool,
    pub max_sockets: usize,
    pub max_total_sockets: usize,
    pub max_free_sockets: usize,
    pub scheduling: Scheduling,
    /// Idle deadline; zero keeps nothing idle ([`NO_DEADLINE`]: none).
    pub free_socket_timeout: Duration,
    /// Taken off a server's `Keep-Alive: timeout=` so that we close first (Node's
    /// `agentKeepAliveTimeoutBuffer`); a hint it leaves nothing of is not pooled.
    pub keep_alive_timeout_buffer: Duration,
    /// The longest a server's `Keep-Alive: timeout=` keeps a connection idle (undici's
    /// `keepAliveMaxTimeout`); a hint never lengthens the idle deadline beyond it, or beyond its own.
    pub keep_alive_max_timeout: Option<Duration>,
    /// Maximum age of a connection; an older one is closed when it is freed.
    pub socket_active_ttl: Option<Duration>,
    pub queue_timeout: Option<Duration>,
    pub max_queue_size: Option<usize>,
}

/// What a released connection says of its own idle deadline, beside the agent's `freeSocketTimeout`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdleFor {
    /// The server's `Keep-Alive: timeout=` (see [`crate::faces::keep_alive::idle_for`]), if it sent one:
    /// never exceeded, less [`PoolConfig::keep_alive_timeout_buffer`]; zero: not to be pooled.
    pub hint: Option<Duration>,
    /// The socket's own `freeSocketTimeout`, which callers of agentkeepalive set (urllib does): it
    /// replaces the agent's.
    pub own: Option<Duration>,
}

impl IdleFor {
    /// Only the server's hint.
    pub fn hinted(hint: Option<Duration>) -> Self {
        IdleFor { hint, own: None }
    }
}

impl PoolConfig {
    /// How long a connection may stay idle: its own deadline or the agent's, within the server's hint
    /// less the buffer (and within `keep_alive_max_timeout`, when hinted).
    pub fn idle_deadline(&self, idle: IdleFor) -> Duration {
        let base = idle.own.unwrap_or(self.free_socket_timeout);
        self.hinted(idle).map_or(base, |d| d.min(base))
    }

    /// The server's hint less the buffer, within `keep_alive_max_timeout`; `Some(ZERO)`: the connection
    /// is not to be pooled.
    pub fn hinted(&self, idle: IdleFor) -> Option<Duration> {
        let hinted = idle
            .hint
            .map(|d| d.saturating_sub(self.keep_alive_timeout_buffer))?;
        Some(
            self.keep_alive_max_timeout
                .map_or(hinted, |max| hinted.min(max)),
        )
    }

    /// What is left at `now` of the `socketActiveTTL` of a connection made at `created`, if it has one.
    pub fn ttl_left(&self, created: Instant, now: Instant) -> Option<Duration> {
        self.socket_active_ttl
            .map(|ttl| ttl.saturating_sub(now.saturating_duration_since(created)))
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            keep_alive: true,
            max_sockets: usize::MAX,
            max_total_sockets: usize::MAX,
            max_free_sockets: 256,
            scheduling: Scheduling::Lifo,
            free_socket_timeout: Duration::from_millis(4000),
            keep_alive_timeout_buffer: Duration::from_millis(1000),
            keep_alive_max_timeout: None,
            socket_active_ttl: None,
            queue_timeout: None,
            max_queue_size: None,
        }
    }
}

/// A pooled connection as the pool sees it.
pub trait Connection: Send + 'static {
    /// False once the connection is known to be closed (EOF, error, unsolicited bytes while idle).
    fn is_open(&self) -> bool;

    /// Which face can use it: an idle connection is reused only by a request of the same role. Both
    /// roles count against the same caps.
    fn role(&self) -> u8 {
        0
    }

    /// Told just before the pool closes it because its idle deadline passed.
    fn expire(&self) {}

    /// Whether [`Connection::park`] frees anything: the reaper then parks it once idle for [`PARK_AFTER`].
    fn parks(&self) -> bool {
        false
    }

    /// Idle for [`PARK_AFTER`]: free what it holds only to serve requests (it stays pooled and open).
    fn park(&mut self) {}

    /// Fires once the connection's socket is really closed, after the connection is dropped: until then
    /// it holds its slot, so that a server never sees more connections than the caps allow.
    fn closed(&self) -> Closed {
        Closed::fired()
    }
}

/// Fired once a connection's socket is closed; [`Closed::then`] runs its callback at that moment, or at
/// once when it has already passed. Clones share the signal.
#[derive(Clone, Default)]
pub struct Closed(Arc<Mutex<ClosedState>>);

#[derive(Default)]
struct ClosedState {
    fired: bool,
    then: Vec<Box<dyn FnOnce() + Send>>,
}

impl Closed {
    /// A signal that has fired: for connections that are closed once dropped.
    pub fn fired() -> Self {
        let closed = Closed::default();
        closed.fire();
        closed
    }

    pub fn is_fired(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).fired
    }

    pub fn fire(&self) {
        let then = {
            let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
            state.fired = true;
            std::mem::take(&mut state.then)
        };
        for then in then {
            then();
        }
    }

    pub fn then(&self, then: Box<dyn FnOnce() + Send>) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if state.fired {
            drop(state);
            then();
        } else {
            state.then.push(then);
        }
    }

    /// Resolves once the signal has fired.
    pub async fn wait(&self) {
        let (tx, rx) = oneshot::channel();
        self.then(Box::new(move || {
            let _ = tx.send(());
        }));
        let _ = rx.await;
    }
}

/// Identifies a connection within its pool, for [`Pool::forget`].
pub type ConnId = u64;

/// A map keyed by connection id (or another number we count out ourselves, as queue tickets). Those keys
/// are never a peer's choice, so they need no keyed hash against flooding: a multiply and a fold spread
/// them over the table, where std's SipHash showed in the profile of every request (checkout and release
/// each look connections up by id).
pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// [`IdMap`]'s hasher: Fibonacci hashing of the one `u64` key (any other input is folded in byte by byte).
#[derive(Default)]
pub struct IdHasher(u64);

impl IdHasher {
    /// 2^64 / golden ratio, odd: multiplying by it maps distinct ids to distinct products, their
    /// differences spread to the high bits (hashbrown's 7-bit tag is the top of the hash).
    const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // The bucket is the hash's low bits, which a product takes from the key's low bits alone: the
        // high half folded in spreads keys that differ only higher up (a stride of 4, say) too.
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(Self::SPREAD);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(Self::SPREAD);
    }
}

/// A handle to the pool; clones share it.
pub struct Pool<C> {
    shared: Arc<Shared<C>>,
}

impl<C> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Pool {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<C> {
    /// Read under the state's lock by every step; written alone ([`Pool::reconfigure`]), never while the
    /// state's lock is waited for, so the two locks cannot deadlock.
    config: RwLock<PoolConfig>,
    state: Mutex<State<C>>,
    runtime: Handle,
    /// Wakes the reaper when an idle deadline earlier than its next wake-up is set.
    reaper: Arc<Notify>,
    /// How often [`Pool::destroy`] was called: in-flight work stops when it changes.
    destroyed: watch::Sender<u64>,
}

impl<C> Shared<C> {
    fn settings(&self) -> RwLockReadGuard<'_, PoolConfig> {
        self.config.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// What [`Pool::checkout`] answers.
pub enum Checkout<C: Connection> {
    /// An idle connection, now leased.
    Reuse(Lease<C>),
    /// Room for a new connection: connect, then [`Slot::fill`].
    Connect(Slot<C>),
    /// The origin is at its cap: wait for a connection or for room.
    Queued(Waiting<C>),
}

/// What a waiter is eventually given.
pub enum Grant<C: Connection> {
    Reuse(Lease<C>),
    Connect(Slot<C>),
}

/// What [`Pool::checkout_then`] answers: a grant now, or a place in the queue whose callback runs later.
pub enum Turn<C: Connection> {
    Now(Grant<C>),
    /// The waiter's number, for [`Pool::cancel`].
    Queued(u64),
}

/// A queued request's callback: its grant, or why it will get none.
pub type Callback<C> = Box<dyn FnOnce(Result<Grant<C>>) + Send>;

impl<C: Connection> Pool<C> {
    pub fn new(config: PoolConfig, runtime: Handle) -> Self {
        let shared = Arc::new(Shared {
            config: RwLock::new(config),
            state: Mutex::new(State::default()),
            runtime,
            reaper: Arc::new(Notify::new()),
            destroyed: watch::channel(0).0,
        });
        let weak = Arc::downgrade(&shared);
        shared.runtime.spawn(reap(weak, shared.reaper.clone()));
        Pool { shared }
    }

    /// The limits and deadlines as they are now (see [`Pool::reconfigure`]).
    pub fn config(&self) -> PoolConfig {
        self.shared.settings().clone()
    }

    /// Changes the limits while the pool runs, as assigning `agent.maxSockets` (and the other caps) does
    /// with Node's Agent, which reads them at each request. Raised caps serve queued requests now; lowered
    /// ones close nothing, but keep new connections out until the counts fall below them.
    pub fn reconfigure(&self, change: impl FnOnce(&mut PoolConfig)) {
        change(
            &mut self
                .shared
                .config
                .write()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let mut dropped = Aftermath::default();
        self.lock()
            .dispatch_all(&self.shared.settings(), &mut dropped);
        self.settle(dropped);
    }

    fn lock(&self) -> MutexGuard<'_, State<C>> {
        // A panic while holding the lock leaves counts that are still consistent enough to keep serving.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for a connection of `role` to `key`, of those `want` allows. A request that has to wait gets
    /// a [`Waiting`] to await.
    pub fn checkout(&self, key: &OriginKey, role: u8, want: Want) -> Result<Checkout<C>> {
        let (tx, rx) = oneshot::channel();
        Ok(
            match self.take_turn(key, role, want, || Tell::Channel(tx))? {
                Answer::Granted(grant) => match self.wrap(key, grant) {
                    Grant::Reuse(lease) => Checkout::Reuse(lease),
                    Grant::Connect(slot) => Checkout::Connect(slot),
                },
                Answer::Queued { seq, .. } => Checkout::Queued(Waiting {
                    pool: self.clone(),
                    key: key.clone(),
                    seq,
                    rx: Some(rx),
                }),
            },
        )
    }

    /// As [`Pool::checkout`], but a request that has to wait is a callback in the queue rather than a
    /// task: it runs, once, on whichever thread frees the room, right after the pool's lock is released
    /// (so room freed by a call from JavaScript is granted before that call returns).
    pub fn checkout_then(
        &self,
        key: &OriginKey,
        role: u8,
        want: Want,
        call: Callback<C>,
    ) -> Result<Turn<C>> {
        self.checkout_or_queue(key, role, want, || call)
    }

    /// As [`Pool::checkout_then`], but the callback is made by `queue` only when the request has to
    /// wait: what it will need can stay with the caller when there is a connection or room now.
    pub fn checkout_or_queue(
        &self,
        key: &OriginKey,
        role: u8,
        want: Want,
        queue: impl FnOnce() -> Callback<C>,
    ) -> Result<Turn<C>> {
        let answer = self.take_turn(key, role, want, || Self::told(queue()))?;
        Ok(match answer {
            Answer::Granted(grant) => Turn::Now(self.wrap(key, grant)),
            Answer::Queued { seq, .. } => Turn::Queued(seq),
        })
    }

    /// `call` as the queue keeps it: the pool wraps the grant for it when its turn comes.
    fn told(call: Callback<C>) -> Tell<C> {
        Tell::Call(Box::new(
            move |answer: Result<RawGrant<C>>, pool: &Pool<C>, key: &OriginKey| {
                call(answer.map(|grant| pool.wrap(key, grant)));
            },
        ))
    }

    /// Takes queued request `seq` out of the queue. False when it is no longer there (its callback ran
    /// or is about to).
    pub fn cancel(&self, key: &OriginKey, seq: u64) -> bool {
        let tell = self.lock().leave_queue(key, seq);
        tell.is_some()
    }

    /// The pool's answer to a checkout, unwrapped; `tell` makes the waiter's way to be told, when the
    /// request has to wait (it runs under the pool's lock).
    fn take_turn(
        &self,
        key: &OriginKey,
        role: u8,
        want: Want,
        tell: impl FnOnce() -> Tell<C>,
    ) -> Result<Answer<C>> {
        let mut dropped = Aftermath::default();
        let mut state = self.lock();
        let answer = state.checkout(
            &self.shared.settings(),
            key,
            want,
            role,
            tell,
            Instant::now(),
            &mut dropped,
        );
        drop(state);
        if let Ok(Answer::Queued { wake: true, .. }) = &answer {
            self.shared.reaper.notify_one();
        }
        self.settle(dropped);
        answer
    }

    /// Does what a locked step left: runs waiters' callbacks, then closes connections.
    fn settle(&self, after: Aftermath<C>) {
        for Ready { call, key, answer } in after.ready {
            call(answer, self, &key);
        }
        drop(after.conns);
        for (key, id, closed, conn) in after.closing {
            drop(conn);
            let pool = self.clone();
            closed.then(Box::new(move || pool.closed(&key, id)));
        }
    }

    /// Connection `id`, which the pool closed, is closed: its slot goes to the next waiter.
    fn closed(&self, key: &OriginKey, id: ConnId) {
        let mut dropped = Aftermath::default();
        self.lock()
            .closed(&self.shared.settings(), key, id, &mut dropped);
        self.settle(dropped);
    }

    fn lease(
        &self,
        key: &OriginKey,
        id: ConnId,
        conn: C,
        created: Instant,
        reused: bool,
    ) -> Lease<C> {
        Lease {
            pool: self.clone(),
            key: key.clone(),
            id,
            conn: Some(conn),
            created,
            reused,
        }
    }

    fn slot(&self, key: &OriginKey, id: ConnId, after: Option<(ConnId, Closed)>) -> Slot<C> {
        Slot {
            pool: self.clone(),
            key: key.clone(),
            id,
            after,
            done: false,
        }
    }

    fn wrap(&self, key: &OriginKey, grant: RawGrant<C>) -> Grant<C> {
        match grant {
            RawGrant::Reuse { id, conn, created } => {
                Grant::Reuse(self.lease(key, id, conn, created, true))
            }
            RawGrant::Connect { id, after } => Grant::Connect(self.slot(key, id, after)),
        }
    }

    /// The connection `id` was found closed by its owner task: if it is idle, its slot is freed now
    /// rather than at the next checkout, so stats and waiters see the truth.
    pub fn forget(&self, key: &OriginKey, id: ConnId, error: bool) {
        let mut dropped = Aftermath::default();
        self.lock()
            .forget(&self.shared.settings(), key, id, error, &mut dropped);
        self.settle(dropped);
    }

    /// Counts a request re-sent on a fresh connection after a reused one failed.
    pub fn note_retry(&self) {
        self.lock().counters.retries += 1;
    }

    /// Counts a connection that was closed because a request went quiet for longer than `timeout`.
    pub fn note_timeout(&self) {
        self.lock().counters.timeouts += 1;
    }

    pub fn status(&self) -> Status {
        self.lock().status()
    }

    /// How often [`Pool::destroy`] was called so far: work that began at one count and finds another
    /// was stopped by it.
    pub fn destroys(&self) -> u64 {
        *self.shared.destroyed.borrow()
    }

    /// Resolves when [`Pool::destroy`] is next called; in-flight work selects on it to stop.
    pub fn destroyed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shared.destroyed.subscribe();
        let at = *rx.borrow_and_update();
        async move {
            let _ = rx.wait_for(|n| *n != at).await;
        }
    }

    /// Closes every idle connection, fails every waiter with `ERR_AGENT_DESTROYED`, and tells in-flight
    /// work to stop (see [`Pool::destroyed`]); connections leased now close when they come back. As
    /// with Node's `Agent`, the pool still serves checkouts made afterwards: the faces that must refuse
    /// them once destroyed (the Promise and dispatcher faces) do so themselves.
    pub fn destroy(&self) {
        let mut dropped = Aftermath::default();
        self.lock().destroy(Instant::now(), &mut dropped);
        self.shared.destroyed.send_modify(|n| *n += 1);
        self.shared.reaper.notify_one();
        self.settle(dropped);
    }

    fn release(&self, key: &OriginKey, id: ConnId, conn: C, created: Instant, idle: IdleFor) {
        let mut dropped = Aftermath::default();
        let wake = self.lock().release(
            &self.shared.settings(),
            key,
            id,
            conn,
            created,
            idle,
            Instant::now(),
            &mut dropped,
        );
        if wake {
            self.shared.reaper.notify_one();
        }
        self.settle(dropped);
    }

    /// A leased connection ends: `conn` is closed (its slot freed once it is), `None` left for good.
    fn close(&self, key: &OriginKey, id: ConnId, conn: Option<C>, error: bool) {
        let mut dropped = Aftermath::default();
        self.lock()
            .close_active(&self.shared.settings(), key, id, conn, error, &mut dropped);
        self.settle(dropped);
    }

    fn unreserve(&self, key: &OriginKey, failed: bool, after: Option<(ConnId, Closed)>) {
        let mut dropped = Aftermath::default();
        self.lock()
            .unreserve(&self.shared.settings(), key, failed, after, &mut dropped);
        self.settle(dropped);
    }

    fn filled(&self, key: &OriginKey) {
        self.lock().filled(key);
    }

    fn leave_queue(&self, key: &OriginKey, seq: u64) {
        let left = self.lock().leave_queue(key, seq);
        drop(left);
    }
}

/// How long a connection stays idle before the reaper parks it ([`Connection::park`]): a connection in
/// steady use is never parked, one left idle after a burst gives its memory back.
pub const PARK_AFTER: Duration = Duration::from_secs(1);

/// Parking this many connections (since the last trim) frees enough (≈ 27 KiB each on the Promise face) to hand the
/// allocator's free pages back to the system; fewer are left for the allocator to reuse.
const TRIM_AFTER_PARKING: usize = 32;

/// Gives the allocator's free pages back to the system (glibc keeps what a burst freed otherwise).
pub(crate) fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's malloc_trim takes its arenas' locks itself; it has no preconditions.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Closes idle connections whose deadline passed, and parks those idle for [`PARK_AFTER`], sleeping
/// until the earliest such moment. It holds the pool
/// weakly, so an agent that is dropped takes its reaper with it.
async fn reap<C: Connection>(weak: Weak<Shared<C>>, wake: Arc<Notify>) {
    // Connections released together come due over a few passes.
    let mut parked_since_trim = 0;
    loop {
        let next = {
            let Some(shared) = weak.upgrade() else { return };
            let mut dropped = Aftermath::default();
            let next = {
                let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                state.expire(&shared.settings(), Instant::now(), &mut dropped)
            };
            parked_since_trim += dropped.parked;
            Pool { shared }.settle(dropped);
            if parked_since_trim >= TRIM_AFTER_PARKING {
                parked_since_trim = 0;
                trim_allocator();
            }
            next
        };
        // `notify_one` leaves a permit when nobody waits, so a wake-up sent since the scan is not lost.
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

impl<C> Drop for Shared<C> {
    fn drop(&mut self) {
        self.reaper.notify_one();
    }
}

/// A connection leased to one request. [`Lease::release`] gives it back for reuse; dropping the lease
/// closes the connection and frees its slot.
pub struct Lease<C: Connection> {
    pool: Pool<C>,
    key: OriginKey,
    id: ConnId,
    conn: Option<C>,
    created: Instant,
    reused: bool,
}

impl<C: Connection> Lease<C> {
    pub fn id(&self) -> ConnId {
        self.id
    }

    pub fn key(&self) -> &OriginKey {
        &self.key
    }

    pub fn pool(&self) -> &Pool<C> {
        &self.pool
    }

    /// When the connection was made.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// Whether this connection served an earlier request.
    pub fn reused(&self) -> bool {
        self.reused
    }

    pub fn conn(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .expect("a live lease holds its connection")
    }

    /// Returns the connection to the pool. `idle_for` is what the server asked for with `Keep-Alive`, if
    /// anything (see [`IdleFor::hint`]).
    pub fn release(self, idle_for: Option<Duration>) {
        self.release_idle(IdleFor::hinted(idle_for));
    }

    /// Returns the connection to the pool, with what it says of its idle deadline.
    pub fn release_idle(mut self, idle: IdleFor) {
        if let Some(conn) = self.conn.take() {
            self.pool
                .release(&self.key, self.id, conn, self.created, idle);
        }
    }

    /// Closes the connection because it failed; counted in `errorSocketCount`.
    pub fn fail(mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.close(&self.key, self.id, Some(conn), true);
        }
    }

    /// Takes the connection out of the pool for good (an upgraded or CONNECT request); the slot is freed.
    pub fn detach(mut self) -> C {
        let conn = self.conn.take().expect("a live lease holds its connection");
        self.pool.close(&self.key, self.id, None, false);
        conn
    }
}

impl<C: Connection> Drop for Lease<C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.close(&self.key, self.id, Some(conn), false);
        }
    }
}

/// The right to open one connection to an origin. [`Slot::fill`] turns it into a [`Lease`]; dropping it
/// (the connect failed or was abandoned) frees the room for the next waiter.
pub struct Slot<C: Connection> {
    pool: Pool<C>,
    key: OriginKey,
    id: ConnId,
    /// The connection whose slot this is, still closing (its id and signal): dial only once it is closed.
    after: Option<(ConnId, Closed)>,
    done: bool,
}

impl<C: Connection> Slot<C> {
    /// Resolves once the room is really free (the connection that held it is closed).
    pub async fn ready(&self) {
        if let Some((_, after)) = &self.after {
            after.wait().await;
        }
    }

    pub fn id(&self) -> ConnId {
        self.id
    }

    pub fn key(&self) -> &OriginKey {
        &self.key
    }

    pub fn fill(mut self, conn: C) -> Lease<C> {
        self.done = true;
        self.pool.filled(&self.key);
        self.pool
            .lease(&self.key, self.id, conn, Instant::now(), false)
    }

    /// The connect failed: counted as an error and a close (as a socket's failed connect), and the room
    /// goes to the next waiter.
    pub fn fail(mut self) {
        self.done = true;
        self.pool.unreserve(&self.key, true, self.after.take());
    }
}

impl<C: Connection> Drop for Slot<C> {
    fn drop(&mut self) {
        if !self.done {
            self.pool.unreserve(&self.key, false, self.after.take());
        }
    }
}

/// A place in an origin's FIFO queue. Dropping it leaves the queue; a grant that raced with the drop is
/// given back to the pool.
pub struct Waiting<C: Connection> {
    pool: Pool<C>,
    key: OriginKey,
    seq: u64,
    rx: Option<oneshot::Receiver<Result<RawGrant<C>>>>,
}

impl<C: Connection> Waiting<C> {
    /// Waits for a connection or for room to open one, up to the pool's `queueTimeout` (the reaper
    /// fails the waiter then).
    pub async fn wait(mut self) -> Result<Grant<C>> {
        let rx = self.rx.as_mut().expect("a waiter is awaited once");
        let answer = rx.await;
        self.rx = None;
        match answer {
            Ok(Ok(grant)) => Ok(self.pool.wrap(&self.key, grant)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::destroyed()),
        }
    }
}

impl<C: Connection> Drop for Waiting<C> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else { return };
        rx.close();
        match rx.try_recv() {
            // The grant raced with the drop: an idle connection goes back, room goes to the next waiter.
            Ok(Ok(grant)) => match self.pool.wrap(&self.key, grant) {
                Grant::Reuse(lease) => lease.release(None),
                Grant::Connect(slot) => drop(slot),
            },
            Ok(Err(_)) => {}
            Err(_) => self.pool.leave_queue(&self.key, self.seq),
        }
    }
}

#[cfg(test)]
mod tests;
