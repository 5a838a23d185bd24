'use strict'
// Validation of the Agent's options: Node's names, Node's defaults (but keepAlive true and a 4 s idle
// deadline, as agentkeepalive), Node's error codes and messages (the pool options named as
// lib/_http_agent.js names them, the connect and TLS options as net.connect and tls.connect do). Unknown
// options are ignored, as Node does.

const net = require('node:net')
const tls = require('node:tls')
const crypto = require('node:crypto')
const { constants: SSL } = crypto
const { codedError, describe, invalidArgType, outOfRange, invalidArgValue } = require('./errors')
const { proxySetting } = require('./proxy')

function number (options, name, { min, integer = false, fallback, allowInfinity = false }) {
  const value = options[name]
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (integer && Number.isFinite(value) && !Number.isInteger(value)) throw outOfRange(name, 'an integer', value)
  if (!Number.isFinite(value) && !(allowInfinity && value === Infinity)) {
    throw outOfRange(name, Number.isNaN(value) ? `>= ${min}` : 'a finite number', value)
  }
  if (value < min) throw outOfRange(name, `>= ${min}`, value)
  return value
}

/** Milliseconds per unit of a duration string, as agentkeepalive's `humanize-ms` (the `ms` package) reads them. */
const UNITS = [
  [/^(ms|msecs?|milliseconds?)$/, 1],
  [/^(s|secs?|seconds?)$/, 1000],
  [/^(m|mins?|minutes?)$/, 60000],
  [/^(h|hrs?|hours?)$/, 3600000],
  [/^(d|days?)$/, 86400000],
  [/^(w|weeks?)$/, 604800000],
  [/^(y|yrs?|years?)$/, 31557600000]
]

/**
 * A duration in ms: a number, or, as agentkeepalive takes its timeouts, a string such as '30s', '1.5 min'
 * or '500' (a string it cannot read is an error here, not a silent undefined).
 */
function duration (options, name, spec) {
  const value = options[name]
  if (typeof value !== 'string') return number(options, name, spec)
  const parts = /^(-?(?:\d+)?\.?\d+) *([a-z]*)$/i.exec(value.trim())
  const unit = parts && (parts[2] === '' ? 1 : UNITS.find(([pattern]) => pattern.test(parts[2].toLowerCase()))?.[1])
  if (!unit) throw invalidArgValue(name, "must be a number of ms or a duration such as '30s'", value)
  return number({ [name]: Number(parts[1]) * unit }, name, spec)
}

function boolean (options, name, fallback, describeName = name) {
  const value = options[name]
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalidArgType(describeName, 'of type boolean', value)
  return value
}

function oneOf (options, name, allowed, fallback, error = invalidArgValue) {
  const value = options[name]
  if (value === undefined) return fallback
  if (!allowed.includes(value)) {
    throw error(name, `must be one of: ${allowed.map(a => `'${a}'`).join(', ')}`, value)
  }
  return value
}

// ---- connect and TLS options: named `options.x` and called properties, as net.connect/tls.connect do ----

const propertyType = (name, expected, value) => codedError(TypeError, 'ERR_INVALID_ARG_TYPE',
  `The "options.${name}" property must be ${expected}. ${describe(value)}`)

const propertyValue = (name, reason, value) => codedError(TypeError, 'ERR_INVALID_ARG_VALUE',
  `The property 'options.${name}' ${reason}. Received ${typeof value === 'string' ? `'${value}'` : String(value)}`)

function pemList (options, name) {
  const value = options[name]
  if (value === undefined || value === null) return undefined
  const list = Array.isArray(value) ? value : [value]
  return list.map(item => {
    if (typeof item === 'string') return Buffer.from(item)
    if (ArrayBuffer.isView(item)) return Buffer.from(item.buffer, item.byteOffset, item.byteLength)
    throw propertyType(name, 'of type string or an instance of Buffer, TypedArray, or DataView', item)
  })
}

/**
 * Node's `ALPNProtocols`: protocol names as an array (strings, taken as UTF-8 as Node takes them, or
 * Buffers), or one Buffer in the wire format (each name after its length byte); as a list of Buffers,
 * each 1 to 255 bytes.
 */
