'use strict'
// undici 6's `maxRedirections` (a dispatch option, or the Agent's own): the dispatcher follows redirects
// itself, as undici 6's Agent does. undici 7 and 8 refuse the option and compose their redirect
// interceptor instead, which works here too (`agent.compose(...)`); code that passes it was written for
// undici 6, and is served as undici 6 serves it.
//
// Followed: 300, 301, 302, 303, 307 and 308 with a Location, up to the limit (beyond it the redirect is
// the answer, or with `throwOnMaxRedirect` the error 'max redirects'). A redirect's own body and trailers
// are dropped. The method and body are kept, except that a 303 asks with GET and no body (HEAD stays
// HEAD). Host is never carried to the next request, Content-* headers not after a 303, and Authorization,
// Cookie and Proxy-Authorization not to another origin. A body that can be read once (a stream, an async
// iterable) is not sent again once read: the redirect is then the answer. The handler's `onConnect`
// hears of each request with `{ history }`, the URLs asked so far (undici 6's `context.history`).

const { Readable } = require('node:stream')
const { undiciInvalidArg } = require('./errors')

const REDIRECTS = new Set([300, 301, 302, 303, 307, 308])

/** Headers not carried to another origin (credentials meant for the first). */
const CREDENTIALS = new Set(['authorization', 'cookie', 'proxy-authorization'])

/** undici's InvalidArgumentError for a limit that is not a whole number ≥ 0. */
const badLimit = () => undiciInvalidArg('maxRedirections must be a positive number')

/** A redirect limit as undici 6 takes it: undefined and null for none; throws for anything but an integer ≥ 0. */
function redirectLimit (value) {
  if (value === undefined || value === null) return 0
  if (!Number.isInteger(value) || value < 0) throw badLimit()
  return value
}

/** A body that can be read once, and says whether it was. */
class OnceRead {
  constructor (source) {
    this.source = source
    this.read = false
  }

  async * [Symbol.asyncIterator] () {
    this.read = true
    yield * this.source
  }
}

function readOnce (body) {
  const once = body instanceof Readable || (body !== null && typeof body === 'object' && typeof body[Symbol.asyncIterator] === 'function')
  return once ? new OnceRead(body) : body
}

/** The Location of a response's raw headers (Buffers or strings), or null. */
function locationOf (rawHeaders) {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]
    if (name.length === 8 && String(name).toLowerCase() === 'location') return String(rawHeaders[i + 1])
  }
  return null
}

/** The flat request headers (see dispatch-spec `headerList`) the next request carries. */
function carried (headers, afterSeeOther, crossOrigin) {
  const kept = []
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i].toLowerCase()
    if (name === 'host' || (afterSeeOther && name.startsWith('content-')) || (crossOrigin && CREDENTIALS.has(name))) continue
    kept.push(headers[i], headers[i + 1])
  }
  return kept
}

/**
 * A v1 handler between the dispatcher and the caller's: it sends each redirect's next request through
 * `dispatch` (with no limit of its own) and passes the final response on. `headerList(opts.headers)`
 * gives the request's headers as flat strings.
 */
class Redirection {
  constructor (dispatch, limit, opts, handler, headerList) {
    this.dispatch = dispatch
    this.limit = limit
    this.handler = handler
    this.headerList = headerList
    this.opts = { ...opts, maxRedirections: 0, body: readOnce(opts.body) }
    this.history = []
    this.following = false
    this.abort = null
  }

  onConnect (abort) {
    this.abort = abort
    this.handler.onConnect?.(abort, { history: this.history })
  }

  onUpgrade (statusCode, headers, socket) {
    this.handler.onUpgrade(statusCode, headers, socket)
  }

  onHeaders (statusCode, rawHeaders, resume, statusText) {
    const opts = this.opts
    const asked = new URL(opts.path, opts.origin)
    const body = opts.body
    let location = REDIRECTS.has(statusCode) && !(body instanceof OnceRead && body.read) ? locationOf(rawHeaders) : null
    if (location !== null && this.history.length >= this.limit) {
      if (opts.throwOnMaxRedirect) {
        this.abort(new Error('max redirects'))
        return false
      }
      location = null
    }
    this.history.push(asked)
    if (location === null) return this.handler.onHeaders(statusCode, rawHeaders, resume, statusText)
    const next = new URL(location, asked)
    const seeOther = statusCode === 303
    this.opts = {
      ...opts,
      origin: next.origin,
      path: next.pathname + next.search,
      query: null,
      headers: carried(this.headerList(opts.headers), seeOther, next.origin !== asked.origin),
      ...(seeOther && opts.method !== 'HEAD' ? { method: 'GET', body: null } : {})
    }
    this.following = true
    return true
  }

  onData (chunk) {
    return this.following || this.handler.onData(chunk)
  }

  onComplete (trailers) {
    if (!this.following) return this.handler.onComplete(trailers)
    this.following = false
    this.abort = null
    this.dispatch(this.opts, this)
  }

  onError (err) {
    this.handler.onError(err)
  }
}

module.exports = { Redirection, redirectLimit }
