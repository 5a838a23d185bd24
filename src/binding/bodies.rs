//! Response bodies of the Promise face that JS is still reading, by stream id.
//!
//! A body holds its connection until it ends. When JS gives up on one (the stream is destroyed, its
//! signal aborts, the agent is destroyed), a read may be waiting on a server that sends nothing more:
//! cancelling wakes that read, so the body, and with it the connection's slot, is dropped at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::faces::client::{BodyStream, EndHold};

struct OpenBody {
    body: tokio::sync::Mutex<BodyStream>,
    cancelled: AtomicBool,
    cancel: Notify,
}

impl OpenBody {
    async fn cancelled(&self) {
        let notified = self.cancel.notified();
        tokio::pin!(notified);
        // Registered before the flag is read, so a cancel in between is not missed.
        notified.as_mut().enable();
        if !self.cancelled.load(Ordering::SeqCst) {
            notified.await;
        }
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.cancel.notify_waiters();
    }
}

/// What a read of a body gives.
pub enum Chunk {
    Data(Bytes),
    /// The body ended, with these trailers (names and values, `\n`-separated), if any, and the hold on
    /// its connection's end, to drop once JS has been told.
    End(Option<String>, Option<EndHold>),
}

#[derive(Default)]
pub struct Bodies {
    open: Mutex<HashMap<u32, Arc<OpenBody>>>,
    next_id: AtomicU32,
}

impl Bodies {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Arc<OpenBody>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `body` for JS to read; returns its id.
    pub fn insert(&self, body: BodyStream) -> u32 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = OpenBody {
            body: tokio::sync::Mutex::new(body),
            cancelled: AtomicBool::new(false),
            cancel: Notify::new(),
        };
        self.open().insert(id, Arc::new(body));
        id
    }

    /// The next chunk of body `id`, or its end with the trailers. A body that is gone (cancelled, or the
    /// agent destroyed) is an error, never an early end: JS stops asking once a body ended.
    pub async fn read(&self, id: u32, gone: impl FnOnce() -> Error) -> Result<Chunk> {
        let Some(open) = self.open().get(&id).cloned() else {
            return Err(gone());
        };
        let chunk = tokio::select! {
            biased;
            _ = open.cancelled() => Err(gone()),
            chunk = async {
                let mut body = open.body.lock().await;
                Ok(match body.next_chunk().await? {
                    Some(bytes) => Chunk::Data(bytes),
                    None => Chunk::End(body.trailers(), body.take_hold()),
                })
            } => chunk,
        };
        if !matches!(chunk, Ok(Chunk::Data(_))) {
            self.open().remove(&id);
        }
        chunk
    }

    /// Abandons body `id`: its connection is closed rather than reused.
    pub fn cancel(&self, id: u32) {
        if let Some(open) = self.open().remove(&id) {
            open.cancel();
        }
    }

    /// Abandons every body.
    pub fn cancel_all(&self) {
        for (_, open) in self.open().drain() {
            open.cancel();
        }
    }
}
