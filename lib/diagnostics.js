'use strict'
// undici's diagnostics_channel events for requests served by the dispatcher face and the Promise face, in
// undici's payload shapes, so that tracers written for undici (@opentelemetry/instrumentation-undici) work
// unchanged. undici publishes these from its own client; a replacement dispatcher must publish them
// itself. Nothing is built unless a channel has a subscriber. The connect events (beforeConnect,
// connected, connectError) come from Rust, which makes them only while one of their channels has a
// subscriber.

const dc = require('node:diagnostics_channel')
const net = require('node:net')
const { text, connectionInfo } = require('./batch')
const { codedError, fromNative } = require('./errors')
const { Why } = require('./connection-events')
const { setTimeout, clearTimeout } = require('./timers')

const channels = {
  create: dc.channel('undici:request:create'),
  headers: dc.channel('undici:request:headers'),
  trailers: dc.channel('undici:request:trailers'),
  error: dc.channel('undici:request:error'),
  sendHeaders: dc.channel('undici:client:sendHeaders')
}

const connectChannels = {
  beforeConnect: dc.channel('undici:client:beforeConnect'),
  connected: dc.channel('undici:client:connected'),
  connectError: dc.channel('undici:client:connectError')
}

// The stage a connect event (Kind.CONNECT) reports, in its number.
const CONNECT_STARTED = 0
const CONNECT_DONE = 1
// How a hyper connection ended (event 12, src/binding/events.rs `Ended`), as undici tells 'disconnect'.
const ENDED_WHY = [Why.otherSideClosed, Why.idle, Why.closed, Why.reset, Why.aborted]
/** The longest `destroy()` waits for the ends of the hyper client's connections (see `allEnded`). */
const ENDS_WAIT_MS = 1000

/** Whether any request event has a subscriber: only then does a request carry an ObservedRequest. */
function observed () {
  return channels.create.hasSubscribers || channels.headers.hasSubscribers ||
    channels.trailers.hasSubscribers || channels.error.hasSubscribers || channels.sendHeaders.hasSubscribers
}

/** What `undici:client:sendHeaders` subscribers read of the socket: the connection itself stays in Rust. */
function socketStandIn (href) {
  const { hostname, port, protocol } = new URL(href)
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
  return { remoteAddress: net.isIP(host) ? host : undefined, remotePort: Number(port) || (protocol === 'https:' ? 443 : 80) }
}

/**
 * The `request` undici publishes: origin, method, path and the headers as a flat [name, value, ...]
 * array that `addHeader` extends. The dispatcher sends this same array, so a header a subscriber adds on
 * `undici:request:create` goes out with the request.
 */
class ObservedRequest {
  constructor (origin, method, path, headers) {
    this.origin = origin
    this.method = method
    this.path = path
    this.headers = headers
    this.completed = false
    this.aborted = false
  }

  addHeader (name, value) {
    this.headers.push(String(name), String(value))
    return this
  }

  created () {
    if (channels.create.hasSubscribers) channels.create.publish({ request: this })
  }

  /**
   * The request was handed to the pool. `socket` stands in for the connection, which stays in Rust: it
   * carries the origin's port, and its address only when the host is an IP literal.
   */
  sent (socket) {
    if (!channels.sendHeaders.hasSubscribers) return
    let head = `${this.method} ${this.path} HTTP/1.1\r\n`
    for (let i = 0; i < this.headers.length; i += 2) head += `${this.headers[i]}: ${this.headers[i + 1]}\r\n`
    channels.sendHeaders.publish({ request: this, headers: head, socket })
  }

  /** `rawHeaders`: Buffers, names and values alternating, as undici's parser gives them. */
  answered (statusCode, statusText, rawHeaders) {
    if (channels.headers.hasSubscribers) {
      channels.headers.publish({ request: this, response: { statusCode, statusText, headers: rawHeaders } })
    }
  }

  completedWith (trailers) {
    this.completed = true
    if (channels.trailers.hasSubscribers) channels.trailers.publish({ request: this, trailers })
  }

  failed (error, aborted) {
    this.aborted = aborted
    if (channels.error.hasSubscribers) channels.error.publish({ request: this, error })
  }

  /**
   * The Promise face's request was handed to Rust and `answered` is its Response promise. Its body is the
   * caller's to read, so the request counts as complete at its head: trailers are published then.
   */
  follow (href, answered) {
    this.sent(socketStandIn(href))
    answered.then(res => {
      this.answered(res.status, res.statusText, res.rawHeaders.map(text => Buffer.from(text, 'latin1')))
      this.completedWith([])
    }, err => this.failed(err, err?.code === 'ABORT_ERR'))
  }
}

/**
 * For `agent.request()`: publishes `undici:request:create` for the request and returns its record, or
 * null while nobody subscribes. `headers` is the flat list that goes to Rust (a subscriber may add to it).
 */
function observe (href, method, headers) {
  if (!observed()) return null
  const url = new URL(href)
  const record = new ObservedRequest(url.origin, method, url.pathname + url.search, headers)
  record.created()
  return record
}

/**
 * What `undici:client:connected` subscribers read of the new connection, which stays in Rust: its
 * addresses, and for TLS the negotiated ALPN protocol, as on a net.Socket / tls.TLSSocket. One per
 * connection.
 */
class ConnectedSocket {
  constructor (info, secure) {
    const { alpn, addresses } = connectionInfo(info)
    Object.assign(this, addresses)
    this.encrypted = secure
    if (secure) this.alpnProtocol = alpn || false
  }

  address () {
    return { address: this.localAddress, family: this.remoteFamily, port: this.localPort }
  }
}

