'use strict'
// The Promise face's response: head and small body arrive together from Rust; a larger body is pulled
// from Rust chunk by chunk as the stream is read, so backpressure reaches the socket. A body nobody
// reads holds its connection: when its Response (or body stream) becomes unreachable, the connection is
// given up, as undici's fetch does. Header names keep the case they were received in; values are latin1.

const { Readable } = require('node:stream')
const { abortError, codedError, fromNative } = require('./errors')
const { REUSED, text: textOf, data } = require('./batch')

const kNative = Symbol('native')
const kPrefix = Symbol('prefix')
const kStream = Symbol('stream')
const kHead = Symbol('head')
const kRawHeaders = Symbol('rawHeaders')
const kHeaders = Symbol('headers')
const kBody = Symbol('body')
const kAll = Symbol('all')
const kSignal = Symbol('signal')
const kRawTrailers = Symbol('rawTrailers')
const kTrailers = Symbol('trailers')
/** kBody once the helpers read the whole body without a stream. */
const CONSUMED = Symbol('consumed')

/** Names and values alternating, as `\n`-separated text from Rust, into an object as Node's `headers`. */
function byName (raw) {
  const object = {}
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    const value = raw[i + 1]
    const seen = object[name]
    if (seen === undefined) object[name] = name === 'set-cookie' ? [value] : value
    else if (Array.isArray(seen)) seen.push(value)
    else object[name] = [seen, value]
  }
  return object
}

/** What the body's stream reads the rest from: a body in Rust (by id), or an exchange's (lib/exchange.js). */
function sourceOf (native, stream) {
  return typeof stream === 'number' ? { native, id: stream } : stream
}

/** Unread bodies whose holder became unreachable: their connections are closed, not left waiting. */
const unread = new FinalizationRegistry(source => cancel(source))

function cancel (source) {
  if (source.id !== undefined) source.native.cancelBody(source.id)
  else source.cancel()
}

function read (source) {
  return source.id !== undefined ? source.native.readBody(source.id, true) : source.read()
}

class Response {
  /**
   * `head`: the status text and the headers, `\n`-separated (split only when read), or an object whose
   * `statusText` and `rawHeaders` give them (an exchange's: lib/exchange.js `headRead`); `rawTrailers`: the
   * trailers when `prefix` is the whole body, else null; `stream`: where the rest of the body comes from (a
   * Rust body id, or an exchange's body), null when there is none.
   */
  constructor (native, status, reused, head, rawTrailers, prefix, stream, url, signal) {
    this.status = status
    this.statusCode = status
    this.url = url
    this.reused = reused
    this[kNative] = native
    this[kSignal] = signal ?? null
    this[kHead] = head
    this[kRawTrailers] = rawTrailers
    this[kPrefix] = prefix
    this[kStream] = stream === null ? null : sourceOf(native, stream)
    this[kRawHeaders] = null
    this[kHeaders] = null
    this[kTrailers] = null
    this[kBody] = null
    if (this[kStream] !== null) unread.register(this, this[kStream], this)
  }

  /**
   * The "answered" event at `at` of a Rust batch (lib/batch.js): status and reuse in its number, the
   * status text and headers as one `\n`-separated text, the first or whole body as its data, and the
   * stream id of the rest as its ticket.
   */
  static answered (native, batch, at, url, signal) {
    const number = batch.meta[at + 3]
    const stream = batch.meta[at + 2]
    // Status text and headers, then (after a NUL) the trailers when the whole body came with them.
    const text = textOf(batch, at)
    const nul = text.indexOf('\0')
    return new Response(native, number >= REUSED ? number - REUSED : number, number >= REUSED,
      nul === -1 ? text : text.slice(0, nul),
      nul === -1 ? (stream === -1 ? [] : null) : text.slice(nul + 1).split('\n'),
      data(batch, at), stream === -1 ? null : stream, url, signal)
  }

  get statusText () {
    const head = this[kHead]
    if (typeof head !== 'string') return head.statusText
    const end = head.indexOf('\n')
    return end === -1 ? head : head.slice(0, end)
  }

  /** Names (in the case received) and values, alternating, in the order received. */
  get rawHeaders () {
    if (this[kRawHeaders] === null) {
      const head = this[kHead]
      if (typeof head !== 'string') {
        this[kRawHeaders] = head.rawHeaders
      } else {
        const start = head.indexOf('\n')
        this[kRawHeaders] = start === -1 ? [] : head.slice(start + 1).split('\n')
      }
    }
    return this[kRawHeaders]
  }

  /** Lower-cased names as Node's IncomingMessage; repeated headers and `set-cookie` as arrays. */
  get headers () {
    if (this[kHeaders] === null) this[kHeaders] = byName(this.rawHeaders)
    return this[kHeaders]
  }

