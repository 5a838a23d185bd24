//! The N-API layer: converts between JavaScript values and the plain Rust below, nothing else.
//!
//! One `NativeAgent` per JS `Agent`. A request crosses the bridge once in (`request`) and once out (the
//! promise resolving with head and small body together); a large body is pulled chunk by chunk with
//! `readBody`, which is where backpressure comes from.

mod bodies;
mod calls;
mod events;
mod hooks;
mod options;
mod requests;
mod unwind;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::{Buffer, BufferSlice, Either, Function, Object, PromiseRaw};
use napi::{Env, JsValue, Status};
use napi_derive::napi;

use crate::connect::{Connector, Profile};
use crate::error::{Error, Kind};
use crate::faces::client::{
    body_channel, BodyChunks, BodyFeed, Client, ConnectWatch, EndWatch, InformationalWatch,
    RequestBody, RequestSpec,
};
use crate::faces::transport::Sockets;
use crate::origin::OriginKey;
use crate::pool::Pool;
use bodies::{Bodies, Chunk};
use calls::{outcome_code, registered, Profiles, SocketCalls};
use events::{Event, EventQueue, JsBatch};
use hooks::{JsAsk, JsHooks};
use options::{NativeConnect, NativeLimits, NativeOptions};
use requests::{Aborts, Runner};
use unwind::CatchUnwind;

/// Turns one of our errors into a JS `Error` whose `code` the JS side sets from the message prefix
/// (lib/errors.js `fromNative`). A prefix, not napi's own `code`: that is a fixed `Status` for errors
/// rejected from `spawn_future` and for the panics `catch_unwind` turns into errors.
fn js_error(e: Error) -> napi::Error {
    napi::Error::new(Status::GenericFailure, coded(&e))
}

/// An error as the JS side reads it: `code\u{1}message`, and `\u{1}` and undici's code for a body cut
/// short (lib/errors.js `fromNative`).
fn coded(e: &Error) -> String {
    match e.kind() {
        Kind::BodyCut(cut) => format!("{}\u{1}{}\u{1}{}", e.code(), e.message(), cut.undici_code()),
        _ => format!("{}\u{1}{}", e.code(), e.message()),
    }
}

fn runtime() -> tokio::runtime::Handle {
    napi::bindgen_prelude::within_runtime_if_available(tokio::runtime::Handle::current)
}

/// One origin's numbers for JS.
#[napi(object)]
pub struct NativeOriginStats {
    pub origin: String,
    pub name: String,
    pub connected: u32,
    pub free: u32,
    pub pending: u32,
    pub queued: u32,
    pub running: u32,
}

/// What a chunk of TLS records gave, when more than plaintext (see `calls::tls_open`).
#[napi(object)]
pub struct NativeOpened {
    pub plaintext: Option<Buffer>,
    pub reply: Option<Buffer>,
    pub closed: bool,
    /// The records failed (`code\u{1}message`, as lib/errors.js `fromNative` reads it): send `reply` (the
    /// alert), then tear the connection down.
    pub error: Option<String>,
}

#[napi(object)]
pub struct NativeStatus {
    pub create_socket_count: f64,
    pub create_socket_error_count: f64,
    pub close_socket_count: f64,
    pub error_socket_count: f64,
    pub timeout_socket_count: f64,
    pub request_count: f64,
    pub reused_count: f64,
    pub retry_count: f64,
    pub origins: Vec<NativeOriginStats>,
}

/// A request body streamed from JS: `write` resolves when the chunk is queued (backpressure: at most
/// [`BODY_QUEUE`] chunks wait), `end` finishes it or, with a message, fails the request.
#[napi]
pub struct BodySender {
    feed: Mutex<Option<BodyFeed>>,
    body: Mutex<Option<BodyChunks>>,
}

/// Chunks of a streamed request body queued ahead of the connection (JS writes at most 64 KiB each).
const BODY_QUEUE: usize = 4;

