'use strict'
// install(): routes a whole process through one agent: http.globalAgent, https.globalAgent, and the global
// dispatcher that Node's fetch and WebSocket (and any undici) read. Gives back a function that puts back
// what was there, as Node's http.setGlobalProxyFromEnv() does.

const http = require('node:http')
const https = require('node:https')

// undici 6 and 7 (the fetch of Node 20 to 24) read `.1` and pass v1 handlers; undici 7.27+ and 8 keep
// their dispatcher under `.2` (v2 handlers), and undici 8, when loaded, replaces a global dispatcher that
// `.2` lacks. The agent speaks both APIs, so it goes under both.
const GLOBAL_DISPATCHERS = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')]

function setGlobal (symbol, value) {
  const own = Object.getOwnPropertyDescriptor(globalThis, symbol)
  // undici defines these writable but not configurable; a symbol nobody defined yet stays configurable,
  // so that restoring can remove it again.
  if (own === undefined || own.configurable) {
    Object.defineProperty(globalThis, symbol, { value, writable: true, enumerable: false, configurable: true })
  } else {
    globalThis[symbol] = value
  }
}

/**
 * Makes `agent: false` under the installed `agent` what it is under Node's own: Node's ClientRequest
 * answers it with `new globalAgent.constructor()`, which for Node's agents keeps nothing alive (one
 * connection per request, closed once answered). Ours keep connections alive by default, so an installed
 * agent's `constructor` (its own property, taken away again by `undo`) makes, without options, an agent
 * that keeps nothing alive, as Node's would; superagent asks every request that way. Gives back `undo`.
 */
function asNodeWithoutAgent (agent) {
  const Made = agent.constructor
  const OneOff = class extends Made {
    constructor (options) {
      super(options ?? { keepAlive: false })
    }
  }
  Object.defineProperty(OneOff, 'name', { value: Made.name })
  Object.defineProperty(agent, 'constructor', { value: OneOff, writable: true, configurable: true, enumerable: false })
  return () => {
    if (Object.getOwnPropertyDescriptor(agent, 'constructor')?.value === OneOff) delete agent.constructor
  }
}

/**
 * Sets `agent` (an Agent or HttpsAgent) and `other` (its counterpart for the other scheme) as the global
 * agents, and `agent` as the global dispatcher. The returned function restores each of them unless
 * something else replaced it in the meantime.
 */
function install (agent, other) {
  // Node loads its bundled undici on first use, and undici then sets its own default dispatcher unless
  // one is there: load it now, so that restore() puts back that default rather than leaving none.
  void globalThis.Headers
  const secure = agent instanceof https.Agent
  const httpAgent = secure ? other : agent
  const httpsAgent = secure ? agent : other
  const previous = {
    http: http.globalAgent,
    https: https.globalAgent,
    dispatchers: GLOBAL_DISPATCHERS.map(symbol => Object.getOwnPropertyDescriptor(globalThis, symbol))
  }
  http.globalAgent = httpAgent
  https.globalAgent = httpsAgent
  const undo = [asNodeWithoutAgent(httpAgent), asNodeWithoutAgent(httpsAgent)]
  for (const symbol of GLOBAL_DISPATCHERS) setGlobal(symbol, agent)
  let restored = false
  return function restore () {
    if (restored) return
    restored = true
    for (const fn of undo) fn()
    if (http.globalAgent === httpAgent) http.globalAgent = previous.http
    if (https.globalAgent === httpsAgent) https.globalAgent = previous.https
    GLOBAL_DISPATCHERS.forEach((symbol, i) => {
      if (globalThis[symbol] !== agent) return
      const before = previous.dispatchers[i]
      if (before !== undefined) setGlobal(symbol, before.value)
      else if (Object.getOwnPropertyDescriptor(globalThis, symbol).configurable) delete globalThis[symbol]
      else globalThis[symbol] = undefined
    })
  }
}

module.exports = { install }
