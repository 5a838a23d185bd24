'use strict'
// The socket face's book-keeping on the JS side: Node's Agent ↔ ClientRequest protocol (addRequest,
// 'free', 'agentRemove', 'timeout', 'close') mapped onto the Rust pool. The pool decides (caps, FIFO
// queue, idle list); this file keeps Node's `sockets`/`freeSockets`/`requests` maps in step with its
// answers at the moments Node's agent changes them, so code that reads `agent.sockets[name].length` right
// after `http.get()`, or `agent.requests` in a socket's 'close' listener, sees what Node would show.

const { RustSocket, CARRIER, BOOK_LISTENERS } = require('./socket')
const { TlsSocket, sentServerName } = require('./tls-socket')
const { PipeCarrier } = require('./carriers/pipe')
const { FdCarrier } = require('./carriers/fd')
const { agentDestroyed, codedError, fromNative, hangUp } = require('./errors')
const { verifiesByDefault } = require('./options')
const { STRIDE, Kind, text, data } = require('./batch')

/**
 * agentkeepalive's fields on its sockets, set here too, under Symbols of the same names (exported as
 * `constants`): code written for agentkeepalive reads them for logs and metrics.
 */
const SOCKET_CREATED_TIME = Symbol('agentkeepalive#socketCreatedTime')
const SOCKET_NAME = Symbol('agentkeepalive#socketName')
const SOCKET_REQUEST_COUNT = Symbol('agentkeepalive#socketRequestCount')
const SOCKET_REQUEST_FINISHED_COUNT = Symbol('agentkeepalive#socketRequestFinishedCount')

// What `checkout` answers: `id * 4 + kind`.
const KIND_REUSED = 0
const KIND_CONNECTING = 1
const KIND_QUEUED = 2

/**
 * A new connection `checkout` granted dials a turn later, when `dial(id)` is called: as Node's agent
 * connects (net.connect defers even an IP address's connect), so that a server the program starts in the
 * same turn (`server.listen(port, host)` listens a turn later) is listening by then.
 */
function dialSoon (calls, kind, id) {
  if (kind === KIND_CONNECTING) process.nextTick(calls.dial, id)
}

/**
 * New TCP connections are fd-carried (lib/carriers/fd.js) while fewer requests than this are in
 * flight: then a request costs no thread hop. Beyond it the pipe's tokio thread takes the syscalls off
 * the busy JS thread (benchmark/spikes/CARRIER-SPIKE.md).
 */
const FD_IN_FLIGHT = 4

/**
 * An fd-carried connection freed while more sockets than this of its route are in use closes (see
 * `retires`). Below it every connection stays as Node's agent keeps it: code and test suites that count
 * sockets after a burst of a few requests see Node's maps and counts.
 */
const RETIRE_IN_USE = 16

/**
 * Internal, undocumented: `KEEPALIVE_AGENT_SOCKET_CARRIER` (read once) or the agent option
 * `[Symbol.for('keepalive-agent.carrier')]` forces 'fd' or 'pipe' for TCP, so that tests run the
 * socket face on either carrier.
 */
const FORCED_CARRIER = process.env.KEEPALIVE_AGENT_SOCKET_CARRIER

/**
 * How this agent carries new TCP connections, plain or TLS: 'fd', 'pipe', or 'auto' (by load). Unix
 * sockets and callers' streams always stay on the pipe (Rust decides).
 */
function carrierOf (agent) {
  // libuv takes a socket fd on Unix only.
  if (process.platform === 'win32') return 'pipe'
  const forced = agent.options[CARRIER] ?? FORCED_CARRIER
  return forced === 'fd' || forced === 'pipe' ? forced : 'auto'
}

/**
 * The response's Keep-Alive header as Node's agent reads it (`res.headers['keep-alive']`: repeated ones
 * joined by ', '), or null, found in `rawHeaders`: `headers` is built on first read, and this read alone
 * built it for every response nobody else asked for headers (≈ 2 % of the JS thread, POST at 64 in flight).
 */
