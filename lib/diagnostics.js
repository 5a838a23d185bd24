'use strict'
// undici's diagnostics_channel events for requests served by the dispatcher face and the Promise face, in
// undici's payload shapes, so that tracers written for undici (@opentelemetry/instrumentation-undici) work
// unchanged. undici publishes these from its own client; a replacement dispatcher must publish them
// itself. Nothing is built unless a channel has a subscriber.

const dc = require('node:diagnostics_channel')
const net = require('node:net')

const channels = {
  create: dc.channel('undici:request:create'),
  headers: dc.channel('undici:request:headers'),
  trailers: dc.channel('undici:request:trailers'),
  error: dc.channel('undici:request:error'),
  sendHeaders: dc.channel('undici:client:sendHeaders')
}

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

module.exports = { observed, ObservedRequest, observe, socketStandIn }
