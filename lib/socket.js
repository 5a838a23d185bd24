'use strict'
// The socket face's socket: a real stream.Duplex over a connection that the Rust pool counts. Node's
// ClientRequest writes HTTP/1.1 into it and parses what it pushes; TLS, when there is any, is done by
// rustls in Rust, so both directions carry plaintext here. A *carrier* moves the bytes (lib/carriers/):
// the pipe (Rust's tasks; every call crosses threads) or the fd (libuv on the JS thread, for TCP; over
// TLS each chunk is opened or sealed in Rust). A carrier has `write(chunk, encoding) → bool` (a Buffer,
// or a string in `encoding`; false: the write callback waits for `_drained()`), `end()`, `pause()`,
// `resume()`, `lost()` (Rust's close event), `close(fault)` (this socket is done; `fault`: for bytes
// nobody asked for), `adopt(socket)` (a replay takes it over), and calls back `_data`, `_ended`,
// `_drained`, `_carrierClosed(err)` (the pipe's come as Rust events through lib/sockets.js, and its close
// as `_closedByRust`). A `push()` that returns false pauses the carrier until `_read()` (backpressure).
// Until an fd arrives, what ClientRequest writes waits here. It offers what Node code reads on a
// net.Socket: timeouts, addresses, byte counts, ref/unref (over TLS, lib/tls-socket.js adds tls.TLSSocket's).
//
// The keep-alive race: a server may close an idle connection just as a request is sent on it. When a
// *reused* connection ends before any byte of the answer, and the request may be sent twice, the socket
// keeps what the request wrote (up to REPLAY_LIMIT) and moves to a new connection from the pool, writing
// it again there, whatever carries either connection; ClientRequest never notices. At most once per
// request.

const { setTimeout, clearTimeout, setImmediate } = require('./timers')
const { Duplex } = require('node:stream')
const { isIP } = require('node:net')
const { codedError, fromNative, hangUp } = require('./errors')
const { connectionInfo } = require('./batch')
const { PipeCarrier } = require('./carriers/pipe')
const { mayReplay } = require('./request')
const { FdCarrier, giveAwayReadBuffer } = require('./carriers/fd')

const kId = Symbol('id')
const kNative = Symbol('native')
const kOwner = Symbol('owner')
/**
 * The agent's listeners on this socket (lib/sockets.js), which leave it when it leaves the agent (an
 * upgrade, CONNECT): then the book forgets it as it is destroyed, with no listener of its own on it.
 */
const BOOK_LISTENERS = Symbol('bookListeners')
const kPaused = Symbol('paused')
const kDrain = Symbol('drainCallback')
const kTimer = Symbol('timer')
const kGone = Symbol('closedByRust')
const kReffed = Symbol('reffed')
const kReplay = Symbol('replay')
const kReplayBytes = Symbol('replayBytes')
const kReplays = Symbol('replays')
const kAnswered = Symbol('answered')
const kAgentTimer = Symbol('agentTimer')
const kTimeoutsSet = Symbol('timeoutsSet')
const kIdle = Symbol('idle')
const kMoving = Symbol('moving')
const kCarrier = Symbol('carrier')
const kHeld = Symbol('heldUntilCarried')
/** A write the pipe took before the connection was made, told done once it is (as a net.Socket's). */
const kResend = Symbol('resend')
const kStray = Symbol('strayBytes')

/** Internal, for tests: which carrier a socket has ('fd', 'pipe'; null while an fd is on its way). */
const CARRIER = Symbol.for('keepalive-agent.carrier')

/** How Rust says it closed an idle connection whose deadline passed (its coded error text). */
const IDLE_EXPIRED = 'ETIMEDOUT\u0001'
/** Node's words for a TLS peer that hung up before the handshake ended (src/connect/mod.rs says them too). */
const TLS_DISCONNECTED = 'Client network socket disconnected before secure TLS connection was established'
/** What a request may write and still be sent again on a new connection. */
const REPLAY_LIMIT = 64 * 1024
/** Whether `req` may be sent again: the Promise face's rule (lib/request.js `mayReplay`). */
function replayable (req) {
  return mayReplay(req.method, name => req.hasHeader(name))
}

function emitClose (socket, hadError) {
  socket.emit('close', hadError)
}

/** An idle socket's error is nobody's: it leaves the pool, as Node's free sockets do. */
function onIdleError () {
  this.destroy()
}