function keepAliveHint (res) {
  const raw = res?.rawHeaders
  if (raw === undefined) return null
  let hint = null
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (name.length === 10 && (name.charCodeAt(0) | 0x20) === 0x6b && name.toLowerCase() === 'keep-alive') {
      hint = hint === null ? raw[i + 1] : `${hint}, ${raw[i + 1]}`
    }
  }
  return hint
}

function push (map, name, item) {
  const list = map[name]
  if (list === undefined) map[name] = [item]
  else list.push(item)
}

function remove (map, name, item) {
  const list = map[name]
  if (list === undefined) return
  const at = list.indexOf(item)
  if (at !== -1) list.splice(at, 1)
  if (list.length === 0) delete map[name]
}

/** The route name an adopted socket was taken under (see `SocketBook.adopt`). */
const kAdoptedAs = Symbol('adoptedAs')

/** Where an agent keeps its SocketBook (index.js sets it). */
const BOOK = Symbol('socketBook')
/** A new connection granted to a request, waiting for the agent's `createSocket` to make its socket. */
const kGrant = Symbol('grant')

/**
 * Node's `agent.createSocket(req, options, callback)`, the agent's own: the socket of the connection the
 * pool granted `req`, given to `callback` at once. Node's agent asks it for each new connection, and code
 * replaces it (a subclass calling `super.createSocket`, or an assignment) to wrap or refuse the sockets
 * made; ours is asked the same way (see `SocketBook.assign`). Called for a request the pool granted
 * nothing (outside `addRequest`), it fails: a socket outside the pool would escape its caps.
 */
function createSocket (req, options, callback) {
  const grant = req?.[kGrant]
  if (grant === undefined || grant.socket !== null) {
    const err = codedError(Error, 'ERR_INVALID_STATE', 'Invalid state: createSocket makes the socket of a connection the pool granted a request in addRequest; call it from there (a subclass\'s override may call super.createSocket)')
    process.nextTick(callback, err)
    return
  }
  const socket = this[BOOK].create(grant.id, grant.route, true, grant.fd)
  grant.socket = socket
  socket.ref()
  // What the connection did while the replaced createSocket took its time.
  if (grant.connected !== null) socket._connected(...grant.connected)
  if (grant.closed !== null) socket._closedByRust(grant.closed)
  callback(null, socket)
}

/** `req.onSocket(socket)`; as Node's agent, a request's own `timeout` is then set on the socket as user code would set it. */
function handOver (req, socket, agentTimeout) {
  req.onSocket(socket)
  if (req.timeout !== undefined && req.timeout !== agentTimeout) socket.setTimeout(req.timeout)
}

/** agentkeepalive's error for a request that went quiet for longer than the agent's `timeout`. */
function socketTimeoutError (timeout) {
  return codedError(Error, 'ERR_SOCKET_TIMEOUT', 'Socket timeout', { timeout })
}

/**
 * How many route names a book keeps to key Node's maps with, newest first (see `knownName`). Equal names
 * are one route, so an agent sees as many as it has origins with distinct options.
 */
const NAMES_KEPT = 8

/**
 * The route name `name` as a string already used as a key, where there is one. getName builds a new
 * string for every request, and the first lookup of a new string hashes all of it: over https the name
 * carries the `ca`, `cert` and `key` PEM text (1 KiB each and up), which cost ≈ 2.5 µs per request at 64 in
 * flight, more than any other step of ours. Compared with a string already hashed (lengths first, then
 * bytes), it costs a memcmp.
 */
function knownName (names, name) {
  for (let i = 0; i < names.length; i++) {
    if (names[i] === name) return names[i]
  }
  if (names.length === NAMES_KEPT) names.pop()
  names.unshift(name)
  return name
}

/** Where a request goes: what `checkout` needs, and Node's map key (as one of `names`, see `knownName`). */
function routeOf (agent, options, names) {
  return {
    host: options.host || options.hostname || 'localhost',
    port: Number(options.port) || agent.defaultPort,
    name: knownName(names, agent.getName(options))
  }
}

