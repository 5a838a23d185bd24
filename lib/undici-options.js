'use strict'
// undici's Agent options, for code that moves from `new undici.Agent({ ... })` to this agent: each one is
// read as this agent's option of the same meaning, or refused; none that decides what is dialled or
// trusted, or how long a request may take, is ignored (the README lists the few left). A value undici
// refuses fails with undici's InvalidArgumentError and message, as from undici's constructors. Ignoring
// `connect` would dial past a guard's `lookup` with the system resolver (an SSRF hole) or trust what its
// `ca` did not, and ignoring `headersTimeout` would wait 300 s where the caller asked for 10.

const http = require('node:http')
const { invalidArgValue, undiciInvalidArg } = require('./errors')
const { number } = require('./options')

/**
 * undici's option `name` of `options`, or `fallback` when not given; a value `valid` refuses fails with
 * undici's `InvalidArgumentError` and its `message`, as undici's constructors throw it.
 */
function undiciOption (options, name, valid, message, fallback) {
  const value = options[name]
  if (value === undefined || value === null) return fallback
  if (!valid(value)) throw undiciInvalidArg(message)
  return value
}

const isInteger = min => value => Number.isInteger(value) && value >= min

// undici's default for both headersTimeout and bodyTimeout (its Client's), which Node's fetch gets.
const UNDICI_TIMEOUT = 300e3

/** The adapter of each undici connector, so that an agent and its counterpart (lib/index.js) share one. */
const adapters = new WeakMap()

/**
 * undici's connector, `connect({ host, hostname, protocol, port, servername, localAddress, httpSocket },
 * callback)`, as a `createConnection`: it is asked as undici's Client asks it (`host` the URL's, IPv6 in
 * brackets, `hostname` bare; `port` a string, empty for the scheme's own), and only its callback counts,
 * after the socket connected (TLS included), as in undici. `servername` is the name the agent would
 * send (undici's Client gives null and lets the connector work it out alike).
 */
function connectorAdapter (connector) {
  let adapter = adapters.get(connector)
  if (adapter === undefined) {
    adapter = function createConnection (options, callback) {
      const { protocol, port, host: hostname } = options
      const authority = hostname.includes(':') ? `[${hostname}]` : hostname
      const own = port === (protocol === 'https:' ? 443 : 80) ? '' : String(port)
      connector({
        host: own === '' ? authority : `${authority}:${own}`,
        hostname,
        protocol,
        port: own,
        servername: options.servername ?? null,
        localAddress: options.localAddress ?? null,
        httpSocket: undefined
      }, callback)
    }
    adapters.set(connector, adapter)
  }
  return adapter
}

/**
 * The members of undici's `connect` object as this agent's options: all of tls.connect's and
 * net.connect's keep their names (`lookup`, `ca`, `rejectUnauthorized`, `socketPath`, ...), `timeout` is
 * `connectTimeout` (0: none, as undici) and `keepAliveInitialDelay` is `keepAliveMsecs`. `keepAlive`
 * there is TCP keep-alive, not pooling: pooled connections have it on, as Node's agent sets it. `host`,
 * `hostname` and `port` are left out.
 */
function connectMembers (connect) {
  // undici dials each origin's own host and port whatever these say; here, as agent options, Node's
  // requests would take them over their own.
  const { timeout, keepAlive, keepAliveInitialDelay, host, hostname, port, ...members } = connect
  if (timeout !== undefined && timeout !== null) {
    members.connectTimeout = number({ 'connect.timeout': timeout }, 'connect.timeout', { min: 0 })
  }
  if (keepAliveInitialDelay !== undefined) members.keepAliveMsecs = keepAliveInitialDelay
  return members
}

/**
 * `options` with undici's Agent options read as this agent's: `connect` (an object of connect and TLS
 * options, which win over the same options given beside it and `tls`'s, or a connector function, which
 * becomes `createConnection`), `tls` (undici's other object of TLS options), `connections` (`maxSockets`
 * where that is not given; 0 or null: no cap), `keepAliveTimeoutThreshold` (`agentKeepAliveTimeoutBuffer`
 * where that is not given) and `pipelining: 0` (`keepAlive: false` where that is not given). undici's
 * `factory` makes the agent's pools, which are Rust's here: refused. The same object when none of these
 * is given.
 */
