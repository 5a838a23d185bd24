'use strict'
// keepalive-agent: a keep-alive http.Agent whose connections live in a Rust pool.
// The Promise face (`agent.request`) lives here; the pool, TLS and HTTP are in Rust (src/).

const http = require('node:http')
const net = require('node:net')
const https = require('node:https')
const { NativeAgent, BodySender } = require('./native.js')
const { normalize, limits, LIMITS, durationsInMs, CONNECT_OPTIONS, DEFAULT_FREE_SOCKET_TIMEOUT } = require('./lib/options')
const { PendingRequests } = require('./lib/requests')
const { Liveness } = require('./lib/liveness')
const { toHref, flatHeaders, toBody, targetOf } = require('./lib/request')
const { abortError, agentDestroyed, clientDestroyed, fromNative, invalidArgType, undiciInvalidArg } = require('./lib/errors')
const { SocketBook, BOOK: kBook, createSocket, constants: socketConstants } = require('./lib/sockets')
const { Exchanges, heldLengthDiffers, heldTo } = require('./lib/exchange')
const { Connections } = require('./lib/connect')
const { ConnectionEvents } = require('./lib/connection-events')
const { setImmediate } = require('./lib/timers')
const { Dispatcher, compose } = require('./lib/dispatcher')
const { redirectLimit } = require('./lib/redirect')
const { fromUndici, dispatchDefaults, interceptedDispatch, keepAliveCeiling, requestsPerConnection } = require('./lib/undici-options')
const { install: installAgent } = require('./lib/install')
const { observe } = require('./lib/diagnostics')

const kNative = Symbol('native')
const kOptions = Symbol('normalizedOptions')
const kRequests = Symbol('pendingRequests')
const kDispatcher = Symbol('dispatcher')
const kCounterpart = Symbol('counterpart')
const kMade = Symbol('madeCounterpart')
const kConnections = Symbol('connections')
const kExchanges = Symbol('exchanges')
// `dispatch` through undici 6's `interceptors.Agent`, when the options gave them (else null).
const kIntercepted = Symbol('intercepted')
// The caps of `LIMITS` as they are now, one object shared by an agent and its counterpart (one pool).
const kLimits = Symbol('limits')
// Set by destroy(): the Promise face refuses from then on (the socket face goes on, as Node's Agent).
const kDestroyed = Symbol('destroyed')
/** Node's own keepSocketAlive, as this module found it (code may patch Node's prototype later). */
const NODE_KEEP_SOCKET_ALIVE = http.Agent.prototype.keepSocketAlive
/** What code assigned to a counter moves it by, from the pool's count (see `counted`). */
const kCounterShift = Symbol('counterShift')
/** agentkeepalive's counters, each also a property of the agent (read from the pool). */
const COUNTERS = ['createSocketCount', 'createSocketErrorCount', 'closeSocketCount', 'errorSocketCount', 'timeoutSocketCount', 'requestCount']
// Constructor option (internal) that makes the agent a view of another one's pool (see counterpart).
const kViewOf = Symbol('viewOf')

/** Node's own option names for the http.Agent base, so that its public fields read as users expect. */
function baseOptions (options, normalized) {
  return {
    ...options,
    keepAlive: normalized.keepAlive,
    keepAliveMsecs: normalized.keepAliveMsecs,
    maxSockets: normalized.maxSockets,
    maxTotalSockets: normalized.maxTotalSockets,
    maxFreeSockets: normalized.maxFreeSockets,
    scheduling: normalized.scheduling,
    timeout: normalized.timeout || undefined
  }
}

/** The keys `baseOptions` gives Node's constructor whether the caller set them or not. */
const NORMALIZED_KEYS = ['keepAlive', 'keepAliveMsecs', 'maxSockets', 'maxTotalSockets', 'maxFreeSockets', 'scheduling', 'timeout']

/**
 * `agent.options` as Node's Agent keeps them (what the caller gave, and what Node's constructors add:
 * `noDelay`, `path`, on Node 22+ https's `defaultPort` and `protocol`): the normalized values the caller
 * did not give went to Node's constructor for its fields only. Node copies `agent.options` into every
 * request's options, so no key more than Node's.
 */
function dropNormalized (agent, options) {
  const kept = agent.options
  for (const key of NORMALIZED_KEYS) {
    if (options?.[key] === undefined) delete kept[key]
  }
  delete kept[kViewOf]
  // The same keys in an object V8 gives a shape: Node's constructor made it with `__proto__: null`, a
  // dictionary, and every request copies it (Node's addRequest and ours): Object.assign from a
  // dictionary costs ≈ 1 µs per request, from a shaped object a tenth of that.
  agent.options = Object.setPrototypeOf({ ...kept }, null)
}

