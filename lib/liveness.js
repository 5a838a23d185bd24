'use strict'
// Keeps the process alive while this agent has requests in flight, and only then: idle connections must
// never hold the event loop open. Rust events arrive through one weak thread-safe function; this counts
// in-flight work (Promise-face requests, assigned and queued sockets) and refs that function while the
// count is above zero.

class Liveness {
  constructor (native) {
    this.native = native
    this.count = 0
  }

  busy (delta) {
    const before = this.count
    this.count += delta
    if (before === 0 && this.count > 0) this.native.setBusy(true)
    else if (before > 0 && this.count === 0) this.native.setBusy(false)
  }
}

module.exports = { Liveness }