function fromUndici (options) {
  if (options === undefined || options === null || typeof options !== 'object') return options
  const { connect, tls, connections, keepAliveTimeoutThreshold, factory, pipelining } = options
  if (connect === undefined && tls === undefined && connections === undefined && keepAliveTimeoutThreshold === undefined &&
    factory === undefined && pipelining === undefined) {
    return options
  }
  if (factory !== undefined) {
    if (typeof factory !== 'function') throw undiciInvalidArg('factory must be a function.')
    throw invalidArgValue('options.factory', 'is not supported: the Rust pool makes every connection of this agent', typeof factory)
  }
  if (connect !== undefined && connect !== null && typeof connect !== 'function' && typeof connect !== 'object') {
    throw undiciInvalidArg('connect must be a function or an object')
  }
  // undici's pools build their connector from `tls` and `connect` together, `connect` winning; `tls`'s
  // timeout is never read there.
  let out = { ...options }
  if (tls !== null && typeof tls === 'object') {
    const { timeout, ...members } = tls
    out = { ...out, ...connectMembers(members) }
  }
  if (typeof connect === 'function') {
    const adapter = connectorAdapter(connect)
    if (options.createConnection !== undefined && options.createConnection !== adapter) {
      throw invalidArgValue('options.connect', 'cannot be given with createConnection: both make the connections', 'function')
    }
    out.createConnection = adapter
    // A connector keeps to its own limit (buildConnector's `timeout`), as in undici, where
    // `connectTimeout` only builds undici's own.
    if (options.connectTimeout === undefined) out.connectTimeout = 0
  } else if (connect !== undefined && connect !== null) {
    out = { ...out, ...connectMembers(connect) }
  }
  const cap = undiciOption(options, 'connections', value => Number.isFinite(value) && value >= 0, 'invalid connections', 0)
  if (cap !== 0 && out.maxSockets === undefined) out.maxSockets = Math.ceil(cap)
  // undici's "0 disables keep-alive": each request says `Connection: close` and its connection is not
  // reused, as with `keepAlive: false`. Above 1 it is taken as 1: requests are not pipelined here.
  if (pipelining === 0 && out.keepAlive === undefined) out.keepAlive = false
  const threshold = undiciOption(options, 'keepAliveTimeoutThreshold', Number.isFinite, 'invalid keepAliveTimeoutThreshold')
  if (threshold !== undefined && out.agentKeepAliveTimeoutBuffer === undefined) out.agentKeepAliveTimeoutBuffer = threshold
  return out
}

/**
 * What the dispatcher face takes from the agent's options for requests that do not say: undici's
 * `headersTimeout` and `bodyTimeout` (ms, 0: none; 300 s each by default, undici's), `maxResponseSize`
 * (bytes of a response body, -1: no limit) and `maxHeaderSize` (bytes of a response head's header names
 * and values; undici's default, Node's `--max-http-header-size`).
 */
function dispatchDefaults (options) {
  const given = options ?? {}
  return {
    headersTimeout: undiciOption(given, 'headersTimeout', isInteger(0), 'headersTimeout must be a positive integer or zero', UNDICI_TIMEOUT),
    bodyTimeout: undiciOption(given, 'bodyTimeout', isInteger(0), 'bodyTimeout must be a positive integer or zero', UNDICI_TIMEOUT),
    maxResponseSize: undiciOption(given, 'maxResponseSize', isInteger(-1), 'maxResponseSize must be a positive number', -1),
    // undici's: a falsy value is Node's `--max-http-header-size` (16 KiB by default).
    maxHeaderSize: undiciOption(given, 'maxHeaderSize', Number.isFinite, 'invalid maxHeaderSize', 0) || http.maxHeaderSize,
    // undici's, unchecked: false lets a body differ from its Content-Length, with a warning.
    strictContentLength: given.strictContentLength == null || Boolean(given.strictContentLength)
  }
}

/**
 * undici's `keepAliveMaxTimeout`: the longest a server's Keep-Alive hint keeps a connection idle, in ms
 * (undefined: none beyond the idle deadline, which a hint never lengthens here).
 */
function keepAliveCeiling (options) {
  return undiciOption(options ?? {}, 'keepAliveMaxTimeout', value => Number.isFinite(value) && value > 0, 'invalid keepAliveMaxTimeout')
}

/** undici's `maxRequestsPerClient`: requests a connection serves before it closes; 0 (or none): no limit. */
function requestsPerConnection (options) {
  return undiciOption(options ?? {}, 'maxRequestsPerClient', isInteger(0), 'maxRequestsPerClient must be a positive number', 0)
}

/**
 * undici 6's `interceptors: { Agent: [...] }`: `dispatch` run through them, the first outermost, as
 * undici's dispatchers chain them (the reverse of `compose()`'s order); null when none are given.
 */
function interceptedDispatch (options, dispatch) {
  const list = options?.interceptors?.Agent
  if (!Array.isArray(list) || list.length === 0) return null
  for (const interceptor of list) {
    if (typeof interceptor !== 'function') throw undiciInvalidArg('interceptor must be an function')
  }
  for (let i = list.length - 1; i >= 0; i--) dispatch = list[i](dispatch)
  return dispatch
}

module.exports = { fromUndici, dispatchDefaults, interceptedDispatch, keepAliveCeiling, requestsPerConnection }
