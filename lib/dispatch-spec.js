'use strict'
// What `dispatch(opts)` asks for, as undici passes it (origin, path, method, headers in any of undici's
// shapes, body of any of undici's kinds, query, upgrade, reset, timeouts), checked as undici checks it
// (its InvalidArgumentError, `UND_ERR_INVALID_ARG`, with its messages, which its callers match) and turned
// into what the native request and the socket face take.

const { setImmediate } = require('./timers')
const crypto = require('node:crypto')
const querystring = require('node:querystring')
const { toHref, flatHeaders, toBody } = require('./request')
const { undiciError, undiciInvalidArg } = require('./errors')

// A streamed body of a declared length up to this size is gathered before it is sent, when it comes at
// once (see `gather`): fetch hands every body (a string too) over as a stream, and a body sent whole can
// be sent again when the keep-alive race hits an idempotent request (PUT, DELETE), and costs one
// crossing into Rust instead of one per chunk.
const GATHER_LIMIT = 64 * 1024

/** A header value as undici takes it: a Buffer as latin1, null as empty (each of an array's too). */
const text = value => (value === null ? '' : Buffer.isBuffer(value) ? value.toString('latin1') : value)
const values = value => (Array.isArray(value) ? value.map(text) : text(value))

/** `opts.headers` as undici takes them (an object, a flat [name, value, ...] array, pairs, an iterable). */
function headerList (headers) {
  if (headers === undefined || headers === null) return []
  if (typeof headers !== 'object') throw undiciInvalidArg('headers must be an object or an array')
  if (Array.isArray(headers) && headers.length > 0 && !Array.isArray(headers[0])) {
    if (headers.length % 2 !== 0) throw undiciInvalidArg('headers array must be even')
    const pairs = []
    for (let i = 0; i < headers.length; i += 2) pairs.push([text(headers[i]), values(headers[i + 1])])
    return flatHeaders(pairs)
  }
  if (Array.isArray(headers) || typeof headers[Symbol.iterator] === 'function') {
    const pairs = Array.from(headers)
    if (!Array.isArray(headers) && !pairs.every(pair => Array.isArray(pair) && pair.length === 2)) {
      throw undiciInvalidArg('headers must be in key-value pair format')
    }
    return flatHeaders(pairs.map(pair => (Array.isArray(pair) && pair.length === 2 ? [pair[0], values(pair[1])] : pair)))
  }
  const taken = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) throw undiciInvalidArg(`invalid ${name} header`)
    taken[name] = values(value)
  }
  return flatHeaders(taken)
}

// undici's checks on each header (lib/core/request.js `processHeader`), made before anything is sent: a
// name that is not an HTTP token, or a value holding a character HTTP forbids in one (CR and LF, which
// would smuggle a header or a request in, NUL, or one beyond latin1); the framing and connection headers
// it writes itself, which a caller may give only as it allows (one Host, one numeric Content-Length, a
// Connection of tokens), never Transfer-Encoding, Keep-Alive or Upgrade; and Expect, which it does not
// support.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const DIGITS = /^\d+$/
const FORBIDDEN_IN_VALUE = /[^\t\x20-\x7e\x80-\xff]/
const WRITTEN_BY_UNDICI = new Set(['transfer-encoding', 'keep-alive', 'upgrade'])

function checkHeaders (list) {
  let host = false
  let length = false
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]
    const value = list[i + 1]
    if (!TOKEN.test(name)) throw undiciInvalidArg('invalid header key')
    if (FORBIDDEN_IN_VALUE.test(value)) throw undiciInvalidArg(`invalid ${name} header`)
    const lower = name.toLowerCase()
    if (lower === 'host') {
      if (host) throw undiciInvalidArg('duplicate host header')
      host = true
    } else if (lower === 'content-length') {
      if (length) throw undiciInvalidArg('duplicate content-length header')
      if (!DIGITS.test(value)) throw undiciInvalidArg('invalid content-length header')
      length = true
    } else if (WRITTEN_BY_UNDICI.has(lower)) {
      throw undiciInvalidArg(`invalid ${lower} header`)
    } else if (lower === 'connection') {
      if (!value.split(',').every(token => TOKEN.test(token.trim()))) throw undiciInvalidArg('invalid connection header')
    } else if (lower === 'expect') {
      throw undiciError('UND_ERR_NOT_SUPPORTED', 'NotSupportedError', 'expect header not supported')
    }
  }
}

