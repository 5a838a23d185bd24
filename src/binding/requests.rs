//! Running a Promise-face request for JS: its checkout, its wait in the pool's queue, its task, its abort,
//! and the event that settles it.
//!
//! A request that has to wait for a connection is nothing but a callback in the pool's queue (no task,
//! no future): that keeps 10,000 queued requests small. The checkout happens on the calling (JS) thread;
//! the request's task starts when it has a connection or room for one.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::bodies::Bodies;
use super::events::{Answer, Event, EventQueue};
use super::unwind::CatchUnwind;
use super::{locked, runtime};
use crate::error::{Error, Result};
use crate::faces::client::{Client, RequestSpec};
use crate::faces::Conn;
use crate::origin::OriginKey;
use crate::pool::{Grant, Turn, Want};

/// How an abortable request is stopped: its running task is told, or, while it waits in the pool's
/// queue (`queued`: where), it leaves the queue.
pub struct Abort {
    tx: oneshot::Sender<()>,
    queued: Option<(OriginKey, u64)>,
}

pub type Aborts = Arc<Mutex<HashMap<u32, Abort>>>;

/// What request `id` needs to run and to report, apart from its spec.
pub struct Runner {
    pub client: Arc<Client>,
    pub bodies: Arc<Bodies>,
    pub aborts: Aborts,
    pub events: Arc<EventQueue>,
    pub id: u32,
}

impl Runner {
    /// Starts request `id`; with `abortable`, [`abort`] can stop it.
    pub fn start(self, spec: Box<RequestSpec>, abortable: bool) {
        let aborted = abortable.then(|| {
            let (tx, rx) = oneshot::channel();
            locked(&self.aborts).insert(self.id, Abort { tx, queued: None });
            rx
        });
        // On the calling thread: a request that has to wait never becomes a task. The checkout may
        // grant other waiters, whose callbacks spawn: inside the runtime.
        let _guard = runtime().enter();
        self.checkout(spec, aborted);
    }

    fn checkout(self, spec: Box<RequestSpec>, aborted: Option<oneshot::Receiver<()>>) {
        let key = match Client::key(&spec) {
            Ok(key) => key,
            Err(error) => return self.settle(Err(error), aborted.is_some()),
        };
        let (pool, aborts, id) = (self.client.pool().clone(), self.aborts.clone(), self.id);
        let mut request = Some((self, spec, aborted));
        let turn = pool.checkout_or_queue(&key, Conn::HTTP, Want::Any, || {
            let (runner, spec, aborted) = request.take().expect("queued once");
            Box::new(move |answer: Result<Grant<Conn>>| runner.granted(spec, aborted, answer))
        });
        let Some((runner, spec, aborted)) = request else {
            // Queued: an abort from now on takes it out of the queue.
            if let (Ok(Turn::Queued(seq)), Some(abort)) = (turn, locked(&aborts).get_mut(&id)) {
                abort.queued = Some((key, seq));
            }
            return;
        };
        match turn {
            Ok(Turn::Now(grant)) => runner.granted(spec, aborted, Ok(grant)),
            Ok(Turn::Queued(_)) => unreachable!("a queued request is its callback"),
            Err(error) => runner.settle(Err(error), aborted.is_some()),
        }
    }

    /// It got a connection or room for one, at once or when its turn in the queue came (on whichever
    /// thread freed the room): a task runs it.
    fn granted(
        self,
        spec: Box<RequestSpec>,
        aborted: Option<oneshot::Receiver<()>>,
        answer: Result<Grant<Conn>>,
    ) {
        match answer {
            Ok(grant) => {
                let (events, id) = (self.events.clone(), self.id);
                spawn(events, id, self.run(spec, grant, aborted));
            }
            Err(error) => self.settle(Err(error), aborted.is_some()),
        }
    }

    async fn run(
        self,
        spec: Box<RequestSpec>,
        grant: Grant<Conn>,
        aborted: Option<oneshot::Receiver<()>>,
    ) {
        let abortable = aborted.is_some();
        // The two sends are exclusive, so they share room in this task's state.
        let result = match aborted {
            None => self.client.send(spec, grant).await,
            Some(rx) => tokio::select! {
                r = self.client.send(spec, grant) => r,
                _ = rx => Err(Error::aborted()),
            },
        };
        let bodies = &self.bodies;
        let mut hold = None;
        let answer = result.map(|parts| {
            hold = parts.hold;
            let stream = parts.rest.map(|rest| bodies.insert(rest));
            Answer {
                status: parts.status,
                status_text: parts.status_text,
                headers: parts.headers,
                reused: parts.reused,
                body: Vec::from(parts.body),
                trailers: parts.trailers,
                stream,
            }
        });
        self.settle(answer, abortable);
        // Its connection's end is told after its answer, in the same queue (see `EndHold`).
        drop(hold);
    }

    /// Reports the request's end; an `abortable` one can no longer be aborted.
    fn settle(self, result: Result<Answer>, abortable: bool) {
        if abortable {
            locked(&self.aborts).remove(&self.id);
        }
        let id = self.id;
        self.events.push(match result {
            Ok(head) => Event::Answered { id, head },
            Err(error) => Event::Failed { id, error },
        });
    }
}

/// Runs `work` as a task; a panic in it settles request `id` with a coded error (unwinding drops its
/// lease or slot, which gives the pool its count back).
fn spawn(events: Arc<EventQueue>, id: u32, work: impl Future<Output = ()> + Send + 'static) {
    runtime().spawn(async move {
        if let Err(error) = CatchUnwind::new(work).await {
            events.push(Event::Failed { id, error });
        }
    });
}

/// Stops request `id`: one still queued leaves the queue at once and fails here; a running one is told.
pub fn abort(client: &Client, aborts: &Aborts, events: &EventQueue, id: u32) {
    let Some(Abort { tx, queued }) = locked(aborts).remove(&id) else {
        return;
    };
    match queued {
        Some((key, seq)) if client.pool().cancel(&key, seq) => events.push(Event::Failed {
            id,
            error: Error::aborted(),
        }),
        _ => {
            let _ = tx.send(());
        }
    }
}
