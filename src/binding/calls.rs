//! The calls every socket-face request makes (`checkout`, then `release`, and `write` for each chunk
//! sent over the pipe), and those of each chunk over an fd-carried TLS connection (`tlsSeal`, `tlsOpen`),
//! as hand-written N-API functions.
//!
//! napi-rs's generated glue for a class method (the class-identity check on `this`, the native-borrow
//! scope) costs about 4k instructions per call, more than the pool's own work in it; with the fd carrier
//! these calls are all a request crosses into Rust for. Each function made here carries its agent's
//! state as its N-API `data` pointer (an `Arc`, dropped by a finalizer when the function is collected),
//! so it needs no `this`, and reads its arguments with plain N-API calls.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::ToNapiValue;
use napi::{sys, Env};

use crate::connect::Profile;
use crate::error::{Error, Kind};
use crate::faces::keep_alive;
use crate::faces::sealed::{Placed, Room};
use crate::faces::transport::{Opening, Outcome, Sockets};
use crate::faces::Conn;
use crate::origin::OriginKey;
use crate::pool::{IdleFor, Want, NO_DEADLINE};

/// Connect profiles of requests with options of their own, by the id JS knows them by.
pub type Profiles = Mutex<HashMap<u32, Arc<Profile>>>;

/// The profile registered under `id`; 0 is the agent's own (`None`).
pub fn registered(profiles: &Profiles, id: u32) -> Result<Option<Arc<Profile>>, Error> {
    if id == 0 {
        return Ok(None);
    }
    let profiles = profiles.lock().unwrap_or_else(|e| e.into_inner());
    match profiles.get(&id) {
        Some(p) => Ok(Some(p.clone())),
        None => Err(Error::new(
            Kind::InvalidArgValue,
            format!("unknown connect profile {id}"),
        )),
    }
}

/// What the functions reach: the agent's socket face and its connect profiles, and the runtime its
/// connections' tasks run on (kept: looking it up through napi-rs on each call cost more than entering it).
pub struct SocketCalls {
    pub sockets: Arc<Sockets>,
    pub profiles: Arc<Profiles>,
    pub runtime: tokio::runtime::Handle,
}

impl SocketCalls {
    /// A connection to `host:port` (made as connect profile `profile` says; 0: the agent's) for Node's
    /// `addRequest`, answered at once as one number, `id * 4 + kind` (see [`outcome_code`]); a new one
    /// dials once JS calls `dial(id)`. `replays`
    /// counts how often the request was sent again because its reused connection closed before
    /// answering (see [`Want::for_replay`]). `fd`: a new
    /// plain-TCP connection is handed to JS as its fd. `exchange`: for the Promise face's exchange on the
    /// JS thread (lib/exchange.js), not for Node's ClientRequest (see [`Conn::LOCAL`]), whose connect
    /// may take `limit_ms` at most (0: no limit of its own).
    #[allow(clippy::too_many_arguments)]
    fn checkout(
        &self,
        secure: bool,
        host: &str,
        port: u32,
        replays: u32,
        profile: u32,
        fd: bool,
        exchange: bool,
        limit_ms: f64,
    ) -> Result<f64, Error> {
        let port = u16::try_from(port)
            .map_err(|_| Error::new(Kind::InvalidArgValue, format!("invalid port {port}")))?;
        let key = OriginKey::new(secure, host, port).via(registered(&self.profiles, profile)?);
        let _guard = self.runtime.enter();
        let open = Opening {
            role: if exchange { Conn::LOCAL } else { Conn::RAW },
            limit: (limit_ms > 0.0).then(|| Duration::from_secs_f64(limit_ms / 1000.0)),
        };
        Ok(outcome_code(self.sockets.checkout(
            &key,
            Want::for_replay(replays),
            fd,
            open,
        )?))
    }

    /// Returns connection `id` to the pool after a response whose `Keep-Alive` header, if any, was
    /// `keep_alive`; `own_ms`, when positive, is the socket's own `freeSocketTimeout`. Returns how long it
    /// may stay idle in ms (`Infinity`: no deadline of its own), or -1 when it was closed instead.
    fn release(&self, id: f64, keep_alive: Option<&str>, own_ms: f64) -> f64 {
        let _guard = self.runtime.enter();
        self.sockets
            .release(id as u64, idle_of(keep_alive, own_ms))
            .map_or(-1.0, deadline_ms)
    }
}