function alpnProtocols (options) {
  const value = options.ALPNProtocols
  if (value === undefined || value === null) return undefined
  const expected = 'an Array of strings or Buffers, or a Buffer'
  let names
  if (Array.isArray(value)) {
    names = value.map(item => {
      if (typeof item === 'string') return Buffer.from(item)
      if (ArrayBuffer.isView(item)) return Buffer.from(item.buffer, item.byteOffset, item.byteLength)
      throw propertyType('ALPNProtocols', expected, value)
    })
  } else if (ArrayBuffer.isView(value)) {
    const wire = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    names = []
    for (let at = 0; at < wire.length; at += 1 + wire[at]) names.push(wire.subarray(at + 1, at + 1 + wire[at]))
  } else {
    throw propertyType('ALPNProtocols', expected, value)
  }
  for (const name of names) {
    if (name.length === 0 || name.length > 255) throw propertyValue('ALPNProtocols', 'must hold protocol names of 1 to 255 bytes', name.toString())
  }
  return names
}

function func (options, name) {
  const value = options[name]
  if (value === undefined) return undefined
  if (typeof value !== 'function') throw propertyType(name, 'of type function', value)
  return value
}

function string (options, name) {
  const value = options[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw propertyType(name, 'of type string', value)
  return value
}

function integer (options, name, min, max) {
  const value = options[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number') throw propertyType(name, 'of type number', value)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(`options.${name}`, `an integer >= ${min} and <= ${max}`, value)
  }
  return value
}

function family (options) {
  const value = options.family
  if (value === undefined || value === null) return 0
  if (value === 'IPv4') return 4
  if (value === 'IPv6') return 6
  if (value !== 0 && value !== 4 && value !== 6) throw propertyValue('family', 'must be one of: 0, 4, 6', value)
  return value
}

/** Node's `blockList` connect option (Node 22.13+; honoured here on every version). */
function blockList (options) {
  const value = options.blockList
  if (value === undefined || value === null) return undefined
  if (!(value instanceof net.BlockList)) throw propertyType('blockList', 'an instance of net.BlockList', value)
  return value
}

function localAddress (options) {
  const value = string(options, 'localAddress')
  if (value !== undefined && net.isIP(value) === 0) throw propertyValue('localAddress', 'must be an IP address', value)
  return value
}

// TLS protocol versions by Node's names, oldest first; rustls speaks the last two.
const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']
/** Every version, as indexes into TLS_VERSIONS, and those rustls speaks. */
const ANY_VERSION = [0, 1, 2, 3]
const SPOKEN = [2, 3]

/**
 * The versions an OpenSSL method (`secureProtocol`) allows, as indexes into TLS_VERSIONS: the
 * version-flexible ones all, a fixed one its own. Server methods and SSL's are no client's here.
 */
function methodVersions (method) {
  if (typeof method !== 'string') throw propertyType('secureProtocol', 'of type string', method)
  const fixed = /^(TLS|SSLv23|TLSv1|TLSv1_1|TLSv1_2)(?:_client)?_method$/.exec(method)?.[1]
  if (fixed === undefined) {
    throw propertyValue('secureProtocol', 'is not a TLS client method (TLS_method, TLSv1_2_method, ...)', method)
  }
  if (fixed === 'TLS' || fixed === 'SSLv23') return ANY_VERSION
  return [{ TLSv1: 0, TLSv1_1: 1, TLSv1_2: 2 }[fixed]]
}

const bit = name => BigInt(SSL[name] ?? 0)
/** `secureOptions` bits that bar a protocol version, by index into TLS_VERSIONS. */
const VERSION_BITS = ['SSL_OP_NO_TLSv1', 'SSL_OP_NO_TLSv1_1', 'SSL_OP_NO_TLSv1_2', 'SSL_OP_NO_TLSv1_3'].map(bit)
/**
 * Bits met as they are: they bar what rustls never does (SSL 2 and 3, compression, renegotiation), or
 * set a server's preference (honorCipherOrder's), which OpenSSL's client ignores too.
 */
const MET_BITS = ['SSL_OP_NO_SSLv2', 'SSL_OP_NO_SSLv3', 'SSL_OP_NO_COMPRESSION', 'SSL_OP_NO_RENEGOTIATION',
  'SSL_OP_CIPHER_SERVER_PREFERENCE'].map(bit)

/** The versions `secureOptions` leaves; a bit this module cannot honour is refused, not ignored. */
function optionVersions (value) {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw propertyType('secureOptions', 'a non-negative integer', value)
  }
  let rest = BigInt(value)
  for (const met of [...MET_BITS, ...VERSION_BITS]) rest &= ~met
  if (rest !== 0n) {
    throw propertyValue('secureOptions', `has OpenSSL options rustls cannot honour (0x${rest.toString(16)}; only the SSL_OP_NO_<version>, SSL_OP_NO_COMPRESSION, SSL_OP_NO_RENEGOTIATION and SSL_OP_CIPHER_SERVER_PREFERENCE bits are taken)`, value)
  }
  return ANY_VERSION.filter(i => (BigInt(value) & VERSION_BITS[i]) === 0n)
}

