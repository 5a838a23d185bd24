'use strict'
// The dispatcher face: undici's Dispatcher interface, so that Node's fetch, undici's request, stream and
// pipeline, and WebSocket run over this agent's Rust pool. One Exchange per request speaks either handler
// API: v1 callbacks (onConnect, onHeaders, onData, onComplete, onError, onUpgrade: the fetch bundled in
// Node 20 to 24, undici 6 and 7) or v2 controllers (onRequestStart, onResponseStart, onResponseData,
// onResponseEnd, onResponseError: undici 8, Node 26).
//
// Requests go the Promise face's way, so they share its pool, caps, queue, replay rule (a GET that meets
// the keep-alive race is sent again on a fresh connection, a POST never) and stats: spoken on the JS thread
// (lib/exchange.js) where the Promise face's would be, else by hyper. The body bytes pass through raw
// (fetch decodes content-encoding itself) and are read only while the handler is not paused. Upgrades (WebSocket, CONNECT) go through the socket face, whose Duplex leaves
// the pool with its connection.

const { EventEmitter } = require('node:events')
const http = require('node:http')
const https = require('node:https')
const { Readable } = require('node:stream')
const { BodySender } = require('../native.js')
const { pump, targetOf } = require('./request')
const { UndiciLimits, heldLengthDiffers, heldTo, lengthWarning } = require('./exchange')
const { takeWhole } = require('./response')
const { MAX_HEAD } = require('../binding.js')
const { asUndici, fromNative, headersOverflow, invalidArgType, invalidArgValue, requestAborted, undiciError, undiciInvalidArg, clientDestroyed, socketError } = require('./errors')
const { observed, ObservedRequest, socketStandIn } = require('./diagnostics')
const { destroying, requestSpec, gatherable, gather, headerList, wireOrder } = require('./dispatch-spec')
const { Redirection, redirectLimit } = require('./redirect')

/**
 * Header names and values (strings) as the Buffers undici's handlers take, cut from one Buffer: one
 * allocation and one latin1 write for them all instead of one each (≈ 2 µs a response under fetch at
 * 64 in flight, `--cpu-prof`).
 */
function latin1 (strings) {
  if (strings.length === 0) return []
  const all = Buffer.from(strings.join(''), 'latin1')
  const buffers = new Array(strings.length)
  let at = 0
  for (let i = 0; i < strings.length; i++) {
    const end = at + strings[i].length
    buffers[i] = all.subarray(at, end)
    at = end
  }
  return buffers
}

/** The connect options a dispatched request gives of its own: none (the agent's route). */
const NO_OPTIONS = Object.freeze({})

/** undici's header object: lower-case names, a repeated header as an array of its values. */
function headerObject (raw) {
  const headers = {}
  for (let i = 0; i < raw.length; i += 2) {
    const name = String(raw[i]).toLowerCase()
    const value = String(raw[i + 1])
    const seen = headers[name]
    if (seen === undefined) headers[name] = value
    else if (Array.isArray(seen)) seen.push(value)
    else headers[name] = [seen, value]
  }
  return headers
}

/** undici 6's checks of a v1 handler, in its order, which fail the dispatch through its `onError`. */
function checkV1Handler (handler, upgrade) {
  if (typeof handler.onConnect !== 'function') throw undiciInvalidArg('invalid onConnect method')
  if (handler.onBodySent !== undefined && typeof handler.onBodySent !== 'function') throw undiciInvalidArg('invalid onBodySent method')
  for (const name of upgrade ? ['onUpgrade'] : ['onHeaders', 'onData', 'onComplete']) {
    if (typeof handler[name] !== 'function') throw undiciInvalidArg(`invalid ${name} method`)
  }
}

function checkHandler (handler) {
  if (handler === null || typeof handler !== 'object') throw undiciInvalidArg('handler must be an object')
  if (typeof handler.onError !== 'function' && typeof handler.onResponseError !== 'function') {
    throw undiciInvalidArg('invalid onError method')
  }
}

