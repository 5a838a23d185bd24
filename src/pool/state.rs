//! The pool's books, kept under one lock: hosts, slot counts, idle lists, waiters and counters.
//!
//! Methods here never block, never drop a connection and never call out: a connection to close, and a
//! grant for a waiter that is told by callback, are pushed onto an [`Aftermath`] that the caller settles
//! after releasing the lock (dropping a connection or running a callback may take the lock again).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{Closed, ConnId, Connection, IdleFor, PoolConfig, Scheduling, Want};
use crate::error::{Error, Kind, Result};
use crate::origin::OriginKey;

/// What the pool hands a waiter, before it is wrapped into a `Lease` or `Slot`.
pub enum Grant<C> {
    Reuse {
        id: ConnId,
        conn: C,
        created: Instant,
    },
    Connect {
        id: ConnId,
        /// A connection still closing whose slot this one takes (its id and signal): dial once it is
        /// closed.
        after: Option<(ConnId, Closed)>,
    },
}

/// What a checkout answers, before wrapping.
pub enum Answer<C> {
    Granted(Grant<C>),
    /// `wake`: the reaper must wake earlier, for this waiter's `queueTimeout`.
    Queued {
        seq: u64,
        wake: bool,
    },
}

struct Idle<C> {
    id: ConnId,
    conn: C,
    created: Instant,
    deadline: Instant,
    /// When the reaper parks it; `None`: parked, or nothing to park.
    park_at: Option<Instant>,
}

impl<C> Idle<C> {
    /// When the reaper must look at it next.
    fn due(&self) -> Instant {
        self.park_at
            .map_or(self.deadline, |at| at.min(self.deadline))
    }
}

/// How a waiter learns what it was given.
pub enum Tell<C> {
    /// A task awaits the answer.
    Channel(oneshot::Sender<Result<Grant<C>>>),
    /// Called once the lock is released, on whichever thread freed the room (no task per waiter).
    Call(Told<C>),
}

/// A queued callback as the queue keeps it: it is handed the raw answer with the pool and the key to
/// wrap it with, so that it need not carry them while it waits.
pub type Told<C> = Box<dyn FnOnce(Result<Grant<C>>, &super::Pool<C>, &OriginKey) + Send>;

impl<C> Tell<C> {
    fn is_closed(&self) -> bool {
        matches!(self, Tell::Channel(tx) if tx.is_closed())
    }
}

/// A callback's answer, run by the caller once the lock is released; `key` is the queue it waited in.
pub struct Ready<C> {
    pub call: Told<C>,
    pub key: OriginKey,
    pub answer: Result<Grant<C>>,
}

/// What a locked step leaves for the caller to do after unlocking: connections to close (each still
/// holding its slot until its socket is closed, then given to [`State::closed`]), connections that hold
/// no slot, and callbacks to run.
pub struct Aftermath<C> {
    pub closing: Vec<(OriginKey, ConnId, Closed, C)>,
    pub conns: Vec<C>,
    pub ready: Vec<Ready<C>>,
    /// Connections the reaper parked.
    pub parked: usize,
}

impl<C> Default for Aftermath<C> {
    fn default() -> Self {
        Aftermath {
            closing: Vec::new(),
            conns: Vec::new(),
            ready: Vec::new(),
            parked: 0,
        }
    }
}

/// Room for one more connection: free room, or the slot of a connection still closing.
enum Room {
    Free,
    Closing(Closing),
}

/// A connection being closed, holding its slot until [`Closed`] fires (or until a waiter takes it over).
struct Closing {
    id: ConnId,
    closed: Closed,
}

struct Waiter<C> {
    seq: u64,
    /// The kind of connection the waiter can use (see [`Connection::role`]).
    role: u8,
    /// Whether a connection released while it waits may serve it (see [`Want`]).
    want: Want,
    tell: Tell<C>,
    /// When it joined the queue: the reaper fails it `queueTimeout` later (no timer per waiter).
    since: Instant,
}

