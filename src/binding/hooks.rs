//! The caller's connect functions (`lookup`, `checkServerIdentity`), called in JavaScript while Rust
//! connects.
//!
//! Rust asks through a thread-safe function (one call per new connection that needs one, never per
//! request) and waits for the answer, which JS gives back with `answerLookup` / `answerOk` /
//! `answerError` under the same ticket. Functions are named by ids the JS side gave them (see
//! `lib/connect.js`). An error from the caller's function stays in JS (`lib/held.js`); Rust carries
//! only its token, so the request fails with the very Error the function gave, as with Node.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Buffer, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use tokio::sync::oneshot;

use crate::connect::resolve::{Answer, Hooks};
use crate::error::{Error, Kind, Result};

/// One question for JS: `kind` 1 is a lookup, 2 a checkServerIdentity.
#[napi(object)]
pub struct JsAsk {
    pub kind: u32,
    pub ticket: u32,
    /// The function's id.
    pub func: u32,
    pub host: String,
    pub family: u32,
    pub hints: i32,
    /// The peer's certificate chain in DER, leaf first (checkServerIdentity).
    pub certs: Vec<Buffer>,
}

const LOOKUP: u32 = 1;
const CHECK_SERVER_IDENTITY: u32 = 2;

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
        }))
    }

    fn ask(&self, mut ask: JsAsk) -> Answer<Reply> {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
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
        self.answer(
            ticket,
            Err(Error::new(Kind::Callback, format!("#{token} {message}"))),
        );
    }
}

impl Hooks for JsHooks {
    fn lookup(&self, func: u32, host: &str, family: u8, hints: i32) -> Answer<Vec<IpAddr>> {
        let reply = self.ask(JsAsk {
            kind: LOOKUP,
            ticket: 0,
            func,
            host: host.to_string(),
            family: family.into(),
            hints,
            certs: Vec::new(),
        });
        Box::pin(async move {
            match reply.await? {
                Reply::Addresses(ips) => Ok(ips),
                Reply::Done => Ok(Vec::new()),
            }
        })
    }

    fn check_server_identity(&self, func: u32, host: &str, chain: Vec<Vec<u8>>) -> Answer<()> {
        let reply = self.ask(JsAsk {
            kind: CHECK_SERVER_IDENTITY,
            ticket: 0,
            func,
            host: host.to_string(),
            family: 0,
            hints: 0,
            certs: chain.into_iter().map(Buffer::from).collect(),
        });
        Box::pin(async move { reply.await.map(|_| ()) })
    }
}