function closedError () {
  return undiciError('UND_ERR_CLOSED', 'ClientClosedError', 'The client is closed')
}

/** Whether `handler` speaks undici's v2 handler API (controllers) rather than v1's callbacks. */
function speaksV2 (handler) {
  return typeof handler.onRequestStart === 'function' || typeof handler.onResponseStart === 'function'
}

/** One request through the dispatcher face; also the v2 handlers' controller. */
class Exchange {
  constructor (dispatcher, handler) {
    this.dispatcher = dispatcher
    this.handler = handler
    this.v2 = speaksV2(handler)
    /** The native request's id while its answer is awaited (what `native.abort` takes), else 0. */
    this.id = 0
    /** The response body being read (a Readable). */
    this.body = null
    /** A body that came whole with the head, `{ data, rawTrailers }`, until the handler has it all. */
    this.whole = null
    /** The request's exchange on the JS thread (lib/exchange.js), when it is spoken there. */
    this.local = null
    /** An upgrade's or CONNECT's ClientRequest (socket face). */
    this.upgrading = null
    this.record = null
    this.done = false
    this.aborted = false
    this.paused = false
    this.reason = null
    this.rawHeaders = null
    this.rawTrailers = null
    this.resumer = null
    /** A body held whole, for `onBodySent` once it is sent; whether `onRequestSent` was called. */
    this.heldBody = undefined
    this.sentTold = false
    /** Whether `dispatch()` for this request is still running (see `tellError`). */
    this.dispatching = true
    /** The origin it is counted against while in flight (see `Dispatcher.count`), else null. */
    this.origin = null
    /** Response body bytes handed on, against the agent's `maxResponseSize`; Infinity once past it. */
    this.bytesRead = 0
  }

  /**
   * The whole request is written: a v1 handler hears undici's `onBodySent` (of a body held whole; a
   * streamed one's chunks are told as they go, see `told`) and `onRequestSent`, once, before its head.
   */
  requestSent () {
    if (this.sentTold || this.done || this.v2) return
    this.sentTold = true
    try {
      if (this.heldBody !== undefined && this.heldBody.length > 0) this.handler.onBodySent?.(this.heldBody)
      this.handler.onRequestSent?.()
    } catch (err) {
      this.fail(err)
    }
  }

  /** A streamed body as it is sent: each chunk told to a v1 handler's `onBodySent`, then `onRequestSent`. */
  async * told (stream) {
    for await (const chunk of stream) {
      yield chunk
      if (!this.done && !this.v2) this.handler.onBodySent?.(chunk)
    }
    this.requestSent()
  }

  /** Tells the handler the request is on its way; false when it aborted it at once. */
  start () {
    try {
      if (this.v2) this.handler.onRequestStart?.(this, {})
      else this.handler.onConnect?.(reason => this.abort(reason))
    } catch (err) {
      this.fail(err)
    }
    return !this.done
  }

  abort (reason) {
    if (this.done) return
    this.aborted = true
    this.reason = reason ?? requestAborted()
    this.fail(this.reason)
  }

  pause () {
    if (this.done) return
    this.paused = true
    this.local?.limits.hold(true)
    this.body?.pause()
  }

  resume () {
    if (!this.paused || this.done) return
    this.paused = false
    this.local?.limits.hold(false)
    if (this.whole !== null) this.deliverWhole()
    else this.body?.resume()
  }