/**
 * Node's Agent reads `maxSockets`, `maxTotalSockets`, `maxFreeSockets`, `keepAlive`, `scheduling` and
 * (22+) `agentKeepAliveTimeoutBuffer` at each request, and code sets them on a made agent
 * (`http.globalAgent.maxSockets = 50`, also after `install()`): here they are accessors, validated as the
 * constructor's options, that reach the pool.
 */
const LIMIT_ACCESSORS = LIMITS.map(name => [name, {
  enumerable: true,
  configurable: true,
  get () { return this[kLimits][name] },
  set (value) {
    const next = limits({ ...this[kLimits], [name]: value })
    Object.assign(this[kLimits], next)
    this[kNative].setLimits(next)
  }
}])

function liveLimits (agent, shared) {
  agent[kLimits] = shared
  for (const [name, accessor] of LIMIT_ACCESSORS) Object.defineProperty(agent, name, accessor)
}

/** A constructor's options checked (`normalized`), durations in ms (`options`), and what Node's Agent is given (`base`). */
function prepare (options) {
  options = fromUndici(options)
  const normalized = {
    ...normalize(options),
    dispatch: dispatchDefaults(options),
    maxRequestsPerConnection: requestsPerConnection(options),
    keepAliveMaxTimeout: keepAliveCeiling(options)
  }
  if (options) options = durationsInMs(options)
  return { options, normalized, base: baseOptions(options, normalized) }
}

function attachPool (agent, options, normalized, secure) {
  dropNormalized(agent, options)
  // Node's constructor pools sockets in a 'free' listener; ours does it in the socket book (which then
  // emits 'free' for listeners of the agent, as Node's does).
  agent.removeAllListeners('free')
  for (const name of COUNTERS) agent[`${name}LastCheck`] = 0
  agent[kCounterShift] = {}
  const source = options?.[kViewOf]
  if (source !== undefined) {
    attachView(agent, source, normalized, secure)
    return
  }
  agent[kOptions] = normalized
  liveLimits(agent, limits(normalized))
  let book = null
  const connections = new Connections(agent, options ?? {}, normalized.connect)
  let native
  try {
    native = new NativeAgent({ ...normalized, connect: connections.agentNative }, events => {
      agent[kRequests].onEvents(events)
      book.onEvents(events)
    }, ask => connections.onAsk(ask))
  } catch (err) {
    // A certificate, key or pfx that does not parse: Node's code, as at request time.
    throw fromNative(err)
  }
  connections.native = native
  agent[kConnections] = connections
  const liveness = new Liveness(native)
  agent[kNative] = native
  const connectionEvents = new ConnectionEvents(agent)
  agent[kRequests] = new PendingRequests(native, liveness, options, connectionEvents)
  book = new SocketBook(agent, native, secure, liveness, agent[kRequests])
  agent[kBook] = book
  listenForKeyLog(agent)
  agent[kExchanges] = new Exchanges(native, book, liveness, agent[kLimits], connections, agent[kRequests], connectionEvents)
  agent[kExchanges].maxRequests = normalized.maxRequestsPerConnection
  agent[kDispatcher] = new Dispatcher(native, agent[kRequests], agent[kExchanges], { timeout: normalized.timeout, ...normalized.dispatch },
    protocol => (protocol === agent.protocol ? agent : counterpart(agent)), redirectLimit(options?.maxRedirections))
  const dispatcher = agent[kDispatcher]
  agent[kIntercepted] = interceptedDispatch(options, (opts, handler) => dispatcher.dispatch(opts, handler))
}

/** Node's https.Agent emits 'keylog' (line, socket) once someone listens for it: so does ours. */
function listenForKeyLog (agent) {
  if (!agent[kBook].secure) return
  // Node's own hook for it reads `agent.sockets` as a list of sockets and throws when one is open.
  agent.removeAllListeners('newListener')
  agent.on('newListener', function keyLogWanted (name) {
    if (name !== 'keylog') return
    this.removeListener('newListener', keyLogWanted)
    this[kBook].logKeys()
  })
}

/**
 * `agent` as a view of `source`'s pool: the same native agent (pool, caps, queue, stats), in-flight
 * requests, connect profiles and dispatcher; a socket face of its own (Node's maps for its scheme),
 * whose events come from a native view over the same pool.
 */
