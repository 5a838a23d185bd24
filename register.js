'use strict'
// `node --require keepalive-agent/register app.js`: the whole process (http, https, fetch, WebSocket,
// undici) goes through one keepalive-agent Agent with its default options, with no change to the app.
require('./index.js').install()
