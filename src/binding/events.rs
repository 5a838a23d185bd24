//! Events from Rust tasks to JavaScript, batched: socket-face events and Promise-face completions.
//!
//! Tasks push events onto one queue per agent; the first push into an empty queue schedules one call into
//! JS, which drains everything queued by then. So a burst of events costs one crossing, and their order is
//! kept. The call is made through a weak thread-safe function: by itself it does not keep the process
//! alive; `set_busy` refs it while the JS side has requests in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Buffer, Float64Array, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;

use crate::error::Error;
use crate::faces::client::{ConnectStage, Ended};
use crate::faces::transport::{ConnInfo, EventSink, SocketEvent};
use crate::pool::ConnId;

/// What the queue carries.
pub enum Event {
    Socket(SocketEvent),
    /// Promise-face request `id` answered: head, first (or whole) body, and the stream id of the rest.
    Answered {
        id: u32,
        head: Answer,
    },
    /// Promise-face request `id` failed.
    Failed {
        id: u32,
        error: Error,
    },
    /// A connection opened for Promise-face request `id` got on (only while JS watches connects).
    Connect {
        id: u32,
        stage: ConnectStage,
    },
    /// Request `id` received an informational (1xx) head: its reason and headers, `\n`-separated.
    Informational {
        id: u32,
        status: u16,
        head: String,
    },
    /// A connection the Promise face's hyper client opened ended (only while JS watches connects), with
    /// the error of the request it failed under, if it did.
    Ended {
        conn: ConnId,
        ended: Ended,
        failure: Option<Error>,
    },
}

/// A response head with its first bytes, ready for JS.
pub struct Answer {
    pub status: u16,
    pub status_text: String,
    pub headers: String,
    pub reused: bool,
    pub body: Vec<u8>,
    /// When the whole body came with the head and ended with trailers.
    pub trailers: Option<String>,
    pub stream: Option<u32>,
}

/// A batch of events as JS reads it (`lib/events.js` decodes it): `meta` holds [`STRIDE`] numbers per
/// event, `bytes` every event's text and small data back to back, `large` the data too big to share.
///
/// Columns rather than one object per event: creating an object and setting its properties through
/// N-API costs more than the rest of a small request, and one Buffer per small body costs a finalizer.
#[napi(object)]
pub struct JsBatch {
    pub meta: Float64Array,
    pub bytes: Buffer,
    pub large: Vec<Buffer>,
}

/// Numbers per event in [`JsBatch::meta`]: kind, id, ticket, number, text start, text end, data start,
/// data end. Kinds: 1 connected, 2 data, 3 end, 4 drain, 5 closed, 6 granted, 7 refused, 8 answered,
/// 9 failed, 10 connect (a connection opened for a request: `number` 0 started, 1 connected, 2
/// failed), 11 informational (a 1xx head: `number` its status, text its reason and headers), 12 ended
/// (a connection of the hyper client: `number` 0 by the server, 1 let go by the pool, 2 failed, 3 by
/// its response, 4 given up in use; text: the error of the request it failed under, if any).
/// `id` is
/// the connection id (socket events, ended) or the request id (answered, failed, connect, informational);
/// `ticket` the queue ticket (granted, refused), the body stream id (answered), the handed-over fd
/// (connected) or the connection id (connect 1), -1 for none; `number` the status code (answered) plus 1000 when the connection was
/// reused (answered, granted). Text is UTF-8 in `bytes`: an error as `code\u{1}message`, `|`-separated
/// connection info (connected, connect 1), or the status
/// text and headers, `\n`-separated, then NUL and the trailers the same way if the body came whole
/// with some (answered). Data is in `bytes` when `start >= 0`; start -1 means
/// none, and a start below that is `large[-start - 2]`.
pub const STRIDE: usize = EVENT_STRIDE as usize;

/// [`STRIDE`] as JS sees it: `lib/batch.js` checks it, so a binary built from other sources than the JS
/// beside it fails at load with a clear message instead of misreading events.
#[napi]
pub const EVENT_STRIDE: u32 = 8;

/// The replay rule's methods and headers (see `faces::client`), for the socket face in `lib/socket.js`.
#[napi]
#[cfg_attr(
    test,
    expect(dead_code, reason = "read by JS; napi registers it outside tests")
)]
pub const REPLAYABLE_METHODS: &str = crate::faces::client::REPLAYABLE_METHODS;
#[napi]
#[cfg_attr(
    test,
    expect(dead_code, reason = "read by JS; napi registers it outside tests")
)]
pub const IDEMPOTENCY_KEY_HEADERS: &str = crate::faces::client::IDEMPOTENCY_KEY_HEADERS;
/// A response body of a known length up to this comes with its head (see `faces::client`); the
/// Promise face's exchanges on the JS thread (`lib/exchange.js`) follow the same rule.
#[napi]
#[cfg_attr(
    test,
    expect(dead_code, reason = "read by JS; napi registers it outside tests")
)]
pub const SMALL_BODY: u32 = crate::faces::client::SMALL_BODY as u32;
/// The largest response head the Promise face accepts, for the exchanges' parser too.
#[napi]
#[cfg_attr(
    test,
    expect(dead_code, reason = "read by JS; napi registers it outside tests")
)]
pub const MAX_HEAD: u32 = crate::faces::client::MAX_HEAD as u32;

