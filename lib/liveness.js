'use strict'
// Keeps the process alive while this agent has requests in flight, and only then: idle connections must
// never hold the event loop open. Rust events arrive through one weak thread-safe function; this counts
// in-flight work (Promise-face requests, assigned and queued sockets) and refs that function while the
// count is above zero. Going idle waits one loop turn (an immediate): one request after another then
// keeps the function ref'd instead of crossing into Rust twice per request to toggle it. The immediate is
// ref'd: unref'd, a loop held only by the ref'd function would wait in its poll for an event that never
// comes (a request failed before any connection, nothing else to do) and never reach the immediate.

const { setImmediate, clearImmediate } = require('./timers')

class Liveness {
  constructor (native) {
    this.native = native
    this.count = 0
    this.reffed = false
    this.idle = null
  }

  busy (delta) {
    const before = this.count
    this.count += delta
    if (before === 0 && this.count > 0) {
      if (this.idle !== null) {
        clearImmediate(this.idle)
        this.idle = null
      }
      if (!this.reffed) {
        this.reffed = true
        this.native.setBusy(true)
      }
    } else if (before > 0 && this.count === 0 && this.idle === null) {
      this.idle = setImmediate(() => this.settle())
    }
  }

  settle () {
    this.idle = null
    if (this.count === 0 && this.reffed) {
      this.reffed = false
      this.native.setBusy(false)
    }
  }
}

module.exports = { Liveness }
