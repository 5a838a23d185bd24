'use strict'
// Shared by the socket-face and fault suites: servers on 127.0.0.1 that count connections, a raw TCP
// server that sends exactly the bytes a test chooses, and small clients over node:http.

const http = require('node:http')
const https = require('node:https')
const net = require('node:net')
const { once } = require('node:events')

/** Starts `server` on 127.0.0.1 and counts its connections: opened, open now, most open at once. */
async function listenCounting (server) {
  const counts = { opened: 0, open: 0, maxOpen: 0, closed: 0 }
  const event = server instanceof https.Server ? 'secureConnection' : 'connection'
  server.on(event, socket => {
    counts.opened++
    counts.open++
    counts.maxOpen = Math.max(counts.maxOpen, counts.open)
    socket.on('close', () => { counts.open--; counts.closed++ })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  const scheme = server instanceof https.Server ? 'https' : 'http'
  return { server, counts, port, url: `${scheme}://127.0.0.1:${port}`, close: () => closeServer(server) }
}

/**
 * Two servers on 127.0.0.1 answering 'hello', whose connections are counted together: most open at once
 * across both.
 */
async function twoOrigins () {
  const both = { open: 0, maxOpen: 0 }
  const servers = await Promise.all([0, 1].map(() => listenCounting(http.createServer((req, res) => res.end('hello')))))
  for (const srv of servers) {
    srv.server.on('connection', socket => {
      both.maxOpen = Math.max(both.maxOpen, ++both.open)
      socket.on('close', () => both.open--)
    })
  }
  return { servers, both, close: () => Promise.all(servers.map(s => s.close())) }
}

/** Runs `run(srv, agent)` with `server` counting on 127.0.0.1; destroys the agent and closes after. */
async function withAgent (server, agent, run) {
  const srv = await listenCounting(server)
  try {
    await run(srv, agent)
  } finally {
    agent.destroy()
    await srv.close()
  }
}

function closeServer (server) {
  server.closeAllConnections?.()
  return new Promise(resolve => server.close(() => resolve()))
}

/** A TCP server whose connection handler writes raw bytes; tracks every socket to close them. */
/** Reads HTTP/1.1 requests (bodies of a Content-Length) off a raw socket and calls `onRequest(head, socket, index)`. */
function readRequests (socket, onRequest) {
  let buffered = ''
  let index = 0
  socket.on('data', chunk => {
    buffered += chunk.toString('latin1')
    let end
    while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
      const head = buffered.slice(0, end)
      buffered = buffered.slice(end + 4)
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0)
      buffered = buffered.slice(length)
      onRequest(head, socket, index++)
    }
  })
}

async function rawServer (onConnection) {
  const sockets = new Set()
  const server = net.createServer(socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    onConnection(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close () {
      for (const s of sockets) s.destroy()
      return new Promise(resolve => server.close(() => resolve()))
    }
  }
}

/**
 * A URL on 127.0.0.1 where nothing listens. A port freed by closing a server can be taken at once by a
 * test file running in parallel, so use a privileged port nobody binds and check it really refuses.
 * fetch refuses ports 1, 9 and 13 itself ("bad port"): fetch tests pass others.
 */
async function refusedUrl (ports = [1, 9, 13]) {
  for (const port of ports) {
    const socket = net.connect(port, '127.0.0.1')
    const code = await new Promise(resolve => {
      socket.once('connect', () => resolve('connected'))
      socket.once('error', err => resolve(err.code))
    })
    socket.destroy()
    if (code === 'ECONNREFUSED') return `http://127.0.0.1:${port}`
  }
  throw new Error('no refusing port found on 127.0.0.1')
}

/** One request over node:http(s) with `agent` (and any TLS options); resolves with status, body and reusedSocket. */
function get (url, agent, { method = 'GET', body, headers, timeout, ...tls } = {}) {
  const lib = url.startsWith('https:') ? https : http
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { agent, method, headers, timeout, ...tls }, res => {
      const chunks = []
      res.on('data', chunk => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), reused: req.reusedSocket, socket: req.socket }))
      res.on('error', reject)
    })
    req.on('error', reject)
    if (body !== undefined) req.end(body)
    else req.end()
  })
}

module.exports = { listenCounting, twoOrigins, withAgent, closeServer, rawServer, readRequests, refusedUrl, get }
