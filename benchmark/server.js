'use strict'
// The server under load: nginx when installed (not ours, and not the bottleneck), else a Node server in a
// child process, with a loud note that the numbers are then limited by that server. Also checks, before
// anything is measured, that every route answers with the exact body and keeps the connection alive.

const fs = require('node:fs')
const path = require('node:path')
const http = require('node:http')
const https = require('node:https')
const { fork } = require('node:child_process')
const { track } = require('./processes')
const { startNginx } = require('./nginx')
const { findBinary, INSTALL_HINT } = require('./binaries')
const { freePort } = require('./net')
const { PAYLOADS, requestBody } = require('./payloads')

async function startNodeServer ({ dir }) {
  const child = track(fork(path.join(__dirname, 'node-server.js'),
    [JSON.stringify({ certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') })],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] }))
  const ports = await new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', code => reject(new Error(`the Node server exited with code ${code}`)))
  })
  return {
    kind: 'node',
    label: `Node ${process.version} http/https server (fallback: single-threaded, likely the bottleneck)`,
    meteredPid: child.pid,
    httpPort: ports.httpPort,
    httpsPort: ports.httpsPort,
    async stop () {
      child.kill('SIGKILL')
    }
  }
}

/** Starts the server; `dir` holds cert.pem and key.pem. Returns origins, the pid to meter and stop(). */
async function startServer ({ dir, forceNode }) {
  const binary = forceNode ? null : findBinary('nginx')
  let server
  if (binary) {
    const httpPort = await freePort()
    const httpsPort = await freePort()
    server = { ...await startNginx(binary, { dir, httpPort, httpsPort }), httpPort, httpsPort }
  } else {
    if (!forceNode) console.error(`nginx not found: ${INSTALL_HINT}\nFalling back to a Node server in a child process.`)
    server = await startNodeServer({ dir })
  }
  server.origins = { http: `http://127.0.0.1:${server.httpPort}`, https: `https://127.0.0.1:${server.httpsPort}` }
  return server
}

function fetchOnce (url, { agent, method, body }) {
  const mod = url.startsWith('https:') ? https : http
  return new Promise((resolve, reject) => {
    const headers = body ? { 'content-type': 'application/octet-stream', 'content-length': body.length } : {}
    const req = mod.request(url, { agent, method, headers }, res => {
      let length = 0
      res.on('data', chunk => { length += chunk.length })
      res.on('end', () => resolve({ status: res.statusCode, length, reused: req.reusedSocket }))
      res.on('error', reject)
    })
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')))
    req.on('error', reject)
    req.end(body)
  })
}

/** Two requests per route and protocol on one keep-alive connection: exact body, 200, connection reused. */
async function verifyServer (server, ca) {
  for (const protocol of ['http', 'https']) {
    const agent = protocol === 'https'
      ? new https.Agent({ keepAlive: true, maxSockets: 1, ca })
      : new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      for (const payload of PAYLOADS) {
        for (let i = 0; i < 2; i++) {
          const url = server.origins[protocol] + payload.path
          const r = await fetchOnce(url, { agent, method: payload.method, body: requestBody(payload) })
          if (r.status !== 200 || r.length !== payload.responseBytes) {
            throw new Error(`${payload.method} ${url}: status ${r.status}, ${r.length} bytes; expected 200, ${payload.responseBytes}`)
          }
          if (i === 1 && !r.reused) throw new Error(`${payload.method} ${url}: the server did not keep the connection alive`)
        }
      }
    } finally {
      agent.destroy()
    }
  }
}

/** Writes the certificate and key where the servers and the global-fetch worker read them. */
function writeTls (dir, { key, cert }) {
  fs.writeFileSync(path.join(dir, 'cert.pem'), cert)
  fs.writeFileSync(path.join(dir, 'key.pem'), key, { mode: 0o600 })
  return path.join(dir, 'cert.pem')
}

module.exports = { startServer, verifyServer, writeTls }
