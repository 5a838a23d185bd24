'use strict'
// The Promise face's exchanges: a request is spoken on the JS thread. The Rust pool still connects (TLS
// included) and counts the connection (caps, queue, idle list and deadline, stats), then hands its fd to
// libuv as the socket face's fd carrier does (lib/carriers/fd.js; over TLS each chunk is opened or sealed
// in Rust); the head comes ready from Rust (checked as hyper's requests are checked) and the response is
// read by a strict scan of the usual head (lib/head.js) or else parsed by Node's own llhttp. A hop to
// hyper on the tokio thread and back cost more than the loopback round trip one request at a time, and as
// much CPU as it saved under load (benchmark/spikes/EXCHANGE-SPIKE.md). hyper still sends what an
// exchange does not take (see `Exchanges.takes`): through a proxy, over a caller's createConnection or a
// Unix socket, with undici's diagnostics channels subscribed, with the caller's own framing headers; and
// the dispatcher face.
//
// Its connections have a role of their own in the pool (src/faces/mod.rs `Conn::LOCAL`), so the
// socket face never takes them for a ClientRequest, nor hyper for its requests.
//
// A reused connection that closes before any byte of the answer (the keep-alive race) is replaced by
// a new one and the request sent again, once, when it may be sent twice: the Promise face's rule.

const { setImmediate, setInterval, clearInterval, setTimeout, clearTimeout } = require('./timers')
const { HTTPParser } = require('_http_common')
const { Response } = require('./response')
const { scan, scanned, ReceivedHead } = require('./head')
const { PipeCarrier } = require('./carriers/pipe')
const { FdCarrier } = require('./carriers/fd')
const { chunkBytes, mayReplay } = require('./request')
const { dialSoon } = require('./sockets')
const { abortError, agentDestroyed, codedError, fromNative, hangUp, parserError, responseLengthMismatch, undiciError, SOCKET_INFO, UNDICI_FORM } = require('./errors')
const { connectionInfo } = require('./batch')
const { Why } = require('./connection-events')
const { SMALL_BODY, MAX_HEAD } = require('../binding.js')
const { NativeAgent } = require('../native.js')

/** Body bytes held for a reader that is not reading before the connection is paused. */
const BODY_HIGH_WATER = 64 * 1024

const kOnMessageBegin = HTTPParser.kOnMessageBegin | 0
const kOnHeaders = HTTPParser.kOnHeaders | 0
const kOnHeadersComplete = HTTPParser.kOnHeadersComplete | 0
const kOnBody = HTTPParser.kOnBody | 0
const kOnMessageComplete = HTTPParser.kOnMessageComplete | 0

// What `checkout` answers: `id * 4 + kind` (src/binding/calls.rs).
const KIND_REUSED = 0
const KIND_QUEUED = 2

/** URLs whose request heads an agent remembers (programs repeat them); bounded. */
const HEADS_MAX = 256
// Heads kept for one URL (methods, body lengths and header sets), newest first.
const HEADS_PER_URL = 8

const CRLF = Buffer.from('\r\n')
/** A chunk of a streamed body up to this is copied into one write with its framing; a larger one is not. */
const SMALL_CHUNK = 16 * 1024
const LAST_CHUNK = Buffer.from('0\r\n\r\n')

/** Whether two lists of strings (flat header lists) hold the same strings in the same order. */
function sameStrings (a, b) {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false
  }
  return true
}

/** The Content-Length among flat `headers` (one Rust checked: see `Exchanges.head`), or -1. */
function declaredLength (headers) {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]
    if (name.length === 14 && name.toLowerCase() === 'content-length') return Number(headers[i + 1])
  }
  return -1
}

/**
 * A body held whole whose length is not what its Content-Length declares is refused before anything is
 * sent, as undici refuses it: sent, the server would wait for bytes that never come (the request hung)
 * or read what is over as the start of another request. Unless `strict` is false (undici's
 * `strictContentLength`): then it goes with its own length, and this says whether to warn (`lengthWarning`)
 * as it is sent.
 */
function heldLengthDiffers (headers, bytes, strict = true) {
  const declared = declaredLength(headers)
  if (declared < 0 || declared === bytes.length) return false
  if (strict) throw lengthMismatch()
  return true
}

/**
 * A streamed body `source` held to the length its `headers` declare (with `strict` false, undici's
 * `strictContentLength`, only warned of: see DeclaredLength) on its way to hyper, as an exchange holds
 * it (hyper would send what fits and drop the rest unsaid); `source` itself when they declare none.
 */
function heldTo (source, headers, strict) {
  const declared = declaredLength(headers)
  return declared < 0 ? source : heldToLength(source, new DeclaredLength(declared, strict))
}

/** `source` through `length`; it throws undici's error when the body may not go. */
async function * heldToLength (source, length) {
  for await (const chunk of source) {
    const bytes = taken(length, source, chunkBytes(chunk))
    if (bytes.length > 0) yield bytes
  }
  length.end()
}

/**
 * What of `bytes` may go (`length.take`); when none may, `source` is destroyed with undici's error, as
 * undici destroys a body it refuses (undici's request() hears of it from the body), before the loop
 * reading it ends and Node destroys it with an AbortError.
 */
function taken (length, source, bytes) {
  try {
    return length.take(bytes)
  } catch (err) {
    source.destroy?.(err)
    throw err
  }
}

/** The warning undici's `strictContentLength: false` gives for a body that is not its declared length. */
function lengthWarning () {
  process.emitWarning(lengthMismatch())
}

/**
 * Holds a streamed body to the length its Content-Length declares: another length fails the request with
 * undici's RequestContentLengthMismatchError (thrown), or with `strict` false (undici's
 * `strictContentLength`) warns once. What is past the declared length is never sent: undici sends it, and
 * the server reads it as the start of another request.
 */
class DeclaredLength {
  constructor (declared, strict) {
    this.left = declared
    this.strict = strict
    this.warned = false
  }

  /** What of `bytes` may go. */
  take (bytes) {
    if (bytes.length <= this.left) {
      this.left -= bytes.length
      return bytes
    }
    this.differs()
    const taken = bytes.subarray(0, this.left)
    this.left = 0
    return taken
  }

  /** The body ended: whether it fell short (the server still waits for the rest). */
  end () {
    if (this.left === 0) return false
    this.differs()
    return true
  }