#[napi]
impl BodySender {
    #[napi(constructor, catch_unwind)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let (feed, body) = body_channel(BODY_QUEUE);
        BodySender {
            feed: Mutex::new(Some(feed)),
            body: Mutex::new(Some(body)),
        }
    }

    /// Resolves true once `chunk` is queued, false when the request no longer reads its body.
    #[napi(catch_unwind)]
    pub fn write<'env>(
        &self,
        env: &'env Env,
        chunk: Buffer,
    ) -> napi::Result<PromiseRaw<'env, bool>> {
        let tx = locked(&self.feed).as_ref().map(|feed| feed.chunks.clone());
        let chunk = bytes::Bytes::from(chunk.to_vec());
        env.spawn_future(async move {
            let sent = CatchUnwind::new(async move {
                match tx {
                    Some(tx) => tx.send(chunk).await.is_ok(),
                    None => false,
                }
            });
            sent.await.map_err(js_error)
        })
    }

    /// Ends the body; with an error message, the request fails instead (never a clean end).
    #[napi(catch_unwind)]
    pub fn end(&self, error: Option<String>) {
        let feed = locked(&self.feed).take();
        if let (Some(feed), Some(message)) = (feed, error) {
            feed.fail(Error::new(Kind::BodyStream, message));
        }
    }
}

/// What `readBody` resolves with: a chunk, the end (`null`), or the end as its trailers.
type BodyRead = Option<Either<Buffer, Vec<String>>>;

/// A lock that a panic elsewhere does not poison for good.
fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[napi]
pub struct NativeAgent {
    client: Arc<Client>,
    sockets: Arc<Sockets>,
    events: Arc<EventQueue>,
    bodies: Arc<Bodies>,
    aborts: Aborts,
    hooks: Arc<JsHooks>,
    profiles: Arc<Profiles>,
    /// Whether requests report the connections opened for them, and the hyper client the ends of its
    /// connections (undici's connect events have a subscriber, or its dispatcher events a listener);
    /// off, no such event is made.
    watching_connects: Arc<AtomicBool>,
    /// This agent among the process's, for what is its own across profiles (its TLS session cache).
    owner: u64,
}

/// Milliseconds from JS as a limit: none when absent or 0.
fn limit(ms: Option<f64>) -> Option<Duration> {
    ms.filter(|t| *t > 0.0)
        .map(|t| Duration::from_millis(t as u64))
}

/// `owner`: the agent (see [`NativeAgent::owner`]).
fn profile(connect: &NativeConnect, owner: u64) -> napi::Result<Arc<Profile>> {
    let options = connect.connect_options(owner).map_err(js_error)?;
    Ok(Arc::new(Profile::new(options).map_err(js_error)?))
}

/// Bytes for JS: a Buffer of its own or one over Rust's memory.
type JsBytes<'env> = Either<BufferSlice<'env>, Buffer>;

/// Copied into a Buffer V8 owns when small (a request's head, a short answer: no finalizer for the
/// collector to run), else handed over without a copy.
fn to_js(env: &Env, bytes: Vec<u8>) -> napi::Result<JsBytes<'_>> {
    const COPIED: usize = 16 * 1024;
    if bytes.len() <= COPIED {
        Ok(Either::A(BufferSlice::copy_from(env, &bytes)?))
    } else {
        Ok(Either::B(bytes.into()))
    }
}

/// The pool's numbers by origin: routes to one origin (made with different connect options) are
/// summed, as the status maps are keyed by origin. The pool lists them sorted, so they are adjacent.
fn per_origin(routes: Vec<(OriginKey, crate::pool::OriginStats)>) -> Vec<NativeOriginStats> {
    let mut origins: Vec<NativeOriginStats> = Vec::with_capacity(routes.len());
    for (key, s) in routes {
        let origin = key.to_string();
        let [connected, free, pending, queued, running] =
            [s.connected, s.free, s.pending, s.queued, s.running].map(|n| n as u32);
        match origins.last_mut() {
            Some(last) if last.origin == origin => {
                last.connected += connected;
                last.free += free;
                last.pending += pending;
                last.queued += queued;
                last.running += running;
            }
            _ => origins.push(NativeOriginStats {
                name: key.node_name(),
                origin,
                connected,
                free,
                pending,
                queued,
                running,
            }),
        }
    }
    origins
}