class SocketBook {
  constructor (agent, native, secure, liveness, requests) {
    this.agent = agent
    this.native = native
    this.secure = secure
    this.liveness = liveness
    this.requests = requests
    this.byId = new Map()
    /**
     * Queued requests by ticket, oldest first: `{ req, route, fd }`, a retrying `{ socket, route, fd }`,
     * or a Promise-face `{ exchange }` (lib/exchange.js; its connections are in `byId` too).
     */
    this.tickets = new Map()
    this.routes = new Map()
    /** Route names seen lately (see `knownName`). */
    this.names = []
    /** New connections granted whose socket a replaced `createSocket` is making, by id (see `createThrough`). */
    this.making = new Map()
    /** Sockets made elsewhere and handed to the agent (see `adopt`), idle, by route name; null: none yet. */
    this.adopted = null
    this.carrier = carrierOf(agent)
    /** Whether new TLS sockets report their key material (the agent has 'keylog' listeners). */
    this.keyLogging = false
    /**
     * The calls every request makes: `checkout`, `release`, `write` over the pipe, and `tlsSeal` and
     * `tlsOpen` over an fd-carried TLS connection (src/binding/calls.rs).
     */
    this.calls = {}
    native.socketCalls(this.calls)
  }

  /** Node's https.Agent starts logging TLS keys when a 'keylog' listener is added to it. */
  logKeys () {
    if (this.keyLogging || !this.secure) return
    this.keyLogging = true
    this.native.logKeys(true)
  }

  /** Whether a new connection should come as an fd: see FD_IN_FLIGHT. */
  wantsFd () {
    return this.carrier === 'fd' || (this.carrier === 'auto' && this.liveness.count < FD_IN_FLIGHT)
  }

  busy (delta) {
    this.liveness.busy(delta)
  }

  /** `profile`: how to connect (lib/connect.js), 0 for the agent's own options. */
  addRequest (req, options, profile) {
    const route = routeOf(this.agent, options, this.names)
    route.profile = profile
    // What Node's agent passes along with its 'free' event.
    route.options = options
    if (this.adopted !== null && this.takeAdopted(req, route.name)) return
    this.place(req, route)
  }

  /** Whether `socket` is one of this book's (the pool's, or one a replaced createSocket made through it). */
  owns (socket) {
    return this.routes.has(socket)
  }

  /**
   * A socket made elsewhere that code hands to the agent as Node's agent takes one, with
   * `agent.emit('free', socket, options)` (http2-wrapper does, with the TLS socket it learnt the server's
   * ALPN protocol on): as Node's agent, it is kept idle in `freeSockets` under its options' name, where
   * keep-alive allows, and the next request of that name takes it. The pool never holds it (it counts
   * against no cap); it leaves when it closes, stays idle past the deadline the pool would give one of
   * its own (`freeSocketTimeout`, within the server's Keep-Alive hint), or is removed (`removeSocket`).
   * Left alone, it stayed open and unused, holding its server and process.
   */
  adopt (socket, options) {
    const agent = this.agent
    const name = knownName(this.names, agent.getName(options ?? {}))
    this.adopted ??= { __proto__: null }
    if (this.adopted[name]?.includes(socket)) return
    const req = socket._httpMessage
    if (socket.destroyed || !socket.writable || !req || !req.shouldKeepAlive || !agent.keepAlive) {
      socket.destroy()
      return
    }
    // How long it may stay idle, by the pool's rule for its own: `freeSocketTimeout`, within the server's
    // Keep-Alive hint less `agentKeepAliveTimeoutBuffer`; 0 when nothing is left of the hint (or `max=0`).
    const idleMs = this.native.idleDeadline(keepAliveHint(req.res))
    if (idleMs === 0 || !agent.keepSocketAlive(socket)) {
      socket.destroy()
      return
    }
    socket._httpMessage = null
    remove(agent.sockets, name, socket)
    push(agent.freeSockets, name, socket)
    push(this.adopted, name, socket)
    if (socket[kAdoptedAs] === undefined) {
      socket.on('close', () => this.unadopt(socket))
      socket.on('timeout', () => { if (this.adopted[socket[kAdoptedAs]]?.includes(socket)) socket.destroy() })
      // Its next request's end frees it as one of the pool's would be.
      socket.on('free', () => this.adopt(socket, options))
    }
    socket[kAdoptedAs] = name
    if (idleMs !== Infinity) socket.setTimeout(idleMs)
  }