  differs () {
    if (this.strict) throw lengthMismatch()
    if (!this.warned) lengthWarning()
    this.warned = true
  }
}

/** Whether a request with these flat `headers` (names and values alternating) may be sent twice. */
function replayable (method, headers) {
  return mayReplay(method, name => {
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i].toLowerCase() === name) return true
    }
    return false
  })
}

/** The request's inactivity limit ran out, worded as the hyper path words it (Rust's `Duration`). */
function timedOut (ms) {
  return codedError(Error, 'ETIMEDOUT', `no activity for ${ms < 1000 ? `${ms}ms` : `${ms / 1000}s`} (timeout)`)
}

/** A body cut short, as Node's response reports it. */
function aborted () {
  return codedError(Error, 'ECONNRESET', 'aborted')
}

/** undici's limit of a phase ran out (`head`: the response head's), named as undici names it. */
function phaseTimedOut (head) {
  return head
    ? undiciError('UND_ERR_HEADERS_TIMEOUT', 'HeadersTimeoutError', 'Headers Timeout Error')
    : undiciError('UND_ERR_BODY_TIMEOUT', 'BodyTimeoutError', 'Body Timeout Error')
}

/** A streamed body longer or shorter than its declared Content-Length, as undici reports it. */
function lengthMismatch () {
  return undiciError('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'RequestContentLengthMismatchError',
    'Request body length does not match content-length header')
}

/** llhttp's fault, as Node's ClientRequest reports it. */
function parseError (err) {
  return codedError(Error, err.code, `Parse Error: ${err.reason}`)
}

/** `chunk[start, end)` copied into a Buffer of its own (as llhttp's body Buffers are). */
function owned (chunk, start, end) {
  const bytes = Buffer.allocUnsafeSlow(end - start)
  chunk.copy(bytes, 0, start, end)
  return bytes
}

/**
 * llhttp parsers not in use, kept for the next exchange as Node keeps its own: an idle connection holds
 * none (each is a few KiB of header slots in C++). Its callbacks run with the parser as `this`.
 */
const freeParsers = []
const FREE_PARSERS_MAX = 256
/** What async_hooks see as each exchange's resource. */
const PARSER_RESOURCE = Object.freeze({ type: 'keepalive-agent exchange' })

function onMessageBegin () {
  this.owner.onMessageBegin()
}

function onHeaders (headers) {
  this.owner.onHeaders(headers)
}

function onHeadersComplete (major, minor, headers, method, url, status, statusText, upgrade, keepAlive) {
  return this.owner.onHeadersComplete(headers, status, statusText, keepAlive)
}

function onBody (chunk) {
  this.owner.onBody(chunk)
}

function onMessageComplete () {
  this.owner.onMessageComplete()
}

function takeParser (owner) {
  let parser = freeParsers.pop()
  if (parser === undefined) {
    parser = new HTTPParser()
    parser[kOnMessageBegin] = onMessageBegin
    parser[kOnHeaders] = onHeaders
    parser[kOnHeadersComplete] = onHeadersComplete
    parser[kOnBody] = onBody
    parser[kOnMessageComplete] = onMessageComplete
  }
  parser.initialize(HTTPParser.RESPONSE, PARSER_RESOURCE, MAX_HEAD, HTTPParser.kLenientNone)
  parser.owner = owner
  return parser
}

function giveParser (parser) {
  parser.owner = null
  if (freeParsers.length < FREE_PARSERS_MAX) {
    parser.free?.()
    freeParsers.push(parser)
  } else {
    parser.close()
  }
}

/**
 * With this many requests in flight, one granted a connection is sent at the end of the event loop's
 * turn, with the others granted in it, rather than at once. Over loopback a write also carries the
 * request into the server's socket and wakes the server if it sleeps; requests written one after another,
 * no longer between the handling of each response, find it awake more often. At 64 in flight that gave
 * +12 % requests/s and -12 % CPU per request (median of 10 alternated runs; benchmark/README.md, "Where
 * the time goes"). One request at a time is sent at once: waiting would only add latency.
 */
const SEND_AT_TURN_END = 4
/** Requests waiting for the end of this turn, each followed by the connection it was granted. */
let turn = null

function sendAtTurnEnd (exchange) {
  if (turn === null) {
    turn = []
    setImmediate(sendTurn)
  }
  turn.push(exchange, exchange.conn)
}

function sendTurn () {
  const sending = turn
  turn = null
  for (let i = 0; i < sending.length; i += 2) {
    const exchange = sending[i]
    // Given up meanwhile, or its connection closed before anything was sent (then it was sent again
    // over another, which may be further on in this list).
    if (!exchange.over && exchange.conn === sending[i + 1]) exchange.send()
  }
}

/**
 * Idle connections keep their parser for the next exchange (taking and giving one back costs async_hooks
 * work each time: ≈ 8k instructions a request) until they have been idle through a whole sweep (1 to
 * 2 s): then it goes back, and an idle connection holds none. `holding` are the connections that hold
 * one; each notes the sweep count when it went idle (`restedAt`), a field write per request.
 */
const holding = new Set()
const REST_SWEEP_MS = 1000
let sweeps = 0
let sweeper = null

function hold (conn) {
  holding.add(conn)
  if (sweeper === null) sweeper = setInterval(sweep, REST_SWEEP_MS).unref()
}

function sweep () {
  sweeps++
  for (const conn of holding) {
    if (conn.exchange === null && conn.restedAt < sweeps - 1) conn.dropParser()
  }
  if (holding.size === 0) {
    clearInterval(sweeper)
    sweeper = null
  }
}

/**
 * The rest of a response body, read by the Response's stream (lib/response.js) chunk by chunk; the
 * connection pauses while more than BODY_HIGH_WATER waits unread.
 */
class ExchangeBody {
  constructor (exchange, liveness) {
    this.exchange = exchange
    this.liveness = liveness
    this.chunks = []
    this.bytes = 0
    /** The trailers (an array) once the body ended; the error once it failed. */
    this.trailers = null
    this.error = null
    this.waiting = null
  }

  add (chunk) {
    if (this.waiting !== null) {
      this.answer(chunk)
      return
    }
    this.chunks.push(chunk)
    this.bytes += chunk.length
    if (this.bytes > BODY_HIGH_WATER) this.exchange.conn?.pause()
  }