function attachView (agent, source, normalized, secure) {
  agent[kOptions] = normalized
  liveLimits(agent, source[kLimits])
  let book = null
  const native = source[kNative].view(events => book.onEvents(events))
  agent[kConnections] = source[kConnections]
  agent[kNative] = source[kNative]
  agent[kRequests] = source[kRequests]
  const liveness = new Liveness(native)
  book = new SocketBook(agent, native, secure, liveness, agent[kRequests])
  agent[kBook] = book
  listenForKeyLog(agent)
  agent[kExchanges] = new Exchanges(native, book, liveness, agent[kLimits], agent[kConnections], agent[kRequests], new ConnectionEvents(agent))
  agent[kExchanges].maxRequests = normalized.maxRequestsPerConnection
  agent[kDispatcher] = source[kDispatcher]
  agent[kIntercepted] = source[kIntercepted]
}

/**
 * The agent for the other scheme (an HttpsAgent for an Agent, and the reverse), made once: a view of
 * `agent`'s pool with the same options. `install()` sets it as the other global agent, and the
 * dispatcher face sends upgrades for that scheme through its socket face.
 */
function counterpart (agent) {
  if (agent[kCounterpart] === undefined) {
    const Other = agent instanceof HttpsAgent ? Agent : HttpsAgent
    const other = new Other({ ...agent.options, [kViewOf]: agent })
    agent[kCounterpart] = other
    other[kCounterpart] = agent
    agent[kMade] = other
  }
  return agent[kCounterpart]
}

function send (agent, input, options) {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
  if (agent[kDestroyed]) throw agentDestroyed()
  const href = toHref(input)
  const { signal } = options
  if (signal?.aborted) return Promise.reject(abortError(signal))
  const method = options.method === undefined ? 'GET' : String(options.method).toUpperCase()
  const headers = flatHeaders(options.headers)
  const body = toBody(options.body)
  if (body.bytes !== undefined) heldLengthDiffers(headers, body.bytes)
  const timeout = options.timeout ?? agent[kOptions].timeout
  const native = agent[kNative]
  const profile = agent[kConnections].profileFor(options, () => targetOf(href))
  const sender = body.stream ? new BodySender() : undefined
  // undici's diagnostics events (null while nobody subscribes): a tracer may add headers before sending.
  const record = observe(href, method, headers)
  // Few requests in flight: spoken on the JS thread (lib/exchange.js), unless hyper must send it.
  const exchanges = agent[kExchanges]
  if (record === null && exchanges.takes(profile)) {
    const head = exchanges.head(method, href, headers, body.bytes, body.stream)
    if (head !== null) {
      return exchanges.send(href, targetOf(href), profile, method, headers, head, body.bytes, body.stream, timeout, signal)
    }
  }
  // hyper would send what fits a declared length and drop the rest: held to it, as an exchange holds it.
  const stream = sender && heldTo(body.stream, headers, true)
  // A streamed body's failure stops the request (lib/requests.js): abortable then too.
  const answered = agent[kRequests].add(href, signal, id => {
    native.request(id, method, href, headers, body.bytes, sender, timeout, signal != null || sender !== undefined, profile)
  }, sender && { stream, sender })
  if (record !== null) record.follow(href, answered)
  return answered
}

/**
 * What Node's agent makes of a request's options, `{ __proto__: null, ...options, ...agentOptions }`: the
 * agent's own win. ClientRequest hands over a fresh null-prototype copy of its options, which nobody else
 * reads, so the agent's are written into it; a second copy (V8 keeps such objects as dictionaries) costs
 * several microseconds per request, about a tenth of a request at 64 in flight. Other objects (a caller's
 * own, passed to `addRequest`) are copied, as Node does.
 */
function mergedOptions (options, agentOptions) {
  const fresh = options !== null && typeof options === 'object' && Object.getPrototypeOf(options) === null
  return Object.assign(fresh ? options : { __proto__: null, ...options }, agentOptions)
}

class Agent extends http.Agent {
  constructor (options) {
    const made = prepare(options)
    super(made.base)
    attachPool(this, made.options, made.normalized, false)
  }

