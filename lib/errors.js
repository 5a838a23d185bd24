'use strict'
// Errors with Node's `code`s, so code written for Node's http keeps working; a failed system call also
// gets Node's `errno`, `syscall` and peer fields (`address`/`port`, or `hostname` for getaddrinfo).

const { getSystemErrorMap } = require('node:util')

const { takeHeld } = require('./held')

function codedError (Ctor, code, message, extra) {
  const err = new Ctor(message)
  err.code = code
  if (extra) Object.assign(err, extra)
  return err
}

function describe (value) {
  if (value === null || value === undefined) return `Received ${value}`
  if (typeof value === 'function') return `Received function ${value.name}`
  if (typeof value === 'object') return `Received an instance of ${value.constructor?.name ?? 'Object'}`
  let shown = String(value)
  if (shown.length > 28) shown = shown.slice(0, 25) + '...'
  if (typeof value === 'string') shown = `'${shown}'`
  return `Received type ${typeof value} (${shown})`
}

/** Node's ERR_INVALID_ARG_TYPE: a dotted name (`options.headers.host`) is a property, as Node words it. */
const invalidArgType = (name, expected, value) => codedError(TypeError, 'ERR_INVALID_ARG_TYPE',
  `The "${name}" ${name.includes('.') ? 'property' : 'argument'} must be ${expected}. ${describe(value)}`)

const outOfRange = (name, range, value) => codedError(RangeError, 'ERR_OUT_OF_RANGE',
  `The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`)

const UNDICI_ERROR = Symbol.for('undici.error.UND_ERR')

/**
 * One of undici's errors: its code, name and message, and the marks by which undici (6.x's later
 * releases, 7, 8; any copy) knows its classes in `instanceof`, so `err instanceof errors.InvalidArgumentError`
 * holds in the caller's undici as for an error undici made itself.
 */
function undiciError (code, name, message) {
  const err = codedError(Error, code, message, { name })
  err[UNDICI_ERROR] = true
  err[Symbol.for(`undici.error.${code}`)] = true
  return err
}

/** undici's `ClientDestroyedError`: what dispatches get once the agent is destroyed, and 'disconnect' then. */
const clientDestroyed = () => undiciError('UND_ERR_DESTROYED', 'ClientDestroyedError', 'The client is destroyed')

/**
 * Where an error made for a connection that ended keeps that connection's description as undici's
 * `SocketError.socket` has it (addresses, bytes moved), when it is known.
 */
const SOCKET_INFO = Symbol('socketInfo')

/**
 * Where an error in Node's words (the Promise face's) for a response cut short keeps what undici gives
 * for it instead (the dispatcher face's): a body cut short by the close of a connection its response
 * said ends is undici's length mismatch or parse error, not its `SocketError`.
 */
const UNDICI_FORM = Symbol('undiciForm')

/** undici's `SocketError`; its `socket`: the connection's addresses and counts, or null where not known. */
function socketError (message, socket = null) {
  const err = undiciError('UND_ERR_SOCKET', 'SocketError', message)
  err.socket = socket
  return err
}

/** undici's `InvalidArgumentError` (the dispatcher face's checks that undici itself makes). */
const undiciInvalidArg = message => undiciError('UND_ERR_INVALID_ARG', 'InvalidArgumentError', message)

const invalidArgValue = (name, reason, value) => codedError(TypeError, 'ERR_INVALID_ARG_VALUE',
  `The argument '${name}' ${reason}. Received ${typeof value === 'string' ? `'${value}'` : String(value)}`)

function abortError (signal) {
  return codedError(Error, 'ABORT_ERR', 'The operation was aborted', { name: 'AbortError', cause: signal?.reason })
}

/** What Node's ClientRequest reports when its connection goes away before the response. */
function hangUp () {
  return codedError(Error, 'ECONNRESET', 'socket hang up')
}

