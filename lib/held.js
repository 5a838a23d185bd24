'use strict'
// Errors thrown or returned by the caller's connect functions (`lookup`, `checkServerIdentity`) wait
// here while the request they fail crosses Rust; Rust carries only the token (src/binding/hooks.rs). So
// the request fails with the very Error the function gave, as with Node. Bounded: an error whose request
// is gone by then (destroyed meanwhile) is dropped when the map fills.

const HELD_MAX = 1024
const held = new Map()
let nextToken = 1

/** Keeps `err`; returns the token Rust carries. */
function hold (err) {
  if (held.size >= HELD_MAX) held.delete(held.keys().next().value)
  const token = nextToken
  nextToken = nextToken === 0x7fffffff ? 1 : nextToken + 1
  held.set(token, err)
  return token
}

/** The error held under the token that starts `message` ("#12 ..."), or undefined. */
function takeHeld (message) {
  const match = /^#(\d+) /.exec(message)
  if (match === null) return undefined
  const token = Number(match[1])
  const err = held.get(token)
  held.delete(token)
  return err
}

module.exports = { hold, takeHeld }
