'use strict'
// Small network helpers for the orchestrator: free ports and waiting until a server accepts connections.

const net = require('node:net')

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** A port the kernel reports free right now (it is released again for the server to take). */
function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function canConnect (port) {
  return new Promise(resolve => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

/** Waits (at most 10 s) until 127.0.0.1:port accepts a connection, or `failed()` says to stop. */
async function waitForPort (port, failed) {
  const deadline = Date.now() + 10000
  while (Date.now() < deadline) {
    if (failed()) return false
    if (await canConnect(port)) return true
    await sleep(25)
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after 10 s`)
}

module.exports = { sleep, freePort, waitForPort }