  /**
   * The socket face: Node's ClientRequest asks for a socket. The Rust pool answers at once (an idle
   * connection, a new one being connected, or a place in its queue), and Node's maps follow its answer.
   * Connect and TLS options given per request are served by the pool too, on a route of their own.
   */
  addRequest (req, options, port, localAddress) {
    options = typeof options === 'string'
      ? mergedOptions({ __proto__: null, host: options, port, localAddress }, this.options)
      : mergedOptions(options, this.options)
    const target = { secure: this[kBook].secure, host: options.host || options.hostname || 'localhost', port: Number(options.port) || this.defaultPort }
    if (!options.servername && options.servername !== '') {
      // As Node's agent: the name sent and checked is the Host header's, where the request set its own;
      // over http too, a Host header that is not a string throws.
      const servername = target.secure ? serverNameOf(req, target.host) : hostHeader(req)
      if (target.secure && servername !== '' && servername !== target.host) options.servername = servername
    }
    const profile = this[kConnections].profileFor(options, () => target, CONNECT_OPTIONS)
    this[kConnections].forward(req, profile, target)
    this[kBook].addRequest(req, options, profile)
  }

  /**
   * As Node's agent, it takes a socket made elsewhere that code hands it as free (`emit('free', socket,
   * options)`): see lib/sockets.js `adopt`. Its own sockets' 'free' only tells the listeners.
   */
  emit (event, socket) {
    const book = this[kBook]
    if (event === 'free' && socket != null && book !== undefined && !book.owns(socket)) book.adopt(socket, arguments[2])
    return super.emit.apply(this, arguments)
  }

  /**
   * Node's: `socket` leaves the agent's maps. Code calls it for a socket it handed over (http2-wrapper
   * does when one closes); the pool's own leave at their 'close'. Node's also makes a socket for a
   * request waiting, outside the pool: the pool serves its queue itself.
   */
  removeSocket (socket) {
    const book = this[kBook]
    if (book !== undefined && !book.owns(socket)) book.unadopt(socket)
  }

  /**
   * Node's hook, called when a socket could go back to the idle list (false closes it instead).
   * Subclasses override it as with Node's Agent; the idle deadline is set once the pool has taken the
   * socket back (`freeSocketTimeout`, or less if the server's `Keep-Alive` header asks).
   */
  keepSocketAlive (socket) {
    // Code that patches Node's (APM tools, mocks) is obeyed, as by a subclass that calls super.
    if (http.Agent.prototype.keepSocketAlive !== NODE_KEEP_SOCKET_ALIVE) return super.keepSocketAlive(socket)
    socket.setKeepAlive(true, this.keepAliveMsecs)
    socket.unref()
    return true
  }

  /** Open connections of this agent, both faces, as the pool counts them. */
  get totalSocketCount () {
    let total = 0
    for (const o of this[kNative].status().origins) total += o.connected + o.pending
    return total
  }

  // Node's base constructor and removeSocket write this counter; the pool keeps the real one.
  set totalSocketCount (_) {}

  /** The Promise face: sends one request over a pooled connection. */
  request (url, options = {}) {
    try {
      return send(this, url, options)
    } catch (err) {
      return Promise.reject(fromNative(err))
    }
  }

  /**
   * agentkeepalive's status, key for key; our counters (`reusedCount`, `retryCount`) and per-origin
   * `stats` (undici's shape) are there too, not enumerable, so code comparing the shape sees its own.
   */
  getCurrentStatus () {
    const status = this[kNative].status()
    const freeSockets = {}
    const sockets = {}
    const requests = {}
    const stats = {}
    for (const o of status.origins) {
      if (o.free) freeSockets[o.name] = o.free
      if (o.running + o.pending) sockets[o.name] = o.running + o.pending
      if (o.queued) requests[o.name] = o.queued
      stats[o.origin] = originStats(o)
    }
    const current = {
      createSocketCount: counted(this, status, 'createSocketCount'),
      createSocketErrorCount: counted(this, status, 'createSocketErrorCount'),
      closeSocketCount: counted(this, status, 'closeSocketCount'),
      errorSocketCount: counted(this, status, 'errorSocketCount'),
      timeoutSocketCount: counted(this, status, 'timeoutSocketCount'),
      requestCount: counted(this, status, 'requestCount'),
      freeSockets,
      sockets,
      requests
    }
    return Object.defineProperties(current, {
      reusedCount: { value: status.reusedCount, writable: true, configurable: true },
      retryCount: { value: status.retryCount, writable: true, configurable: true },
      stats: { value: stats, writable: true, configurable: true }
    })
  }