  /** `req` takes an adopted socket of route `name`, if one is idle; returns whether it did. */
  takeAdopted (req, name) {
    const socket = this.adopted[name]?.at(-1)
    if (socket === undefined) return false
    const agent = this.agent
    remove(this.adopted, name, socket)
    remove(agent.freeSockets, name, socket)
    push(agent.sockets, name, socket)
    socket.setTimeout(0)
    socket.ref()
    agent.reuseSocket(socket, req)
    handOver(req, socket, agent.options.timeout || 0)
    return true
  }

  /** An adopted socket leaves the agent's maps (it closed, or code removed it). */
  unadopt (socket) {
    const name = socket[kAdoptedAs]
    if (name === undefined) return
    remove(this.adopted, name, socket)
    remove(this.agent.freeSockets, name, socket)
    remove(this.agent.sockets, name, socket)
  }

  /** Asks the pool for a connection for `req` along `route`: it is assigned one, or queued. */
  place (req, route) {
    const { profile } = route
    const fd = this.wantsFd()
    let answer
    try {
      answer = this.calls.checkout(this.secure, route.host, route.port, 0, profile, fd)
    } catch (err) {
      // A bad port: the request fails as Node's fails a connect, asynchronously.
      req.onSocket(null, fromNative(err))
      return
    }
    const kind = answer % 4
    const id = (answer - kind) / 4
    dialSoon(this.calls, kind, id)
    if (kind === KIND_QUEUED) this.enqueue(req, route, id, fd)
    else this.assign(req, route, id, kind === KIND_REUSED, fd)
  }

  /**
   * The reused connection of `socket` closed before any byte of the answer: ask the pool for another
   * connection for its `replays`th sending (under the same caps, counted as a retry: not an idle one, and
   * a new one the second time) and move the socket onto it; the socket replays what its request wrote.
   * Throws what the pool throws.
   */
  retry (socket, replays) {
    const route = this.routes.get(socket)
    this.byId.delete(socket.id)
    const fd = this.wantsFd()
    const answer = this.calls.checkout(this.secure, route.host, route.port, replays, route.profile, fd)
    const kind = answer % 4
    const id = (answer - kind) / 4
    dialSoon(this.calls, kind, id)
    if (kind !== KIND_QUEUED) {
      this.moved(socket, id, kind === KIND_REUSED, fd)
      return
    }
    this.tickets.set(id, { socket, route, fd })
    this.busy(1)
  }

  /** `fd`: whether the connection it is granted may come as an fd. */
  enqueue (req, route, ticket, fd) {
    this.tickets.set(ticket, { req, route, fd })
    push(this.agent.requests, route.name, req)
    this.busy(1)
    // Node's ClientRequest only marks itself destroyed until it gets a socket; a queued request that is
    // aborted leaves the Rust queue at once instead, and settles as Node's would once given a socket.
    const book = this
    req.destroy = function destroyQueued (err) {
      if (!this.destroyed && book.tickets.has(ticket) && book.native.socketCancel(ticket)) {
        book.dequeue(ticket)
        const result = Object.getPrototypeOf(this).destroy.call(this, err)
        this.onSocket(null)
        return result
      }
      return Object.getPrototypeOf(this).destroy.call(this, err)
    }
  }

  /** Promise-face exchange `exchange` waits in the pool's queue under `ticket`. */
  waitFor (ticket, exchange) {
    this.tickets.set(ticket, { exchange })
    this.busy(1)
  }