  end (trailers) {
    this.trailers = trailers
    if (this.waiting !== null) this.answer(trailers)
  }

  fail (err) {
    if (this.trailers !== null) return
    this.error = err
    if (this.waiting === null) return
    const { reject } = this.waiting
    this.settle()
    reject(err)
  }

  /** The next chunk, or the trailers (an array) once the body has ended. */
  read () {
    if (this.chunks.length > 0) {
      const chunk = this.chunks.shift()
      this.bytes -= chunk.length
      if (this.bytes <= BODY_HIGH_WATER) this.exchange.conn?.resume()
      return Promise.resolve(chunk)
    }
    if (this.error !== null) return Promise.reject(this.error)
    if (this.trailers !== null) return Promise.resolve(this.trailers)
    this.exchange.conn?.resume()
    // A reader waits: the process stays up for it, as for a read of a body from Rust.
    this.liveness.busy(1)
    return new Promise((resolve, reject) => { this.waiting = { resolve, reject } })
  }

  answer (value) {
    const { resolve } = this.waiting
    this.settle()
    resolve(value)
  }

  settle () {
    this.waiting = null
    this.liveness.busy(-1)
  }

  /** The reader gave up the body (or its Response became unreachable): the connection cannot be reused. */
  cancel () {
    if (this.trailers !== null || this.error !== null) return
    this.fail(aborted())
    this.exchange.abandon()
  }
}

/**
 * A connection the exchanges speak over, known to the agent's socket book by its id (so its Rust events
 * reach it). Between exchanges it is idle in the pool; bytes or an end then close it. Its opening and
 * closing are told to the agent's undici-style listeners (lib/connection-events.js).
 */
class ExchangeConnection {
  /** `href`: the URL of the request it was opened for (its origin is the connection's). */
  constructor (exchanges, id, secure, href) {
    this.exchanges = exchanges
    this.id = id
    this.secure = secure
    this.href = href
    /**
     * Why it closes, as undici tells 'disconnect' listeners (an Error, or a `Why` that makes one), once
     * known; a connect that failed: its Error.
     */
    this.why = null
    this.carrier = null
    this.exchange = null
    this.destroyed = false
    /**
     * Set by the parser's callbacks, acted on once `execute` returns: the exchange whose response is
     * complete, and whether a response nobody asked for followed (`stray`).
     */
    this.finished = null
    this.stray = false
    this.executing = false
    /** llhttp's parser while an answer is being read or was lately (see `takeParser`, `holding`), else null. */
    this.parser = null
    /** The sweep count when it last went idle. */
    this.restedAt = 0
    this.drainWaiter = null
    /** Paused for a reader that lags (see BODY_HIGH_WATER). */
    this.paused = false
    /** Header pairs llhttp handed over before the head ended (a long head), or the trailers. */
    this.pending = []
    /** The body bytes still to come of a response whose head `scan` read (lib/head.js), else 0. */
    this.bodyLeft = 0
    /** What Rust told of the connection once it was open (lib/batch.js `connectionInfo`), and the bytes moved since. */
    this.info = null
    this.bytesRead = 0
    this.bytesWritten = 0
    /** Exchanges given it, against the agent's `maxRequests`. */
    this.served = 0
  }

  /**
   * The connection as undici's `SocketError.socket` describes a socket (`util.getSocketInfo`): its
   * addresses and the bytes it moved; null before it was open.
   */
  socketInfo () {
    if (this.info === null) return null
    const { addresses } = connectionInfo(this.info)
    return { ...addresses, timeout: undefined, bytesWritten: this.bytesWritten, bytesRead: this.bytesRead }
  }

  /**
   * A message starts: any byte after the answer (a whole response, or the start of one) is stray, and
   * the connection is not reused (a kept parser would carry it into the next exchange).
   */
  onMessageBegin () {
    if (this.exchange === null || this.finished !== null) this.stray = true
  }

  onHeaders (headers) {
    for (let i = 0; i < headers.length; i++) this.pending.push(headers[i])
  }

  onHeadersComplete (headers, status, statusText, keepAlive) {
    if (headers === undefined) {
      headers = this.pending
      this.pending = []
    }
    const exchange = this.exchange
    if (exchange === null || this.stray) return 0
    return exchange.head(status, statusText, headers, keepAlive)
  }

  onBody (chunk) {
    if (this.finished === null) this.exchange?.body(chunk)
  }

  onMessageComplete () {
    const trailers = this.pending
    this.pending = []
    if (this.finished === null) this.exchange?.complete(trailers)
  }

  /** The parser goes back for the next exchange (not from within its own callback). */
  dropParser () {
    const parser = this.parser
    if (parser === null) return
    this.parser = null
    holding.delete(this)
    if (this.executing) setImmediate(giveParser, parser)
    else giveParser(parser)
  }

  /** Rust connected it: `fd` ≥ 0 when libuv takes it, else its bytes stay in Rust (the pipe). */
  _connected (info, peerCertificate, fd) {
    this.info = info
    const native = this.exchanges.native
    this.carrier = fd >= 0 ? new FdCarrier(native, this.exchanges.calls, this.id, fd, this, this.secure, false) : new PipeCarrier(native, this.exchanges.calls, this.id)
    this.exchanges.events.connected(this.href)
    if (this.destroyed) return
    if (this.exchange !== null) this.exchange.send()
    else this.close()
  }

  /** Bytes read; `lent`: a view of a buffer the fd carriers share (plain reads or TLS plaintext), valid until the next read. */
  _data (chunk, lent = false) {
    this.bytesRead += chunk.length
    if (this.exchange === null) {
      // Bytes nobody asked for on an idle connection: never read as the next request's answer.
      this.why = Why.badResponse
      this.close(true)
      return
    }
    const exchange = this.exchange
    const first = !exchange.received
    exchange.received = true
    // Every byte that arrives starts the inactivity limit again.
    exchange.timer?.refresh()
    exchange.limits?.received()
    if (this.bodyLeft > 0) {
      this.bodyRead(exchange, chunk, 0, lent)
      return
    }
    // The usual answer, whole head in its first chunk, is read without llhttp (lib/head.js); a HEAD
    // request's answer has no body whatever its length says, and is llhttp's.
    if (first && !exchange.skipBody && scan(chunk, chunk.length)) {
      this.scanned(exchange, chunk, lent)
      return
    }
    // A parser from the answer's first byte, not from when the request went out: a request waiting for
    // its answer holds none, and the parsers of a burst of slow requests come after the burst's
    // connections, in the room their setup left, not between them (1,000 held requests, then idle: 17.3
    // → 15.2 KiB anonymous RSS per idle connection, benchmark/memory.js). One kept from before serves.
    if (this.parser === null) {
      this.parser = takeParser(this)
      hold(this)
    }
    this.execute(chunk)
  }