struct Host<C> {
    /// Oldest first: `Fifo` takes from the front, `Lifo` from the back.
    idle: VecDeque<Idle<C>>,
    busy: usize,
    connecting: usize,
    /// Connections being closed: they hold their slots until their sockets are closed, so that a server
    /// never sees more than the caps allow. A waiter may take such a slot over and dial once it is closed.
    closing: VecDeque<Closing>,
    waiters: VecDeque<Waiter<C>>,
}

impl<C> Default for Host<C> {
    fn default() -> Self {
        Host {
            idle: VecDeque::new(),
            busy: 0,
            connecting: 0,
            closing: VecDeque::new(),
            waiters: VecDeque::new(),
        }
    }
}

impl<C> Host<C> {
    /// Takes the idle connection to reuse for `role`, per `scheduling`, dropping stale ones met on the way.
    fn take_idle(
        &mut self,
        key: &OriginKey,
        scheduling: Scheduling,
        role: u8,
        now: Instant,
        dropped: &mut Aftermath<C>,
    ) -> (Option<Idle<C>>, usize)
    where
        C: Connection,
    {
        let mut stale = 0;
        loop {
            let found = match scheduling {
                Scheduling::Lifo => self.idle.iter().rposition(|i| i.conn.role() == role),
                Scheduling::Fifo => self.idle.iter().position(|i| i.conn.role() == role),
            };
            let Some(at) = found else {
                return (None, stale);
            };
            let idle = self.idle.remove(at).expect("position is in range");
            if idle.conn.is_open() && idle.deadline > now {
                return (Some(idle), stale);
            }
            stale += 1;
            self.start_closing(key, idle.id, idle.conn, dropped);
        }
    }

    /// Slots held: what `maxSockets` bounds.
    fn count(&self) -> usize {
        self.busy + self.connecting + self.idle.len() + self.closing.len()
    }

    /// Closes `conn`: it keeps its slot until its socket is closed.
    fn start_closing(&mut self, key: &OriginKey, id: ConnId, conn: C, after: &mut Aftermath<C>)
    where
        C: Connection,
    {
        let closed = conn.closed();
        self.closing.push_back(Closing {
            id,
            closed: closed.clone(),
        });
        after.closing.push((key.clone(), id, closed, conn));
    }

    /// Gives `grant` to the oldest waiter still waiting; hands it back when there is none, or when that
    /// waiter needs another kind of connection than the one offered (`role`), or a new one.
    fn give(
        &mut self,
        key: &OriginKey,
        mut grant: Grant<C>,
        role: Option<u8>,
        after: &mut Aftermath<C>,
    ) -> std::result::Result<(), Grant<C>> {
        while let Some(waiter) = self.waiters.pop_front() {
            if waiter.tell.is_closed() {
                continue;
            }
            let refused = waiter.want == Want::New && matches!(grant, Grant::Reuse { .. });
            if refused || role.is_some_and(|r| r != waiter.role) {
                self.waiters.push_front(waiter);
                return Err(grant);
            }
            match waiter.tell {
                Tell::Call(call) => {
                    after.ready.push(Ready {
                        call,
                        key: key.clone(),
                        answer: Ok(grant),
                    });
                    return Ok(());
                }
                Tell::Channel(tx) => match tx.send(Ok(grant)) {
                    Ok(()) => return Ok(()),
                    Err(Ok(back)) => grant = back,
                    Err(Err(_)) => unreachable!("only grants are sent here"),
                },
            }
        }
        Err(grant)
    }
}

/// agentkeepalive's counters, at its moments: a connection is created when the pool grants room to
/// dial it, and one whose connect fails is an error and a close, as a socket's would be. Plus reuses
/// and retries.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub created: u64,
    pub closed: u64,
    pub errors: u64,
    pub timeouts: u64,
    /// Requests whose connection went back to the pool (agentkeepalive counts a socket's 'free').
    pub requests: u64,
    pub reused: u64,
    pub retries: u64,
}