  /**
   * A 1xx head came before the answer: the handler gets it as undici gives it, a response start with that
   * status (which undici's request() hands to `onInfo`, and fetch ignores). 100 Continue is left out: a
   * client that did not ask for it has nothing to do with it (undici fails the request on it instead).
   */
  informed (status, statusText, rawHeaders) {
    if (this.done || status === 100) return
    if (this.overflows(rawHeaders)) return
    const raw = latin1(rawHeaders)
    this.rawHeaders = raw
    this.record?.answered(status, statusText, raw)
    try {
      if (this.v2) this.handler.onResponseStart?.(this, status, headerObject(rawHeaders), statusText)
      else this.handler.onHeaders?.(status, raw, this.resumer ?? (this.resumer = () => this.resume()), statusText)
    } catch (err) {
      this.fail(err)
    }
  }

  /**
   * The head arrived; `body` is a Readable of the raw body bytes (with `rawTrailers` at its end, if any),
   * or the whole body that came with the head, `{ data, rawTrailers }` (no stream to make for it).
   */
  answered (status, statusText, rawHeaders, body) {
    this.id = 0
    // Sent by hyper, whose end of the request JS does not see: told now, before the head.
    this.requestSent()
    const whole = body instanceof Readable ? null : body
    if (this.done) {
      if (whole === null) body.destroy()
      return
    }
    if (status === 101) {
      // A switch of protocols nobody asked for (upgrades go through `upgrade`): undici's 'bad upgrade'.
      if (whole === null) body.destroy()
      this.fail(socketError('bad upgrade'))
      return
    }
    if (this.overflows(rawHeaders)) {
      if (whole === null) body.destroy()
      return
    }
    if (whole === null) this.body = body
    const raw = latin1(rawHeaders)
    this.rawHeaders = raw
    this.record?.answered(status, statusText, raw)
    const handler = this.handler
    try {
      handler.onResponseStarted?.()
      if (this.v2) {
        handler.onResponseStart?.(this, status, headerObject(rawHeaders), statusText)
      } else {
        this.resumer = () => this.resume()
        if (handler.onHeaders?.(status, raw, this.resumer, statusText) === false) this.pause()
      }
    } catch (err) {
      this.fail(err)
    }
    if (this.done) return
    if (whole !== null) {
      this.whole = whole
      this.deliverWhole()
      return
    }
    if (this.paused) body.pause()
    body.on('data', chunk => this.data(chunk))
    body.on('end', () => this.complete(body.rawTrailers ?? []))
    body.on('error', err => this.fail(err))
  }

  /**
   * Whether a response head's (or its trailers') header names and values come to the agent's
   * `maxHeaderSize` or more, as undici counts them: then the request fails with undici's
   * `HeadersOverflowError` and they are not handed on.
   */
  overflows (rawHeaders) {
    const limit = this.dispatcher.defaults.maxHeaderSize
    let size = 0
    for (let i = 0; i < rawHeaders.length; i++) size += rawHeaders[i].length
    if (size < limit) return false
    this.fail(headersOverflow())
    return true
  }

  /** Hands the handler what it has not had of a body that came whole, until it pauses. */
  deliverWhole () {
    while (this.whole !== null && !this.paused && !this.done) {
      const whole = this.whole
      if (whole.data !== null) {
        const chunk = whole.data
        whole.data = null
        if (chunk.length > 0) this.data(chunk)
      } else {
        this.whole = null
        this.complete(whole.rawTrailers ?? [])
      }
    }
  }

  data (chunk) {
    if (this.done) return
    const max = this.dispatcher.defaults.maxResponseSize
    if (max > -1 && this.exceeds(chunk, max)) return
    try {
      if (this.v2) this.handler.onResponseData?.(this, chunk)
      else if (this.handler.onData?.(chunk) === false) this.pause()
    } catch (err) {
      this.fail(err)
    }
  }

  /**
   * Whether `chunk` takes the body past `max` (the agent's `maxResponseSize`). As undici, that chunk and the rest
   * are not handed on, the connection under the body closes, and the handler hears undici's
   * `ResponseExceededMaxSizeError` on the next tick, as from undici's socket: fetch listens for its
   * request's end only once the head it was given has been taken in.
   */
  exceeds (chunk, max) {
    if (this.bytesRead === Infinity) return true
    this.bytesRead += chunk.length
    if (this.bytesRead <= max) return false
    this.bytesRead = Infinity
    this.body?.pause()
    process.nextTick(() => this.fail(undiciError('UND_ERR_RES_EXCEEDED_MAX_SIZE', 'ResponseExceededMaxSizeError', 'Response content exceeded max size')))
    return true
  }