/** What a request gets when its agent is destroyed under it (Rust's `Error::destroyed` on the other path). */
function agentDestroyed () {
  return codedError(Error, 'ERR_AGENT_DESTROYED', 'the agent was destroyed')
}

/** Node's (negative) errno numbers by error name; getaddrinfo's ENOTFOUND carries EAI_NONAME's. */
const errnos = new Map()
for (const [errno, [name]] of getSystemErrorMap()) errnos.set(name, errno)
errnos.set('ENOTFOUND', errnos.get('EAI_NONAME'))

/** Node's wording of a failed system call: `connect ECONNREFUSED 127.0.0.1:1`, `getaddrinfo ENOTFOUND h`. */
const SYSCALL_MESSAGE = /^([a-z]+) (E[A-Z0-9_]+)(?: (.+))?$/

/**
 * An Error shaped as Node shapes a failed system call: `errno`, `code`, `syscall`, then `address` and
 * `port` (or `hostname` for getaddrinfo), read from a message worded as Node words one. A message of
 * another shape (`socket hang up`) gives an Error with the code alone, as Node's are.
 */
function systemError (code, message) {
  message = openSslWording(message)
  const call = SYSCALL_MESSAGE.exec(message)
  if (call === null || call[2] !== code || !errnos.has(code)) return sslError(code, message)
  const [, syscall, , peer] = call
  const fields = { errno: errnos.get(code), code, syscall }
  if (peer !== undefined && syscall === 'getaddrinfo') {
    fields.hostname = peer.split(' ')[0]
  } else if (peer !== undefined && !OPENSSL_ERROR.test(peer)) {
    const at = peer.lastIndexOf(':')
    fields.address = peer.slice(0, at)
    fields.port = Number(peer.slice(at + 1))
  }
  return Object.assign(new Error(message), fields)
}

/** An OpenSSL error string in a message: `error:0A00045C:SSL routines:function:reason`. */
const OPENSSL_ERROR = /error:[0-9A-F]{8}:([^:]+):[^:]*:([^:]+)/

/**
 * OpenSSL 3.2 renamed its SSL 3 alerts (`sslv3 alert handshake failure` became `ssl/tls alert ...`) and
 * the function that finds no TLS record: the native layer words them as Node 22+ shows them, and a Node
 * whose OpenSSL is older (Node 20's 3.0) gets its own words back.
 */
const OLD_OPENSSL = (() => {
  const [major, minor] = (process.versions.openssl ?? '3.2').split('.').map(Number)
  return major < 3 || (major === 3 && minor < 2)
})()

function openSslWording (message) {
  if (!OLD_OPENSSL || !message.includes('SSL routines')) return message
  return message.replace('ssl/tls alert', 'sslv3 alert').replace('tls_validate_record_header', 'ssl3_get_record')
}

/** An OpenSSL failure Node reports with `library` and `reason` (`ERR_SSL_...`); any other coded Error. */
function sslError (code, message) {
  const openssl = code.startsWith('ERR_SSL_') ? OPENSSL_ERROR.exec(message) : null
  return codedError(Error, code, message, openssl && { library: openssl[1], reason: openssl[2] })
}

/** undici's error for a response body a connection's end cut short of its Content-Length. */
function responseLengthMismatch () {
  return undiciError('UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ResponseContentLengthMismatchError',
    'Response body length does not match content-length header')
}

/** undici's `HTTPParserError` for llhttp's fault `code` (`HPE_...`) with its `reason`. */
function parserError (code, reason) {
  const err = undiciError('UND_ERR_HTTP_PARSER', 'HTTPParserError', `Response does not match the HTTP/1.1 protocol (${reason})`)
  err.code = code
  return err
}

/** What undici makes of a body cut short (Rust's `Cut`), by the code Rust gives it. */
const CUT_FORMS = {
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: responseLengthMismatch,
  HPE_INVALID_EOF_STATE: () => parserError('HPE_INVALID_EOF_STATE', 'Invalid EOF state')
}