  /**
   * agentkeepalive's `statusChanged`: whether a counter moved since it was last read (each counter is
   * also a property, with its `…LastCheck` twin).
   */
  get statusChanged () {
    const status = this[kNative].status()
    const changed = COUNTERS.some(name => counted(this, status, name) !== this[`${name}LastCheck`])
    if (changed) for (const name of COUNTERS) this[`${name}LastCheck`] = counted(this, status, name)
    return changed
  }

  /** agentkeepalive's (deprecated) views of its options: the agent's `timeout`, none by default. */
  get timeout () { return this.options.timeout }

  /** agentkeepalive's name for `freeSocketTimeout`. */
  get freeSocketKeepAliveTimeout () { return this.options.freeSocketTimeout ?? DEFAULT_FREE_SOCKET_TIMEOUT }

  get socketActiveTTL () { return this.options.socketActiveTTL ?? 0 }

  /** Per origin (`http://host:port`), in undici's PoolStats shape. */
  get stats () {
    const stats = {}
    for (const o of this[kNative].status().origins) stats[o.origin] = originStats(o)
    return stats
  }

  /** The dispatcher face (undici's `dispatch`): Node's fetch, undici and WebSocket (lib/dispatcher.js). */
  dispatch (opts, handler) {
    const intercepted = this[kIntercepted]
    return intercepted === null ? this[kDispatcher].dispatch(opts, handler) : intercepted(opts, handler)
  }

  /** undici's `compose()`: a dispatcher running undici's interceptors (redirect, retry, ...) over this one. */
  compose (...interceptors) {
    return compose(this, interceptors)
  }

  /** undici's `closed`: `close()` was called (`destroy()` alone leaves it false, as undici's). */
  get closed () {
    return this[kDispatcher].closed
  }

  /** undici's `destroyed`: `destroy()` was called (`close()` calls it once the requests in flight are done). */
  get destroyed () {
    return this[kDispatcher].destroyed
  }

  /** undici's `close()`: takes no new dispatches, lets those in flight finish, then destroys the agent. */
  close (callback) {
    checkCallback(callback)
    if (this[kDispatcher].destroyed) {
      // As undici's: nothing is left to close.
      const err = clientDestroyed()
      if (typeof callback !== 'function') return Promise.reject(err)
      queueMicrotask(() => callback(err))
      return
    }
    const closed = this[kDispatcher].close().then(() => this.destroy())
    if (typeof callback !== 'function') return closed
    closed.then(() => callback(null), callback)
  }

  /**
   * Node's `destroy()`: closes every connection; requests still waiting for a socket go on, and later
   * ones are served on new connections, as with Node's Agent. The Promise face refuses from then on, and
   * as undici's the dispatcher face does, fails dispatches in flight with `err`, takes a callback and
   * returns a Promise.
   */
  destroy (err, callback) {
    if (typeof err === 'function') [err, callback] = [null, err]
    checkCallback(callback)
    this[kDestroyed] = true
    this[kDispatcher].destroy(err)
    this[kNative].destroy()
    // Node's destroy() first: the requests destroyAll() sends on are given sockets it must not close.
    super.destroy()
    this[kBook].destroyAll()
    // The counterpart this agent made (for install() or upgrades) is its own: it goes too.
    const made = this[kMade]
    this[kMade] = undefined
    made?.destroy()
    // Once every connection closed has told its 'disconnect' (those Rust holds report their end first).
    const ended = this[kRequests].connects.allEnded().then(() => new Promise(resolve => setImmediate(resolve)))
    if (typeof callback !== 'function') return ended
    ended.then(() => callback(null))
  }
}

/** undici's check of `close(callback)` and `destroy(err, callback)`: a callback given must be a function. */
function checkCallback (callback) {
  if (callback !== undefined && typeof callback !== 'function') throw undiciInvalidArg('invalid callback')
}

/**
 * Routes the whole process through `agent`: http.globalAgent, https.globalAgent and the global dispatcher
 * of fetch, WebSocket and undici (lib/install.js). Returns a function that restores what was there.
 */
function install (agent = new Agent()) {
  if (!(agent instanceof Agent)) throw invalidArgType('agent', 'an instance of Agent', agent)
  return installAgent(agent, counterpart(agent))
}

/** A host name rustls can send and check (it refuses others, where OpenSSL sends any string). */
const DNS_NAME = /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$/i
const NUMERIC_LAST_LABEL = /(^|\.)\d+\.?$/

/**
 * The TLS server name of a socket-face request, as Node's agent finds it: the Host header's host (no
 * port, no brackets), else `host`; '' for an IP address (no SNI, and the address is checked), and for a
 * header rustls could not send as a name (`[::1:80`): the host dialled is named and checked instead.
 */