/// Data larger than this gets a Buffer of its own, so that a small slice kept by JS does not keep a
/// whole batch alive.
const SHARED_DATA_MAX: usize = 4 * 1024;

#[derive(Default)]
struct BatchBuilder {
    meta: Vec<f64>,
    bytes: Vec<u8>,
    large: Vec<Buffer>,
}

impl BatchBuilder {
    fn event(&mut self, kind: u32, id: u64, ticket: Option<u64>, number: u32) -> &mut Self {
        self.meta.extend_from_slice(&[
            kind as f64,
            id as f64,
            ticket.map_or(-1.0, |t| t as f64),
            number as f64,
            0.0,
            0.0,
            -1.0,
            0.0,
        ]);
        self
    }

    fn text(&mut self, text: &str) -> &mut Self {
        let at = self.meta.len() - STRIDE;
        self.meta[at + 4] = self.bytes.len() as f64;
        self.bytes.extend_from_slice(text.as_bytes());
        self.meta[at + 5] = self.bytes.len() as f64;
        self
    }

    fn data(&mut self, data: impl AsRef<[u8]> + Into<Vec<u8>>) -> &mut Self {
        let at = self.meta.len() - STRIDE;
        if data.as_ref().len() > SHARED_DATA_MAX {
            // Moved, not copied: a Vec (or a uniquely held Bytes) becomes the Buffer's memory.
            self.large.push(Buffer::from(data.into()));
            self.meta[at + 6] = -(self.large.len() as f64) - 1.0;
        } else {
            self.meta[at + 6] = self.bytes.len() as f64;
            self.bytes.extend_from_slice(data.as_ref());
            self.meta[at + 7] = self.bytes.len() as f64;
        }
        self
    }

    fn add(&mut self, event: Event) {
        let event = match event {
            Event::Socket(event) => event,
            Event::Answered { id, head } => {
                let number = head.status as u32 + if head.reused { 1000 } else { 0 };
                self.event(8, id.into(), head.stream.map(u64::from), number);
                let at = self.meta.len() - STRIDE;
                self.meta[at + 4] = self.bytes.len() as f64;
                self.bytes.extend_from_slice(head.status_text.as_bytes());
                if !head.headers.is_empty() {
                    self.bytes.push(b'\n');
                    self.bytes.extend_from_slice(head.headers.as_bytes());
                }
                if let Some(trailers) = head.trailers {
                    self.bytes.push(0);
                    self.bytes.extend_from_slice(trailers.as_bytes());
                }
                self.meta[at + 5] = self.bytes.len() as f64;
                self.data(head.body);
                return;
            }
            Event::Failed { id, error } => {
                self.event(9, id.into(), None, 0)
                    .text(&super::coded(&error));
                return;
            }
            Event::Connect { id, stage } => {
                match stage {
                    ConnectStage::Started => self.event(10, id.into(), None, 0),
                    ConnectStage::Connected(info, conn) => self
                        .event(10, id.into(), Some(conn), 1)
                        .text(&connection_text(&info)),
                    ConnectStage::Failed(error) => self
                        .event(10, id.into(), None, 2)
                        .text(&super::coded(&error)),
                };
                return;
            }
            Event::Informational { id, status, head } => {
                self.event(11, id.into(), None, status.into()).text(&head);
                return;
            }
            Event::Ended {
                conn,
                ended,
                failure,
            } => {
                let how = match ended {
                    Ended::Peer => 0,
                    Ended::Dropped => 1,
                    Ended::Failed => 2,
                    Ended::Reset => 3,
                    Ended::Aborted => 4,
                };
                let event = self.event(12, conn, None, how);
                if let Some(error) = failure {
                    event.text(&super::coded(&error));
                }
                return;
            }
        };
        match event {
            SocketEvent::Connected { id, info, fd } => {
                // The fd carrier's fd rides in the ticket column (-1: none).
                self.event(1, id, fd.map(|fd| fd as u64), 0)
                    .text(&connection_text(&info));
                // The server's chain, its DER certificates one after the other (each says its length).
                if !info.peer_chain.is_empty() {
                    self.data(info.peer_chain.concat());
                }
            }
            SocketEvent::Data { id, bytes, ahead } => {
                ahead.taken(bytes.len());
                self.event(2, id, None, 0).data(bytes);
            }
            SocketEvent::End { id } => {
                self.event(3, id, None, 0);
            }
            SocketEvent::Drain { id } => {
                self.event(4, id, None, 0);
            }
            SocketEvent::Closed { id, error } => {
                let event = self.event(5, id, None, 0);
                if let Some(error) = error {
                    event.text(&super::coded(&error));
                }
            }
            SocketEvent::Granted { ticket } => {
                self.event(6, 0, Some(ticket), 0);
            }
            SocketEvent::Refused { ticket, error } => {
                self.event(7, 0, Some(ticket), 0)
                    .text(&super::coded(&error));
            }
        }
    }