  execute (chunk) {
    this.executing = true
    const result = this.parser.execute(chunk)
    this.executing = false
    this.parsed(result)
  }

  /** A head `scan` read, with what came of the body in the same chunk (no more than the body). */
  scanned (exchange, chunk, lent) {
    const { status, end, length, keepAlive, hintStart, hintEnd } = scanned
    const hint = hintStart >= 0 ? chunk.latin1Slice(hintStart, hintEnd) : null
    exchange.headRead(status, new ReceivedHead(chunk.latin1Slice(0, end)), keepAlive, hint, length)
    this.bodyLeft = length
    this.bodyRead(exchange, chunk, end, lent)
  }

  /**
   * Body bytes from `chunk[start]` on of a response whose head `scan` read; bytes beyond its length are
   * stray (the connection closes once the response is complete, as after llhttp found them).
   */
  bodyRead (exchange, chunk, start, lent) {
    const taken = Math.min(chunk.length - start, this.bodyLeft)
    if (taken > 0) {
      this.bodyLeft -= taken
      exchange.body(lent ? owned(chunk, start, start + taken) : chunk.subarray(start, start + taken))
    }
    if (this.bodyLeft === 0) {
      exchange.complete([])
      if (start + taken < chunk.length) this.stray = true
    }
    this.parsed(undefined)
  }

  /** What to do once a chunk was read: `result`, llhttp's (an Error for a fault), or undefined. */
  parsed (result) {
    const finished = this.finished
    if (finished !== null) {
      this.finished = null
      // Bytes after the response (another response, or garbage): the connection is not reused.
      if (this.stray || result instanceof Error) {
        this.why = Why.badResponse
        this.close(true)
      }
      else this.done(finished)
      finished.delivered()
      return
    }
    if (result instanceof Error && this.exchange !== null) {
      this.why = parseError(result)
      this.exchange.fail(this.why)
      this.close()
    } else if (this.stray) {
      this.why = Why.badResponse
      this.close(true)
    } else {
      this.exchange?.progress()
    }
  }

  /**
   * The exchange ended with its response: the connection goes back to the pool (reading again if a
   * reader that lagged had paused it), or closes; the exchange lets go of it.
   */
  done (exchange) {
    const { keepAlive, hint } = exchange.response
    exchange.conn = null
    this.exchange = null
    if (this.paused) this.resume()
    const { limits, maxRequests } = this.exchanges
    const kept = keepAlive && limits.keepAlive && (maxRequests === 0 || this.served < maxRequests)
    const idleMs = kept ? this.exchanges.calls.release(this.id, hint) : -1
    if (idleMs < 0) {
      this.why = Why.reset
      this.close()
    } else {
      // A hint that leaves nothing of its time: it closes at once unless a waiter takes it, as undici
      // closes a connection it may not keep (its 'reset').
      if (idleMs === 0) this.why = Why.reset
      this.restedAt = sweeps
    }
  }

  /** The server ended its side. */
  _ended () {
    // A body that runs to the end of the connection ends here; anything else was cut short.
    let eof = null
    if (this.exchange?.received && this.bodyLeft === 0) {
      this.executing = true
      eof = this.parser.finish()
      this.executing = false
    }
    const cut = this.cutShort(eof)
    // A response that said its connection ends, read whole: it ended the connection (undici's 'reset').
    const said = this.finished !== null && this.finished === this.exchange && this.exchange.response?.keepAlive === false
    this.why ??= cut ?? (said ? Why.reset : Why.otherSideClosed)
    const finished = this.finished
    this.finished = null
    this.gone(null, cut)
    finished?.delivered()
  }

  /**
   * What undici makes of its exchange's response cut short by the server's end (`eof`: llhttp's fault
   * at the end, if read by llhttp), or null where that is its SocketError: once a response that said its
   * connection ends has its head, undici reads the end as the body's, and a body short of its length is
   * its ResponseContentLengthMismatchError, a chunked one llhttp's 'Invalid EOF state'.
   */
  cutShort (eof) {
    const response = this.exchange?.response
    if (response == null || response.keepAlive || (this.bodyLeft === 0 && !(eof instanceof Error))) return null
    return response.length >= 0 ? responseLengthMismatch() : parserError(eof.code, eof.reason)
  }

  _drained () {
    const waiter = this.drainWaiter
    this.drainWaiter = null
    waiter?.()
  }

  /** Resolves once what was written has gone out (or the connection is gone). */
  drained () {
    return new Promise(resolve => { this.drainWaiter = resolve })
  }

  /**
   * Rust closed it: the connect failed, its idle deadline passed (the one ETIMEDOUT an open connection
   * gets from Rust), the pool let go of it, or (on the pipe) the server closed it.
   */
  _closedByRust (reason) {
    this.carrier?.lost()
    const err = reason ? fromNative(new Error(reason)) : null
    this.why ??= this.carrier !== null && err?.code === 'ETIMEDOUT' ? Why.idle : err
    this.gone(err)
  }

  /** The fd carrier's socket closed by itself. */
  _carrierClosed (err) {
    // A reset after a response that said its connection ends: undici reads it as that end.
    if (err?.code === 'ECONNRESET' && this.exchange?.response?.keepAlive === false) {
      this._ended()
      return
    }
    this.why ??= err
    this.gone(err)
  }

  /**
   * It closed under its exchange (`err`, or null for the server's end; `undici`: what undici makes of that
   * end): the exchange hears first, as with undici.
   */
  gone (err, undici = null) {
    if (this.destroyed) return
    const exchange = this.exchange
    this.shut(false)
    exchange?.lost(err, undici)
    this.told()
  }