/// One origin's numbers, in undici's `PoolStats` terms plus Node's map counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginStats {
    /// Open connections (leased + idle).
    pub connected: usize,
    /// Idle connections.
    pub free: usize,
    /// Requests whose connection is being opened.
    pub pending: usize,
    /// Requests waiting in the queue.
    pub queued: usize,
    /// Requests holding a connection.
    pub running: usize,
}

/// A snapshot of the pool.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub counters: Counters,
    pub origins: Vec<(OriginKey, OriginStats)>,
}

pub struct State<C> {
    hosts: HashMap<OriginKey, Host<C>>,
    /// Slots held across all hosts: what `maxTotalSockets` bounds.
    total: usize,
    next_id: ConnId,
    next_seq: u64,
    pub counters: Counters,
    /// When the pool was last destroyed: a connection made before it closes when it comes back.
    destroyed_at: Option<Instant>,
    /// When the reaper next wakes up; an idle deadline before it must wake it.
    reaper_at: Option<Instant>,
}

impl<C> Default for State<C> {
    fn default() -> Self {
        State {
            hosts: HashMap::new(),
            total: 0,
            next_id: 1,
            next_seq: 1,
            counters: Counters::default(),
            destroyed_at: None,
            reaper_at: None,
        }
    }
}

