'use strict'
// The Promise face's input: URL, method, headers and body converted once into what the native request
// takes (a URL string, flat name/value strings, bytes or a streamed body).

const { Readable } = require('node:stream')
const { codedError, invalidArgType } = require('./errors')
const { REPLAYABLE_METHODS, IDEMPOTENCY_KEY_HEADERS } = require('../binding.js')

/** Methods that may be sent twice, and headers that let any other be: Rust's rule, read through the binding. */
const IDEMPOTENT = new Set(REPLAYABLE_METHODS.split(','))
const KEY_HEADERS = IDEMPOTENCY_KEY_HEADERS.split(',')

/**
 * Whether a request may be sent again on a new connection: an idempotent method, or an idempotency key
 * (Go's rule). `hasHeader(lowerCaseName)` says whether the request has that header.
 */
function mayReplay (method, hasHeader) {
  return IDEMPOTENT.has(method) || KEY_HEADERS.some(hasHeader)
}

// Programs send to a handful of URLs again and again: remember what each string normalizes to, so that
// a repeated URL is not parsed into a URL object every time. Bounded: cleared when it fills up.
const hrefs = new Map()
const HREFS_MAX = 1024

/** Where a request to `href` goes (`{ secure, host, port }`), for the proxy choice and the exchanges (Promise and
 * dispatcher faces). */
const targets = new Map()
const TARGETS_MAX = 1024

function targetOf (href) {
  let target = targets.get(href)
  if (target === undefined) {
    const url = new URL(href)
    const secure = url.protocol === 'https:'
    target = { secure, host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port) || (secure ? 443 : 80) }
    if (targets.size >= TARGETS_MAX) targets.clear()
    targets.set(href, target)
  }
  return target
}

/** The normalized `href` of an http(s) URL given as a string or a URL; throws Node's codes. */
function toHref (input) {
  if (typeof input === 'string') {
    const known = hrefs.get(input)
    if (known !== undefined) return known
  }
  const url = input instanceof URL ? input : new URL(String(input))
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw codedError(TypeError, 'ERR_INVALID_PROTOCOL',
      `Protocol "${url.protocol}" not supported. Expected "http:" or "https:"`)
  }
  const href = url.href
  if (typeof input === 'string') {
    if (hrefs.size >= HREFS_MAX) hrefs.clear()
    hrefs.set(input, href)
  }
  return href
}

function flatHeaders (headers) {
  const flat = []
  if (headers === undefined || headers === null) return flat
  if (typeof headers !== 'object') throw invalidArgType('options.headers', 'of type object', headers)
  const add = (name, value) => {
    if (value === undefined) return
    if (Array.isArray(value)) { for (const v of value) flat.push(String(name), String(v)); return }
    flat.push(String(name), String(value))
  }
  if (Array.isArray(headers)) {
    for (const pair of headers) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw invalidArgType('options.headers', 'an object or an Array of [name, value] pairs', pair)
      }
      add(pair[0], pair[1])
    }
  } else {
    for (const name of Object.keys(headers)) add(name, headers[name])
  }
  return flat
}

/** Returns `{ bytes }` for a body known in full, `{ stream }` for one to stream, `{}` for none. */
function toBody (body) {
  if (body === undefined || body === null) return {}
  if (typeof body === 'string') return { bytes: Buffer.from(body) }
  if (ArrayBuffer.isView(body)) return { bytes: Buffer.from(body.buffer, body.byteOffset, body.byteLength) }
  if (body instanceof ArrayBuffer) return { bytes: Buffer.from(body) }
  // A Readable, a web ReadableStream and any async iterable are all read with `for await`.
  if (body instanceof Readable || typeof body[Symbol.asyncIterator] === 'function') return { stream: body }
  throw invalidArgType('options.body', 'a string, Buffer, Uint8Array, Readable, ReadableStream or async iterable', body)
}

/** A chunk of a streamed body (a string or any typed array) as a Buffer over the same bytes. */
function chunkBytes (chunk) {
  return typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
}

/** Largest piece handed to Rust at once: with its queue of 4, what waits stays small whatever the chunks. */
const PIECE = 64 * 1024

/**
 * Feeds a streamed body to the native sender, waiting on it between pieces (backpressure). When the
 * source fails, `onError(err)` (if given) learns it before the request is failed with it, so that the request
 * rejects with the source's own error; the server never sees a complete body.
 */
async function pump (source, sender, onError) {
  try {
    for await (const chunk of source) {
      const bytes = chunkBytes(chunk)
      for (let at = 0; at < bytes.length; at += PIECE) {
        // False: the request no longer reads its body (answered early, failed); stop the source.
        if (!await sender.write(bytes.subarray(at, at + PIECE))) return
      }
    }
    sender.end()
  } catch (err) {
    onError?.(err)
    sender.end(`request body stream failed: ${err?.message ?? err}`)
  }
}

module.exports = { toHref, targetOf, flatHeaders, toBody, chunkBytes, pump, mayReplay }
