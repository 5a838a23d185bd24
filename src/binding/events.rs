//! Events from Rust tasks to JavaScript, batched: socket-face events and Promise-face completions.
//!
//! Tasks push events onto one queue per agent; the first push into an empty queue schedules one call into
//! JS, which drains everything queued by then. So a burst of events costs one crossing, and their order is
//! kept. The call is made through a weak thread-safe function: by itself it does not keep the process
//! alive; `set_busy` refs it while the JS side has requests in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Buffer, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;

use crate::error::Error;
use crate::faces::transport::{EventSink, SocketEvent};

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
}

/// A response head with its first bytes, ready for JS.
pub struct Answer {
    pub status: u16,
    pub status_text: String,
    pub headers: String,
    pub reused: bool,
    pub body: Vec<u8>,
    pub stream: Option<u32>,
}

/// One event as JS reads it; `kind` says which fields are set.
#[napi(object)]
pub struct JsSocketEvent {
    /// 1 connected, 2 data, 3 end, 4 drain, 5 closed, 6 granted, 7 refused, 8 answered, 9 failed.
    pub kind: u32,
    /// Connection id (socket events) or request id (answered, failed).
    pub id: f64,
    /// Queue ticket (granted, refused) or body stream id (answered).
    pub ticket: Option<f64>,
    /// Data, the peer certificate (connected), or the body (answered).
    pub data: Option<Buffer>,
    /// An error as `code\u{1}message` (closed, refused, failed), `|`-separated connection info
    /// (connected), or the headers (answered).
    pub text: Option<String>,
    /// Reused (granted, answered).
    pub flag: Option<bool>,
    /// Status code and reason (answered).
    pub status: Option<u32>,
    pub status_text: Option<String>,
}

type Tsfn = ThreadsafeFunction<(), (), Vec<JsSocketEvent>, Status, false, true>;

pub struct EventQueue {
    pending: Mutex<Vec<Event>>,
    scheduled: AtomicBool,
    tsfn: Mutex<Option<Arc<Tsfn>>>,
}

impl EventQueue {
    pub fn new(callback: Function<'_, Vec<JsSocketEvent>, ()>) -> napi::Result<Arc<Self>> {
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
                let Some(queue) = weak.upgrade() else {
                    return Ok(Vec::new());
                };
                queue.scheduled.store(false, Ordering::SeqCst);
                let events =
                    std::mem::take(&mut *queue.pending.lock().unwrap_or_else(|e| e.into_inner()));
                Ok(events.into_iter().map(to_js).collect())
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

fn coded(e: &crate::error::Error) -> String {
    format!("{}\u{1}{}", e.code(), e.message())
}

fn to_js(event: Event) -> JsSocketEvent {
    let mut js = JsSocketEvent {
        kind: 0,
        id: 0.0,
        ticket: None,
        data: None,
        text: None,
        flag: None,
        status: None,
        status_text: None,
    };
    let event = match event {
        Event::Socket(event) => event,
        Event::Answered { id, head } => {
            js.kind = 8;
            js.id = id as f64;
            js.status = Some(head.status as u32);
            js.status_text = Some(head.status_text);
            js.text = Some(head.headers);
            js.flag = Some(head.reused);
            js.data = Some(Buffer::from(head.body));
            js.ticket = head.stream.map(|s| s as f64);
            return js;
        }
        Event::Failed { id, error } => {
            js.kind = 9;
            js.id = id as f64;
            js.text = Some(coded(&error));
            return js;
        }
    };
    match event {
        SocketEvent::Connected { id, info } => {
            js.kind = 1;
            js.id = id as f64;
            let addr = |a: Option<std::net::SocketAddr>| match a {
                Some(a) => format!(
                    "{}|{}|{}",
                    a.ip(),
                    a.port(),
                    if a.is_ipv4() { "IPv4" } else { "IPv6" }
                ),
                None => "||".to_string(),
            };
            js.text = Some(format!(
                "{}|{}|{}",
                addr(info.remote),
                addr(info.local),
                info.alpn.unwrap_or_default()
            ));
            js.data = info.peer_certificate.map(Buffer::from);
        }
        SocketEvent::Data { id, bytes } => {
            js.kind = 2;
            js.id = id as f64;
            js.data = Some(Buffer::from(Vec::from(bytes)));
        }
        SocketEvent::End { id } => {
            js.kind = 3;
            js.id = id as f64;
        }
        SocketEvent::Drain { id } => {
            js.kind = 4;
            js.id = id as f64;
        }
        SocketEvent::Closed { id, error } => {
            js.kind = 5;
            js.id = id as f64;
            js.text = error.as_ref().map(coded);
        }
        SocketEvent::Granted { ticket, id, reused } => {
            js.kind = 6;
            js.id = id as f64;
            js.ticket = Some(ticket as f64);
            js.flag = Some(reused);
        }
        SocketEvent::Refused { ticket, error } => {
            js.kind = 7;
            js.ticket = Some(ticket as f64);
            js.text = Some(coded(&error));
        }
    }
    js
}