#[napi]
impl NativeAgent {
    /// `on_events` receives the socket face's events in batches (see `events`); `on_ask` the questions
    /// for the caller's connect functions (see `hooks`).
    #[napi(constructor, catch_unwind)]
    pub fn new(
        options: NativeOptions,
        on_events: Function<'_, JsBatch, ()>,
        on_ask: Function<'_, JsAsk, ()>,
    ) -> napi::Result<Self> {
        static AGENTS: AtomicU64 = AtomicU64::new(1);
        let owner = AGENTS.fetch_add(1, Ordering::Relaxed);
        let hooks = JsHooks::new(on_ask)?;
        let connector = Connector::new(
            profile(&options.connect, owner)?,
            Some(Arc::new(hooks.clone())),
            options.connect_timeout(),
            options.tcp_keepalive(),
        );
        let pool = Pool::new(options.pool_config(), runtime());
        let events = EventQueue::new(on_events)?;
        let watching_connects = Arc::new(AtomicBool::new(false));
        let ends: EndWatch = {
            let (events, watching) = (events.clone(), watching_connects.clone());
            Arc::new(move |conn, ended, failure| {
                if watching.load(Ordering::Relaxed) {
                    events.push(Event::Ended {
                        conn,
                        ended,
                        failure,
                    });
                }
            })
        };
        Ok(NativeAgent {
            sockets: Sockets::new(pool.clone(), connector.clone(), events.clone()),
            events,
            client: Arc::new(
                Client::new(pool, connector, Some(ends)).with_max_requests(
                    options
                        .max_requests_per_connection
                        .map_or(0, |n| n.min(f64::from(u32::MAX)) as u32),
                ),
            ),
            bodies: Default::default(),
            aborts: Default::default(),
            hooks,
            profiles: Default::default(),
            watching_connects,
            owner,
        })
    }

    /// Another face onto this agent's pool, for the agent of the other scheme that `install()` sets
    /// (`https.globalAgent` beside `http.globalAgent`): the same pool, caps, stats, connect profiles and
    /// in-flight requests, and a socket face of its own whose events go to `on_events`.
    #[napi(catch_unwind)]
    pub fn view(&self, on_events: Function<'_, JsBatch, ()>) -> napi::Result<NativeAgent> {
        let events = EventQueue::new(on_events)?;
        let sockets = Sockets::new(
            self.client.pool().clone(),
            self.client.connector().clone(),
            events.clone(),
        );
        Ok(NativeAgent {
            client: self.client.clone(),
            sockets,
            events,
            bodies: self.bodies.clone(),
            aborts: self.aborts.clone(),
            hooks: self.hooks.clone(),
            profiles: self.profiles.clone(),
            watching_connects: self.watching_connects.clone(),
            owner: self.owner,
        })
    }

    /// Whether new TLS connections of the socket face report their key material (Node's `'keylog'`).
    #[napi(catch_unwind)]
    pub fn log_keys(&self, on: bool) {
        self.client.connector().log_keys(on);
    }

    /// Switches the connect events of requests sent from now on (event 10, see `events`) and the ends of
    /// the hyper client's connections (event 12).
    #[napi(catch_unwind)]
    pub fn watch_connects(&self, on: bool) {
        self.watching_connects.store(on, Ordering::Relaxed);
    }

    /// Node's default trust (its bundled roots, `NODE_EXTRA_CA_CERTS`...) as PEM, given once by the JS
    /// side before the first agent is made.
    #[napi(catch_unwind)]
    pub fn set_default_ca(pems: Buffer) {
        crate::connect::tls::set_default_roots(&pems);
    }