/**
 * A net.Socket's own 'end' listener (code that counts a socket's listeners counts it): once the server
 * has ended its side, a write after the socket's own end fails with EPIPE, as net.Socket's does.
 */
function onReadableStreamEnd () {
  if (!this.allowHalfOpen) this.write = writeAfterFIN
}

function writeAfterFIN (chunk, encoding, callback) {
  if (!this.writableEnded) return Duplex.prototype.write.call(this, chunk, encoding, callback)
  if (typeof encoding === 'function') callback = encoding
  const err = codedError(Error, 'EPIPE', 'This socket has been ended by the other party')
  if (typeof callback === 'function') process.nextTick(callback, err)
  this.destroy(err)
  return false
}

class RustSocket extends Duplex {
  /**
   * @param owner the agent's socket-face book-keeper (see lib/sockets.js)
   * @param id the connection's id in the Rust pool
   * @param fd whether the connection (being connected) may come as an fd
   */
  constructor (owner, native, id, { connecting, fd }) {
    // Strings pass as they are (ClientRequest writes its head as a latin1 string): the fd carrier hands
    // them to libuv as Node's own socket would, without a Buffer made for each.
    // 'close' is this socket's own (see `_destroy`), as a net.Socket's comes from its handle.
    super({ allowHalfOpen: false, decodeStrings: false, emitClose: false })
    this[kOwner] = owner
    this[BOOK_LISTENERS] = undefined
    this[kNative] = native
    this[kId] = id
    this[kPaused] = false
    this[kDrain] = null
    this[kTimer] = null
    this[kGone] = false
    this[kReffed] = false
    this[kReplay] = null
    this[kReplayBytes] = 0
    this[kReplays] = 0
    this[kAnswered] = false
    this[kAgentTimer] = false
    this[kTimeoutsSet] = 0
    this[kIdle] = false
    this[kMoving] = false
    this[kCarrier] = fd ? null : new PipeCarrier(native, owner.calls, id)
    /** A write (`{ chunk, encoding, callback }`) or the end (`{ chunk: null, ... }`) waiting for a carrier. */
    this[kHeld] = null
    /** A replay's chunks waiting for the new connection's carrier: chunk, encoding, chunk, encoding... */
    this[kResend] = null
    this[kStray] = false
    this.connecting = connecting
    // As a net.Socket's: undefined until a timeout is set.
    this.timeout = undefined
    this.bytesRead = 0
    this._bytesWritten = 0
    this.remoteAddress = undefined
    this.remotePort = undefined
    this.remoteFamily = undefined
    this.localAddress = undefined
    this.localPort = undefined
    this._httpMessage = null
    this.on('end', onReadableStreamEnd)
  }

  get id () { return this[kId] }
  get [CARRIER] () { return this[kCarrier]?.kind ?? null }
  get bytesWritten () { return this._bytesWritten }
  get pending () { return this.connecting }
  get readyState () {
    if (this.connecting) return 'opening'
    if (this.readable && this.writable) return 'open'
    if (this.readable) return 'readOnly'
    if (this.writable) return 'writeOnly'
    return 'closed'
  }

  // ---- events from Rust (called by the owner) ----

  /**
   * Connected; `fd` (≥ 0) is the connection's fd when the fd carrier takes it; `peerChain`: over TLS,
   * the server's certificates (DER, one after the other).
   */
  _connected (info, peerChain, fd) {
    if (this[kCarrier] === null) {
      const native = this[kNative]
      this[kCarrier] = fd >= 0
        ? new FdCarrier(native, this[kOwner].calls, this[kId], fd, this, this.encrypted === true, true)
        : new PipeCarrier(native, this[kOwner].calls, this[kId])
    }
    const { addresses, alpn, tls } = connectionInfo(info)
    Object.assign(this, addresses)
    if (this.encrypted) this._secured(alpn, tls, peerChain)
    this._activity()
    const connecting = this.connecting
    // Writes go to the carrier from now on, those held first.
    this.connecting = false
    if (this[kResend] !== null || this[kHeld] !== null) this._flush()
    // A replay's new connection is none of ClientRequest's business: it saw this socket connect once.
    if (!connecting) return
    // As a net.Socket dialled by name says what the name resolved to (request timers read it, as
    // got's http-timer does), then a TLSSocket's order: 'connect', 'ready', 'secureConnect', 'secure'.
    const host = this[kOwner].routes.get(this)?.host
    if (host !== undefined && isIP(host) === 0) this.emit('lookup', null, this.remoteAddress, this.remoteFamily === 'IPv6' ? 6 : 4, host)
    this.emit('connect')
    this.emit('ready')
    if (this.encrypted) {
      this.emit('secureConnect')
      this.emit('secure')
    }
  }