  /** Ticket `ticket` leaves the queue; returns what waited (see `tickets`). */
  dequeue (ticket) {
    const waiting = this.tickets.get(ticket)
    this.tickets.delete(ticket)
    if (waiting.req !== undefined) {
      remove(this.agent.requests, waiting.route.name, waiting.req)
      delete waiting.req.destroy
    }
    this.busy(-1)
    return waiting
  }

  /** The pool granted queued request `ticket` (its answer is claimed here, once). */
  granted (ticket) {
    const answer = this.native.socketClaim(ticket)
    if (answer < 0 || !this.tickets.has(ticket)) return false
    const { req, route, socket, fd, exchange } = this.dequeue(ticket)
    const kind = answer % 4
    const id = (answer - kind) / 4
    if (exchange !== undefined) {
      exchange.granted(id, kind === KIND_REUSED)
      return true
    }
    if (socket !== undefined && !socket.destroyed) {
      this.moved(socket, id, kind === KIND_REUSED, fd)
      return true
    }
    if (socket !== undefined || req.destroyed) {
      // Aborted as its turn came: the connection goes back (or, still connecting, is closed; an fd on
      // its way is closed here when it comes).
      if (kind === KIND_REUSED) this.calls.release(id, null)
      else this.native.socketDestroy(id, true)
      return true
    }
    const made = this.assign(req, route, id, kind === KIND_REUSED, fd, true)
    // Node's agent makes the socket of a queued request and emits its 'free' to hand it over: listeners
    // of the agent's 'free' hear of it (after the hand-over), as there.
    if (kind !== KIND_REUSED && made !== undefined) this.emitFree(made, route)
    return true
  }

  /**
   * Room was freed for `name` by a call made from here: the pool has already granted its waiters, so
   * they get their sockets now, as Node's agent hands them over within 'free' or 'close'.
   */
  serveQueued (name) {
    for (const [ticket, waiting] of this.tickets) {
      if (waiting.route?.name === name && !this.granted(ticket)) return
    }
  }

  /**
   * Gives `req` the socket of connection `id`: the idle one (`reused`), or a new one's, made by the
   * agent's `createSocket` when code replaced it (then maybe later; `queued`: the request waited, and
   * the agent's 'free' listeners hear of the hand-over, as from Node's agent). Returns the socket, or
   * undefined while a replaced `createSocket` makes it.
   */
  assign (req, route, id, reused, fd, queued = false) {
    const agent = this.agent
    let socket = this.byId.get(id)
    if (reused && socket !== undefined) {
      remove(agent.freeSockets, route.name, socket)
      socket[SOCKET_REQUEST_COUNT]++
      socket._reuse()
      // Node's agent hands a freed socket to a waiting request without its reuseSocket hook (so
      // `req.reusedSocket` stays false there): only an idle one taken from the free list is reused.
      if (!queued) agent.reuseSocket(socket, req)
    } else if (agent.createSocket !== createSocket) {
      this.createThrough(req, route, id, fd, queued)
      return undefined
    } else {
      socket = this.create(id, route, !reused, fd)
      socket.ref()
    }
    return this.seat(req, route, socket)
  }

  /**
   * A replaced `createSocket` makes the socket of new connection `id` for `req`: ours if it calls the
   * agent's own (`super.createSocket`), else its own socket, which serves the request outside the pool
   * (as from Node's agent, nothing pools it). A connection it did not take is given back; an error it
   * gives fails the request, as Node's agent fails it.
   */
  createThrough (req, route, id, fd, queued) {
    // `connected` and `closed`: the connection's events (their arguments) while no socket has it yet.
    const grant = { id, route, fd, socket: null, connected: null, closed: null }
    req[kGrant] = grant
    this.making.set(id, grant)
    let answered = false
    const made = (err, socket) => {
      if (answered) return
      answered = true
      this.untake(req, grant)
      if (err) {
        grant.socket?.destroy()
        req.onSocket(socket, err)
      } else if (socket === grant.socket) {
        this.seat(req, route, socket)
        if (queued) this.emitFree(socket, route)
      } else {
        grant.socket?.destroy()
        handOver(req, socket, this.agent.options.timeout || 0)
      }
    }
    try {
      this.agent.createSocket(req, route.options, made)
    } catch (err) {
      // Thrown at once, as from Node's agent: the connection granted goes back first.
      if (!answered) {
        answered = true
        this.untake(req, grant)
        grant.socket?.destroy()
      }
      throw err
    }
  }