    /// The head of a Promise-face request sent on the JS thread (lib/exchange.js), checked as
    /// `request` checks it; null when hyper must send it (see [`crate::faces::client::exchange_head`]).
    /// `body_length`: the bytes of a body held in full, absent for none; `streamed`: the body is streamed
    /// (chunked) instead.
    /// A latin1 string, not a Buffer: libuv writes it as it is, and a queued request keeps less.
    #[napi(catch_unwind)]
    pub fn exchange_head<'env>(
        env: &'env Env,
        method: String,
        url: String,
        headers: Vec<String>,
        body_length: Option<u32>,
        streamed: bool,
        keep_alive: bool,
    ) -> napi::Result<Option<napi::JsString<'env>>> {
        use crate::faces::client::Framing;
        let framing = match (streamed, body_length) {
            (true, _) => Framing::Chunked,
            (false, Some(n)) => Framing::Length(n as usize),
            (false, None) => Framing::None,
        };
        let head =
            crate::faces::client::exchange_head(&method, &url, &headers, framing, keep_alive)
                .map_err(js_error)?;
        head.map(|head| env.create_string_latin1(head)).transpose()
    }

    /// Registers the connect options of requests that have their own, under `id` (JS keeps the ids).
    #[napi(catch_unwind)]
    pub fn add_profile(&self, id: u32, connect: NativeConnect) -> napi::Result<()> {
        let profile = profile(&connect, self.owner)?;
        self.profiles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, profile);
        Ok(())
    }

    /// Forgets every registered profile (JS bounds its cache); connections made with one keep it.
    #[napi(catch_unwind)]
    pub fn clear_profiles(&self) {
        self.profiles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The profile registered under `id`; 0 or none is the agent's own.
    fn profile(&self, id: Option<u32>) -> napi::Result<Option<Arc<Profile>>> {
        registered(&self.profiles, id.unwrap_or(0)).map_err(js_error)
    }

    #[napi(catch_unwind)]
    pub fn answer_lookup(&self, ticket: u32, addresses: Vec<String>) {
        self.hooks.answer_lookup(ticket, &addresses);
    }

    #[napi(catch_unwind)]
    pub fn answer_ok(&self, ticket: u32) {
        self.hooks.answer_ok(ticket);
    }

    /// The caller's function failed; JS holds the Error under `token`.
    #[napi(catch_unwind)]
    pub fn answer_error(&self, ticket: u32, token: u32, message: String) {
        self.hooks.answer_error(ticket, token, &message);
    }

    /// The socket a caller's `createConnection` made (`id`) received `chunk`.
    #[napi]
    pub fn stream_data(&self, id: u32, chunk: Buffer) {
        self.hooks
            .stream_data(id, bytes::Bytes::from(Vec::from(chunk)));
    }

    #[napi]
    pub fn stream_end(&self, id: u32) {
        self.hooks.stream_end(id);
    }

    /// The caller's socket `id` failed; JS holds the Error under `token`.
    #[napi]
    pub fn stream_error(&self, id: u32, token: u32, message: String) {
        self.hooks.stream_error(id, token, &message);
    }

    /// Sends one request; its answer arrives as an event (8 answered, 9 failed) under `id`. `headers`
    /// alternate names and values. With `abortable`, `abort(id)` cancels it. `timeout_ms` is inactivity;
    /// `headers_timeout_ms` and `body_timeout_ms` are undici's limits (none when absent or 0), as is
    /// `idempotent` (absent: by the method). With `informational`, 1xx heads come as events (11).
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &self,
        id: u32,
        method: String,
        url: String,
        headers: Vec<String>,
        body: Option<Buffer>,
        body_stream: Option<&BodySender>,
        timeout_ms: Option<f64>,
        abortable: bool,
        profile: Option<u32>,
        headers_timeout_ms: Option<f64>,
        body_timeout_ms: Option<f64>,
        idempotent: Option<bool>,
        informational: Option<bool>,
    ) -> napi::Result<()> {
        let profile = self.profile(profile)?;
        let (method, uri, headers) =
            RequestSpec::parse(&method, &url, &headers).map_err(js_error)?;
        let body = match (body, body_stream) {
            (_, Some(sender)) => match locked(&sender.body).take() {
                Some(body) => RequestBody::Stream(body),
                None => RequestBody::Empty,
            },
            (Some(bytes), None) if !bytes.is_empty() => {
                RequestBody::Full(Some(bytes::Bytes::from(Vec::from(bytes))))
            }
            _ => RequestBody::Empty,
        };
        let spec = Box::new(RequestSpec {
            method,
            uri,
            headers,
            body,
            timeout: limit(timeout_ms),
            headers_timeout: limit(headers_timeout_ms),
            body_timeout: limit(body_timeout_ms),
            profile,
            watch: self
                .watching_connects
                .load(Ordering::Relaxed)
                .then(|| self.connect_watch(id)),
            idempotent,
            informational: (informational == Some(true)).then(|| self.informational_watch(id)),
        });
        let runner = Runner {
            client: self.client.clone(),
            bodies: self.bodies.clone(),
            aborts: self.aborts.clone(),
            events: self.events.clone(),
            id,
        };
        runner.start(spec, abortable);
        Ok(())
    }

    /// Reports the connections opened for request `id` as events, in order with its answer.
    fn connect_watch(&self, id: u32) -> ConnectWatch {
        let events = self.events.clone();
        Box::new(move |stage| events.push(Event::Connect { id, stage }))
    }

    /// Reports the 1xx heads request `id` receives as events, before its answer.
    fn informational_watch(&self, id: u32) -> InformationalWatch {
        let events = self.events.clone();
        Arc::new(move |status, reason, headers| {
            events.push(Event::Informational {
                id,
                status,
                head: format!("{reason}\n{headers}"),
            })
        })
    }

    /// Stops the request registered under `abort_id`, if it is still running or queued.
    #[napi(catch_unwind)]
    pub fn abort(&self, abort_id: u32) {
        requests::abort(&self.client, &self.aborts, &self.events, abort_id);
    }

    /// The next chunk of body `id`, or `null` at its end; with `with_trailers`, the end is the trailers
    /// instead (names and values alternating, empty when there were none).
    #[napi(catch_unwind)]
    pub fn read_body<'env>(
        &self,
        env: &'env Env,
        id: u32,
        with_trailers: Option<bool>,
    ) -> napi::Result<PromiseRaw<'env, BodyRead>> {
        let bodies = self.bodies.clone();
        let pool = self.client.pool().clone();
        let destroys = pool.destroys();
        let read = async move {
            let gone = || {
                if pool.destroys() != destroys {
                    Error::destroyed()
                } else {
                    Error::new(Kind::ConnectionReset, "the response body was abandoned")
                }
            };
            let chunk = CatchUnwind::new(bodies.read(id, gone))
                .await
                .and_then(|chunk| chunk)
                .map_err(js_error)?;
            Ok(match chunk {
                Chunk::Data(bytes) => (Some(Either::A(Buffer::from(Vec::from(bytes)))), None),
                Chunk::End(trailers, hold) if with_trailers == Some(true) => {
                    let list = trailers
                        .as_deref()
                        .map_or_else(Vec::new, |t| t.split('\n').map(str::to_string).collect());
                    (Some(Either::B(list)), hold)
                }
                Chunk::End(_, hold) => (None, hold),
            })
        };
        // Let go on the JS thread, as the read resolves: the connection's end is told (in a batch of
        // events, a later callback) after JS has taken the body's end in.
        env.spawn_future_with_callback(read, |_, (read, hold)| {
            drop(hold);
            Ok(read)
        })
    }

    /// Abandons body `id`: its connection is closed rather than reused.
    #[napi(catch_unwind)]
    pub fn cancel_body(&self, id: u32) {
        self.bodies.cancel(id);
    }

    /// The caps assigned to the agent after it was made (Node's Agent reads them at each request).
    #[napi(catch_unwind)]
    pub fn set_limits(&self, limits: NativeLimits) {
        // Waiters served now may start connecting.
        let _guard = runtime().enter();
        self.client
            .pool()
            .reconfigure(|config| limits.apply(config));
    }

    /// How long a socket made elsewhere and handed to the agent (lib/sockets.js `adopt`) may stay idle
    /// after a response whose `Keep-Alive` header was `keep_alive`, in ms, by the rule the pool keeps
    /// its own by (`calls.release`): 0 when it is not to be kept, `Infinity` when there is no deadline.
    #[napi(catch_unwind)]
    pub fn idle_deadline(&self, keep_alive: Option<String>) -> f64 {
        let config = self.client.pool().config();
        calls::deadline_ms(config.idle_deadline(calls::idle_of(keep_alive.as_deref(), 0.0)))
    }

    #[napi(catch_unwind)]
    pub fn status(&self) -> NativeStatus {
        let status = self.client.pool().status();
        let c = status.counters;
        NativeStatus {
            create_socket_count: c.created as f64,
            // agentkeepalive counts a `createConnection` that calls back an error; a connect that fails
            // does so later, as the socket's 'error' (errorSocketCount), here as there.
            create_socket_error_count: 0.0,
            close_socket_count: c.closed as f64,
            error_socket_count: c.errors as f64,
            timeout_socket_count: c.timeouts as f64,
            request_count: c.requests as f64,
            reused_count: c.reused as f64,
            retry_count: c.retries as f64,
            origins: per_origin(status.origins),
        }
    }

    /// Sets the socket face's per-request functions on `target` (see `calls`): `checkout(secure, host,
    /// port, retry, profile, fd)` answers at once with `id * 4 + kind` (0 reused, 1 connecting: id is
    /// the connection; 2 queued: id is the ticket); `release(id, keepAlive)` gives a connection back
    /// after a response and answers how long it may stay idle in ms (`Infinity`: no deadline of its
    /// own), or -1 when it was closed instead; `write(id, chunk)` queues a latin1 string or a Buffer for a
    /// pipe-carried connection and answers 0 when the caller should wait for its drain event, else 1;
    /// `tlsSeal(id, chunk)` and `tlsOpen(id, records)` seal and open the chunks of an fd-carried TLS
    /// connection with its session (src/faces/sealed.rs); a damaged record's error comes back with the
    /// alert to send first, or is thrown when there is none.
    #[napi(catch_unwind)]
    pub fn socket_calls(&self, env: &Env, target: Object) -> napi::Result<()> {
        let calls = Arc::new(SocketCalls {
            sockets: self.sockets.clone(),
            profiles: self.profiles.clone(),
            runtime: runtime(),
        });
        // SAFETY: called by N-API on the JS thread with this call's env and argument.
        unsafe { calls::install(env.raw(), target.raw(), calls) }.map_err(js_error)
    }

    /// What queued request `ticket` was given, coded as `checkout` answers (see `calls`), once; -1 while it
    /// still waits.
    #[napi(catch_unwind)]
    pub fn socket_claim(&self, ticket: f64) -> f64 {
        self.sockets.claim(ticket as u64).map_or(-1.0, outcome_code)
    }

    /// Takes queued request `ticket` out of the queue; false when its turn already came (claim it).
    #[napi(catch_unwind)]
    pub fn socket_cancel(&self, ticket: f64) -> bool {
        let _guard = runtime().enter();
        self.sockets.cancel(ticket as u64)
    }

    /// Half-closes connection `id` once its queued bytes are written.
    #[napi(catch_unwind)]
    pub fn socket_end(&self, id: f64) {
        self.sockets.end(id as u64);
    }

    #[napi(catch_unwind)]
    pub fn socket_pause(&self, id: f64) {
        self.sockets.pause(id as u64);
    }

    #[napi(catch_unwind)]
    pub fn socket_resume(&self, id: f64) {
        self.sockets.resume(id as u64);
    }

    /// TLS over the fd carrier: close_notify, to write before the FIN.
    #[napi(catch_unwind)]
    pub fn tls_close(&self, id: f64) -> napi::Result<Buffer> {
        let records = self.sockets.sealed().close(id as u64).map_err(js_error)?;
        Ok(records.into())
    }

    /// JS is done with connection `id`. `fd_open`: its fd (fd carrier) is not closed yet; a second call
    /// without it follows once it is. `fault`: it closes for bytes nobody asked for (an error close).
    #[napi(catch_unwind)]
    pub fn socket_destroy(&self, id: f64, fd_open: Option<bool>, fault: Option<bool>) {
        let _guard = runtime().enter();
        self.sockets
            .destroy(id as u64, fd_open == Some(true), fault == Some(true));
    }

    /// Takes connection `id` out of the pool for good (upgrade, CONNECT).
    #[napi(catch_unwind)]
    pub fn socket_detach(&self, id: f64) {
        let _guard = runtime().enter();
        self.sockets.detach(id as u64);
    }

    /// Counts a connection closed because a request went quiet for longer than its `timeout` (an
    /// exchange's, lib/exchange.js; hyper's path counts its own): agentkeepalive's `timeoutSocketCount`.
    #[napi(catch_unwind)]
    pub fn note_timeout(&self) {
        self.client.pool().note_timeout();
    }

    /// Refs (busy) or unrefs the socket face's event channel, so in-flight requests keep the process alive
    /// and idle connections do not.
    #[napi(catch_unwind)]
    pub fn set_busy(&self, env: Env, busy: bool) {
        self.events.set_busy(&env, busy);
    }

    /// Closes every connection; queued and in-flight requests reject with `ERR_AGENT_DESTROYED`.
    #[napi(catch_unwind)]
    pub fn destroy(&self) {
        self.client.pool().destroy();
        self.bodies.cancel_all();
    }
}

/// The tokio runtime's shape, chosen by measurement (benchmark/): one worker thread drives every
/// connection; the JS thread is the other busy thread. More workers add cross-thread wake-ups.
#[napi_derive::module_init]
fn init_runtime() {
    let workers = std::env::var("KEEPALIVE_AGENT_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    if let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}