/**
 * `minVersion`, `maxVersion`, `secureProtocol` and `secureOptions` as tls.connect takes them, read as
 * the TLS versions they allow together, of which rustls speaks 1.2 and 1.3: a floor below 1.2 (Node's
 * 'TLSv1', `TLS_method`, SSL_OP_NO_TLSv1 alone) is met as it is, since nothing older is offered; asking
 * for no version rustls speaks is refused. Rust is given the range left, as 'TLSv1.2'/'TLSv1.3' bounds.
 */
function tlsVersions (options) {
  const { minVersion, maxVersion, secureProtocol, secureOptions } = options
  if (secureProtocol !== undefined && secureProtocol !== null) {
    // Node's: a method fixes the versions, so bounds beside it conflict.
    const bound = minVersion ?? maxVersion
    if (bound !== undefined) {
      throw codedError(TypeError, 'ERR_TLS_PROTOCOL_VERSION_CONFLICT',
        `TLS protocol version ${JSON.stringify(bound)} conflicts with secureProtocol ${JSON.stringify(secureProtocol)}`)
    }
  }
  let allowed = ANY_VERSION
  const narrow = (name, versions) => {
    allowed = allowed.filter(i => versions.includes(i))
    if (!allowed.some(i => SPOKEN.includes(i))) {
      throw propertyValue(name, 'leaves no TLS version rustls speaks (TLS 1.2 and 1.3)', options[name])
    }
  }
  const index = name => TLS_VERSIONS.indexOf(oneOf(options, name, TLS_VERSIONS, undefined, propertyValue))
  if (minVersion !== undefined) narrow('minVersion', ANY_VERSION.slice(index('minVersion')))
  if (maxVersion !== undefined) narrow('maxVersion', ANY_VERSION.slice(0, index('maxVersion') + 1))
  if (secureProtocol !== undefined && secureProtocol !== null) narrow('secureProtocol', methodVersions(secureProtocol))
  if (secureOptions !== undefined && secureOptions !== null) narrow('secureOptions', optionVersions(secureOptions))
  return {
    minVersion: allowed.includes(2) ? undefined : 'TLSv1.3',
    maxVersion: allowed.includes(3) ? undefined : 'TLSv1.2'
  }
}

/**
 * Node's `minDHSize` (the least finite-field Diffie-Hellman group a server may choose), checked as Node
 * 22+ checks it: a number, at least 1. rustls offers no finite-field DH key exchange, so every value is
 * met; it changes no connection and is not part of the route (see lib/connect.js).
 */
function minDHSize (options) {
  const value = options.minDHSize
  if (value === undefined) return undefined
  if (typeof value !== 'number') throw propertyType('minDHSize', 'of type number', value)
  if (!(value >= 1)) throw outOfRange('options.minDHSize', '>= 1', value)
  return value
}

// tls.connect options that only OpenSSL can honour. Refused rather than ignored: ignoring one would make
// another connection than the one asked for. (Server-side options such as honorCipherOrder are ignored,
// as Node's client ignores them.)
const OPENSSL_ONLY = ['secureContext', 'crl',
  'clientCertEngine', 'privateKeyEngine', 'privateKeyIdentifier', 'pskCallback']

/**
 * The options that change what connection is made: part of the pool's route key (see src/origin.rs).
 * The OpenSSL-only ones are listed so that a request giving one is checked (and refused), never ignored.
 */
const CONNECT_OPTIONS = ['lookup', 'blockList', 'family', 'hints', 'localAddress', 'localPort', 'socketPath', 'autoSelectFamily',
  'autoSelectFamilyAttemptTimeout', 'checkServerIdentity', 'ca', 'cert', 'key', 'pfx', 'passphrase', 'ciphers',
  'rejectUnauthorized', 'servername', 'minVersion', 'maxVersion', 'secureProtocol', 'secureOptions', 'ecdhCurve', 'sigalgs', 'ALPNProtocols',
  'requestOCSP', 'proxy', 'proxyEnv',
  'minDHSize', ...OPENSSL_ONLY]

/** The TLS 1.2 suites Node's OpenSSL has, by lower-case name (`tls.getCiphers()`), read once. */
let opensslSuites = null

/**
 * Whether a `ciphers` string names outright (not after `!`, `-` or `+`) a suite Node's OpenSSL has: then
 * Node's TLS 1.2 list is not empty even where rustls lacks the suite (`AES256-SHA`), and TLS 1.3 keeps
 * its suites, as in Node (src/connect/tls.rs `with_ciphers`).
 */
