'use strict'
// undici's dispatcher events for the connections the Promise and dispatcher faces open, whether spoken on
// the JS thread (lib/exchange.js) or by hyper (lib/diagnostics.js ConnectEvents, from the connects and
// ends Rust reports): 'connect' (origin, targets) once a connection is open
// (TLS included) and before its first request is written, 'disconnect' (origin, targets, err) once it is
// closed, with why, and 'connectionError' (origin, targets, err) when opening one failed, after the
// requests it was for have failed. Code written for undici's Agent waits for them (`agent.once('connect',
// ...)`, `once('disconnect')` before a server's next step), so they carry undici's arguments: the origin as
// a URL, the targets (here the agent alone: its pools and clients are the Rust pool's), and undici's
// errors. Nothing is built while nobody listens.

const { asUndici, clientDestroyed, socketError, undiciError } = require('./errors')
const { setImmediate } = require('./timers')

/** undici's `InformationalError`: a close that is no fault (an idle deadline, a `Connection: close`). */
const informational = message => undiciError('UND_ERR_INFO', 'InformationalError', message)

/** Why connections close, as undici tells 'disconnect' listeners. */
const Why = {
  /** The server closed it. `socket`: the connection as undici's SocketError describes it, when known. */
  otherSideClosed: socket => socketError('other side closed', socket),
  /** Its idle deadline passed. */
  idle: () => informational('socket idle timeout'),
  /** Bytes came that no request asked for. */
  badResponse: socket => socketError('bad response', socket),
  /** The response said it is not kept (`Connection: close`, or keep-alive off). */
  reset: () => informational('reset'),
  /** Its request was given up (aborted, its body abandoned) while it was in use. */
  aborted: () => informational('aborted'),
  /** A close nothing else explains. */
  closed: socket => socketError('closed', socket),
  /** The agent was destroyed (or closed, which destroys it once in-flight requests are done): any close after. */
  destroyed: clientDestroyed
}

class ConnectionEvents {
  constructor (agent) {
    this.agent = agent
  }

  /** Connection to the origin of `href` is open. */
  connected (href) {
    if (this.agent.listenerCount('connect') > 0) this.emit('connect', href)
  }

  /**
   * Connection to the origin of `href` closed; `why` is its error, a `Why` that makes one (only if someone
   * listens; given what `described.socketInfo()` says of the connection, where known), or null for a
   * close nothing explains. Once the agent is destroyed, whatever closed it,
   * undici's reason is the destruction. Told on the event loop's next check phase, as undici tells it
   * from its socket's 'close': after the response that ended the connection has reached its caller
   * (`destroy()` resolves after it, see `index.js`).
   */
  disconnected (href, why, described = null) {
    if (this.agent.listenerCount('disconnect') === 0) return
    const socket = described?.socketInfo() ?? null
    const err = this.agent.destroyed
      ? Why.destroyed()
      : typeof why === 'function' ? why(socket) : why !== null ? asUndici(why) : Why.closed(socket)
    setImmediate(() => this.emit('disconnect', href, err))
  }

  /** The origin of `href` takes requests again after `dispatch()` said it was full (undici's 'drain'). */
  drained (href) {
    if (this.agent.listenerCount('drain') > 0) this.emit('drain', href)
  }

  /** Opening a connection to the origin of `href` failed with `err`. */
  failed (href, err) {
    if (this.agent.listenerCount('connectionError') > 0) this.emit('connectionError', href, err)
  }

  /** Whether anyone listens for these events. */
  listened () {
    const agent = this.agent
    return agent.listenerCount('connect') + agent.listenerCount('disconnect') + agent.listenerCount('connectionError') > 0
  }

  /**
   * Emits from within the agent's own bookkeeping (a batch of Rust events, a connection closing): a
   * listener that throws must not leave that half done, so its error is thrown again on its own, an
   * uncaught exception as from an undici socket's listener.
   */
  emit (event, href, err) {
    const args = err === undefined ? [originOf(href), [this.agent]] : [originOf(href), [this.agent], err]
    try {
      this.agent.emit(event, ...args)
    } catch (thrown) {
      process.nextTick(() => { throw thrown })
    }
  }
}

/** undici's origin of a client: a URL of scheme, host and port. */
function originOf (href) {
  return new URL(new URL(href).origin)
}

module.exports = { ConnectionEvents, Why }