    fn finish(self) -> JsBatch {
        JsBatch {
            meta: Float64Array::new(self.meta),
            bytes: Buffer::from(self.bytes),
            large: self.large,
        }
    }
}

type Tsfn = ThreadsafeFunction<(), (), JsBatch, Status, false, true>;

pub struct EventQueue {
    pending: Mutex<Vec<Event>>,
    scheduled: AtomicBool,
    tsfn: Mutex<Option<Arc<Tsfn>>>,
}

impl EventQueue {
    pub fn new(callback: Function<'_, JsBatch, ()>) -> napi::Result<Arc<Self>> {
        let queue = Arc::new(EventQueue {
            pending: Mutex::new(Vec::new()),
            scheduled: AtomicBool::new(false),
            tsfn: Mutex::new(None),
        });
        let weak = Arc::downgrade(&queue);
        let tsfn = callback
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(move |_ctx| {
                let mut batch = BatchBuilder::default();
                if let Some(queue) = weak.upgrade() {
                    queue.scheduled.store(false, Ordering::SeqCst);
                    let events = std::mem::take(
                        &mut *queue.pending.lock().unwrap_or_else(|e| e.into_inner()),
                    );
                    batch.meta.reserve(events.len() * STRIDE);
                    for event in events {
                        batch.add(event);
                    }
                }
                Ok(batch.finish())
            })?;
        *queue.tsfn.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(tsfn));
        Ok(queue)
    }

    /// Keeps the process alive (or not) while the socket face has work in flight.
    pub fn set_busy(&self, env: &Env, busy: bool) {
        let tsfn = self.tsfn.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(tsfn) = tsfn {
            // SAFETY: called on the JS thread with its env; the function is alive while `tsfn` is.
            unsafe {
                if busy {
                    napi::sys::napi_ref_threadsafe_function(env.raw(), tsfn.raw());
                } else {
                    napi::sys::napi_unref_threadsafe_function(env.raw(), tsfn.raw());
                }
            }
        }
    }
}

impl EventSink for EventQueue {
    fn emit(&self, event: SocketEvent) {
        self.push(Event::Socket(event));
    }
}

impl EventQueue {
    pub fn push(&self, event: Event) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event);
        if !self.scheduled.swap(true, Ordering::SeqCst) {
            let tsfn = self.tsfn.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(tsfn) = tsfn {
                tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
            }
        }
    }
}

/// Where a connection leads, for JS: remote address, port and family, the same locally, the ALPN
/// protocol, then for TLS the protocol version, cipher suite, key exchange group, `1` for a resumed
/// session, what the server stapled when `requestOCSP` asked, how the chain was judged on a route that
/// accepts any certificate and the handshake's key log lines (each ending in a newline), `|`-separated
/// (empty fields where unknown).
fn connection_text(info: &ConnInfo) -> String {
    let addr = |a: Option<std::net::SocketAddr>| match a {
        Some(a) => format!(
            "{}|{}|{}",
            a.ip(),
            a.port(),
            if a.is_ipv4() { "IPv4" } else { "IPv6" }
        ),
        None => "||".to_string(),
    };
    let tls = match info.tls {
        Some(t) => format!(
            "{}|{}|{}|{}",
            t.protocol,
            t.suite,
            t.group.unwrap_or_default(),
            if t.resumed { "1" } else { "" }
        ),
        None => "|||".to_string(),
    };
    // `requestOCSP`'s answer: nothing when not asked, `-` when the server stapled nothing, else hex.
    let stapled = match &info.stapled {
        None => String::new(),
        Some(None) => "-".to_string(),
        Some(Some(response)) => response.iter().map(|b| format!("{b:02x}")).collect(),
    };
    // How the chain was judged where the route accepts any: `OK`, or the code Node gives its fault.
    let chain = match &info.chain {
        None => "",
        Some(Ok(())) => "OK",
        Some(Err(code)) => code,
    };
    format!(
        "{}|{}|{}|{}|{}|{}|{}",
        addr(info.remote),
        addr(info.local),
        info.alpn.as_deref().unwrap_or_default(),
        tls,
        stapled,
        chain,
        String::from_utf8_lossy(&info.key_log.concat())
    )
}