  complete (rawTrailers) {
    if (this.done || this.bytesRead === Infinity || (rawTrailers.length > 0 && this.overflows(rawTrailers))) return
    this.finish()
    const raw = latin1(rawTrailers)
    this.rawTrailers = raw
    this.record?.completedWith(raw)
    try {
      if (this.v2) this.handler.onResponseEnd?.(this, headerObject(rawTrailers))
      else this.handler.onComplete?.(raw)
    } catch (err) {
      // As undici: the handler hears of its own failure (the request itself is over).
      this.tellError(err)
    }
  }

  /** The socket face upgraded the connection (101, or 2xx to CONNECT): it is the handler's now. */
  upgraded (res, socket, head) {
    if (this.done || this.overflows(res.rawHeaders)) {
      socket.destroy()
      return
    }
    this.finish()
    if (head !== undefined && head.length > 0) socket.unshift(head)
    const raw = latin1(res.rawHeaders)
    this.rawHeaders = raw
    this.record?.answered(res.statusCode, res.statusMessage, raw)
    this.record?.completedWith([])
    try {
      if (this.v2) this.handler.onRequestUpgrade?.(this, res.statusCode, headerObject(res.rawHeaders), socket)
      else this.handler.onUpgrade?.(res.statusCode, raw, socket)
    } catch (err) {
      // As undici: the socket handed over fails with what its taker threw (its 'error' listener hears it).
      socket.destroy(err)
    }
  }

  fail (failure) {
    if (this.done) return
    this.finish()
    const err = asUndici(failure)
    // Whatever still runs for this request stops: the native request, or the connection under its body.
    if (this.id !== 0) this.dispatcher.native.abort(this.id)
    if (this.local !== null && !this.local.over) {
      if (this.aborted) this.local.abort(err)
      else this.local.fail(err, true)
    }
    this.body?.destroy()
    this.upgrading?.destroy()
    this.record?.failed(err, this.aborted)
    this.tellError(err)
  }

  /**
   * The handler hears that the request failed. What its `onError` throws is thrown again on its own, an
   * uncaught exception as from undici's Agent, not into whatever was failing the request (a timer, a
   * stream's listener, the agent's bookkeeping), which would be left half done; a failure found within
   * `dispatch()` itself (bad options, a closed agent) throws out of `dispatch()`.
   */
  tellError (err) {
    try {
      if (this.v2) this.handler.onResponseError?.(this, err)
      else this.handler.onError(err)
    } catch (thrown) {
      // Within dispatch() it comes out of dispatch(), as from undici's (whose tests rethrow there).
      if (this.dispatching) throw thrown
      process.nextTick(() => { throw thrown })
    }
  }

  finish () {
    this.done = true
    this.dispatcher.settled(this)
  }
}

class Dispatcher {
  /**
   * `requests` are the agent's PendingRequests and `exchanges` its Exchanges (the Promise face's),
   * `defaults` what holds where a dispatch does not say (`timeout`, the agent's
   * inactivity limit, undici's `headersTimeout` and `bodyTimeout`) and its `maxResponseSize` and
   * `maxHeaderSize`, `socketAgent(protocol)` the agent (this one, or its counterpart for the other scheme)
   * whose socket face serves upgrades, `maxRedirections` the redirects followed where a request does not
   * say (undici 6's Agent option; lib/redirect.js).
   */
  constructor (native, requests, exchanges, defaults, socketAgent, maxRedirections) {
    this.native = native
    this.requests = requests
    this.exchanges = exchanges
    this.defaults = defaults
    this.socketAgent = socketAgent
    this.maxRedirections = maxRedirections
    this.live = new Set()
    /** Requests in flight by origin while the agent's `maxSockets` is finite, and the origins now full. */
    this.inFlight = new Map()
    this.full = new Set()
    this.closed = false
    this.destroyed = false
    this.drained = null
    this.onDrained = null
  }

