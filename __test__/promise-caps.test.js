'use strict'
// Caps hold until a connection is closed, on the Promise face too: with `keepAlive: false` (every
// connection closed after its response) and across origins under `maxTotalSockets`, a server never sees
// more connections at once than the caps allow.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const { once } = require('node:events')
const { Agent } = require('..')
const { listenCounting, withAgent, get } = require('./helpers/faces')

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

// Node's Agent reads its caps at each request, so code assigns them to a made agent
// (`http.globalAgent.maxSockets = 50`); ours must not go on with the constructor's.
test('maxSockets assigned after construction: 9 concurrent requests open 3 connections, on both faces', async () => {
  await withAgent(http.createServer((req, res) => res.end('ok')), new Agent({ maxSockets: 1 }), async (srv, agent) => {
    agent.maxSockets = 3
    assert.strictEqual(agent.maxSockets, 3)
    const socketFace = await Promise.all(Array.from({ length: 9 }, () => get(srv.url, agent)))
    assert.ok(socketFace.every(r => r.body.toString() === 'ok'))
    assert.strictEqual(srv.counts.opened, 3, 'the socket face opened as many connections as the new cap')
    agent.maxSockets = 5
    const promiseFace = await Promise.all(Array.from({ length: 9 }, () => agent.request(srv.url).then(r => r.text())))
    assert.ok(promiseFace.every(body => body === 'ok'))
    // The Promise face does not take the socket face's connections: its 5 replace the 3 idle ones
    // (the constructor's cap would have opened 1, none 9).
    assert.strictEqual(srv.counts.opened, 3 + 5)
  })
})

test('a raised maxSockets serves requests already waiting for a connection', async () => {
  const held = []
  const server = http.createServer((req, res) => held.push(res))
  await withAgent(server, new Agent({ maxSockets: 1 }), async (srv, agent) => {
    const answers = Array.from({ length: 3 }, () => agent.request(srv.url).then(r => r.text()))
    while (held.length < 1) await once(server, 'request')
    agent.maxSockets = 3
    while (held.length < 3) await once(server, 'request')
    assert.strictEqual(srv.counts.opened, 3)
    for (const res of held) res.end('ok')
    assert.deepStrictEqual(await Promise.all(answers), ['ok', 'ok', 'ok'])
  })
})

test('keepAlive and maxFreeSockets assigned after construction: connections close after each response, then are kept again', async () => {
  await withAgent(http.createServer((req, res) => res.end(req.headers.connection === 'close' ? 'close' : 'kept')), new Agent(), async (srv, agent) => {
    agent.keepAlive = false
    for (let i = 0; i < 2; i++) assert.strictEqual(await (await agent.request(srv.url)).text(), 'close')
    assert.strictEqual((await get(srv.url, agent)).body.toString(), 'close')
    assert.strictEqual(srv.counts.opened, 3, 'one connection per request without keep-alive')
    agent.keepAlive = true
    for (let i = 0; i < 2; i++) assert.strictEqual(await (await agent.request(srv.url)).text(), 'kept')
    assert.strictEqual(srv.counts.opened, 4, 'kept alive again: one more connection, reused')
    agent.maxFreeSockets = 0
    for (let i = 0; i < 2; i++) assert.strictEqual(await (await agent.request(srv.url)).text(), 'kept')
    assert.strictEqual(srv.counts.opened, 5, 'maxFreeSockets 0: the idle one served once, then nothing stays free')
  })
})

test('caps assigned after construction are validated as the constructor\'s options', () => {
  const agent = new Agent({ maxSockets: 4 })
  try {
    assert.throws(() => { agent.maxSockets = 0 }, { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' })
    assert.throws(() => { agent.maxFreeSockets = '2' }, { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' })
    assert.throws(() => { agent.scheduling = 'random' }, { code: 'ERR_INVALID_ARG_VALUE' })
    assert.strictEqual(agent.maxSockets, 4, 'a refused value changes nothing')
    agent.maxTotalSockets = Infinity
    agent.scheduling = 'fifo'
    assert.deepStrictEqual([agent.maxTotalSockets, agent.scheduling], [Infinity, 'fifo'])
  } finally {
    agent.destroy()
  }
})

// A queued request granted room for a new connection on the JS thread (here by a raised cap) used to be
// told so after its connection started: on a fast connect its fd could reach JS first, unclaimed, and
// was closed, leaving the request waiting forever (about one round in 50).
test('requests granted new connections together all get them: 150 rounds of a cap raised under 2 waiters', async () => {
  const held = []
  const server = http.createServer((req, res) => held.push(res))
  await withAgent(server, new Agent(), async (srv) => {
    for (let round = 0; round < 150; round++) {
      const agent = new Agent({ maxSockets: 1 })
      try {
        const answers = Array.from({ length: 3 }, () => agent.request(srv.url).then(r => r.text()))
        while (held.length < 1) await once(server, 'request')
        agent.maxSockets = 3
        let stuck
        const arrived = (async () => { while (held.length < 3) await once(server, 'request') })()
        await Promise.race([arrived, new Promise((resolve, reject) => { stuck = setTimeout(reject, 5000, new Error(`round ${round}: a granted request never arrived`)) })])
        clearTimeout(stuck)
        for (const res of held.splice(0)) res.end('ok')
        assert.deepStrictEqual(await Promise.all(answers), ['ok', 'ok', 'ok'])
      } finally {
        agent.destroy()
      }
    }
  })
})
