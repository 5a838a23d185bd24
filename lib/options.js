'use strict'
// Validation of the Agent's options: Node's names, Node's defaults (but keepAlive true and a 4 s idle
// deadline, as agentkeepalive), Node's error codes, and a message that names the option. Unknown options
// are ignored, as Node does.

const { invalidArgType, outOfRange, invalidArgValue } = require('./errors')

function number (options, name, { min, integer = false, fallback, allowInfinity = false }) {
  const value = options[name]
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'number') throw invalidArgType(`options.${name}`, 'of type number', value)
  const finiteOk = Number.isFinite(value) || (allowInfinity && value === Infinity)
  const integerOk = !integer || !Number.isFinite(value) || Number.isInteger(value)
  if (Number.isNaN(value) || !finiteOk || !integerOk || value < min) {
    const range = `${integer ? 'an integer ' : ''}>= ${min}${allowInfinity ? ' or Infinity' : ''}`
    throw outOfRange(`options.${name}`, range, value)
  }
  return value
}

function boolean (options, name, fallback) {
  const value = options[name]
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalidArgType(`options.${name}`, 'of type boolean', value)
  return value
}

function oneOf (options, name, allowed, fallback) {
  const value = options[name]
  if (value === undefined) return fallback
  if (!allowed.includes(value)) {
    throw invalidArgValue(`options.${name}`, `must be one of: ${allowed.map(a => `'${a}'`).join(', ')}`, value)
  }
  return value
}

function pemList (options, name) {
  const value = options[name]
  if (value === undefined || value === null) return undefined
  const list = Array.isArray(value) ? value : [value]
  return list.map(item => {
    if (typeof item === 'string') return Buffer.from(item)
    if (ArrayBuffer.isView(item)) return Buffer.from(item.buffer, item.byteOffset, item.byteLength)
    throw invalidArgType(`options.${name}`, 'of type string or an instance of Buffer, or an Array of them', item)
  })
}

/** Returns the options in the shape the native agent takes. Throws on the first invalid one. */
function normalize (options) {
  // Node's Agent takes a missing or null options object as no options.
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
  const keepAlive = boolean(options, 'keepAlive', true)
  const servername = options.servername
  if (servername !== undefined && typeof servername !== 'string') {
    throw invalidArgType('options.servername', 'of type string', servername)
  }
  const keys = pemList(options, 'key')
  const timeout = number(options, 'timeout', { min: 0, fallback: 0 })
  // agentkeepalive's meaning of 0: no idle deadline of its own, so an idle socket keeps the agent's
  // `timeout` if there is one.
  const freeSocketTimeout = number(options, 'freeSocketTimeout', { min: 0, fallback: 4000 }) || timeout || Infinity
  return {
    keepAlive,
    keepAliveMsecs: number(options, 'keepAliveMsecs', { min: 0, fallback: 1000 }),
    maxSockets: number(options, 'maxSockets', { min: 1, integer: true, fallback: Infinity, allowInfinity: true }),
    maxTotalSockets: number(options, 'maxTotalSockets', { min: 1, integer: true, fallback: Infinity, allowInfinity: true }),
    maxFreeSockets: number(options, 'maxFreeSockets', { min: 0, integer: true, fallback: 256, allowInfinity: true }),
    scheduling: oneOf(options, 'scheduling', ['fifo', 'lifo'], 'lifo'),
    timeout,
    freeSocketTimeout,
    socketActiveTTL: number(options, 'socketActiveTTL', { min: 0, fallback: undefined }) || undefined,
    connectTimeout: number(options, 'connectTimeout', { min: 1, fallback: 10000 }),
    queueTimeout: number(options, 'queueTimeout', { min: 1, fallback: undefined }),
    maxQueueSize: number(options, 'maxQueueSize', { min: 0, integer: true, fallback: undefined }),
    ca: pemList(options, 'ca'),
    cert: pemList(options, 'cert'),
    key: keys?.[0],
    rejectUnauthorized: boolean(options, 'rejectUnauthorized', true),
    servername,
    minVersion: oneOf(options, 'minVersion', ['TLSv1.2', 'TLSv1.3'], undefined),
    maxVersion: oneOf(options, 'maxVersion', ['TLSv1.2', 'TLSv1.3'], undefined)
  }
}

module.exports = { normalize }