/**
 * undici's connect events for the connections an agent's hyper client (Promise and dispatcher faces)
 * opens, to its diagnostics channels and to the agent's dispatcher events (`events`, a ConnectionEvents:
 * 'connect', 'connectionError', and 'disconnect' from the ends Rust reports of the connections it told
 * of). Rust makes them only while switched on: `watch()`, called as each request starts, switches it
 * with one native call when the first subscriber or listener comes or the last goes, so that while
 * nobody listens no connection costs a crossing.
 */
class ConnectEvents {
  /** `options`: the agent's, whose `servername` and `localAddress` undici reports. */
  constructor (native, options, events) {
    this.native = native
    this.events = events
    /** Whether the connect channels have subscribers. */
    this.on = false
    /** Whether Rust reports connects and ends (for the channels or the agent's listeners). */
    this.told = false
    /** The hyper client's connections told open (by their pool id): the URL each was opened for. */
    this.open = new Map()
    /** Called once `open` is empty (see `allEnded`). */
    this.onAllEnded = []
    this.servername = options?.servername ?? null
    this.localAddress = options?.localAddress ?? null
    // undici hands subscribers the connector function it connects with. The Rust pool connects here:
    // this one function stands for it, the same for every connection of the agent.
    this.connector = function keepaliveAgentConnector (opts, callback) {
      process.nextTick(callback, codedError(Error, 'ERR_METHOD_NOT_IMPLEMENTED',
        'The connections of a keepalive-agent are opened by its Rust pool'))
    }
  }

  /** Whether any connect channel has a subscriber. */
  wanted () {
    return connectChannels.beforeConnect.hasSubscribers || connectChannels.connected.hasSubscribers ||
      connectChannels.connectError.hasSubscribers
  }

  watch () {
    this.on = this.wanted()
    const told = this.on || this.events.listened()
    if (told === this.told) return
    this.told = told
    this.native.watchConnects(told)
    // No end is reported from now on: none is waited for.
    if (!told) this.forget()
  }

  /**
   * Resolves once every connection told open has reported its end (undici's `destroy()` resolves after
   * its sockets' 'disconnect'), at once when none is open, and within ENDS_WAIT_MS in any case: one still
   * leased (a response body nobody reads) closes only when it comes back.
   */
  allEnded () {
    if (this.open.size === 0) return Promise.resolve()
    return new Promise(resolve => {
      const timer = setTimeout(resolve, ENDS_WAIT_MS).unref()
      this.onAllEnded.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  forget () {
    this.open.clear()
    const waiting = this.onAllEnded
    this.onAllEnded = []
    for (const resolve of waiting) resolve()
  }

  /**
   * Connection `conn` of the hyper client ended (`how`: see ENDED_WHY; `failure`: the error, as Rust
   * words it, of the request it failed under, or '': undici's 'disconnect' gives that error).
   */
  ended (conn, how, failure) {
    const href = this.open.get(conn)
    if (href === undefined) return
    this.open.delete(conn)
    this.events.disconnected(href, failure !== '' ? fromNative(new Error(failure)) : ENDED_WHY[how])
    if (this.open.size === 0 && this.onAllEnded.length > 0) this.forget()
  }

  /** undici's `connectParams` for a connection to the origin of `href`. */
  params (href, version) {
    const { host, hostname, protocol, port } = new URL(href)
    return {
      host,
      hostname: hostname.startsWith('[') ? hostname.slice(1, -1) : hostname,
      protocol,
      port,
      version,
      servername: this.servername,
      localAddress: this.localAddress
    }
  }

  /**
   * A connection the socket face opens for an upgrade (WebSocket, CONNECT) to the origin of `href`: the
   * same events, from the socket's own ('connect', or 'error' before it), with the socket itself.
   */
  follow (socket, href) {
    const connector = this.connector
    if (connectChannels.beforeConnect.hasSubscribers) {
      connectChannels.beforeConnect.publish({ connectParams: this.params(href, undefined), connector })
    }
    const connected = () => {
      socket.off('error', failed)
      if (connectChannels.connected.hasSubscribers) {
        connectChannels.connected.publish({ connectParams: this.params(href, 'h1'), connector, socket })
      }
    }
    const failed = error => {
      socket.off('connect', connected)
      if (connectChannels.connectError.hasSubscribers) {
        connectChannels.connectError.publish({ connectParams: this.params(href, undefined), connector, error })
      }
    }
    socket.once('connect', connected)
    socket.once('error', failed)
  }

  /**
   * Publishes the connect event at `at` of `batch` for the request whose pending entry is `entry` (its
   * `url`). A connect error is kept on the entry, so that the request fails with that very Error, as
   * with undici.
   */
  publish (batch, at, entry) {
    const stage = batch.meta[at + 3]
    const connector = this.connector
    if (stage === CONNECT_STARTED) {
      if (connectChannels.beforeConnect.hasSubscribers) {
        connectChannels.beforeConnect.publish({ connectParams: this.params(entry.url, undefined), connector })
      }
    } else if (stage === CONNECT_DONE) {
      if (connectChannels.connected.hasSubscribers) {
        const socket = new ConnectedSocket(text(batch, at), entry.url.startsWith('https:'))
        connectChannels.connected.publish({ connectParams: this.params(entry.url, 'h1'), connector, socket })
      }
      this.open.set(batch.meta[at + 2], entry.url)
      this.events.connected(entry.url)
    } else {
      const reason = text(batch, at)
      const error = fromNative(new Error(reason))
      entry.connectFailure = { reason, error }
      if (connectChannels.connectError.hasSubscribers) {
        connectChannels.connectError.publish({ connectParams: this.params(entry.url, undefined), connector, error })
      }
    }
  }
}

module.exports = { observed, ObservedRequest, observe, socketStandIn, ConnectEvents }
