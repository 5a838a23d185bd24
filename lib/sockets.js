'use strict'
// The socket face's book-keeping on the JS side: Node's Agent ↔ ClientRequest protocol (addRequest,
// 'free', 'agentRemove', 'timeout') mapped onto the Rust pool. The pool decides (caps, FIFO queue, idle
// list); this file keeps Node's `sockets`/`freeSockets`/`requests` maps in step with its answers, so code
// that reads `agent.sockets[name].length` right after `http.get()` sees what Node would show.

const { RustSocket } = require('./socket')
const { codedError, fromNative } = require('./errors')
const { STRIDE, Kind, REUSED, text, data } = require('./batch')

const KIND_REUSED = 0
const KIND_CONNECTING = 1

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

function socketTimeoutError () {
  return codedError(Error, 'ERR_SOCKET_TIMEOUT', 'Socket timeout')
}

class SocketBook {
  constructor (agent, native, secure, liveness, requests) {
    this.agent = agent
    this.native = native
    this.secure = secure
    this.liveness = liveness
    this.requests = requests
    this.byId = new Map()
    this.tickets = new Map()
    this.names = new Map()
    this.idle = new WeakSet()
  }

  busy (delta) {
    this.liveness.busy(delta)
  }

  addRequest (req, options) {
    const agent = this.agent
    const host = options.host || options.hostname || 'localhost'
    const port = Number(options.port) || agent.defaultPort
    const name = agent.getName(options)
    let kind, id
    try {
      [kind, id] = this.native.checkoutSocket(this.secure, host, port)
    } catch (err) {
      // A destroyed agent or a bad port: the request fails as Node's fails a connect, asynchronously.
      req.onSocket(null, fromNative(err))
      return
    }
    if (kind === KIND_REUSED || kind === KIND_CONNECTING) {
      this.assign(req, name, id, kind === KIND_REUSED)
      return
    }
    this.tickets.set(id, { req, name })
    push(agent.requests, name, req)
    this.busy(1)
  }

  assign (req, name, id, reused) {
    const agent = this.agent
    let socket = this.byId.get(id)
    if (reused && socket !== undefined) {
      remove(agent.freeSockets, name, socket)
      this.idle.delete(socket)
      req.reusedSocket = true
    } else {
      socket = this.create(id, name, !reused)
    }
    socket.ref()
    push(agent.sockets, name, socket)
    req.onSocket(socket)
    const agentTimeout = agent.options.timeout || 0
    if (agentTimeout > 0 && socket.timeout !== agentTimeout) socket.setTimeout(agentTimeout)
    if (req.timeout !== undefined && req.timeout !== agentTimeout) socket.setTimeout(req.timeout)
  }

  create (id, name, connecting) {
    const socket = new RustSocket(this, this.native, id, {
      secure: this.secure,
      connecting,
      verified: this.agent.options.rejectUnauthorized !== false
    })
    this.byId.set(id, socket)
    this.names.set(socket, name)
    socket.on('free', () => this.free(socket))
    socket.on('agentRemove', () => this.detach(socket))
    socket.on('timeout', () => this.timeout(socket))
    return socket
  }

  /** Node's ClientRequest says the response is done and the socket may serve another request. */
  free (socket) {
    const agent = this.agent
    const name = this.names.get(socket)
    const req = socket._httpMessage
    if (!socket.writable || socket.destroyed || !agent.keepAlive || (req && !req.shouldKeepAlive)) {
      socket.destroy()
      return
    }
    const hint = /^timeout=(\d+)/.exec(req?.res?.headers['keep-alive'] ?? '')
    const idleMs = hint ? Math.max(0, Number(hint[1]) * 1000 - 1000) : -1
    remove(agent.sockets, name, socket)
    socket._httpMessage = null
    socket.setTimeout(0)
    socket.unref()
    push(agent.freeSockets, name, socket)
    this.idle.add(socket)
    if (!this.native.socketRelease(socket.id, idleMs)) socket.destroy()
  }

