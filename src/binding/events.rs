//! Socket-face events from Rust tasks to JavaScript, batched.
//!
//! Tasks push events onto one queue per agent; the first push into an empty queue schedules one call into
//! JS, which drains everything queued by then. So a burst of events costs one crossing, and their order is
//! kept. The call is made through a weak thread-safe function: by itself it does not keep the process
//! alive; `set_busy` refs it while the JS side has requests in flight on this face.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Buffer, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;

use crate::faces::transport::{EventSink, SocketEvent};

/// One event as JS reads it; `kind` says which fields are set.
#[napi(object)]
pub struct JsSocketEvent {
    /// 1 connected, 2 data, 3 end, 4 drain, 5 closed, 6 granted, 7 refused.
    pub kind: u32,
    /// Connection id.
    pub id: f64,
    /// Queue ticket (granted, refused).
    pub ticket: Option<f64>,
    /// Data, or the peer certificate (connected).
    pub data: Option<Buffer>,
    /// An error as `code\u{1}message` (closed, refused), or `|`-separated connection info (connected).
    pub text: Option<String>,
    /// Reused (granted).
    pub flag: Option<bool>,
}

type Tsfn = ThreadsafeFunction<(), (), Vec<JsSocketEvent>, Status, false, true>;

pub struct EventQueue {
    pending: Mutex<Vec<SocketEvent>>,
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

fn to_js(event: SocketEvent) -> JsSocketEvent {
    let mut js = JsSocketEvent {
        kind: 0,
        id: 0.0,
        ticket: None,
        data: None,
        text: None,
        flag: None,
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