/**
 * `headers` in the order undici's client writes them: `host` (the caller's value, else the URL's host)
 * and `connection` first, then the caller's others as given. Servers see the head undici would send.
 * Unless the body is `streamed` (its declared length is the caller's), the caller's Content-Length goes:
 * as undici, the length written is the body's own (none without a body, 0 for a POST, PUT or PATCH
 * without one), so a GET that declares a body it has not is not left waiting for one.
 */
function wireOrder (headers, href, streamed) {
  // Host and Connection go in the first two places once found; the others follow as they come.
  const wire = ['host', undefined, 'connection', 'keep-alive']
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]
    if (name.length === 4 && wire[1] === undefined && name.toLowerCase() === 'host') wire[1] = headers[i + 1]
    else if (name.length === 10 && name.toLowerCase() === 'connection') wire[3] = headers[i + 1].toLowerCase()
    else if (streamed || name.length !== 14 || name.toLowerCase() !== 'content-length') wire.push(name, headers[i + 1])
  }
  if (wire[1] === undefined) {
    const from = href.indexOf('//') + 2
    const authority = href.slice(from, href.indexOf('/', from))
    wire[1] = authority.slice(authority.lastIndexOf('@') + 1)
  }
  return wire
}

function headerValue (list, name) {
  for (let i = 0; i < list.length; i += 2) if (list[i].toLowerCase() === name) return list[i + 1]
  return undefined
}

const hasHeader = (list, name) => headerValue(list, name) !== undefined

/** Whether a streamed body declares a length small enough to gather. */
function gatherable (headers) {
  const declared = headerValue(headers, 'content-length')
  return declared !== undefined && DIGITS.test(declared) && Number(declared) <= GATHER_LIMIT
}

/**
 * `wrapper` (an async generator reading `source`), destroyed with an error as `source` is: a body undici
 * refuses is destroyed with its error (see exchange.js `taken`), not ended as a loop over it is.
 */
function destroying (wrapper, source) {
  wrapper.destroy = err => source.destroy?.(err)
  return wrapper
}

/** What `gather` found once the turn of the event loop it started in had passed with the body unfinished. */
const LATE = Symbol('late')

/** What came of a body before it was found late, then the rest as it comes; the source is closed if given up. */
async function * thenTheRest (chunks, iterator, pending) {
  let done = false
  try {
    yield * chunks
    for (let step = await pending; !step.done; step = await iterator.next()) yield step.value
    done = true
  } finally {
    if (!done) await iterator.return?.()
  }
}

/**
 * A streamed body, whole (`{ bytes }`) when it ends within the turn of the event loop it was started in:
 * fetch hands a string, Buffer or FormData over as a stream that yields at once, and sent whole it is
 * one crossing and may be sent again. A body still coming after that turn is sent as it comes
 * (`{ stream }`: what came, then the rest), as undici sends it: a server may answer before its end, and a
 * body that stalls (a slow producer, an upload whose progress is watched) must not hold the request back.
 */
async function gather (source) {
  const iterator = source[Symbol.asyncIterator]()
  const chunks = []
  const late = new Promise(resolve => setImmediate(resolve, LATE))
  for (;;) {
    const pending = iterator.next()
    const step = await Promise.race([pending, late])
    if (step === LATE) return { stream: destroying(thenTheRest(chunks, iterator, pending), source) }
    if (step.done) return { bytes: Buffer.concat(chunks) }
    chunks.push(typeof step.value === 'string' ? Buffer.from(step.value) : step.value)
  }
}