/// What a response's `Keep-Alive` header (`keep_alive`) and a socket's own idle deadline (`own_ms`, when
/// positive) say of how long its connection may stay idle.
pub fn idle_of(keep_alive: Option<&str>, own_ms: f64) -> IdleFor {
    IdleFor {
        hint: keep_alive.and_then(keep_alive::idle_for),
        own: (own_ms > 0.0)
            .then(|| Duration::from_secs_f64((own_ms / 1000.0).min(NO_DEADLINE.as_secs_f64()))),
    }
}

/// An idle deadline in ms for JS: `Infinity` when there is none.
pub fn deadline_ms(deadline: Duration) -> f64 {
    if deadline == NO_DEADLINE {
        f64::INFINITY
    } else {
        deadline.as_millis() as f64
    }
}

/// A checkout's answer as one number: kind 0 reused (id: connection), 1 connecting (id: connection),
/// 2 queued (id: ticket). A number, not an array: it is made once per request.
pub fn outcome_code(outcome: Outcome) -> f64 {
    match outcome {
        Outcome::Reused(id) => id as f64 * 4.0,
        Outcome::Connecting(id) => id as f64 * 4.0 + 1.0,
        Outcome::Queued(ticket) => ticket as f64 * 4.0 + 2.0,
    }
}

/// Sets `checkout(secure, host, port, replays, profile, fd, exchange, limitMs)`, `dial(id)`,
/// `release(id, keepAlive)`, `write(id, chunk)`, `tlsSeal(id, chunk)` and `tlsOpen(id, records)` on
/// `target`.
///
/// # Safety
/// `env` and `target` come from the N-API call being served, on the JS thread.
pub unsafe fn install(
    env: sys::napi_env,
    target: sys::napi_value,
    calls: Arc<SocketCalls>,
) -> Result<(), Error> {
    let functions: [(&CStr, sys::napi_callback); 6] = [
        (c"checkout", Some(checkout)),
        (c"dial", Some(dial)),
        (c"release", Some(release)),
        (c"write", Some(write)),
        (c"tlsSeal", Some(tls_seal)),
        (c"tlsOpen", Some(tls_open)),
    ];
    for (name, callback) in functions {
        let data = Arc::into_raw(calls.clone()) as *mut c_void;
        let mut function = ptr::null_mut();
        let made = unsafe {
            sys::napi_create_function(env, name.as_ptr(), -1, callback, data, &mut function)
                == sys::Status::napi_ok
                && sys::napi_add_finalizer(
                    env,
                    function,
                    data,
                    Some(drop_calls),
                    ptr::null_mut(),
                    ptr::null_mut(),
                ) == sys::Status::napi_ok
                && sys::napi_set_named_property(env, target, name.as_ptr(), function)
                    == sys::Status::napi_ok
        };
        if !made {
            return Err(Error::new(
                Kind::Internal,
                "could not make the socket face's functions",
            ));
        }
    }
    Ok(())
}