// The native layer reports failures as "CODE\u0001message"; this restores a coded Error, shaped as
// Node's for a failed system call. Every face turns native errors into JS ones here.
function fromNative (err) {
  if (!(err instanceof Error)) return err
  const at = err.message.indexOf('\u0001')
  if (at < 0) return err
  const code = err.message.slice(0, at)
  const message = err.message.slice(at + 1)
  // A body cut short (a third part, Rust's `Cut`): Node's words, and what undici makes of it (UNDICI_FORM).
  const form = message.indexOf('\u0001')
  if (form >= 0) {
    const cut = systemError(code, message.slice(0, form))
    Object.defineProperty(cut, UNDICI_FORM, { value: CUT_FORMS[message.slice(form + 1)]() })
    return cut
  }
  // A caller's connect function failed: its own Error, held while the failure crossed Rust.
  if (code === 'ERR_KEEPALIVE_CALLBACK') return takeHeld(message) ?? codedError(Error, code, message)
  if (code === 'ABORT_ERR') return codedError(Error, code, message, { name: 'AbortError' })
  // undici's own errors, named as undici names them.
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return undiciError(code, 'HeadersTimeoutError', message)
  if (code === 'UND_ERR_BODY_TIMEOUT') return undiciError(code, 'BodyTimeoutError', message)
  if (code.startsWith('ERR_INVALID')) return codedError(TypeError, code, message)
  return systemError(code, message)
}

/** undici's `HeadersOverflowError`: a response head (or trailers) at `maxHeaderSize` or beyond. */
function headersOverflow () {
  return undiciError('UND_ERR_HEADERS_OVERFLOW', 'HeadersOverflowError', 'Headers Overflow Error')
}

/** undici's `RequestAbortedError`: a handler's `abort()` without a reason. */
function requestAborted () {
  return undiciError('UND_ERR_ABORTED', 'AbortError', 'Request aborted')
}

/**
 * A connection that ended under a request, told as undici tells it: Node's 'socket hang up' (no response)
 * and 'aborted' (within its body) are undici's `SocketError` 'other side closed' (fetch's `cause`), which
 * retry code matches by its code. A reset stays ECONNRESET, as undici leaves it. A response llhttp
 * refused is undici's `HTTPParserError`, with llhttp's code and reason; a request body destroyed before
 * its end, undici's `RequestAbortedError`; one that carries undici's own form (UNDICI_FORM), that.
 */
function asUndici (err) {
  if (err?.[UNDICI_ERROR] === true) return err
  if (err?.[UNDICI_FORM] !== undefined) return err[UNDICI_FORM]
  // undici counts a head's bytes itself, so its parser never meets a head too long: this one's limit
  // (64 KiB) is undici's error too.
  if (err?.code === 'HPE_HEADER_OVERFLOW') return headersOverflow()
  if (typeof err?.code === 'string' && err.code.startsWith('HPE_')) {
    return parserError(err.code, err.message.startsWith(PARSE_ERROR) ? err.message.slice(PARSE_ERROR.length) : err.message)
  }
  // The request's body stream was destroyed before its end (without an error of its own).
  if (err?.code === 'ERR_STREAM_PREMATURE_CLOSE') return requestAborted()
  if (err?.code !== 'ECONNRESET' || err.syscall !== undefined || (err.message !== 'socket hang up' && err.message !== 'aborted')) return err
  return socketError('other side closed', err[SOCKET_INFO] ?? null)
}

/** How Node's (and this package's) parse errors begin. */
const PARSE_ERROR = 'Parse Error: '

module.exports = { SOCKET_INFO, UNDICI_FORM, asUndici, headersOverflow, requestAborted, responseLengthMismatch, parserError, agentDestroyed, hangUp, codedError, describe, invalidArgType, outOfRange, invalidArgValue, undiciError, undiciInvalidArg, clientDestroyed, socketError, abortError, systemError, fromNative }