  pause () {
    this.paused = true
    this.carrier?.pause()
  }

  resume () {
    this.paused = false
    this.carrier?.resume()
  }

  /** One chunk of a chunked body, in one write where it can; false: wait for `drained()`. */
  writeChunk (bytes) {
    const size = `${bytes.length.toString(16)}\r\n`
    this.bytesWritten += size.length + bytes.length + 2
    if (bytes.length <= SMALL_CHUNK) return this.carrier.write(Buffer.concat([Buffer.from(size, 'latin1'), bytes, CRLF]))
    this.carrier.write(size, 'latin1')
    this.carrier.write(bytes)
    return this.carrier.write(CRLF)
  }

  /** A Buffer, or a string in `encoding`; false: wait for `drained()` before writing more. */
  write (chunk, encoding) {
    this.bytesWritten += typeof chunk !== 'string' ? chunk.length : encoding === 'latin1' ? chunk.length : Buffer.byteLength(chunk, encoding)
    return this.carrier.write(chunk, encoding)
  }

  /** Done with the connection (`fault`: for bytes nobody asked for): it closes and leaves the pool. */
  close (fault = false) {
    if (this.destroyed) return
    this.shut(fault)
    this.told()
  }

  shut (fault) {
    this.destroyed = true
    this.exchange = null
    this._drained()
    const book = this.exchanges.book
    if (book.byId.get(this.id) === this) book.byId.delete(this.id)
    if (this.carrier !== null) this.carrier.close(fault)
    else this.exchanges.native.socketDestroy(this.id, true)
    this.dropParser()
  }

  /** Tells the agent's listeners it closed: one that was open, or one whose connect failed. */
  told () {
    const events = this.exchanges.events
    if (this.carrier !== null) events.disconnected(this.href, this.why, this)
    else if (this.why instanceof Error) events.failed(this.href, this.why)
  }

  /** The agent is destroyed (lib/sockets.js `destroyAll`): its exchange fails, not replayed. */
  destroy () {
    this.exchange?.fail(agentDestroyed(), true)
    this.close()
  }
}

/**
 * What a dispatched exchange (lib/dispatcher.js) adds to the Promise face's: undici's two limits, the
 * response head within `headersTimeout` of the request's end and no gap longer than `bodyTimeout`
 * between body bytes while the reader reads (0: none; each counted as a timeout, as the hyper path counts
 * them), and the 1xx heads before the answer, told to `informed(status, statusText, rawHeaders)`.
 */
class UndiciLimits {
  /** `onSent()`: the whole request went out. */
  constructor (headersTimeout, bodyTimeout, informed, onSent) {
    this.headersTimeout = headersTimeout
    this.bodyTimeout = bodyTimeout
    this.informed = informed
    this.onSent = onSent
    /** The running limit: a Node timer, or (`deadline` > 0) a deadline in `performance.now()` time, `length` ms from its start, for `exchange`. */
    this.timer = null
    this.deadline = 0
    this.length = 0
    this.exchange = null
    this.inBody = false
    /** The consumer paused: the body's limit waits, as undici's does while its parser is paused. */
    this.held = false
    /** undici's `strictContentLength`: false lets a streamed body differ from its declared length. */
    this.strictLength = true
    /** A body held whole is not its declared length: warned of as it is sent, as undici warns. */
    this.lengthDiffers = false
  }

  /** The consumer paused (`on`) or reads again: while paused the body's limit does not run out. */
  hold (on) {
    this.held = on
    if (!on && this.inBody) this.refresh()
  }

  /** The whole request went out: the head's limit starts (again, when it is sent again after the keep-alive race). */
  sent (exchange) {
    this.onSent()
    if (this.inBody || this.headersTimeout <= 0) return
    this.stop()
    this.arm(exchange, this.headersTimeout)
  }

  /**
   * The upload waits for the connection to take more (`on`), or goes on: while it waits the head's limit
   * runs, as undici's does once its socket needs draining (a server that neither reads the body nor
   * answers fails the request rather than hold it for ever).
   */
  stalled (exchange, on) {
    if (this.inBody || this.headersTimeout <= 0) return
    this.stop()
    if (on) this.arm(exchange, this.headersTimeout)
  }

  /** The head arrived: the body's limit starts. */
  headed (exchange) {
    this.stop()
    this.inBody = true
    if (this.bodyTimeout > 0) this.arm(exchange, this.bodyTimeout)
  }

  /** Bytes arrived: in the body, its limit starts again. */
  received () {
    if (this.inBody) this.refresh()
  }

  /** A limit of `ms` for `exchange` starts: a deadline the sweep checks (see COARSE_MIN_MS), or a timer. */
  arm (exchange, ms) {
    this.exchange = exchange
    this.length = ms
    if (ms >= COARSE_MIN_MS) {
      this.deadline = performance.now() + ms
      watch(this)
    } else {
      this.timer = setTimeout(limitPassed, ms, this).unref()
    }
  }

  refresh () {
    if (this.timer !== null) this.timer.refresh()
    else if (this.deadline > 0) this.deadline = performance.now() + this.length
  }

  stop () {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    if (this.deadline > 0) {
      this.deadline = 0
      watched.delete(this)
    }
  }
}

/**
 * undici's limits of a second or more are deadlines that one sweep checks every COARSE_TICK_MS, as
 * undici keeps them itself (its fast timers tick every half second): a request then makes no Node timer
 * (two set and cleared cost ≈ 1.6 µs a request dispatched by fetch at 64 in flight, `--cpu-prof`; undici's
 * default is 300 s for each). Such a limit runs out within half a second after its length; a shorter one
 * takes Node's timer, to the millisecond. The sweep stops once it finds nothing to watch.
 */
const COARSE_MIN_MS = 1000
const COARSE_TICK_MS = 500
const watched = new Set()
let limitSweeper = null

function watch (limits) {
  watched.add(limits)
  if (limitSweeper === null) limitSweeper = setInterval(sweepLimits, COARSE_TICK_MS).unref()
}

function sweepLimits () {
  if (watched.size === 0) {
    clearInterval(limitSweeper)
    limitSweeper = null
    return
  }
  const now = performance.now()
  for (const limits of watched) {
    if (limits.deadline <= now) limitPassed(limits)
  }
}

