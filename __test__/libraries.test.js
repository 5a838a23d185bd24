'use strict'
// Libraries that take an agent, each making 20 requests through one Agent over one connection.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const https = require('node:https')
const axios = require('axios')
const got = require('got')
const nodeFetch = require('node-fetch')
const superagent = require('superagent')
const { Agent, HttpsAgent } = require('..')
const { selfSigned } = require('../examples/certs')
const { listenCounting } = require('./helpers/faces')

const REQUESTS = 20

/** Each library's way to GET `url` with `agent`, resolving with the body text. */
const clients = {
  axios: (url, agent) => axios.get(url, { httpAgent: agent, httpsAgent: agent, responseType: 'text' }).then(r => r.data),
  got: (url, agent) => got(url, { agent: { http: agent, https: agent }, retry: 0 }).text(),
  'node-fetch v2': (url, agent) => nodeFetch(url, { agent }).then(r => r.text()),
  'node-fetch v3': async (url, agent) => {
    const { default: fetch } = await import('node-fetch-v3')
    return fetch(url, { agent }).then(r => r.text())
  },
  superagent: (url, agent) => superagent.get(url).agent(agent).buffer(true).then(r => r.text)
}

const echo = (req, res) => {
  res.setHeader('content-type', 'text/plain')
  res.end(`got ${req.url}`)
}

const tls = selfSigned()
const schemes = {
  http: { server: () => http.createServer(echo), agent: () => new Agent(), host: '127.0.0.1' },
  https: {
    server: () => https.createServer({ key: tls.key, cert: tls.cert }, echo),
    agent: () => new HttpsAgent({ ca: tls.cert }),
    host: 'localhost'
  }
}

for (const [scheme, setup] of Object.entries(schemes)) {
  for (const [name, request] of Object.entries(clients)) {
    test(`${name} over ${scheme}: ${REQUESTS} requests, one connection, in the Rust pool`, async () => {
      const srv = await listenCounting(setup.server())
      const agent = setup.agent()
      try {
        for (let i = 0; i < REQUESTS; i++) {
          assert.strictEqual(await request(`${scheme}://${setup.host}:${srv.port}/${i}`, agent), `got /${i}`)
        }
        assert.strictEqual(srv.counts.opened, 1)
        const status = agent.getCurrentStatus()
        assert.strictEqual(status.createSocketCount, 1)
        assert.strictEqual(status.reusedCount, REQUESTS - 1)
      } finally {
        agent.destroy()
        await srv.close()
      }
    })
  }
}

test('got with http2: true on an HTTP/1.1 server: the socket http2-wrapper learnt ALPN on is handed to the agent (emit \'free\') and taken as Node\'s agent takes it: it serves the next request, idles in freeSockets, and closes with the agent', async () => {
  const runs = {}
  for (const [who, make] of [['node', () => new https.Agent({ keepAlive: true, ca: tls.cert })], ['ours', () => new HttpsAgent({ ca: tls.cert })]]) {
    const srv = await listenCounting(schemes.https.server())
    const agent = make()
    try {
      const bodies = []
      for (let i = 0; i < 3; i++) {
        bodies.push(await got(`https://localhost:${srv.port}/${i}`, { http2: true, agent: { https: agent }, https: { certificateAuthority: tls.cert }, retry: 0 }).text())
      }
      const free = Object.values(agent.freeSockets).map(list => list.length)
      agent.destroy()
      // Every connection closes with the agent, the adopted one too: the server can close.
      await srv.close()
      runs[who] = { bodies, opened: srv.counts.opened, free }
    } finally {
      agent.destroy()
    }
  }
  assert.deepStrictEqual(runs.node, { bodies: ['got /0', 'got /1', 'got /2'], opened: 1, free: [1] })
  assert.deepStrictEqual(runs.ours, runs.node)
})

test('a socket handed to the agent (got with http2: true) idles for what the server\'s Keep-Alive hint leaves, as Node\'s agent keeps it, and is not kept when nothing is left', async () => {
  const hinted = (req, res) => {
    res.setHeader('keep-alive', 'timeout=5')
    echo(req, res)
  }
  // The idle timeouts of the sockets in freeSockets after one request.
  const idle = async make => {
    const srv = await listenCounting(https.createServer({ key: tls.key, cert: tls.cert }, hinted))
    const agent = make()
    try {
      await got(`https://localhost:${srv.port}/`, { http2: true, agent: { https: agent }, https: { certificateAuthority: tls.cert }, retry: 0 }).text()
      return Object.values(agent.freeSockets).flat().map(socket => socket.timeout)
    } finally {
      agent.destroy()
      await srv.close()
    }
  }
  // Node's agent applies the hint only under a `timeout` of its own; ours within its freeSocketTimeout.
  const node = options => () => new https.Agent({ keepAlive: true, timeout: 30000, ca: tls.cert, ...options })
  const ours = options => () => new HttpsAgent({ freeSocketTimeout: 30000, ca: tls.cert, ...options })
  assert.deepStrictEqual(await idle(ours()), [4000])
  assert.deepStrictEqual(await idle(node()), [4000])
  assert.deepStrictEqual(await idle(ours({ agentKeepAliveTimeoutBuffer: 5000 })), [])
  if ('agentKeepAliveTimeoutBuffer' in new http.Agent()) {
    assert.deepStrictEqual(await idle(node({ agentKeepAliveTimeoutBuffer: 5000 })), [])
  }
})