  /** The replaced createSocket answered: a connection it did not take a socket of is closed. */
  untake (req, grant) {
    delete req[kGrant]
    this.making.delete(grant.id)
    if (grant.socket !== null) return
    this.native.socketDestroy(grant.id, true)
    const fd = grant.connected?.[2] ?? -1
    if (fd >= 0) new FdCarrier(this.native, this.calls, grant.id, fd, null, this.secure, false).close()
  }

  /** Hands `socket` to `req` as Node's agent does, Node's maps first. */
  seat (req, route, socket) {
    const agent = this.agent
    push(agent.sockets, route.name, socket)
    const agentTimeout = agent.options.timeout || 0
    socket._setAgentTimeout(agentTimeout)
    handOver(req, socket, agentTimeout)
    return socket
  }

  create (id, route, connecting, fd) {
    const options = route.options
    const socket = this.secure
      ? new TlsSocket(this, this.native, id, {
        connecting,
        // The request's own rejectUnauthorized (its route was made with it) decides `socket.authorized`.
        verified: (options.rejectUnauthorized ?? verifiesByDefault()) !== false,
        fd: connecting && fd,
        servername: sentServerName(options, route.host),
        cert: options.cert,
        ca: options.ca,
        // The name Node's TLSSocket checks where rustls does not (rejectUnauthorized: false).
        hostname: options.servername || route.host,
        checkServerIdentity: options.checkServerIdentity
      })
      : new RustSocket(this, this.native, id, { connecting, fd: connecting && fd })
    this.byId.set(id, socket)
    this.routes.set(socket, route)
    socket[SOCKET_CREATED_TIME] = Date.now()
    socket[SOCKET_NAME] = `sock[${id}#${route.name}]`
    socket[SOCKET_REQUEST_COUNT] = 1
    socket[SOCKET_REQUEST_FINISHED_COUNT] = 0
    // Registered first, as Node's agent registers its own: the maps are right before anyone else hears.
    // Pairs, not an object walked with for-in: that would take in what a program added to Object.prototype.
    const listeners = [
      ['close', () => this.closed(socket)],
      ['free', () => this.free(socket)],
      ['agentRemove', () => this.detach(socket)],
      ['timeout', () => this.timeout(socket)]
    ]
    for (const [event, listener] of listeners) socket.on(event, listener)
    socket[BOOK_LISTENERS] = listeners
    // As Node's https.Agent, once 'keylog' is listened to on it: each socket's key log lines, with it.
    if (this.keyLogging) socket.on('keylog', line => this.agent.emit('keylog', line, socket))
    return socket
  }

  /** Node's ClientRequest says the response is done and the socket may serve another request. */
  free (socket) {
    const route = this.routes.get(socket)
    // Closed meanwhile (the server closed it as the response ended): nothing to free.
    if (route === undefined) return
    this.pool(socket, route)
    // Node's agent keeps its pool in its own 'free' listener; those added later hear of it after.
    this.emitFree(socket, route)
  }

  emitFree (socket, route) {
    const agent = this.agent
    if (agent.listenerCount('free') > 0) agent.emit('free', socket, route.options)
  }