  /**
   * Bytes read. `lent`: `chunk` is a view of a buffer the fd carriers share (lib/carriers/fd.js: plain
   * reads, or TLS plaintext), valid until the next read. It is pushed as it is when ClientRequest alone
   * reads it, at once: its parser copies what it keeps of a response (llhttp copies body bytes out), and a
   * 64 KiB body one at a time cost 15 % less CPU per request than with a copy of every read. If it may
   * have been kept even so (buffered in the stream, a parse error's `rawPacket`, an upgrade's head), the
   * buffer goes with it (`giveAwayReadBuffer`); anyone else reading the socket gets a copy.
   */
  _data (chunk, lent = false) {
    // Bytes nobody asked for (an idle fd-carried connection): never let them reach the next request.
    if (this[kIdle]) {
      this[kStray] = true
      this.destroy()
      return
    }
    this[kAnswered] = true
    this[kReplay] = null
    this.bytesRead += chunk.length
    this._activity()
    const req = lent ? this.parsedAtOnce() : null
    if (lent && req === null) chunk = Buffer.from(chunk)
    const hadError = this._hadError
    const pushed = this.push(chunk)
    // Kept: buffered in the stream, an upgrade's head, or a parse error's rawPacket (ClientRequest marks
    // the socket `_hadError` then). A socket destroyed by a handler (`res.destroy()`, a redirect) keeps none.
    if (req !== null && (this.readableLength > 0 || req.upgradeOrConnect || (this._hadError && !hadError))) giveAwayReadBuffer(chunk)
    if (!pushed && !this[kPaused]) {
      this[kPaused] = true
      this[kCarrier].pause()
    }
  }

  /**
   * The ClientRequest whose parser alone reads what is pushed now, within the push (the stream flows,
   * holds nothing, and its one 'data' listener is ClientRequest's), else null.
   */
  parsedAtOnce () {
    const req = this._httpMessage
    if (req == null || this.parser == null || this.readableFlowing !== true || this.readableLength > 0 ||
      this.listenerCount('data') !== 1) return null
    return req
  }

  _drained () {
    const callback = this[kDrain]
    this[kDrain] = null
    if (callback) callback()
  }

  /** The peer finished sending. */
  _ended () {
    // An idle connection the server closed leaves the pool.
    if (this[kIdle]) this.destroy()
    else if (!this._replay()) this.push(null)
  }

  /**
   * Rust closed the connection (the pipe), or asks this socket to close it (the fd: the pool let go of
   * it); `reason` is its coded error text, '' for a clean close.
   */
  _closedByRust (reason) {
    this[kGone] = true
    this[kCarrier]?.lost()
    const err = reason ? fromNative(new Error(reason)) : null
    if (err?.message === TLS_DISCONNECTED) {
      // As Node's TLSSocket tells a peer that hung up before its handshake ended: where it went.
      const route = this[kOwner].routes.get(this)
      if (route !== undefined) Object.assign(err, { path: null, host: route.host, port: route.port })
    }
    this._lost(err, reason.startsWith(IDLE_EXPIRED))
  }

  /** The fd carrier's socket closed by itself (the peer closed or reset it). */
  _carrierClosed (err) {
    this._lost(err, false)
  }

  /** The connection is gone: replayed elsewhere, or this socket ends; `expired`: by its idle deadline. */
  _lost (err, expired) {
    if (this._replay()) return
    // The pool's idle deadline passed: as with Node's free sockets, a timeout, then the socket is gone.
    if (this[kIdle] && expired) this.emit('timeout')
    // An idle socket that closes is no one's error (Node's free sockets swallow theirs too).
    if (err && !this[kIdle]) this.destroy(err)
    else if (this[kIdle] || this.readableEnded) this.destroy()
    else {
      // What came before the close is still the reader's (a paused response may hold the rest of its
      // body here): as a net.Socket that saw EOF, the socket ends once that is read (at once when it
      // holds nothing), then closes.
      this.push(null)
      this.once('end', () => this.destroy())
      this.read(0)
    }
  }