  /** The trailers as received (names and values alternating); `null` until the body has ended. */
  get rawTrailers () {
    return this[kRawTrailers]
  }

  /** The trailers as `headers` are; `null` until the body has ended. */
  get trailers () {
    const raw = this[kRawTrailers]
    if (raw === null) return null
    if (this[kTrailers] === null) this[kTrailers] = byName(raw)
    return this[kTrailers]
  }

  get body () {
    if (this[kBody] === null) this[kBody] = bodyStream(this)
    else if (this[kBody] === CONSUMED) this[kBody] = Readable.from([])
    return this[kBody]
  }

  get bodyUsed () {
    return this[kBody] !== null
  }

  /**
   * The whole body in one Buffer that owns its memory; a promise of it unless the response holds it all
   * already (the usual short answer), which then costs no promise and no turn of its own.
   */
  [kAll] () {
    const whole = takeWhole(this)
    return whole !== null ? whole.data : gathered(this)
  }

  bytes () {
    return readAs(this, asBytes)
  }

  arrayBuffer () {
    return readAs(this, asArrayBuffer)
  }

  text () {
    return readAs(this, asText)
  }

  json () {
    return readAs(this, asJson)
  }
}

/**
 * A promise of `make(all)`, `all` being the whole body of `response` (a Buffer, or a promise of one: see
 * `Response[kAll]`). Whatever fails rejects it, a reader called on something else (`const { text } = res`)
 * too, as fetch's Response's readers do: nothing is thrown.
 */
function readAs (response, make) {
  try {
    if (!(response instanceof Response)) {
      throw codedError(TypeError, 'ERR_INVALID_THIS', 'Value of "this" must be of type Response')
    }
    const all = response[kAll]()
    return all instanceof Promise ? all.then(make) : Promise.resolve(make(all))
  } catch (err) {
    return Promise.reject(err)
  }
}

function asBytes (all) {
  return new Uint8Array(all.buffer, all.byteOffset, all.byteLength)
}

function asArrayBuffer (all) {
  const whole = all.byteOffset === 0 && all.byteLength === all.buffer.byteLength
  return whole ? all.buffer : all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)
}

function asText (all) {
  return all.toString('utf8')
}

function asJson (all) {
  return JSON.parse(all.toString('utf8'))
}

/** The chunks of `response`'s body stream in one Buffer that owns its memory. */
async function gathered (response) {
  const chunks = []
  for await (const chunk of response.body) chunks.push(chunk)
  if (chunks.length === 1) return chunks[0]
  const all = Buffer.allocUnsafeSlow(chunks.reduce((sum, c) => sum + c.length, 0))
  let at = 0
  for (const chunk of chunks) at += chunk.copy(all, at)
  return all
}

function bodyStream (response) {
  const source = response[kStream]
  const signal = response[kSignal]
  let prefix = response[kPrefix]
  response[kStream] = null
  // From here the stream holds the body: it is given up when the stream, not the response, is unreachable.
  unread.unregister(response)
  // The trailers end the body: on the response, and on the stream for those who hold only it.
  const ended = chunk => {
    if (!Array.isArray(chunk)) return false
    response[kRawTrailers] = stream.rawTrailers = chunk
    return true
  }
  const stream = new Readable({
    read () {
      if (prefix !== null) {
        const first = prefix
        prefix = null
        if (first.length > 0) this.push(first)
        if (source === null) { this.push(null); return }
        if (first.length > 0) return
      }
      read(source).then(chunk => this.push(ended(chunk) ? null : chunk), err => this.destroy(fromNative(err)))
    },
    destroy (err, callback) {
      if (source !== null) {
        unread.unregister(stream)
        cancel(source)
      }
      callback(err)
    }
  })
  if (source !== null) unread.register(stream, source, stream)
  else stream.rawTrailers = response[kRawTrailers]
  // The request's signal covers its body too (as fetch's does): a body still arriving is cut off.
  if (signal !== null && source !== null) {
    if (signal.aborted) {
      stream.destroy(abortError(signal))
    } else {
      const onAbort = () => stream.destroy(abortError(signal))
      signal.addEventListener('abort', onAbort, { once: true })
      stream.once('close', () => signal.removeEventListener('abort', onAbort))
    }
  }
  return stream
}

/**
 * The whole body of a response that came with its head, for a reader that needs no stream (the
 * dispatcher face): `{ data, rawTrailers }`, and the body counts as read. `null` when the body is still
 * arriving or was read already: then `body` streams it.
 */
function takeWhole (response) {
  if (response[kStream] !== null || response[kBody] !== null) return null
  response[kBody] = CONSUMED
  return { data: response[kPrefix], rawTrailers: response[kRawTrailers] }
}

module.exports = { Response, takeWhole }