  dispatch (opts, handler) {
    checkHandler(handler)
    if (opts !== null && typeof opts === 'object' && opts.maxRedirections !== 0 && typeof handler.onError === 'function' && !speaksV2(handler)) {
      let limit
      try {
        limit = opts.maxRedirections === undefined ? this.maxRedirections : redirectLimit(opts.maxRedirections)
      } catch (err) {
        handler.onError(err)
        return false
      }
      // A redirect before an upgrade is followed, as by undici 6's Agent; a CONNECT's answer is its own.
      if (limit > 0 && opts.method !== 'CONNECT') {
        const redirection = new Redirection((next, to) => this.dispatch(next, to), limit, opts, handler, headerList)
        return this.dispatch(redirection.opts, redirection)
      }
      if (opts.maxRedirections) opts = { ...opts, maxRedirections: 0 }
    }
    const exchange = new Exchange(this, handler)
    try {
      return this.begin(exchange, opts, handler)
    } finally {
      exchange.dispatching = false
    }
  }

  /** The checks and sending of a dispatch, for `exchange`. */
  begin (exchange, opts, handler) {
    let spec
    try {
      if (this.destroyed) throw clientDestroyed()
      if (this.closed) throw closedError()
      spec = requestSpec(opts, this.defaults)
      if (exchange.v2) {
        if (spec.upgrade !== null && typeof handler.onRequestUpgrade !== 'function') throw undiciInvalidArg('invalid onRequestUpgrade method')
      } else {
        checkV1Handler(handler, spec.upgrade !== null)
      }
    } catch (err) {
      exchange.fail(err)
      return false
    }
    this.live.add(exchange)
    const full = this.count(exchange, spec.origin)
    if (observed()) {
      exchange.record = new ObservedRequest(spec.origin, spec.method, spec.path, spec.headers)
      exchange.record.created()
    }
    // A handler that aborts at once still counted: the origin says full as undici's would.
    if (exchange.start()) {
      if (spec.upgrade === null) this.send(exchange, spec)
      else this.upgrade(exchange, spec)
    }
    return !full
  }

  /**
   * Counts `exchange` against the agent's cap for `origin` (`maxSockets`) while it is in flight, as
   * undici's pools count their busy connections: whether the origin is now full, so that `dispatch()`
   * says false (undici's "wait for 'drain'") and 'drain' follows once one of them ends.
   */
  count (exchange, origin) {
    const cap = this.exchanges.limits.maxSockets
    if (cap === Infinity) return false
    exchange.origin = origin
    const inFlight = (this.inFlight.get(origin) ?? 0) + 1
    this.inFlight.set(origin, inFlight)
    if (inFlight < cap) return false
    this.full.add(origin)
    return true
  }

  send (exchange, spec) {
    const { stream } = spec.body
    // A streamed body of a small declared length that comes at once goes whole: replayable, one crossing
    // (GATHER_LIMIT); one that keeps coming is sent as it comes.
    if (stream !== undefined && gatherable(spec.headers)) {
      gather(stream).then(body => {
        if (!exchange.done) this.sendNative(exchange, spec, body)
        else body.stream?.return()
      }, err => exchange.fail(err))
      return
    }
    this.sendNative(exchange, spec, spec.body)
  }