  /** The request on `socket` is done: the socket goes to a waiting request, or idle, or closes. */
  pool (socket, route) {
    const agent = this.agent
    const req = socket._httpMessage
    socket[SOCKET_REQUEST_FINISHED_COUNT]++
    // As Node's agent: a request waiting for this origin takes the socket (even without keep-alive);
    // otherwise it is pooled only with keep-alive, and the hook may veto that.
    const waiters = agent.requests[route.name] !== undefined
    const timeoutsSet = socket._timeoutsSet
    if (!socket.writable || socket.destroyed ||
      (!waiters && (this.retires(socket, route) || !agent.keepAlive || (req && !req.shouldKeepAlive) || !agent.keepSocketAlive(socket)))) {
      socket.destroy()
      return
    }
    // agentkeepalive's per-socket idle deadline, which its callers set (urllib, from the server's
    // Keep-Alive header): it replaces the agent's freeSocketTimeout.
    const own = socket.freeSocketTimeout || socket.freeSocketKeepAliveTimeout
    const idleMs = this.calls.release(socket.id, keepAliveHint(req?.res), typeof own === 'number' ? own : 0)
    if (idleMs < 0) {
      // The pool keeps no more idle (maxFreeSockets): as Node's surplus, it stays among the agent's
      // sockets until its 'close'.
      socket.destroy()
      return
    }
    remove(agent.sockets, route.name, socket)
    socket._httpMessage = null
    socket.unref()
    push(agent.freeSockets, route.name, socket)
    socket._idle(idleMs, socket._timeoutsSet !== timeoutsSet)
    if (waiters) this.serveQueued(route.name)
  }

  /**
   * Whether `socket`, its request done and no request of its route waiting (one waiting takes it, as from
   * Node's agent), closes instead of going idle: an fd-carried connection while more than RETIRE_IN_USE
   * sockets of its route are in use. It was made while the agent was quiet; kept through a burst, its
   * syscalls (and over TLS its records) stay on the busy JS thread, where the pipe would take them to the
   * tokio thread: over https at 64 in flight, the four such connections cost 15 % more CPU per request
   * and 20-30 % fewer requests per second than the pipe alone (6 alternated pairs). The route keeps its
   * other connections, and the one made instead comes by the pipe.
   */
  retires (socket, route) {
    return this.carrier === 'auto' && socket[CARRIER] === 'fd' && (this.agent.sockets[route.name]?.length ?? 0) > RETIRE_IN_USE
  }

  /** An upgraded or CONNECT request takes its connection out of the pool for good. */
  detach (socket) {
    const route = this.routes.get(socket)
    remove(this.agent.sockets, route.name, socket)
    // As Node's agent lets go of an upgraded socket, its listeners leave it: the caller owns it now.
    const listeners = socket[BOOK_LISTENERS]
    if (listeners) {
      for (const [event, listener] of listeners) socket.removeListener(event, listener)
      socket[BOOK_LISTENERS] = null
    }
    this.native.socketDetach(socket.id)
  }

  timeout (socket) {
    if (socket._isIdle) {
      // An idle socket whose deadline passed (the agent's or one set by user code) is never reused.
      socket.destroy()
      return
    }
    // agentkeepalive counts every socket timeout (the pool counts the idle deadlines it keeps).
    this.native.noteTimeout()
    const req = socket._httpMessage
    // agentkeepalive: the agent's own `timeout`, with nobody listening on the request, ends the request;
    // the socket leaves the maps at once, before the request hears of the error.
    if (socket._agentTimeout && req && req.listenerCount('timeout') === 0) {
      socket.destroy(socketTimeoutError(socket.timeout))
      this.closed(socket)
    }
  }

  /** The socket closed (destroyed by JS or closed in Rust): Node's 'close' moment. */
  closed (socket) {
    const route = this.routes.get(socket)
    if (route === undefined) return
    const agent = this.agent
    this.routes.delete(socket)
    if (this.byId.get(socket.id) === socket) this.byId.delete(socket.id)
    remove(agent.sockets, route.name, socket)
    remove(agent.freeSockets, route.name, socket)
    socket.unref()
    this.serveQueued(route.name)
  }

