'use strict'
// A Node http/https server run as a child process: the fallback when nginx is missing, and the server of
// the memory test (its /hold route keeps a response open so connections stay busy or requests queue).
// Started by server.js / memory.js with fork(); reports its ports over IPC.

const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')
const { SMALL_BODY, POST_REPLY, largeBody } = require('./payloads')

const MAX_HOLD_MS = 60000
const LARGE = largeBody()

function reply (res, body) {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function handler (req, res) {
  const url = new URL(req.url, 'http://x')
  if (url.pathname === '/small') return reply(res, SMALL_BODY)
  if (url.pathname === '/64k') return reply(res, LARGE)
  if (url.pathname === '/post') {
    req.resume()
    return req.once('end', () => reply(res, POST_REPLY))
  }
  if (url.pathname === '/hold') {
    const ms = Math.min(MAX_HOLD_MS, Math.max(0, Number(url.searchParams.get('ms')) || 0))
    return setTimeout(() => reply(res, SMALL_BODY), ms)
  }
  res.writeHead(404, { 'content-length': 0 })
  res.end()
}

/** Keep-alive as generous as nginx's config in the benchmark: connections live for the whole run. */
function tune (server) {
  server.keepAliveTimeout = 65000
  server.headersTimeout = 66000
  server.requestTimeout = 0
  server.maxRequestsPerSocket = 0
  return server
}

function listen (server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    // a deep backlog: the memory test opens 1,000 connections at once
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve(server.address().port))
  })
}

async function main () {
  const options = JSON.parse(process.argv[2] || '{}')
  const httpPort = await listen(tune(http.createServer(handler)))
  let httpsPort = null
  if (options.certFile) {
    const tls = { cert: fs.readFileSync(options.certFile), key: fs.readFileSync(options.keyFile) }
    httpsPort = await listen(tune(https.createServer(tls, handler)))
  }
  process.send({ type: 'listening', httpPort, httpsPort })
}

process.on('disconnect', () => process.exit(0)) // never outlive the parent
main().catch(err => {
  console.error(err)
  process.exit(1)
})
