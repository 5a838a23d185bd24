'use strict'
// Errors with Node's `code`s, so code written for Node's http keeps working.

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

const invalidArgType = (name, expected, value) => codedError(TypeError, 'ERR_INVALID_ARG_TYPE',
  `The "${name}" argument must be ${expected}. ${describe(value)}`)

const outOfRange = (name, range, value) => codedError(RangeError, 'ERR_OUT_OF_RANGE',
  `The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`)

const invalidArgValue = (name, reason, value) => codedError(TypeError, 'ERR_INVALID_ARG_VALUE',
  `The argument '${name}' ${reason}. Received ${typeof value === 'string' ? `'${value}'` : String(value)}`)

function abortError (signal) {
  return codedError(Error, 'ABORT_ERR', 'The operation was aborted', { name: 'AbortError', cause: signal?.reason })
}

// The native layer reports failures as "CODE\u0001message"; this restores a coded Error.
function fromNative (err) {
  if (!(err instanceof Error)) return err
  const at = err.message.indexOf('\u0001')
  if (at < 0) return err
  const code = err.message.slice(0, at)
  const message = err.message.slice(at + 1)
  // A caller's connect function failed: its own Error, held while the failure crossed Rust.
  if (code === 'ERR_KEEPALIVE_CALLBACK') return takeHeld(message) ?? codedError(Error, code, message)
  if (code === 'ABORT_ERR') return codedError(Error, code, message, { name: 'AbortError' })
  const Ctor = code.startsWith('ERR_INVALID') ? TypeError : Error
  return codedError(Ctor, code, message)
}

module.exports = { codedError, describe, invalidArgType, outOfRange, invalidArgValue, abortError, fromNative }