impl<C: Connection> State<C> {
    fn new_id(&mut self) -> ConnId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    #[allow(clippy::too_many_arguments)]
    pub fn checkout(
        &mut self,
        config: &PoolConfig,
        key: &OriginKey,
        want: Want,
        role: u8,
        tell: impl FnOnce() -> Tell<C>,
        now: Instant,
        dropped: &mut Aftermath<C>,
    ) -> Result<Answer<C>> {
        let host = self.hosts.entry(key.clone()).or_default();
        let (idle, stale) = if want != Want::Any {
            (None, 0)
        } else {
            host.take_idle(key, config.scheduling, role, now, dropped)
        };
        self.counters.closed += stale as u64;
        if let Some(idle) = idle {
            host.busy += 1;
            self.counters.reused += 1;
            return Ok(Answer::Granted(Grant::Reuse {
                id: idle.id,
                conn: idle.conn,
                created: idle.created,
            }));
        }
        // Idle connections of the other face hold room this request needs: close the oldest (the
        // request takes its slot and dials once it is closed).
        if host.waiters.is_empty()
            && host.count() >= config.max_sockets
            && host.closing.is_empty()
            && !host.idle.is_empty()
        {
            let idle = host.idle.pop_front().expect("checked non-empty");
            host.start_closing(key, idle.id, idle.conn, dropped);
            self.counters.closed += 1;
        }
        if self.hosts[key].waiters.is_empty() {
            if let Some(room) = self.room_for(config, key, dropped) {
                let id = self.new_id();
                self.hosts.get_mut(key).expect("host exists").connecting += 1;
                let after = match room {
                    Room::Free => None,
                    Room::Closing(c) => Some((c.id, c.closed)),
                };
                self.counters.created += 1;
                return Ok(Answer::Granted(Grant::Connect { id, after }));
            }
        }
        let host = self.hosts.get_mut(key).expect("host exists");
        if config
            .max_queue_size
            .is_some_and(|max| host.waiters.len() >= max)
        {
            return Err(Error::new(
                Kind::QueueFull,
                format!(
                    "{} requests already wait for a connection to {key}",
                    host.waiters.len()
                ),
            ));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        host.waiters.push_back(Waiter {
            seq,
            role,
            want,
            tell: tell(),
            since: now,
        });
        if stale > 0 {
            self.dispatch_all(config, dropped);
        }
        let deadline = config.queue_timeout.map(|limit| now + limit);
        let wake = deadline.is_some_and(|d| self.reaper_at.is_none_or(|at| d < at));
        if wake {
            self.reaper_at = deadline;
        }
        Ok(Answer::Queued { seq, wake })
    }

    /// A leased connection comes back. Returns whether the reaper must wake for an earlier deadline.
    #[allow(clippy::too_many_arguments)]
    pub fn release(
        &mut self,
        config: &PoolConfig,
        key: &OriginKey,
        id: ConnId,
        conn: C,
        created: Instant,
        idle: IdleFor,
        now: Instant,
        dropped: &mut Aftermath<C>,
    ) -> bool {
        self.counters.requests += 1;
        let mut keep_for = config.idle_deadline(idle);
        // A waiter may take it unless the server (`timeout=0`) or `socketActiveTTL` said it is done; as
        // with Node's agent, even without keep-alive (the request was sent keep-alive because waiters could
        // come), and even when the buffer leaves nothing of the hint: Node hands a freed socket to a
        // queued request before it weighs the hint (`keepSocketAlive`), which only decides pooling.
        let mut usable = self.destroyed_at.is_none_or(|at| created > at)
            && conn.is_open()
            && idle.hint != Some(Duration::ZERO);
        if let Some(left) = config.ttl_left(created, now) {
            keep_for = keep_for.min(left);
            usable &= !left.is_zero();
        }
        let Some(host) = self.hosts.get_mut(key) else {
            dropped.conns.push(conn);
            return false;
        };
        host.busy -= 1;
        let conn = if usable {
            host.busy += 1;
            let role = conn.role();
            let conn = match host.give(key, Grant::Reuse { id, conn, created }, Some(role), dropped)
            {
                Ok(()) => {
                    self.counters.reused += 1;
                    return false;
                }
                Err(Grant::Reuse { conn, .. }) => conn,
                Err(Grant::Connect { .. }) => unreachable!("a reuse grant comes back as given"),
            };
            host.busy -= 1;
            // A waiter of the other face, or one that needs a new connection: this one closes for it.
            let someone_waits = !host.waiters.is_empty();
            if !someone_waits
                && config.keep_alive
                && !keep_for.is_zero()
                && host.idle.len() < config.max_free_sockets
                && !self.blocked_elsewhere(config, key)
            {
                let deadline = now + keep_for;
                let idle = Idle {
                    id,
                    park_at: conn.parks().then(|| now + super::PARK_AFTER),
                    conn,
                    created,
                    deadline,
                };
                let due = idle.due();
                self.hosts
                    .get_mut(key)
                    .expect("host exists")
                    .idle
                    .push_back(idle);
                let wake = self.reaper_at.is_none_or(|at| due < at);
                if wake {
                    self.reaper_at = Some(due);
                }
                return wake;
            }
            conn
        } else {
            conn
        };
        let host = self.hosts.get_mut(key).expect("host exists");
        host.start_closing(key, id, conn, dropped);
        self.counters.closed += 1;
        self.slot_freed(config, key, dropped);
        false
    }

    /// A leased connection ends: `conn` to close (failed or dropped), or `None` when it left the pool
    /// for good (detached), which frees its slot at once.
    pub fn close_active(
        &mut self,
        config: &PoolConfig,
        key: &OriginKey,
        id: ConnId,
        conn: Option<C>,
        error: bool,
        dropped: &mut Aftermath<C>,
    ) {
        let Some(host) = self.hosts.get_mut(key) else {
            dropped.conns.extend(conn);
            return;
        };
        host.busy -= 1;
        self.counters.closed += 1;
        if error {
            self.counters.errors += 1;
        }
        match conn {
            Some(conn) => host.start_closing(key, id, conn, dropped),
            None => self.total -= 1,
        }
        self.slot_freed(config, key, dropped);
    }

    /// Connection `id`, given to [`Aftermath::closing`], is closed: its slot is free, unless a waiter
    /// took it over already.
    pub fn closed(
        &mut self,
        config: &PoolConfig,
        key: &OriginKey,
        id: ConnId,
        dropped: &mut Aftermath<C>,
    ) {
        // Its entry may have moved to another origin's list (a waiter took it over, then left).
        let Some((owner, at)) = self.hosts.iter().find_map(|(k, h)| {
            let at = h.closing.iter().position(|c| c.id == id)?;
            Some((k.clone(), at))
        }) else {
            return;
        };
        let _ = key;
        self.hosts
            .get_mut(&owner)
            .expect("found")
            .closing
            .remove(at);
        self.total -= 1;
        self.slot_freed(config, &owner, dropped);
    }

    /// Room for one more connection to `key` under both caps, counted in the total; `None` when there is
    /// none (an idle connection may then have started closing, to make room).
    fn room_for(
        &mut self,
        config: &PoolConfig,
        key: &OriginKey,
        dropped: &mut Aftermath<C>,
    ) -> Option<Room> {
        let host = self.hosts.get_mut(key)?;
        if host.count() >= config.max_sockets {
            // Only this origin's own closing connections can make room under its cap.
            return host.closing.pop_front().map(Room::Closing);
        }
        if self.total < config.max_total_sockets {
            self.total += 1;
            return Some(Room::Free);
        }
        if let Some(c) = host.closing.pop_front() {
            return Some(Room::Closing(c));
        }
        if !self.hosts.values().any(|h| !h.closing.is_empty()) {
            self.make_room(dropped);
        }
        let elsewhere = self.hosts.values_mut().find(|h| !h.closing.is_empty());
        elsewhere
            .and_then(|h| h.closing.pop_front())
            .map(Room::Closing)
    }

    /// A reservation ended without a connection. One that took over the slot of a connection still
    /// closing (`after`) gives it back to that connection, which keeps it until it is closed: the room
    /// is not free before.
    pub fn unreserve(
        &mut self,
        config: &PoolConfig,
        key: &OriginKey,
        failed: bool,
        after: Option<(ConnId, Closed)>,
        dropped: &mut Aftermath<C>,
    ) {
        if let Some(host) = self.hosts.get_mut(key) {
            host.connecting -= 1;
            self.counters.closed += 1;
            if failed {
                self.counters.errors += 1;
            }
            // Checked under the lock: a signal firing after this finds its entry back in `closing`.
            match after.filter(|(_, closed)| !closed.is_fired()) {
                Some((id, closed)) => host.closing.push_back(Closing { id, closed }),
                None => self.total -= 1,
            }
            self.slot_freed(config, key, dropped);
        }
    }

    /// A reservation became a connection.
    pub fn filled(&mut self, key: &OriginKey) {
        if let Some(host) = self.hosts.get_mut(key) {
            host.connecting -= 1;
            host.busy += 1;
        }
    }

    /// Takes waiter `seq` out of the queue; returns it when it was still waiting.
    pub fn leave_queue(&mut self, key: &OriginKey, seq: u64) -> Option<Tell<C>> {
        let host = self.hosts.get_mut(key)?;
        let at = host.waiters.iter().position(|w| w.seq == seq);
        let waiter = at.and_then(|at| host.waiters.remove(at));
        self.gc(key);
        waiter.map(|w| w.tell)
    }

    /// An owner task saw its connection close; if it was idle, it leaves the idle list (its slot is
    /// freed once its socket is closed).
    pub fn forget(
        &mut self,
        config: &PoolConfig,
        key: &OriginKey,
        id: ConnId,
        error: bool,
        dropped: &mut Aftermath<C>,
    ) {
        let Some(host) = self.hosts.get_mut(key) else {
            return;
        };
        let Some(at) = host.idle.iter().position(|i| i.id == id) else {
            return;
        };
        let idle = host.idle.remove(at).expect("position is in range");
        host.start_closing(key, id, idle.conn, dropped);
        self.counters.closed += 1;
        if error {
            self.counters.errors += 1;
        }
        self.slot_freed(config, key, dropped);
    }

    /// Closes idle connections that expired or were found closed; returns the next deadline.
    pub fn expire(
        &mut self,
        config: &PoolConfig,
        now: Instant,
        dropped: &mut Aftermath<C>,
    ) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut closed = false;
        for (key, host) in self.hosts.iter_mut() {
            let idle = std::mem::take(&mut host.idle);
            for idle in idle {
                if idle.deadline <= now || !idle.conn.is_open() {
                    if idle.deadline <= now {
                        self.counters.timeouts += 1;
                        idle.conn.expire();
                    }
                    self.counters.closed += 1;
                    host.start_closing(key, idle.id, idle.conn, dropped);
                    closed = true;
                } else {
                    let mut idle = idle;
                    if idle.park_at.is_some_and(|at| at <= now) {
                        idle.conn.park();
                        idle.park_at = None;
                        dropped.parked += 1;
                    }
                    let due = idle.due();
                    next = Some(next.map_or(due, |n| n.min(due)));
                    host.idle.push_back(idle);
                }
            }
        }
        if let Some(limit) = config.queue_timeout {
            let waited = self.time_out_waiters(limit, now, dropped);
            next = [next, waited].into_iter().flatten().min();
        }
        self.reaper_at = next;
        if closed {
            self.dispatch_all(config, dropped);
        }
        next
    }