  sendNative (exchange, spec, { bytes, stream }) {
    let differs = false
    if (bytes !== undefined) {
      try {
        differs = heldLengthDiffers(spec.headers, bytes, this.defaults.strictContentLength)
      } catch (err) {
        exchange.fail(err)
        return
      }
    }
    // Taken in undici's order only now: what diagnostics subscribers saw and added stays theirs.
    spec.headers = wireOrder(spec.headers, spec.href, stream !== undefined)
    exchange.heldBody = bytes
    const { handler } = exchange
    if (stream !== undefined && !exchange.v2 && (handler.onBodySent || handler.onRequestSent)) stream = destroying(exchange.told(stream), stream)
    if (exchange.record === null && this.sendLocal(exchange, spec, bytes, stream, differs)) return
    // hyper writes it as a connection frees: warned of now.
    if (differs) lengthWarning()
    if (stream !== undefined) stream = heldTo(stream, spec.headers, this.defaults.strictContentLength)
    const native = this.native
    const sender = stream ? new BodySender() : undefined
    const start = id => {
      exchange.id = id
      native.request(id, spec.method, spec.href, spec.headers, bytes, sender, spec.timeout, true, undefined,
        spec.headersTimeout, spec.bodyTimeout, spec.idempotent, true)
    }
    const informed = (status, statusText, rawHeaders) => exchange.informed(status, statusText, rawHeaders)
    this.requests.add(spec.href, null, start, undefined, informed).then(
      res => exchange.answered(res.status, res.statusText, res.rawHeaders, takeWhole(res) ?? res.body),
      err => exchange.fail(err))
    exchange.record?.sent(socketStandIn(spec.href))
    // A body not its declared length fails the request with undici's error (the source's own failures
    // come to the handler as hyper reports them).
    if (sender) pump(stream, sender, err => { if (err?.code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') exchange.fail(err) })
  }

  /**
   * Sends the request as an exchange (lib/exchange.js) when the Promise face would (the agent's own route,
   * nobody observing, a head an exchange can send); false when hyper must. `lengthDiffers`: `bytes` are
   * not their declared length, warned of as they are written.
   */
  sendLocal (exchange, spec, bytes, stream, lengthDiffers) {
    const exchanges = this.exchanges
    const target = () => targetOf(spec.href)
    if (exchanges.connections.profileFor(NO_OPTIONS, target) !== 0 || !exchanges.takes(0)) return false
    let head
    try {
      head = exchanges.head(spec.method, spec.href, spec.headers, bytes, stream)
    } catch (err) {
      // A header or method that cannot be sent: as the native request refuses it.
      exchange.fail(fromNative(err))
      return true
    }
    if (head === null) return false
    const limits = new UndiciLimits(spec.headersTimeout, spec.bodyTimeout,
      (status, statusText, rawHeaders) => exchange.informed(status, statusText, rawHeaders), () => exchange.requestSent())
    limits.strictLength = this.defaults.strictContentLength
    limits.lengthDiffers = lengthDiffers
    exchange.local = exchanges.open(spec.href, target(), 0, spec.method, spec.headers, head, bytes, stream,
      spec.timeout, null, spec.idempotent,
      // After what the same batch of events still holds for the connection (an end, say): a handler that
      // sends its next request from the callback must not be given a connection about to close.
      res => queueMicrotask(() => exchange.answered(res.status, res.statusText, res.rawHeaders, takeWhole(res) ?? res.body)),
      err => exchange.fail(err), limits)
    return true
  }

  /** An upgrade or CONNECT, through the socket face: Node's client hands over the connection's Duplex. */
  upgrade (exchange, spec) {
    const url = new URL(spec.href)
    const headers = {}
    for (let i = 0; i < spec.headers.length; i += 2) {
      const seen = headers[spec.headers[i]]
      headers[spec.headers[i]] = seen === undefined ? spec.headers[i + 1] : [].concat(seen, spec.headers[i + 1])
    }
    if (spec.method !== 'CONNECT') {
      headers.connection = 'upgrade'
      headers.upgrade = spec.upgrade
    }
    const secure = url.protocol === 'https:'
    const req = (secure ? https : http).request({
      agent: this.socketAgent(url.protocol),
      method: spec.method,
      host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port || (secure ? 443 : 80),
      path: spec.method === 'CONNECT' ? spec.path : url.pathname + url.search,
      headers,
      // The agent's `maxHeaderSize` is counted as undici counts it (`overflows`), up to what any face reads.
      maxHeaderSize: MAX_HEAD
    })
    exchange.upgrading = req
    req.on('upgrade', (res, socket, head) => exchange.upgraded(res, socket, head))
    req.on('connect', (res, socket, head) => exchange.upgraded(res, socket, head))
    req.on('response', res => exchange.answered(res.statusCode, res.statusMessage, res.rawHeaders, res))
    req.on('error', err => exchange.fail(err))
    const connects = this.requests.connects
    if (exchange.record !== null || connects.wanted()) {
      req.once('socket', socket => {
        exchange.record?.sent(socket)
        if (socket.connecting && connects.wanted()) connects.follow(socket, spec.href)
      })
    }
    if (spec.body.stream) Readable.from(spec.body.stream).pipe(req)
    else req.end(spec.body.bytes)
  }

  settled (exchange) {
    this.live.delete(exchange)
    const origin = exchange.origin
    if (origin !== null) {
      const left = this.inFlight.get(origin) - 1
      if (left === 0) this.inFlight.delete(origin)
      else this.inFlight.set(origin, left)
      if (this.full.has(origin) && left < this.exchanges.limits.maxSockets) {
        this.full.delete(origin)
        // As undici's client tells it: after what is running now, and not once closed or destroyed
        // (which the handler that just completed may have done).
        queueMicrotask(() => {
          if (!this.closed && !this.destroyed) this.exchanges.events.drained(origin)
        })
      }
    }
    if (this.live.size === 0 && this.onDrained !== null) {
      const drained = this.onDrained
      this.onDrained = null
      drained()
    }
  }

  /** No new requests; resolves once those in flight are done. */
  close () {
    this.closed = true
    if (this.live.size === 0) return Promise.resolve()
    if (this.drained === null) this.drained = new Promise(resolve => { this.onDrained = resolve })
    return this.drained
  }

  /** No new requests; those in flight fail with `err`, or undici's `ClientDestroyedError`. */
  destroy (err) {
    this.destroyed = true
    const reason = err instanceof Error ? err : clientDestroyed()
    for (const exchange of [...this.live]) exchange.fail(reason)
  }
}

/** What `compose()` returns: dispatches through the interceptors into the agent; close and destroy are its. */
class ComposedDispatcher extends EventEmitter {
  constructor (base, dispatch) {
    super()
    this.base = base
    this.run = dispatch
  }

  dispatch (opts, handler) {
    return this.run(opts, handler)
  }

  close (...args) {
    return this.base.close(...args)
  }

  destroy (...args) {
    return this.base.destroy(...args)
  }

  compose (...interceptors) {
    return compose(this, interceptors)
  }
}

/**
 * undici's `compose(...interceptors)` (or an array of them): undici's redirect, retry, dump and dns
 * interceptors, or one's own, wrapped around `dispatcher`'s dispatch, last one outermost.
 */
function compose (dispatcher, interceptors) {
  const list = Array.isArray(interceptors[0]) ? interceptors[0] : interceptors
  let dispatch = dispatcher.dispatch.bind(dispatcher)
  for (const interceptor of list) {
    if (interceptor === null || interceptor === undefined) continue
    if (typeof interceptor !== 'function') throw invalidArgType('interceptor', 'of type function', interceptor)
    dispatch = interceptor(dispatch)
    if (typeof dispatch !== 'function') throw invalidArgValue('interceptor', 'must return a dispatch function', dispatch)
  }
  return new ComposedDispatcher(dispatcher, dispatch)
}

module.exports = { Dispatcher, compose }
