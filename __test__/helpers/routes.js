'use strict'
// The two ways the agent speaks a dispatched request (lib/dispatcher.js): on the JS thread as an exchange,
// and by hyper, which takes it while undici's connect channels have a subscriber (as with a proxy or a Unix
// socket). Dispatcher suites run their cases over both.

const dc = require('node:diagnostics_channel')

const ROUTES = ['exchange', 'hyper']

/** Runs `run()` with the agent's dispatched requests going `route`'s way. */
async function along (route, run) {
  if (route === 'exchange') return run()
  const subscriber = () => {}
  dc.subscribe('undici:client:beforeConnect', subscriber)
  try {
    return await run()
  } finally {
    dc.unsubscribe('undici:client:beforeConnect', subscriber)
  }
}

module.exports = { ROUTES, along }