unsafe extern "C" fn drop_calls(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Arc` given to this function in `install`, dropped once, here.
    drop(unsafe { Arc::from_raw(data as *const SocketCalls) });
}

/// The call's arguments (missing ones are `undefined`) and its `SocketCalls`.
unsafe fn arguments<'a, const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Option<([sys::napi_value; N], &'a SocketCalls)> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let mut data = ptr::null_mut();
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        )
    };
    if status != sys::Status::napi_ok || data.is_null() {
        return None;
    }
    // SAFETY: `data` is the `Arc<SocketCalls>` this function was made with; its finalizer runs only
    // once the function is collected, so not during a call.
    Some((argv, unsafe { &*(data as *const SocketCalls) }))
}

unsafe fn boolean(env: sys::napi_env, value: sys::napi_value) -> bool {
    let mut out = false;
    unsafe { sys::napi_get_value_bool(env, value, &mut out) };
    out
}

unsafe fn number(env: sys::napi_env, value: sys::napi_value) -> f64 {
    let mut out = 0.0;
    unsafe { sys::napi_get_value_double(env, value, &mut out) };
    out
}

/// A string argument; `None` for anything else (null, undefined).
unsafe fn string(env: sys::napi_env, value: sys::napi_value) -> Option<String> {
    let bytes = string_bytes(|buf, size, len| unsafe {
        sys::napi_get_value_string_utf8(env, value, buf, size, len)
    })?;
    String::from_utf8(bytes).ok()
}

/// What one of N-API's string getters (`get(buf, size, len)`: UTF-8 or latin1) gives for a string
/// argument; `None` for anything else. The first call asks the length, the second fills the bytes.
fn string_bytes(
    get: impl Fn(*mut c_char, usize, &mut usize) -> sys::napi_status,
) -> Option<Vec<u8>> {
    let mut len = 0;
    if get(ptr::null_mut(), 0, &mut len) != sys::Status::napi_ok {
        return None;
    }
    // N-API writes a NUL after the string: room for it, dropped after.
    let mut bytes = vec![0u8; len + 1];
    get(bytes.as_mut_ptr().cast(), len + 1, &mut len);
    bytes.truncate(len);
    Some(bytes)
}

/// Returns a number to JS; an error is thrown as lib/errors.js `fromNative` reads it (`code\u{1}message`).
unsafe fn answer(
    env: sys::napi_env,
    value: std::thread::Result<Result<f64, Error>>,
) -> sys::napi_value {
    unsafe { answer_value(env, value) }
}

/// Returns `value` to JS as napi-rs converts it; an error is thrown as in [`answer`].
unsafe fn answer_value<T: ToNapiValue>(
    env: sys::napi_env,
    value: std::thread::Result<Result<T, Error>>,
) -> sys::napi_value {
    let error = match value {
        Ok(Ok(value)) => match unsafe { T::to_napi_value(env, value) } {
            Ok(out) => return out,
            Err(e) => Error::new(Kind::Internal, e.reason.clone()),
        },
        Ok(Err(error)) => error,
        Err(panic) => super::unwind::panicked(panic),
    };
    let message = super::coded(&error).replace('\0', " ");
    let message = std::ffi::CString::new(message).unwrap_or_default();
    unsafe { sys::napi_throw_error(env, ptr::null(), message.as_ptr()) };
    ptr::null_mut()
}

unsafe extern "C" fn checkout(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let Some((args, calls)) = (unsafe { arguments::<8>(env, info) }) else {
        return ptr::null_mut();
    };
    let result = catch_unwind(AssertUnwindSafe(|| unsafe {
        let host = string(env, args[1]).unwrap_or_default();
        calls.checkout(
            boolean(env, args[0]),
            &host,
            number(env, args[2]) as u32,
            number(env, args[3]) as u32,
            number(env, args[4]) as u32,
            boolean(env, args[5]),
            boolean(env, args[6]),
            number(env, args[7]),
        )
    }));
    unsafe { answer(env, result) }
}

/// `dial(id)`: new connection `id`, which `checkout` answered with, may start connecting.
unsafe extern "C" fn dial(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let Some((args, calls)) = (unsafe { arguments::<1>(env, info) }) else {
        return ptr::null_mut();
    };
    let result = catch_unwind(AssertUnwindSafe(|| unsafe {
        let _guard = calls.runtime.enter();
        calls.sockets.dial(number(env, args[0]) as u64);
        Ok(0.0)
    }));
    unsafe { answer(env, result) }
}

unsafe extern "C" fn release(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let Some((args, calls)) = (unsafe { arguments::<3>(env, info) }) else {
        return ptr::null_mut();
    };
    let result = catch_unwind(AssertUnwindSafe(|| unsafe {
        let keep_alive = string(env, args[1]);
        Ok(calls.release(
            number(env, args[0]),
            keep_alive.as_deref(),
            number(env, args[2]),
        ))
    }));
    unsafe { answer(env, result) }
}

/// `write(id, chunk)`: queues `chunk` (a latin1 string, or a Buffer) for pipe-carried connection `id`;
/// answers 0 when the caller should wait for its drain event, else 1. A string is read straight into the
/// bytes sent, with no Buffer made for it in JS (ClientRequest's heads are latin1 strings).
unsafe extern "C" fn write(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let Some((args, calls)) = (unsafe { arguments::<2>(env, info) }) else {
        return ptr::null_mut();
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let bytes =
            unsafe { latin1(env, args[1]).or_else(|| view(env, args[1])) }.ok_or_else(|| {
                Error::new(
                    Kind::Internal,
                    "a chunk to write must be a latin1 string or a Buffer",
                )
            })?;
        let id = unsafe { number(env, args[0]) } as u64;
        Ok(f64::from(u8::from(calls.sockets.write(id, bytes.into()))))
    }));
    unsafe { answer(env, result) }
}

/// `tlsSeal(id, chunk, room)`: the records that carry `chunk` (a latin1 string or a Buffer) on fd-carried
/// TLS connection `id`, for libuv to write: a number, `n`, when they are the first `n` bytes of `room` (a
/// Buffer JS lends), else a Buffer of their own.
unsafe extern "C" fn tls_seal(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    unsafe {
        with_connection(env, info, |js_env, calls, id, [_, chunk, room]| {
            let sealed = calls.sockets.sealed();
            let copied;
            let chunk = match borrowed(env, chunk) {
                Some(chunk) => chunk,
                None => {
                    copied = latin1(env, chunk).ok_or_else(|| {
                        Error::new(
                            Kind::Internal,
                            "a chunk to seal must be a latin1 string or a Buffer",
                        )
                    })?;
                    &copied
                }
            };
            let mut records = Room::new(borrowed_mut(env, room, chunk).unwrap_or_default());
            sealed.seal(id, chunk, &mut records)?;
            placed(js_env, records)
        })
    }
}

/// `tlsOpen(id, records, room)`: what the records read on fd-carried TLS connection `id` carry. The usual
/// answer is a number, `n`: the plaintext is the first `n` bytes of `room` (a Buffer JS lends, apart from
/// `records`); a Buffer when it did not fit there; `{ plaintext, reply, closed, error }` when rustls has
/// records to send back (an alert with `error` when the records failed) or the server closed. A failure
/// with nothing to send back is thrown.
unsafe extern "C" fn tls_open(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    unsafe {
        with_connection(env, info, |js_env, calls, id, [_, records, room]| {
            let records = borrowed(env, records)
                .ok_or_else(|| Error::new(Kind::Internal, "records to open must be a Buffer"))?;
            let room = borrowed_mut(env, room, records).unwrap_or_default();
            let mut plaintext = Room::new(room);
            let opened = calls.sockets.sealed().open(id, records, &mut plaintext)?;
            if opened.reply.is_empty() && !opened.closed {
                if let Some(failure) = opened.failure {
                    return Err(failure);
                }
                return placed(js_env, plaintext);
            }
            let bytes = plaintext.bytes();
            made(
                js_env,
                Ok(super::NativeOpened {
                    plaintext: (!bytes.is_empty()).then(|| bytes.to_vec().into()),
                    reply: (!opened.reply.is_empty()).then(|| opened.reply.into()),
                    closed: opened.closed,
                    error: opened.failure.as_ref().map(super::coded),
                }),
            )
        })
    }
}

/// Bytes put in a [`Room`], for JS: how many, when they are in the room JS lent, else a Buffer.
fn placed(env: &Env, room: Room<'_>) -> Result<sys::napi_value, Error> {
    match room.placed() {
        Placed::Room(n) => made(env, Ok(n as f64)),
        Placed::Spilled(bytes) => made(env, super::to_js(env, bytes)),
    }
}

/// The shape of the calls on one connection's bytes: `(id, ...values)` in (`N` arguments in all, `id`
/// first), and `serve(env, calls, id, arguments)` answers with what it made for JS.
unsafe fn with_connection<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    serve: impl FnOnce(&Env, &SocketCalls, u64, [sys::napi_value; N]) -> Result<sys::napi_value, Error>,
) -> sys::napi_value {
    let Some((args, calls)) = (unsafe { arguments::<N>(env, info) }) else {
        return ptr::null_mut();
    };
    let js_env = Env::from_raw(env);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let id = unsafe { number(env, args[0]) } as u64;
        serve(&js_env, calls, id, args).map(Made)
    }));
    unsafe { answer_value(env, result) }
}

/// `value` made into a JS value as napi-rs converts it.
fn made<T: ToNapiValue>(env: &Env, value: napi::Result<T>) -> Result<sys::napi_value, Error> {
    // SAFETY: `env` is the env of the N-API call being served, on the JS thread.
    value
        .and_then(|value| unsafe { T::to_napi_value(env.raw(), value) })
        .map_err(|e| Error::new(Kind::Internal, e.reason))
}

/// A value already made for JS (see [`with_connection`]).
struct Made(sys::napi_value);

impl ToNapiValue for Made {
    unsafe fn to_napi_value(_env: sys::napi_env, made: Self) -> napi::Result<sys::napi_value> {
        Ok(made.0)
    }
}

/// A string argument's latin1 bytes (each UTF-16 unit's low byte, as `Buffer.from(s, 'latin1')`);
/// `None` for anything else.
unsafe fn latin1(env: sys::napi_env, value: sys::napi_value) -> Option<Vec<u8>> {
    string_bytes(|buf, size, len| unsafe {
        sys::napi_get_value_string_latin1(env, value, buf, size, len)
    })
}

/// A Buffer (or other one-byte TypedArray) argument's bytes, copied; `None` for anything else.
unsafe fn view(env: sys::napi_env, value: sys::napi_value) -> Option<Vec<u8>> {
    unsafe { borrowed(env, value) }.map(<[u8]>::to_vec)
}

/// A Buffer (or other one-byte TypedArray) argument's bytes, where they are: valid for the call being
/// served (`'a` must not outlive it); `None` for anything else.
unsafe fn borrowed<'a>(env: sys::napi_env, value: sys::napi_value) -> Option<&'a [u8]> {
    let (data, len) = unsafe { typed_bytes(env, value) }?;
    // SAFETY: N-API gave `data` as the start of the view's `len` bytes, alive for this call.
    Some(unsafe { std::slice::from_raw_parts(data, len) })
}

/// A Buffer argument's bytes to write in, where they are (see [`borrowed`]); `None` for anything else,
/// and for one that overlaps `apart` (the call's other bytes).
unsafe fn borrowed_mut<'a>(
    env: sys::napi_env,
    value: sys::napi_value,
    apart: &[u8],
) -> Option<&'a mut [u8]> {
    let (data, len) = unsafe { typed_bytes(env, value) }?;
    let (start, end) = (data as usize, data as usize + len);
    let (other_start, other_end) = (
        apart.as_ptr() as usize,
        apart.as_ptr() as usize + apart.len(),
    );
    if len == 0 || (start < other_end && other_start < end) {
        return None;
    }
    // SAFETY: the view's `len` bytes from `data`, alive for this call; JS runs none of its code during
    // the call, and no other borrow of them is made in it (`apart` does not overlap them).
    Some(unsafe { std::slice::from_raw_parts_mut(data, len) })
}

/// Where a one-byte TypedArray argument's bytes start, and how many (a dangling start when none).
unsafe fn typed_bytes(env: sys::napi_env, value: sys::napi_value) -> Option<(*mut u8, usize)> {
    let mut is_typed = false;
    unsafe { sys::napi_is_typedarray(env, value, &mut is_typed) };
    if !is_typed {
        return None;
    }
    let (mut kind, mut len, mut data) = (0, 0usize, ptr::null_mut());
    let (mut buffer, mut offset) = (ptr::null_mut(), 0usize);
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env,
            value,
            &mut kind,
            &mut len,
            &mut data,
            &mut buffer,
            &mut offset,
        )
    };
    let one_byte = matches!(
        kind,
        sys::TypedarrayType::int8_array
            | sys::TypedarrayType::uint8_array
            | sys::TypedarrayType::uint8_clamped_array
    );
    if status != sys::Status::napi_ok || !one_byte {
        return None;
    }
    if len == 0 || data.is_null() {
        return Some((ptr::NonNull::dangling().as_ptr(), 0));
    }
    Some((data.cast(), len))
}