function limitPassed (limits) {
  const exchange = limits.exchange
  // A reader that does not read is no stalled server (undici's body limit waits while its parser is paused).
  if (limits.inBody && (limits.held || (exchange.source !== null && exchange.source.bytes > BODY_HIGH_WATER))) {
    limits.refresh()
    return
  }
  limits.stop()
  exchange.exchanges.native.noteTimeout()
  exchange.fail(phaseTimedOut(!limits.inBody), true)
}

/** An exchange's yes/no state, one bit each of its `flags`, read and set as properties. */
const FLAGS = [
  'sending', // a streamed body is being written
  'replayable', // it may be sent twice
  'reused', // its connection served an earlier request
  'received', // a byte of the answer arrived
  'settled', // its promise is settled
  'skipBody', // a HEAD request: the answer has no body
  'shortBody', // a streamed body ended short of its declared length (undici's strictContentLength: false)
  'over' // answered in full, failed or given up
]
const REPLAYABLE_BIT = 1 << FLAGS.indexOf('replayable')
const SKIP_BODY_BIT = 1 << FLAGS.indexOf('skipBody')

/** One request and its response. */
class Exchange {
  constructor (exchanges, href, target, profile, method, head, body, upload, replayable, timeout, signal, resolve, reject, limits) {
    this.exchanges = exchanges
    this.href = href
    this.target = target
    this.profile = profile
    this.headText = head
    this.bodyBytes = body
    /** A body to stream (any async iterable), or null. */
    this.upload = upload
    /** The length the caller declared for `upload` (sent as it comes), or -1 (sent chunked). */
    this.declared = -1
    /** The yes/no state, a bit each (see FLAGS): a queued request holds one number, not eight. */
    this.flags = (replayable ? REPLAYABLE_BIT : 0) | (method === 'HEAD' ? SKIP_BODY_BIT : 0)
    /** How often it was sent again after the keep-alive race (see `lost`). */
    this.replays = 0
    this.timeout = timeout
    this.signal = signal
    this.resolve = resolve
    this.reject = reject
    this.conn = null
    this.ticket = -1
    /**
     * Once the head is known: `{ status, received, keepAlive, hint, whole, prefix, trailers }` (`received`:
     * the status text and headers, see `headRead`),
     * with the connection's fate (`keepAlive`, the `Keep-Alive` header's `hint`), whether the body comes
     * whole with the head (a known length up to SMALL_BODY, as hyper's does), the body chunks so far and,
     * once a whole response is complete, its trailers (until it is answered).
     */
    this.response = null
    this.source = null
    this.timer = null
    this.onAbort = null
    /** A dispatched exchange's UndiciLimits, else null. */
    this.limits = limits
  }

  start () {
    this.exchanges.liveness.busy(1)
    if (this.signal !== null) {
      this.onAbort = () => this.abort(abortError(this.signal))
      this.signal.addEventListener('abort', this.onAbort, { once: true })
    }
    try {
      this.checkout()
    } catch (err) {
      // A destroyed agent, a bad port: as the pool refuses it.
      this.fail(fromNative(err))
    }
  }

  /** Asks the pool for a connection, not an idle one once replayed (see `lost`). */
  checkout () {
    const { secure, host, port } = this.target
    const exchanges = this.exchanges
    // A connect gets the inactivity limit in Rust (as hyper's do); time in the queue is not counted.
    const answer = exchanges.calls.checkout(secure, host, port, this.replays, this.profile, this.fdWanted(), true, this.timeout)
    const kind = answer % 4
    const id = (answer - kind) / 4
    dialSoon(exchanges.calls, kind, id)
    if (kind === KIND_QUEUED) {
      this.ticket = id
      exchanges.book.waitFor(id, this)
    } else {
      this.granted(id, kind === KIND_REUSED)
    }
  }

  /**
   * Whether a new connection for it comes as an fd (libuv reads it on the JS thread) rather than over
   * Rust's pipe (the tokio thread reads and writes it, TLS included). The Promise face's always do: with
   * nothing else on the JS thread, that was fastest at any load. A dispatched request (fetch) takes the
   * pipe under load as the socket face does (lib/sockets.js `wantsFd`): fetch's own work keeps the JS
   * thread busy, and the tokio thread takes the syscalls off it (at 64 in flight fetch over the pipe ran
   * 1.27× (http) and 1.38× (https) Node's global fetch, over the fd 1.0× and 0.9×).
   */
  fdWanted () {
    return this.limits === null || this.exchanges.book.wantsFd()
  }

  /** The pool gave connection `id`: an idle one (`reused`), or one it is connecting. */
  granted (id, reused) {
    this.ticket = -1
    const exchanges = this.exchanges
    if (this.over) {
      // Failed (aborted) while its grant was on its way: an idle connection goes back, a new one closes.
      if (reused) exchanges.calls.release(id, null)
      else exchanges.native.socketDestroy(id, true)
      return
    }
    let conn = reused ? exchanges.book.byId.get(id) : undefined
    if (reused && conn === undefined) {
      // The pool handed over an idle connection that JS closed before this grant arrived (its end was
      // read first): nothing was sent on it, so the request asks again (not a replay).
      exchanges.native.socketDestroy(id, true)
      try {
        this.checkout()
      } catch (err) {
        this.fail(fromNative(err))
      }
      return
    }
    if (conn === undefined) {
      conn = new ExchangeConnection(exchanges, id, this.target.secure, this.href)
      exchanges.book.byId.set(id, conn)
    }
    this.reused = reused
    this.conn = conn
    conn.exchange = this
    conn.served++
    conn.why = null
    if (conn.carrier === null) return
    if (exchanges.liveness.count >= SEND_AT_TURN_END) sendAtTurnEnd(this)
    else this.send()
  }

  /** The pool refused the request (the agent was destroyed, the queue is full or timed out). */
  refused (err) {
    this.ticket = -1
    this.fail(err)
  }