/**
 * A FormData of any undici copy (npm's undici has its own class, not Node's global one), known as undici
 * knows it: by its tag and methods.
 */
function formDataLike (body) {
  return body instanceof FormData || (body !== null && typeof body === 'object' &&
    body[Symbol.toStringTag] === 'FormData' && typeof body.entries === 'function' && typeof body.getAll === 'function')
}

const CRLF = Buffer.from('\r\n')

/**
 * `form` (of any undici copy) encoded as multipart/form-data, as undici's encoder writes it (its
 * boundary's shape, its escapes and line breaks): the content type, the length (null when a value's size
 * is unknown, which undici sends chunked) and the body, counted from the very chunks it yields. A value
 * of another copy's Blob class (npm undici's stream-backed files) is read through its own `stream()`.
 */
function multipart (form) {
  const boundary = `----formdata-undici-0${String(crypto.randomInt(1e11)).padStart(11, '0')}`
  const escape = text => text.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22')
  const lines = text => text.replace(/\r?\n|\r/g, '\r\n')
  const prefix = `--${boundary}\r\nContent-Disposition: form-data`
  const parts = []
  let length = 0
  for (const [name, value] of form.entries()) {
    const named = `${prefix}; name="${escape(lines(name))}"`
    if (typeof value === 'string') {
      parts.push(Buffer.from(`${named}\r\n\r\n${lines(value)}\r\n`))
      if (length !== null) length += parts.at(-1).length
      continue
    }
    const head = Buffer.from(`${named}${value.name ? `; filename="${escape(value.name)}"` : ''}\r\n` +
      `Content-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`)
    parts.push(head, value, CRLF)
    length = typeof value.size === 'number' && length !== null ? length + head.length + value.size + CRLF.length : null
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`))
  if (length !== null) length += parts.at(-1).length
  async function * body () {
    for (const part of parts) {
      if (Buffer.isBuffer(part)) yield part
      else yield * part.stream()
    }
  }
  return { type: `multipart/form-data; boundary=${boundary}`, length, body: body() }
}

/** The request body as `toBody` gives it; FormData and Blob add the headers their encoding implies. */
function requestBody (body, headers) {
  const setDefault = (name, value) => { if (value && !hasHeader(headers, name)) headers.push(name, value) }
  if (formDataLike(body)) {
    const form = multipart(body)
    setDefault('content-type', form.type)
    if (form.length !== null && !hasHeader(headers, 'transfer-encoding')) setDefault('content-length', String(form.length))
    return toBody(form.body)
  }
  if (body instanceof Blob) {
    setDefault('content-type', body.type)
    setDefault('content-length', String(body.size))
    return toBody(body.stream())
  }
  // undici takes any iterable of chunks (an array of strings and Buffers, a generator) as a stream.
  if (body !== null && typeof body === 'object' && !ArrayBuffer.isView(body) &&
      typeof body[Symbol.iterator] === 'function' && typeof body[Symbol.asyncIterator] !== 'function') {
    return { stream: chunksOf(body) }
  }
  return toBody(body)
}

async function * chunksOf (iterable) {
  yield * iterable
}

/** undici's `headersTimeout` or `bodyTimeout` in ms (0: none), the agent's (`fallback`) when not given. */
function limitOf (opts, name, fallback) {
  const value = opts[name]
  if (value === undefined || value === null) return fallback
  if (!Number.isFinite(value) || value < 0) throw undiciInvalidArg(`invalid ${name}`)
  return value
}

/** `opts.query` appended to the path, encoded as undici encodes it (node:querystring). */
function withQuery (path, query) {
  if (query === undefined || query === null) return path
  if (path.includes('?') || path.includes('#')) {
    throw undiciInvalidArg('Query params cannot be passed when url already contains "?" or "#".')
  }
  const search = querystring.stringify(query)
  return search === '' ? path : `${path}?${search}`
}

/**
 * What `dispatch(opts)` asks for, checked and in the shapes the native request and the socket face take.
 * `defaults` are the agent's: `timeout`, its inactivity limit, which holds beside undici's two, and
 * undici's `headersTimeout` and `bodyTimeout` for a dispatch that gives none (lib/undici-options.js).
 */
function requestSpec (opts, defaults) {
  if (opts === null || typeof opts !== 'object') throw undiciInvalidArg('opts must be an object.')
  const { origin, method = 'GET', upgrade } = opts
  if (typeof opts.path !== 'string') throw undiciInvalidArg('path must be a string')
  if (typeof method !== 'string') throw undiciInvalidArg('method must be a string')
  let base
  if (typeof origin === 'string') base = origin.endsWith('/') ? origin.slice(0, -1) : origin
  else if (origin instanceof URL) base = origin.origin
  else throw undiciInvalidArg('opts.origin must be a non-empty string or URL.')
  if (upgrade !== undefined && upgrade !== null && typeof upgrade !== 'string') {
    throw undiciInvalidArg('upgrade must be a string')
  }
  // It becomes the Upgrade header: CR, LF or NUL in it would write a head of the caller's making.
  if (upgrade && FORBIDDEN_IN_VALUE.test(upgrade)) throw undiciInvalidArg('invalid upgrade header')
  // A v1 handler's limit was taken by lib/redirect.js (undici 6); v2 handlers come from undici 7 and 8,
  // which refuse it: redirects are followed by fetch itself, or by undici's redirect interceptor.
  if (opts.maxRedirections) {
    throw undiciInvalidArg('maxRedirections is not supported, use the redirect interceptor')
  }
  const connect = method.toUpperCase() === 'CONNECT'
  const path = withQuery(opts.path, opts.query)
  const absolute = path.startsWith('http://') || path.startsWith('https://')
  if (!connect && !absolute && !path.startsWith('/')) {
    throw undiciInvalidArg('path must be an absolute URL or start with a slash')
  }
  // An absolute-form path goes to `origin` whatever host it names, as undici sends it: never dialled
  // itself. To the same origin it is sent in origin form; a request target naming another host (a
  // forward proxy's) is refused rather than sent elsewhere.
  if (absolute && new URL(path).origin !== new URL(base).origin) {
    throw undiciError('UND_ERR_NOT_SUPPORTED', 'NotSupportedError', 'an absolute-form path naming another origin than opts.origin is not supported')
  }
  const href = toHref(absolute ? path : connect ? base : base + path)
  const headers = headerList(opts.headers)
  if (opts.reset === true && !hasHeader(headers, 'connection')) headers.push('connection', 'close')
  // undici refuses these when not booleans. `expectContinue` is its HTTP/2 option (it sends HTTP/1.1
  // bodies at once, as here).
  for (const name of ['idempotent', 'reset', 'expectContinue', 'blocking']) {
    const value = opts[name]
    if (value !== undefined && value !== null && typeof value !== 'boolean') {
      throw undiciInvalidArg(`invalid ${name}`)
    }
  }
  const { idempotent } = opts
  // The body first: a Blob's type becomes a header, checked with the caller's.
  const body = requestBody(opts.body, headers)
  checkHeaders(headers)
  return {
    origin: base,
    method: connect ? 'CONNECT' : method,
    path,
    href,
    headers,
    body,
    upgrade: connect ? 'CONNECT' : upgrade || null,
    timeout: defaults.timeout,
    headersTimeout: limitOf(opts, 'headersTimeout', defaults.headersTimeout),
    bodyTimeout: limitOf(opts, 'bodyTimeout', defaults.bodyTimeout),
    // undici's meaning: whether the request may be sent twice (a GET may say no, a POST yes); absent,
    // the method decides (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, or an idempotency key header).
    idempotent: idempotent ?? undefined
  }
}

module.exports = { destroying, requestSpec, gatherable, gather, headerList, wireOrder }