function serverNameOf (req, host) {
  const header = hostHeader(req)
  let name = host
  if (header) {
    if (header.startsWith('[')) {
      const end = header.indexOf(']')
      name = end === -1 ? header : header.slice(1, end)
    } else {
      name = header.split(':', 1)[0]
    }
  }
  return net.isIP(name) || !DNS_NAME.test(name) || NUMERIC_LAST_LABEL.test(name) ? '' : name
}

/** The request's Host header; one that is set and not a string throws, as in Node's agent. */
function hostHeader (req) {
  const header = req.getHeader('host')
  if (header && typeof header !== 'string') throw invalidArgType('options.headers.host', 'of type string', header)
  return header
}

/** Counter `name` as the agent shows it: the pool's count, moved by what code assigned to it. */
function counted (agent, status, name) {
  return status[name] + (agent[kCounterShift][name] ?? 0)
}

function originStats ({ connected, free, pending, queued, running }) {
  return { connected, free, pending, queued, running, size: pending + queued + running }
}

/** The same agent for `https.request`: an instance of `https.Agent` and of `Agent`, one pool. */
class HttpsAgent extends https.Agent {
  constructor (options) {
    const made = prepare(options)
    super(made.base)
    attachPool(this, made.options, made.normalized, true)
  }
}
for (const name of COUNTERS) {
  Object.defineProperty(Agent.prototype, name, {
    get () { return counted(this, this[kNative].status(), name) },
    // agentkeepalive's are plain fields, which code resets (`agent.requestCount = 0` per interval) or moves.
    set (value) { this[kCounterShift][name] = Number(value) - this[kNative].status()[name] },
    configurable: true
  })
}
// Node's hook for each new connection's socket (lib/sockets.js), which code may replace as on Node's agent.
Object.defineProperty(Agent.prototype, 'createSocket', { value: createSocket, writable: true, configurable: true })
for (const name of Object.getOwnPropertyNames(Agent.prototype)) {
  if (name !== 'constructor') Object.defineProperty(HttpsAgent.prototype, name, Object.getOwnPropertyDescriptor(Agent.prototype, name))
}
Object.defineProperty(Agent, Symbol.hasInstance, {
  value (instance) {
    // `this` is Agent, its callable face, or a subclass (whose prototype is its own).
    return Function.prototype[Symbol.hasInstance].call(this, instance) || (this.prototype === Agent.prototype && instance instanceof HttpsAgent)
  }
})

/**
 * `cls` as Node's agents are: a constructor that also builds an agent when called without `new`
 * (`http.Agent({ keepAlive: true })`, as Node's own tests and older code write it). Subclasses,
 * `instanceof` and the static names work as on the class itself.
 */
function callable (cls, NodeAgent, secure) {
  const face = new Proxy(cls, {
    apply (target, self, args) {
      // `Agent.call(this, options)` in the constructor of a subclass made the pre-class way
      // (util.inherits), as Node's function Agent allows: `this` becomes the agent, once.
      if (self !== null && typeof self === 'object' && self instanceof target && self[kNative] === undefined) {
        const made = prepare(args[0])
        NodeAgent.call(self, made.base)
        attachPool(self, made.options, made.normalized, secure)
        return undefined
      }
      return new target(...args)
    }
  })
  Object.defineProperty(cls.prototype, 'constructor', { value: face, writable: true, configurable: true })
  return face
}
const AgentFace = callable(Agent, http.Agent, false)
const HttpsAgentFace = callable(HttpsAgent, https.Agent, true)

// agentkeepalive's `constants`: the Symbols of the fields it sets on its sockets, which the socket face
// sets too (SOCKET_NAME, SOCKET_REQUEST_COUNT, ...); those for its own internals (CURRENT_ID, ...) would
// mean nothing here.
const constants = Object.freeze({ __proto__: null, ...socketConstants })

// `require()` gives the class itself, as agentkeepalive's does; every name is also a property of it, so
// `{ Agent } = require()`, ESM named imports (Node reads these `module.exports.X =` lines statically),
// `import Agent from` and TypeScript's `esModuleInterop` (`.default`) all reach the same class.
module.exports = AgentFace
module.exports.Agent = AgentFace
module.exports.HttpAgent = AgentFace
module.exports.HttpsAgent = HttpsAgentFace
module.exports.constants = constants
module.exports.install = install
module.exports.default = AgentFace
