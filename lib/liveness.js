'use strict'
// Keeps the process alive while this agent has requests in flight, and only then: idle connections must
// never hold the event loop open. Rust events arrive through one weak thread-safe function; this counts
// in-flight work (Promise-face requests, assigned and queued sockets) and refs that function while the
// count is above zero. Going idle waits one loop turn (an unref'd immediate): one request after another
// then keeps the function ref'd instead of crossing into Rust twice per request to toggle it.

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
      this.idle = setImmediate(() => this.settle()).unref()
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