  send () {
    if (this.timeout > 0 && this.timer === null) {
      // Unref'd: a body nobody reads must not hold the process (the request's liveness does until answered).
      this.timer = setTimeout(() => this.timedOut(), this.timeout).unref()
    }
    const body = this.bodyBytes
    if (this.limits?.lengthDiffers) lengthWarning()
    if (body === undefined || body.length === 0) {
      this.conn.write(this.headText, 'latin1')
    } else if (body.length <= SMALL_CHUNK) {
      // Head and a small body in one write: one syscall (or one sealing), not two.
      const head = this.headText
      const both = Buffer.allocUnsafe(head.length + body.length)
      both.write(head, 0, 'latin1')
      body.copy(both, head.length)
      this.conn.write(both)
    } else {
      this.conn.write(this.headText, 'latin1')
      this.conn.write(body)
    }
    if (this.upload !== null) this.pump(this.conn)
    else this.limits?.sent(this)
  }

  /** No byte moved for `timeout` ms: the request fails and its connection closes, counted as a timeout. */
  timedOut () {
    this.exchanges.native.noteTimeout()
    this.fail(timedOut(this.timeout), true)
  }

  /**
   * Streams the caller's body over `conn`, chunked (or as it comes, of the length the caller declared), as
   * fast as the connection takes it; stops the source once the request is over. A source that fails, or
   * gives other than the declared length (see DeclaredLength; its limits' `strictLength` is undici's
   * `strictContentLength`), fails the request (with its own error), and the connection closes: the server
   * never sees a complete body.
   */
  async pump (conn) {
    this.sending = true
    const declared = this.declared
    const length = declared >= 0 ? new DeclaredLength(declared, this.limits?.strictLength !== false) : null
    try {
      for await (const chunk of this.upload) {
        if (this.over || this.conn !== conn) return
        let bytes = chunkBytes(chunk)
        if (length !== null) bytes = taken(length, this.upload, bytes)
        if (bytes.length === 0) continue
        this.timer?.refresh()
        if (!(length !== null ? conn.write(bytes) : conn.writeChunk(bytes))) {
          this.limits?.stalled(this, true)
          await conn.drained()
          this.limits?.stalled(this, false)
        }
      }
      // Short of its length, and let be: the server still waits for the rest, so the connection is not kept.
      if (length?.end()) this.shortBody = true
      if (!this.over && this.conn === conn) {
        if (length === null) conn.write(LAST_CHUNK)
        this.limits?.sent(this)
      }
    } catch (err) {
      if (!this.over) this.fail(err, true)
    } finally {
      this.sending = false
    }
  }

  /** The response head (1xx heads are passed over); returns 1 for llhttp to expect no body. */
  head (status, statusText, rawHeaders, keepAlive) {
    if (status >= 100 && status < 200 && status !== 101) {
      if (status !== 100) this.limits?.informed?.(status, statusText, rawHeaders)
      return 0
    }
    let hint = null
    let length = -1
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]
      // Lower-cased only when length and first letter say it may be one of the two.
      const first = name.charCodeAt(0) | 0x20
      if (name.length === 10 && first === 0x6b && name.toLowerCase() === 'keep-alive') hint = rawHeaders[i + 1]
      else if (name.length === 14 && first === 0x63 && name.toLowerCase() === 'content-length') length = Number(rawHeaders[i + 1])
    }
    // An upgrade was not asked for: the connection is not reused.
    this.headRead(status, { statusText, rawHeaders }, keepAlive && status !== 101, hint, length)
    return this.skipBody ? 1 : 0
  }

  /**
   * The final head: `received` gives its `statusText` and `rawHeaders` (llhttp's, or a ReceivedHead cut
   * when read); `length` is the body's declared length, or -1.
   */
  headRead (status, received, keepAlive, hint, length) {
    this.limits?.headed(this)
    this.response = { status, received, keepAlive, hint, length, whole: length >= 0 && length <= SMALL_BODY, prefix: [], trailers: null }
  }

  body (chunk) {
    if (this.source !== null) this.source.add(chunk)
    else this.response.prefix.push(chunk)
  }

  /** The whole response has arrived. */
  complete (trailers) {
    const response = this.response
    if (response === null) return
    // Answered before its body was all sent, or it fell short: the connection is mid-request.
    if (this.sending || this.shortBody) response.keepAlive = false
    this.finish()
    if (this.source !== null) this.source.end(trailers)
    else response.trailers = trailers
    this.conn.finished = this
  }

  /**
   * Its connection has gone back to the pool (or closed): a response that came whole is answered now, so
   * that a caller who sends the next request from its callback (undici's redirect interceptor) finds the
   * connection idle.
   */
  delivered () {
    const trailers = this.response.trailers
    if (trailers !== null) this.answer(trailers)
  }

  /** A chunk was parsed and the response is not complete: once its head is known, the caller has it. */
  progress () {
    // A dispatched request's handler gets the head once it is known, as undici gives it (so its body's
    // limit only ever runs out with the head given).
    const waits = this.response?.whole && this.limits === null
    if (this.response !== null && this.source === null && !this.settled && !waits) {
      this.source = new ExchangeBody(this, this.exchanges.liveness)
      this.answer(null)
    }
  }

  /** Resolves with the response: whole with `trailers`, or (`trailers` null) with the rest to stream. */
  answer (trailers) {
    if (this.settled) return
    this.settled = true
    this.exchanges.liveness.busy(-1)
    const { status, received, prefix } = this.response
    this.response.prefix = null
    const data = prefix.length === 1 ? prefix[0] : Buffer.concat(prefix)
    const resolve = this.resolve
    // Let go of the promise (and through it the Response): an unread body is given up once its Response
    // is unreachable (lib/response.js).
    this.resolve = this.reject = null
    resolve(new Response(this.exchanges.native, status, this.reused, received, trailers, data,
      this.source, this.href, this.signal))
  }

  /** Its connection closed under it (`err`, or null for an end). */
  lost (err, undici = null) {
    const conn = this.conn
    if (conn !== null) conn.exchange = null
    this.conn = null
    if (this.over) return
    if (!this.received && this.reused && this.replayable && !this.settled) {
      // The keep-alive race: sent again on a connection that was not idle. One released meanwhile may
      // take it; if that one closes under it too, a new one does (so at most twice: see the pool's Want).
      this.replays++
      try {
        this.checkout()
      } catch (err) {
        this.fail(fromNative(err))
      }
      return
    }
    if (err === null) {
      // Node's words for an end, with undici's description of the connection (its SocketError's `socket`).
      err = this.response !== null ? aborted() : hangUp()
      // Not enumerable: the Promise face's error prints as Node's.
      Object.defineProperty(err, SOCKET_INFO, { value: conn?.socketInfo() ?? null })
      if (undici !== null) Object.defineProperty(err, UNDICI_FORM, { value: undici })
    }
    // A head already read (a small body waited for whole) is handed on before its body fails, as Node's
    // 'response' and fetch's Response come before theirs.
    if (this.response !== null && this.source === null && !this.settled) {
      this.source = new ExchangeBody(this, this.exchanges.liveness)
      this.answer(null)
    }
    this.fail(err)
  }

  /** Fails the request, or the body being read; `cut`: the connection must close too. */
  fail (err, cut = false) {
    if (this.source !== null) this.source.fail(err)
    else if (!this.settled) {
      this.settled = true
      this.exchanges.liveness.busy(-1)
      const reject = this.reject
      this.resolve = this.reject = null
      reject(err)
    }
    if (this.ticket >= 0 && this.exchanges.native.socketCancel(this.ticket)) this.exchanges.book.dequeue(this.ticket)
    this.ticket = -1
    this.finish()
    if (cut) {
      // As undici destroys the socket with it.
      if (this.conn !== null) this.conn.why ??= err
      this.abandon()
    }
  }

  /** Its caller gave it up: it fails with `err`, and its connection closes with undici's reason, 'aborted'. */
  abort (err) {
    if (this.conn !== null) this.conn.why ??= Why.aborted
    this.fail(err, true)
  }

  /** Nobody wants the rest: the connection closes (its bytes would be the next request's answer). */
  abandon () {
    this.finish()
    const conn = this.conn
    this.conn = null
    conn?.close()
  }

  /**
   * The exchange is over (its response complete, or failed, or given up): its timer and abort listener
   * go. (The process was kept up for it until it was answered: see `answer` and `fail`.)
   */
  finish () {
    if (this.over) return
    this.over = true
    clearTimeout(this.timer)
    this.timer = null
    this.limits?.stop()
    if (this.onAbort !== null) this.signal.removeEventListener('abort', this.onAbort)
  }
}