    /// Fails the waiters that have waited `limit` (`ERR_POOL_TIMEOUT`); returns when the next one will
    /// have. Each queue is in the order of arrival, so only its front is due first.
    fn time_out_waiters(
        &mut self,
        limit: Duration,
        now: Instant,
        dropped: &mut Aftermath<C>,
    ) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut emptied = Vec::new();
        for (key, host) in self.hosts.iter_mut() {
            let before = host.waiters.len();
            while let Some(waiter) = host.waiters.front() {
                let deadline = waiter.since + limit;
                if deadline > now {
                    next = Some(next.map_or(deadline, |n| n.min(deadline)));
                    break;
                }
                let waiter = host.waiters.pop_front().expect("front exists");
                let error = queue_timeout(limit, key);
                match waiter.tell {
                    Tell::Channel(tx) => {
                        let _ = tx.send(Err(error));
                    }
                    Tell::Call(call) => dropped.ready.push(Ready {
                        call,
                        key: key.clone(),
                        answer: Err(error),
                    }),
                }
            }
            if host.waiters.len() < before {
                emptied.push(key.clone());
            }
        }
        for key in emptied {
            self.gc(&key);
        }
        next
    }

    pub fn destroy(&mut self, now: Instant, dropped: &mut Aftermath<C>) {
        self.destroyed_at = Some(now);
        for (key, host) in self.hosts.iter_mut() {
            self.counters.closed += host.idle.len() as u64;
            for idle in std::mem::take(&mut host.idle) {
                host.start_closing(key, idle.id, idle.conn, dropped);
            }
            for waiter in host.waiters.drain(..) {
                match waiter.tell {
                    Tell::Channel(tx) => {
                        let _ = tx.send(Err(Error::destroyed()));
                    }
                    Tell::Call(call) => dropped.ready.push(Ready {
                        call,
                        key: key.clone(),
                        answer: Err(Error::destroyed()),
                    }),
                }
            }
        }
        self.hosts.retain(|_, h| h.count() > 0);
    }

    /// The counters, and each origin with anything to show: one whose connections are all closing (an
    /// fd-carried one closes once JS's socket has) is left out, as it is once they have.
    pub fn status(&self) -> Status {
        let mut origins: Vec<(OriginKey, OriginStats)> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.count() > h.closing.len() || !h.waiters.is_empty())
            .map(|(key, h)| {
                let stats = OriginStats {
                    connected: h.busy + h.idle.len(),
                    free: h.idle.len(),
                    pending: h.connecting,
                    queued: h.waiters.len(),
                    running: h.busy,
                };
                (key.clone(), stats)
            })
            .collect();
        origins.sort_by_key(|(key, _)| key.to_string());
        Status {
            counters: self.counters,
            origins,
        }
    }

    /// Room freed in `key`: its waiters first, then (under `maxTotalSockets`) other origins' waiters.
    fn slot_freed(&mut self, config: &PoolConfig, key: &OriginKey, dropped: &mut Aftermath<C>) {
        self.dispatch(config, key, dropped);
        if config.max_total_sockets != usize::MAX {
            self.dispatch_all(config, dropped);
        }
        self.gc(key);
    }

    /// Grants room to `key`'s waiters while its cap and the total cap allow.
    fn dispatch(&mut self, config: &PoolConfig, key: &OriginKey, dropped: &mut Aftermath<C>) {
        loop {
            let Some(host) = self.hosts.get_mut(key) else {
                return;
            };
            host.waiters.retain(|w| !w.tell.is_closed());
            if host.waiters.is_empty() {
                return;
            }
            let Some(room) = self.room_for(config, key, dropped) else {
                return;
            };
            let id = self.new_id();
            let after = match &room {
                Room::Free => None,
                Room::Closing(c) => Some((c.id, c.closed.clone())),
            };
            let host = self.hosts.get_mut(key).expect("host exists");
            host.connecting += 1;
            self.counters.created += 1;
            if host
                .give(key, Grant::Connect { id, after }, None, dropped)
                .is_err()
            {
                self.counters.created -= 1;
                // Every waiter left meanwhile: the room goes back.
                host.connecting -= 1;
                match room {
                    Room::Free => self.total -= 1,
                    Room::Closing(c) => host.closing.push_front(c),
                }
                return;
            }
        }
    }

    /// Serves waiters of every origin, oldest first (also when the limits changed).
    pub fn dispatch_all(&mut self, config: &PoolConfig, dropped: &mut Aftermath<C>) {
        let waiting: BTreeMap<u64, OriginKey> = self
            .hosts
            .iter()
            .filter_map(|(key, h)| h.waiters.front().map(|w| (w.seq, key.clone())))
            .collect();
        for key in waiting.values() {
            self.dispatch(config, key, dropped);
        }
    }

    /// Whether another origin has waiters that only the total cap holds back.
    fn blocked_elsewhere(&self, config: &PoolConfig, key: &OriginKey) -> bool {
        config.max_total_sockets != usize::MAX
            && self.total >= config.max_total_sockets
            && self
                .hosts
                .iter()
                .any(|(k, h)| k != key && !h.waiters.is_empty() && h.count() < config.max_sockets)
    }

    /// Starts closing the oldest idle connection to make room under the total cap: another origin's, or
    /// one of this origin's that the request cannot use (the other face's, or any for a retry).
    fn make_room(&mut self, dropped: &mut Aftermath<C>) {
        let victim = self
            .hosts
            .iter_mut()
            .filter(|(_, h)| !h.idle.is_empty())
            .min_by_key(|(_, h)| h.idle.front().map(|i| i.deadline));
        let Some((victim, host)) = victim else {
            return;
        };
        let idle = host.idle.pop_front().expect("filtered on non-empty");
        host.start_closing(victim, idle.id, idle.conn, dropped);
        self.counters.closed += 1;
    }

    /// Forgets a host that holds nothing, so that one-off origins do not accumulate.
    fn gc(&mut self, key: &OriginKey) {
        if self
            .hosts
            .get(key)
            .is_some_and(|h| h.count() == 0 && h.waiters.is_empty())
        {
            self.hosts.remove(key);
        }
    }
}

/// A waiter's failure after `limit` in the queue of `key`.
pub fn queue_timeout(limit: Duration, key: &OriginKey) -> Error {
    Error::new(
        Kind::QueueTimeout,
        format!("waited {limit:?} in the queue of {key} for a connection"),
    )
}
