'use strict'
// Caps hold until a connection is closed, on the Promise face too: with `keepAlive: false` (every
// connection closed after its response) and across origins under `maxTotalSockets`, a server never sees
// more connections at once than the caps allow.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const { Agent } = require('..')
const { listenCounting } = require('./helpers/faces')

test('keepAlive false with maxSockets 2: never more than 2 connections open at the server', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end('ok')))
  const agent = new Agent({ keepAlive: false, maxSockets: 2 })
  try {
    const bodies = await Promise.all(Array.from({ length: 30 }, () => agent.request(srv.url).then(r => r.text())))
    assert.ok(bodies.every(b => b === 'ok'))
    assert.strictEqual(srv.counts.opened, 30)
    assert.ok(srv.counts.maxOpen <= 2, `the server saw ${srv.counts.maxOpen} connections at once`)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('maxTotalSockets 3 across two origins (idle ones evicted for the other): never more than 3 open at both servers', async () => {
  let open = 0
  let maxOpen = 0
  const server = () => {
    const s = http.createServer((req, res) => res.end('ok'))
    s.on('connection', socket => {
      maxOpen = Math.max(maxOpen, ++open)
      socket.on('close', () => open--)
    })
    return listenCounting(s)
  }
  const [a, b] = await Promise.all([server(), server()])
  const agent = new Agent({ maxTotalSockets: 3 })
  try {
    // Waves that switch origin: the idle connections of one are evicted to make room for the other.
    for (let wave = 0; wave < 6; wave++) {
      const url = (wave % 2 ? a : b).url
      const bodies = await Promise.all(Array.from({ length: 6 }, () => agent.request(url).then(r => r.text())))
      assert.ok(bodies.every(body => body === 'ok'))
    }
    assert.ok(maxOpen <= 3, `the servers saw ${maxOpen} connections at once`)
  } finally {
    agent.destroy()
    await Promise.all([a.close(), b.close()])
  }
})