  /**
   * Sends the request again on a new connection if this reused one ended before answering and the
   * request may be replayed; returns whether it does.
   */
  _replay () {
    const req = this._httpMessage
    if (this[kReplay] === null || this[kAnswered] || this.destroyed || !req || !req.writableEnded ||
      !replayable(req)) return false
    this[kMoving] = true
    const carrier = this[kCarrier]
    this[kCarrier] = null
    carrier.close()
    try {
      this[kOwner].retry(this, ++this[kReplays])
    } catch (err) {
      this[kGone] = true
      this.destroy(fromNative(err))
    }
    return true
  }

  /**
   * The owner found this socket's request another connection, `id`, carried by `carrier` (null: an fd is
   * on its way, see `_connected`): write the request there again. On a `reused` one (released while the
   * replay waited) it may be replayed once more, then on a new connection (see `_replay`).
   */
  _moveTo (id, carrier, reused) {
    this[kId] = id
    this[kMoving] = false
    const resend = this[kReplay] ?? []
    this[kResend] = resend
    this[kReplay] = reused ? resend : null
    this[kPaused] = false
    this[kCarrier] = carrier
    if (carrier !== null) {
      carrier.adopt(this)
      this._flush()
    }
  }

  /** An idle socket gives its connection to a replaying one (the pool granted it): this one is done. */
  _handOver () {
    const carrier = this[kCarrier]
    this[kCarrier] = null
    this[kGone] = true
    this.destroy()
    return carrier
  }

  /** The carrier came: what waited for it is written, a replay first. */
  _flush () {
    const carrier = this[kCarrier]
    const resend = this[kResend]
    if (resend !== null) {
      this[kResend] = null
      for (let i = 0; i < resend.length; i += 2) carrier.write(resend[i], resend[i + 1])
      // A write that waited for the old connection to drain is in what was just written again.
      this._drained()
    }
    const held = this[kHeld]
    if (held === null) return
    this[kHeld] = null
    if (held.chunk === null) {
      carrier.end()
      held.callback()
    } else if (carrier.write(held.chunk, held.encoding)) held.callback()
    else this[kDrain] = held.callback
  }

  /** Taken from the idle list for a new request: a new exchange starts, which may be replayed. */
  _reuse () {
    this[kIdle] = false
    this.removeListener('error', onIdleError)
    this[kReplay] = []
    this[kReplayBytes] = 0
    this[kReplays] = 0
    this[kAnswered] = false
  }

  /**
   * Back in the idle list; `idleMs` is its idle deadline (Infinity: none of its own). `ownTimeout`: the
   * agent's keepSocketAlive (a subclass's) set the socket's timeout itself, as Node lets it: that timer
   * runs on, and its 'timeout' ends the idle socket (the pool's deadline still holds too).
   */
  _idle (idleMs, ownTimeout) {
    this[kIdle] = true
    this[kReplay] = null
    // Paused, an fd carrier would not see the server close an idle connection.
    this._read()
    this.on('error', onIdleError)
    // The pool's reaper keeps the idle deadline: it closes the connection, and `_lost` emits 'timeout'
    // first, as an agentkeepalive free socket's timer would. The socket shows the deadline without a timer
    // of its own, which would be made and cleared again for every request.
    if (Number.isFinite(idleMs) && !ownTimeout) {
      this._clearTimer()
      this.timeout = idleMs
      this[kAgentTimer] = true
    }
  }

  get _isIdle () { return this[kIdle] }

  /** How many times `setTimeout()` was called: the agent sees whether its hook set one. */
  get _timeoutsSet () { return this[kTimeoutsSet] }

  /** Whether the running timer is the agent's own (`timeout`, `freeSocketTimeout`), not user code's. */
  get _agentTimeout () { return this[kAgentTimer] }

  _setAgentTimeout (ms) {
    if ((this.timeout ?? 0) !== ms) this.setTimeout(ms)
    this[kAgentTimer] = ms > 0
  }

  // ---- stream.Duplex ----

