'use strict'
// The timers this package runs on, taken from node:timers when it loads. Node's own agent and sockets
// run on Node's internal timers, which a test's fake clock (@sinonjs/fake-timers, Jest's) does not
// replace; ours must not stop under one either: an agent that went idle while the clock was fake would
// never settle, and its process would never exit (found running got's tests through the agent).

const timers = require('node:timers')

module.exports = {
  setTimeout: timers.setTimeout,
  clearTimeout: timers.clearTimeout,
  setInterval: timers.setInterval,
  clearInterval: timers.clearInterval,
  setImmediate: timers.setImmediate,
  clearImmediate: timers.clearImmediate
}