  /** Every Rust event of this agent comes through here, in order, a batch at a time. */
  onEvents (batch) {
    const requests = this.requests
    const meta = batch.meta
    for (let at = 0; at < meta.length; at += STRIDE) {
      const id = meta[at + 1]
      switch (meta[at]) {
        case Kind.ANSWERED: requests.answered(id, batch, at); break
        case Kind.FAILED: requests.failed(id, text(batch, at)); break
        case Kind.DATA: this.byId.get(id)?._data(data(batch, at)); break
        case Kind.DRAIN: this.byId.get(id)?._drained(); break
        case Kind.CONNECTED: this.connected(id, text(batch, at), data(batch, at), meta[at + 2]); break
        case Kind.END: this.byId.get(id)?._ended(); break
        case Kind.CLOSED: this.closedByRust(id, text(batch, at)); break
        case Kind.GRANTED: this.granted(meta[at + 2]); break
        case Kind.REFUSED: this.refused(meta[at + 2], fromNative(new Error(text(batch, at)))); break
      }
    }
  }

  /** Connection `id` is open; `fd` (≥ 0) is its fd when the fd carrier takes it. */
  connected (id, info, peerChain, fd) {
    const socket = this.byId.get(id)
    const making = socket === undefined ? this.making.get(id) : undefined
    if (making !== undefined) making.connected = [info, peerChain, fd]
    else if (socket !== undefined && !socket.destroyed) socket._connected(info, peerChain, fd)
    // Its socket was destroyed while the fd was on its way: closed here, as the socket would have.
    else if (fd >= 0) new FdCarrier(this.native, this.calls, id, fd, null, this.secure, false).close()
  }

  /** Rust closed connection `id` (`why`: its coded error text, or empty). */
  closedByRust (id, why) {
    const socket = this.byId.get(id)
    const making = socket === undefined ? this.making.get(id) : undefined
    if (making !== undefined) making.closed = why
    else socket?._closedByRust(why)
  }

  /**
   * The connection of `socket` is now `id` (a retry): a new one (`fd`: it may come as an fd) or, when
   * the pool granted an idle one, the carrier of that idle connection's socket.
   */
  moved (socket, id, reused, fd) {
    const idle = reused ? this.byId.get(id) : undefined
    this.byId.set(id, socket)
    let carrier = null
    if (idle !== undefined) carrier = idle._handOver()
    else if (reused || !fd) carrier = new PipeCarrier(this.native, this.calls, id)
    socket._moveTo(id, carrier, reused)
  }

  refused (ticket, err) {
    if (!this.tickets.has(ticket)) return
    const { req, socket, exchange } = this.dequeue(ticket)
    if (exchange !== undefined) {
      exchange.refused(err)
      return
    }
    if (socket !== undefined) {
      socket.destroy(err)
      return
    }
    // As Node's agent does when a connect fails: a request without a socket learns of it via onSocket
    // (req.destroy() would only mark it, and it would wait for a socket forever).
    req.onSocket(null, err)
  }

  /**
   * The agent is destroyed (the pool closed its idle connections and let its queue go): every socket
   * closes, so requests fail as with Node's agent (`socket hang up` before a response; a response being
   * read is aborted). As with Node's, the requests still waiting for a socket are left to go on: they ask
   * the pool again, which serves them on new connections. The Promise face's fail.
   */
  destroyAll () {
    for (const socket of [...this.byId.values()]) socket.destroy()
    // And, as Node's agent destroys all its sockets, those it adopted (idle or in use).
    if (this.adopted !== null) {
      for (const list of [...Object.values(this.agent.freeSockets), ...Object.values(this.agent.sockets)]) {
        for (const socket of [...list]) if (socket[kAdoptedAs] !== undefined) socket.destroy()
      }
    }
    for (const [ticket, { req, route, exchange }] of [...this.tickets]) {
      if (req === undefined) this.refused(ticket, exchange ? agentDestroyed() : hangUp())
      else {
        this.dequeue(ticket)
        this.place(req, route)
      }
    }
  }
}

module.exports = {
  SocketBook,
  dialSoon,
  BOOK,
  createSocket,
  constants: { SOCKET_CREATED_TIME, SOCKET_NAME, SOCKET_REQUEST_COUNT, SOCKET_REQUEST_FINISHED_COUNT }
}