  /** `chunk`: a Buffer (`encoding` 'buffer') or a string in `encoding`. */
  _write (chunk, encoding, callback) {
    const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : chunk.length
    this._bytesWritten += bytes
    this._activity()
    if (this[kReplay] !== null) {
      this[kReplayBytes] += bytes
      if (this[kReplayBytes] <= REPLAY_LIMIT) this[kReplay].push(chunk, encoding)
      else if (this[kMoving]) return callback(hangUp())
      else this[kReplay] = null
    }
    // Waiting for a new connection: what is written now is sent with the replay.
    if (this[kMoving]) return callback()
    const carrier = this[kCarrier]
    // Held until the connection is made, as a net.Socket holds what is written while it connects: a
    // request aborted before then (its socket destroyed) never reaches the server, and one whose
    // connection never comes does not 'finish'. (The pipe would take it ahead and send it as the
    // connection is made, before the destruction reached the tokio thread.)
    if (carrier === null || this.connecting) this[kHeld] = { chunk, encoding, callback }
    else if (!carrier.write(chunk, encoding)) this[kDrain] = callback
    else callback()
  }

  _writev (chunks, callback) {
    if (chunks.length === 1) return this._write(chunks[0].chunk, chunks[0].encoding, callback)
    const buffers = chunks.map(({ chunk, encoding }) => typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk)
    this._write(Buffer.concat(buffers), 'buffer', callback)
  }

  _final (callback) {
    if (this[kGone] || this[kMoving]) return callback()
    if (this[kCarrier] === null || this.connecting) {
      this[kHeld] = { chunk: null, encoding: null, callback }
      return
    }
    this[kCarrier].end()
    callback()
  }

  _read () {
    if (this[kPaused] && this[kCarrier] !== null) {
      this[kPaused] = false
      this[kCarrier].resume()
    }
  }

  _destroy (err, callback) {
    if (this[BOOK_LISTENERS] === null) this[kOwner].closed(this)
    this._clearTimer()
    const callbackDrain = this[kDrain] ?? this[kHeld]?.callback
    this[kDrain] = null
    this[kHeld] = null
    if (!this[kMoving]) this._letGo()
    callback(err)
    // After the 'error' that destroy() emits (it is queued first), as a net.Socket's pending write hears
    // of its end: ClientRequest takes a write's end for its 'finish' unless the socket had an error, so
    // a request whose connection never came must not finish (a pipeline into it would resolve).
    if (callbackDrain) process.nextTick(callbackDrain, err ?? new Error('socket destroyed'))
    // As a net.Socket's, 'close' comes from the connection's close, a later turn than the 'error', not
    // from the stream: a listener that throws while 'error' is emitted (a request's 'error' listener, or
    // a response destroyed with an error nobody listens for) cannot keep it from coming, and with it the
    // pool's book-keeping and the unref that lets the process exit.
    setImmediate(emitClose, this, err != null)
  }

  /** This socket is done with its connection: its carrier closes it. */
  _letGo () {
    const carrier = this[kCarrier]
    if (carrier !== null) carrier.close(this[kStray])
    // No carrier yet: an fd may be on its way (lib/sockets.js closes it when it comes).
    else if (!this[kGone]) this[kNative].socketDestroy(this[kId], true)
    this[kGone] = true
  }

  destroySoon () {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once('finish', () => this.destroy())
  }

  // ---- net.Socket-like ----

  setTimeout (ms, callback) {
    this[kAgentTimer] = false
    this[kTimeoutsSet]++
    this.timeout = ms
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback)
      else this.once('timeout', callback)
    }
    this._clearTimer()
    if (ms > 0 && !this.destroyed) {
      this[kTimer] = setTimeout(() => this.emit('timeout'), ms)
      this[kTimer].unref()
    }
    return this
  }

  _clearTimer () {
    if (this[kTimer] !== null) {
      clearTimeout(this[kTimer])
      this[kTimer] = null
    }
  }

  _activity () {
    if (this[kTimer] !== null) this[kTimer].refresh()
  }

  /** TCP_NODELAY is always on in the Rust pool. */
  setNoDelay () { return this }
  /** TCP keep-alive is set by the agent's `keepAliveMsecs` on every connection. */
  setKeepAlive () { return this }

  ref () {
    if (!this[kReffed]) {
      this[kReffed] = true
      this[kOwner].busy(1)
    }
    return this
  }

  unref () {
    if (this[kReffed]) {
      this[kReffed] = false
      this[kOwner].busy(-1)
    }
    return this
  }

  get isReffed () { return this[kReffed] }

  address () {
    if (this.localAddress === undefined) return {}
    return { address: this.localAddress, family: this.remoteFamily, port: this.localPort }
  }
}

module.exports = { RustSocket, CARRIER, BOOK_LISTENERS }