  /** An upgraded or CONNECT request takes its connection out of the pool for good. */
  detach (socket) {
    const name = this.names.get(socket)
    remove(this.agent.sockets, name, socket)
    this.native.socketDetach(socket.id)
  }

  timeout (socket) {
    const req = socket._httpMessage
    // As agentkeepalive: nobody listens for the request's 'timeout', so the request is ended here.
    if (req && req.listenerCount('timeout') === 0) socket.destroy(socketTimeoutError())
  }

  /** The socket is gone (destroyed by JS or closed in Rust). */
  forget (socket) {
    const name = this.names.get(socket)
    if (name === undefined) return
    const agent = this.agent
    this.names.delete(socket)
    this.byId.delete(socket.id)
    remove(agent.sockets, name, socket)
    remove(agent.freeSockets, name, socket)
    socket.unref()
  }

  /** Every Rust event of this agent comes through here, in order, a batch at a time. */
  onEvents (batch) {
    const meta = batch.meta
    for (let at = 0; at < meta.length; at += STRIDE) {
      const id = meta[at + 1]
      switch (meta[at]) {
        case Kind.ANSWERED: this.requests.answered(id, batch, at); break
        case Kind.FAILED: this.requests.failed(id, text(batch, at)); break
        case Kind.DATA: this.byId.get(id)?._data(data(batch, at)); break
        case Kind.DRAIN: this.byId.get(id)?._drained(); break
        case Kind.CONNECTED: this.byId.get(id)?._connected(text(batch, at), data(batch, at)); break
        case Kind.END: this.byId.get(id)?.push(null); break
        case Kind.CLOSED: this.closed(id, text(batch, at)); break
        case Kind.GRANTED: this.granted(meta[at + 2], id, meta[at + 3] >= REUSED); break
        case Kind.REFUSED: this.refused(meta[at + 2], fromNative(new Error(text(batch, at)))); break
      }
    }
  }

  closed (id, reason) {
    const socket = this.byId.get(id)
    if (socket === undefined) return
    // An idle socket that closes is no one's error (Node's free sockets swallow theirs too).
    socket._closedByRust(reason && !this.idle.has(socket) ? fromNative(new Error(reason)) : null)
  }

  granted (ticket, id, reused) {
    const waiting = this.tickets.get(ticket)
    this.tickets.delete(ticket)
    if (waiting === undefined) return
    const { req, name } = waiting
    remove(this.agent.requests, name, req)
    this.busy(-1)
    if (req.destroyed) {
      // Aborted while it waited: the connection goes back (or, still connecting, is closed).
      if (reused) this.native.socketRelease(id, -1)
      else this.native.socketDestroy(id)
      return
    }
    this.assign(req, name, id, reused)
  }

  refused (ticket, err) {
    const waiting = this.tickets.get(ticket)
    this.tickets.delete(ticket)
    if (waiting === undefined) return
    remove(this.agent.requests, waiting.name, waiting.req)
    this.busy(-1)
    // As Node's agent does when a connect fails: a request without a socket learns of it via onSocket
    // (req.destroy() would only mark it, and it would wait for a socket forever).
    waiting.req.onSocket(null, err)
  }

  /** The agent is destroyed: its sockets close and the requests still waiting for one fail. */
  destroyAll () {
    const destroyed = () => codedError(Error, 'ERR_AGENT_DESTROYED', 'The agent was destroyed')
    // A request still waiting for its response fails with the reason. One whose response is arriving
    // sees it aborted, as with Node's agent (an error on the request then would crash code that only
    // listens on the response); an idle socket has nobody to tell.
    for (const socket of [...this.byId.values()]) {
      const req = socket._httpMessage
      socket.destroy(req && !req.res ? destroyed() : undefined)
    }
    for (const ticket of [...this.tickets.keys()]) this.refused(ticket, destroyed())
  }
}

module.exports = { SocketBook }