function namesOpenSslSuite (ciphers) {
  if (typeof ciphers !== 'string') return undefined
  opensslSuites ??= new Set(tls.getCiphers().filter(name => !name.startsWith('tls_')))
  return ciphers.split(/[:, ]/).some(word => /^[^!+-]/.test(word) && opensslSuites.has(word.split('@')[0].toLowerCase()))
}

function refuseOpenSslOnly (options) {
  for (const name of OPENSSL_ONLY) {
    if (options[name] !== undefined) {
      throw propertyValue(name, 'is not supported: TLS is done by rustls here, which has no such setting', typeof options[name] === 'string' ? options[name] : typeof options[name])
    }
  }
}

/**
 * The connect and TLS options of an agent or of one request, checked. Functions stay functions here;
 * lib/connect.js gives them ids before they cross into Rust.
 */
/**
 * The client key as rustls reads it: an encrypted PEM key (PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's
 * `Proc-Type: 4,ENCRYPTED`) is opened here with `passphrase` by Node's own OpenSSL, as Node's secure
 * context opens it, with its errors (`ERR_OSSL_BAD_DECRYPT` for a wrong or missing passphrase).
 */
function clientKey (key, passphrase) {
  if (key === undefined || !key.includes('ENCRYPTED')) return key
  const opened = crypto.createPrivateKey({ key, format: 'pem', passphrase: passphrase ?? '' })
  return Buffer.from(opened.export({ type: 'pkcs8', format: 'pem' }))
}

function connectOptions (options) {
  refuseOpenSslOnly(options)
  const versions = tlsVersions(options)
  const keys = pemList(options, 'key')
  const pfx = pemList(options, 'pfx')
  const attemptTimeout = integer(options, 'autoSelectFamilyAttemptTimeout', 1, 2 ** 31 - 1)
  return {
    lookup: func(options, 'lookup'),
    blockList: blockList(options),
    family: family(options),
    hints: integer(options, 'hints', 0, 2 ** 31 - 1),
    localAddress: localAddress(options),
    localPort: integer(options, 'localPort', 0, 65535),
    socketPath: string(options, 'socketPath'),
    autoSelectFamily: boolean(options, 'autoSelectFamily', undefined, 'options.autoSelectFamily'),
    // Node raises anything below 10 ms to 10 ms.
    autoSelectFamilyAttemptTimeout: attemptTimeout === undefined ? undefined : Math.max(10, attemptTimeout),
    checkServerIdentity: func(options, 'checkServerIdentity'),
    createConnection: func(options, 'createConnection'),
    proxy: proxySetting(options),
    // Falsy (an empty string) is Node's default trust; an empty list trusts nothing, as in Node.
    ca: options.ca === '' ? undefined : pemList(options, 'ca'),
    cert: pemList(options, 'cert'),
    key: clientKey(keys?.[0], options.passphrase),
    pfx: pfx?.[0],
    passphrase: string(options, 'passphrase'),
    ciphers: string(options, 'ciphers'),
    opensslCiphers: namesOpenSslSuite(options.ciphers),
    // Node's default, 'auto', is OpenSSL's choice of curves: rustls makes its own.
    ecdhCurve: options.ecdhCurve === 'auto' ? undefined : string(options, 'ecdhCurve'),
    sigalgs: string(options, 'sigalgs'),
    rejectUnauthorized: boolean(options, 'rejectUnauthorized', verifiesByDefault(), 'options.rejectUnauthorized'),
    servername: string(options, 'servername'),
    minVersion: versions.minVersion,
    ALPNProtocols: alpnProtocols(options),
    // Node's tls.connect takes any value and asks when it is truthy.
    requestOCSP: options.requestOCSP ? true : undefined,
    maxVersion: versions.maxVersion,
    minDHSize: minDHSize(options),
    // Node's https.Agent option: TLS sessions its cache keeps (one cache per agent; Infinity: no cap).
    maxCachedSessions: Math.min(number(options, 'maxCachedSessions', { min: 0, integer: true, fallback: 100, allowInfinity: true }), 2 ** 32 - 1)
  }
}

/** agentkeepalive's idle deadline, ours too. */
const DEFAULT_FREE_SOCKET_TIMEOUT = 4000

/** The options that may be durations ('30s'): agentkeepalive keeps them in `agent.options` as ms. */
const DURATIONS = ['timeout', 'keepAliveTimeout', 'freeSocketKeepAliveTimeout', 'freeSocketTimeout', 'socketActiveTTL']