for (const [bit, name] of FLAGS.entries()) {
  Object.defineProperty(Exchange.prototype, name, {
    get () { return (this.flags & (1 << bit)) !== 0 },
    set (on) { this.flags = on ? this.flags | (1 << bit) : this.flags & ~(1 << bit) }
  })
}

/** The Promise face's exchanges of one agent (its socket book routes their connections' events). */
class Exchanges {
  /** `events`: the agent's ConnectionEvents (lib/connection-events.js). */
  constructor (native, book, liveness, limits, connections, requests, events) {
    this.native = native
    this.events = events
    this.book = book
    this.calls = book.calls
    this.liveness = liveness
    // The agent's caps as they are now (`keepAlive` may be assigned later), and the `keepAlive` the
    // cached heads were made with.
    this.limits = limits
    this.keepAlive = limits.keepAlive
    /** Requests a connection serves before it closes (undici's `maxRequestsPerClient`); 0: no limit. */
    this.maxRequests = 0
    this.connections = connections
    this.requests = requests
    this.heads = new Map()
    // Exchanges only where libuv can take an fd: with the socket face's carrier forced to the pipe, or on a
    // platform without one, hyper sends everything.
    this.fd = book.carrier !== 'pipe'
  }

  /**
   * The head of a request (a latin1 string), made and checked in Rust; null when hyper must send it. The
   * same method, URL, headers and body length (or a streamed body) make the same head: programs repeat
   * them (fetch sends the same few headers every time), so it is made once. Heads are kept by URL, then
   * found by comparing the rest item by item: no key string is built and hashed for every request (a
   * JSON key cost a POST with one header ≈ 1 µs).
   */
  head (method, href, headers, bytes, upload) {
    const length = upload === undefined ? bytes?.length ?? '' : 'stream'
    if (this.keepAlive !== this.limits.keepAlive) {
      this.keepAlive = this.limits.keepAlive
      this.heads.clear()
    }
    let kept = this.heads.get(href)
    if (kept !== undefined) {
      for (const entry of kept) {
        if (entry.method === method && entry.length === length && sameStrings(entry.headers, headers)) return entry.head
      }
    }
    const head = NativeAgent.exchangeHead(method, href, headers, bytes?.length, upload !== undefined, this.keepAlive)
    if (kept === undefined) {
      if (this.heads.size >= HEADS_MAX) this.heads.clear()
      kept = []
      this.heads.set(href, kept)
    }
    if (kept.length === HEADS_PER_URL) kept.pop()
    kept.unshift({ method, length, headers: headers.slice(), head })
    return head
  }

  /**
   * Whether a request to connect as `profile` is an exchange: a plain TCP route (lib/connect.js `plain`)
   * whose fd libuv can take, and nobody listening to undici's connect events, which hyper's connections
   * publish.
   */
  takes (profile) {
    if (!this.fd || !this.connections.plain(profile)) return false
    this.requests.connects.watch()
    return !this.requests.connects.on
  }

  /**
   * Sends `head` and the body (`body` held in full, or `upload` to stream) to `href`, whose `target` is
   * `{ secure, host, port }`, over a connection made as connect profile `profile` says.
   */
  send (href, target, profile, method, headers, head, body, upload, timeout, signal) {
    return new Promise((resolve, reject) => {
      this.open(href, target, profile, method, headers, head, body, upload, timeout, signal, undefined, resolve, reject, null)
    })
  }

  /**
   * `send` for the dispatcher face: `resolve(response)` or `reject(err)` instead of a promise, undici's
   * `idempotent` (undefined: by the method) and `limits` (an UndiciLimits); gives back the exchange, whose
   * `fail(err, true)` stops it.
   */
  open (href, target, profile, method, headers, head, body, upload, timeout, signal, idempotent, resolve, reject, limits) {
    const exchange = new Exchange(this, href, target, profile, method, head, body, upload ?? null,
      upload === undefined && (idempotent ?? replayable(method, headers)), timeout || 0, signal ?? null, resolve, reject, limits)
    if (upload !== undefined) exchange.declared = declaredLength(headers)
    exchange.start()
    return exchange
  }
}

module.exports = { Exchanges, UndiciLimits, heldLengthDiffers, heldTo, lengthWarning }