/**
 * `options` (already normalized, so valid) as agentkeepalive keeps them: each duration given as a string
 * in ms, and an older name of `freeSocketTimeout` under that name.
 */
function durationsInMs (options) {
  const out = { ...options }
  for (const name of DURATIONS) {
    if (typeof options[name] === 'string') out[name] = duration(options, name, { min: 0 })
  }
  for (const alias of ['freeSocketKeepAliveTimeout', 'keepAliveTimeout']) {
    if (out[alias] === undefined) continue
    out.freeSocketTimeout = out[alias]
    delete out[alias]
  }
  return out
}

let warnedUnverified = false

/**
 * Whether certificates are verified when the options do not say: as Node's tls.connect, not when the
 * process runs with NODE_TLS_REJECT_UNAUTHORIZED=0, and with Node's warning, once.
 */
function verifiesByDefault () {
  if (process.env.NODE_TLS_REJECT_UNAUTHORIZED !== '0') return true
  if (!warnedUnverified) {
    warnedUnverified = true
    process.emitWarning('Setting the NODE_TLS_REJECT_UNAUTHORIZED environment variable to \'0\' makes TLS connections ' +
      'and HTTPS requests insecure by disabling certificate verification.')
  }
  return false
}

/**
 * Node's `agentKeepAliveTimeoutBuffer`: a finite number of ms ≥ 0, else 1000. Node 22+ reads it; Node 20's
 * agent keeps 1000 fixed, but this agent honours it on every Node, the default being the same.
 */
function keepAliveTimeoutBuffer (options) {
  const value = options.agentKeepAliveTimeoutBuffer
  return typeof value === 'number' && value >= 0 && Number.isFinite(value) ? value : 1000
}

/**
 * What Node's Agent reads at each request (its caps, and how much of a server's Keep-Alive hint it
 * keeps), so that code may assign them to the agent later (`agent.maxSockets = 50`): `LIMITS` are their
 * names. Validated alike either way.
 */
function limits (options) {
  return {
    keepAlive: boolean(options, 'keepAlive', true),
    maxSockets: number(options, 'maxSockets', { min: 1, integer: true, fallback: Infinity, allowInfinity: true }),
    maxTotalSockets: number(options, 'maxTotalSockets', { min: 1, integer: true, fallback: Infinity, allowInfinity: true }),
    maxFreeSockets: number(options, 'maxFreeSockets', { min: 0, integer: true, fallback: 256, allowInfinity: true }),
    scheduling: oneOf(options, 'scheduling', ['fifo', 'lifo'], 'lifo'),
    agentKeepAliveTimeoutBuffer: keepAliveTimeoutBuffer(options)
  }
}

const LIMITS = Object.keys(limits({}))

/** Returns the options in the shape the native agent takes. Throws on the first invalid one. */
function normalize (options) {
  // Node's Agent takes a missing or null options object as no options.
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
  const timeout = duration(options, 'timeout', { min: 0, fallback: 0 })
  // agentkeepalive's meaning of 0: no idle deadline of its own, so an idle socket keeps the agent's
  // `timeout` if there is one. Its older names for it win over it, as there.
  const idleName = ['keepAliveTimeout', 'freeSocketKeepAliveTimeout', 'freeSocketTimeout'].find(name => options[name] !== undefined)
  const freeSocketTimeout = (idleName && duration(options, idleName, { min: 0, fallback: DEFAULT_FREE_SOCKET_TIMEOUT })) ??
    DEFAULT_FREE_SOCKET_TIMEOUT
  const idleDeadline = freeSocketTimeout || timeout || Infinity
  return {
    ...limits(options),
    keepAliveMsecs: number(options, 'keepAliveMsecs', { min: 0, fallback: 1000 }),
    timeout,
    freeSocketTimeout: idleDeadline,
    socketActiveTTL: duration(options, 'socketActiveTTL', { min: 0, fallback: undefined }) || undefined,
    // 0: no limit, as undici's option of that name has it.
    connectTimeout: number(options, 'connectTimeout', { min: 0, fallback: 10000, allowInfinity: true }) || Infinity,
    queueTimeout: number(options, 'queueTimeout', { min: 1, fallback: undefined }),
    maxQueueSize: number(options, 'maxQueueSize', { min: 0, integer: true, fallback: undefined }),
    connect: connectOptions(options)
  }
}

module.exports = { number, normalize, limits, LIMITS, durationsInMs, connectOptions, verifiesByDefault, CONNECT_OPTIONS, DEFAULT_FREE_SOCKET_TIMEOUT }
