'use strict'
// The pool's rules seen from outside: caps, idle list, idle deadlines and stats, checked by servers on
// 127.0.0.1 that count the connections they accept and see close.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const { Agent } = require('..')
const { listenCounting, rawServer, readRequests } = require('./helpers/faces')

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** Polls `condition` every 10 ms for at most `limit` ms; returns the ms it took, or Infinity. */
async function waitFor (condition, limit) {
  const start = Date.now()
  while (!condition()) {
    if (Date.now() - start > limit) return Infinity
    await sleep(10)
  }
  return Date.now() - start
}

/**
 * Holds the first `count` requests until all of them are waiting, then answers them and every later
 * one at once: a test that needs that many connections open together gets them however the client's
 * threads are scheduled.
 */
function barrier (count) {
  let waiting = []
  return (req, res) => {
    if (waiting === null) return res.end('ok')
    waiting.push(res)
    if (waiting.length < count) return
    for (const held of waiting) held.end('ok')
    waiting = null
  }
}

/** Answers after `ms` with the client's port, so a test can tell connections apart. */
const delayed = (ms, headers = {}) => (req, res) => setTimeout(() => res.writeHead(200, headers).end(String(req.socket.remotePort)), ms)

async function withServers (count, handler, run) {
  const servers = await Promise.all(Array.from({ length: count }, () => listenCounting(http.createServer(handler))))
  const agents = []
  try {
    await run(servers, options => { const agent = new Agent(options); agents.push(agent); return agent })
  } finally {
    for (const agent of agents) agent.destroy()
    await Promise.all(servers.map(s => s.close()))
  }
}

const text = async promise => (await promise).text()

test('maxSockets 5: 50 concurrent requests never open more than 5 connections', async () => {
  await withServers(1, barrier(5), async ([srv], agent) => {
    const a = agent({ maxSockets: 5 })
    const bodies = await Promise.all(Array.from({ length: 50 }, () => text(a.request(srv.url))))
    assert.strictEqual(bodies.length, 50)
    assert.strictEqual(srv.counts.maxOpen, 5)
    assert.strictEqual(srv.counts.opened, 5)
  })
})

test('maxTotalSockets caps connections across origins, and an idle one elsewhere makes room', async () => {
  // A server sees an evicted connection's FIN a moment after the new one's SYN, so the cap is checked
  // as requests being served at once across both servers, and as the pool's own count at each request.
  let serving = 0
  let most = 0
  let mostPooled = 0
  let a
  const handler = (req, res) => {
    serving++
    most = Math.max(most, serving)
    const pooled = Object.values(a.stats).reduce((sum, o) => sum + o.connected + o.pending, 0)
    mostPooled = Math.max(mostPooled, pooled)
    setTimeout(() => { serving--; res.end('ok') }, 5)
  }
  await withServers(2, handler, async (servers, agent) => {
    a = agent({ maxTotalSockets: 3, maxFreeSockets: 1 })
    const urls = Array.from({ length: 40 }, (_, i) => servers[i % 2].url)
    const bodies = await Promise.all(urls.map(url => text(a.request(url))))
    assert.deepStrictEqual(new Set(bodies), new Set(['ok']))
    assert.strictEqual(most, 3, 'requests served at once across both origins')
    assert.ok(mostPooled <= 3, `the pool held at most 3, saw ${mostPooled}`)
    assert.ok(servers[0].counts.opened + servers[1].counts.opened > 3, 'idle connections were closed to make room')

    a = agent({ maxTotalSockets: 1 })
    const one = a
    assert.strictEqual(await text(one.request(servers[0].url)), 'ok')
    const openBefore = servers[0].counts.closed
    // The idle connection to the first origin is closed so the second origin can have one.
    assert.strictEqual(await text(one.request(servers[1].url)), 'ok')
    assert.notStrictEqual(await waitFor(() => servers[0].counts.closed > openBefore, 2000), Infinity)
  })
})

test('maxFreeSockets: only that many stay idle; the next requests reuse them', async () => {
  await withServers(1, barrier(6), async ([srv], agent) => {
    const a = agent({ maxFreeSockets: 2 })
    await Promise.all(Array.from({ length: 6 }, () => text(a.request(srv.url))))
    assert.strictEqual(srv.counts.opened, 6)
    assert.notStrictEqual(await waitFor(() => srv.counts.open === 2, 2000), Infinity)
    const origin = `http://127.0.0.1:${srv.port}`
    assert.strictEqual(a.stats[origin].free, 2)
    const again = await Promise.all([a.request(srv.url), a.request(srv.url)])
    assert.deepStrictEqual(again.map(r => r.reused), [true, true])
    assert.strictEqual(srv.counts.opened, 6)
  })
})

test('scheduling: lifo reuses the connection freed last, fifo the one freed first', async () => {
  const handler = (req, res) => setTimeout(() => res.end(String(req.socket.remotePort)), req.url === '/slow' ? 120 : 10)
  for (const [scheduling, expect] of [['lifo', 'slow'], ['fifo', 'fast']]) {
    await withServers(1, handler, async ([srv], agent) => {
      const a = agent({ scheduling })
      const [fast, slow] = await Promise.all([text(a.request(`${srv.url}/fast`)), text(a.request(`${srv.url}/slow`))])
      assert.notStrictEqual(fast, slow)
      const next = await text(a.request(`${srv.url}/fast`))
      assert.strictEqual(next, expect === 'slow' ? slow : fast, scheduling)
    })
  }
})

test('freeSocketTimeout: the server sees an idle connection closed on time', async () => {
  await withServers(1, delayed(0), async ([srv], agent) => {
    const a = agent({ freeSocketTimeout: 300 })
    await text(a.request(srv.url))
    const took = await waitFor(() => srv.counts.closed === 1, 5000)
    assert.ok(took >= 200 && took < 3000, `closed after ${took} ms, expected about 300`)
    assert.strictEqual(a.getCurrentStatus().closeSocketCount, 1)
  })
})

test('a Keep-Alive hint shorter than freeSocketTimeout wins; timeout=1 means not pooled', async () => {
  await withServers(1, delayed(0, { 'Keep-Alive': 'timeout=2' }), async ([srv], agent) => {
    const a = agent({ freeSocketTimeout: 30000 })
    await text(a.request(srv.url))
    const took = await waitFor(() => srv.counts.closed === 1, 10000)
    assert.ok(took >= 700 && took < 8000, `closed after ${took} ms, expected about 1000 (hint 2 s − 1 s)`)
  })
  await withServers(1, delayed(0, { 'Keep-Alive': 'timeout=1' }), async ([srv], agent) => {
    const a = agent({ freeSocketTimeout: 30000 })
    await text(a.request(srv.url))
    assert.notStrictEqual(await waitFor(() => srv.counts.closed === 1, 2000), Infinity)
    const second = await a.request(srv.url)
    await second.text()
    assert.strictEqual(second.reused, false)
    assert.strictEqual(srv.counts.opened, 2)
  })
})

test('keepAlive: false sends Connection: close and keeps nothing idle', async () => {
  const seen = []
  await withServers(1, (req, res) => { seen.push(req.headers.connection); res.end('x') }, async ([srv], agent) => {
    const a = agent({ keepAlive: false })
    for (let i = 0; i < 5; i++) assert.strictEqual((await a.request(srv.url)).reused, false)
    assert.deepStrictEqual(seen, Array(5).fill('close'))
    assert.strictEqual(srv.counts.opened, 5)
    assert.notStrictEqual(await waitFor(() => srv.counts.open === 0, 2000), Infinity)
    assert.strictEqual(a.stats[`http://127.0.0.1:${srv.port}`]?.free ?? 0, 0)
  })
})

test('keep-alive requests say Connection: keep-alive, as Node\'s agent and undici do: an HTTP/1.0 server keeps the connection; a caller\'s Connection stays', async () => {
  // Speaks HTTP/1.0: keeps a connection only when the request asks for it.
  const asked = []
  let opened = 0
  const server = await rawServer(socket => {
    opened++
    readRequests(socket, head => {
      const connection = /\r\nconnection: *([^\r]*)/i.exec(head)?.[1] ?? null
      asked.push(connection)
      const keep = connection?.toLowerCase() === 'keep-alive'
      socket.write(`HTTP/1.0 200 OK\r\n${keep ? 'Connection: keep-alive\r\n' : ''}Content-Length: 2\r\n\r\nok`)
      if (!keep) socket.end()
    })
  })
  const url = `${server.url}/`
  const agent = new Agent()
  try {
    for (let i = 0; i < 3; i++) assert.strictEqual(await text(agent.request(url)), 'ok')
    for (let i = 0; i < 3; i++) assert.strictEqual(await (await fetch(url, { dispatcher: agent })).text(), 'ok')
    assert.deepStrictEqual(asked, Array(6).fill('keep-alive'))
    assert.strictEqual(opened, 1, 'one connection served all six')
    assert.strictEqual(await text(agent.request(url, { headers: { Connection: 'close' } })), 'ok')
    assert.strictEqual(asked[6], 'close')
  } finally {
    agent.destroy()
    await server.close()
  }
  // What hyper sends (a caller's Transfer-Encoding takes the request there) says it too.
  await withServers(1, (req, res) => { req.resume(); req.on('end', () => res.end(req.headers.connection)) }, async ([srv], make) => {
    const a = make({})
    const res = await a.request(srv.url, { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: 'x' })
    assert.strictEqual(await res.text(), 'keep-alive')
  })
})

test('socketActiveTTL: a connection older than the TTL is not reused', async () => {
  await withServers(1, delayed(0), async ([srv], agent) => {
    const a = agent({ socketActiveTTL: 150 })
    const reused = async () => { const res = await a.request(srv.url); await res.text(); return res.reused }
    assert.strictEqual(await reused(), false)
    assert.strictEqual(await reused(), true)
    await sleep(250)
    assert.strictEqual(await reused(), false)
    assert.strictEqual(srv.counts.opened, 2)
  })
})

test('stats in undici\'s shape and getCurrentStatus in agentkeepalive\'s, while requests wait', async () => {
  const held = []
  await withServers(1, (req, res) => held.push(res), async ([srv], agent) => {
    const a = agent({ maxSockets: 2 })
    const pending = Array.from({ length: 5 }, () => text(a.request(srv.url)))
    assert.notStrictEqual(await waitFor(() => held.length === 2, 2000), Infinity)
    const origin = `http://127.0.0.1:${srv.port}`
    assert.deepStrictEqual(a.stats[origin], { connected: 2, free: 0, pending: 0, queued: 3, running: 2, size: 5 })
    const status = a.getCurrentStatus()
    // agentkeepalive's keys, exactly; ours are there, not enumerable.
    assert.deepStrictEqual(Object.keys(status), ['createSocketCount', 'createSocketErrorCount',
      'closeSocketCount', 'errorSocketCount', 'timeoutSocketCount', 'requestCount', 'freeSockets', 'sockets', 'requests'])
    assert.deepStrictEqual([status.reusedCount, status.retryCount, status.stats[origin].queued], [0, 0, 3])
    // agentkeepalive's counters are properties too, and statusChanged tells whether one moved since last read.
    assert.deepStrictEqual([a.createSocketCount, a.requestCount], [2, 0])
    assert.strictEqual(a.statusChanged, true)
    assert.strictEqual(a.createSocketCountLastCheck, 2)
    assert.strictEqual(a.statusChanged, false)
    const name = `127.0.0.1:${srv.port}:`
    assert.deepStrictEqual([status.sockets[name], status.requests[name], status.createSocketCount], [2, 3, 2])
    while (held.length) {
      held.shift().end('done')
      await waitFor(() => held.length > 0 || a.stats[origin].size === 0, 2000)
    }
    assert.deepStrictEqual(await Promise.all(pending), Array(5).fill('done'))
    assert.deepStrictEqual(a.stats[origin], { connected: 2, free: 2, pending: 0, queued: 0, running: 0, size: 0 })
    assert.deepStrictEqual(a.getCurrentStatus().freeSockets, { [name]: 2 })
    // As agentkeepalive's fields, the counters can be reset or moved by code (per-interval metrics).
    a.requestCount = 0
    a.createSocketCount++
    const one = text(a.request(srv.url))
    await waitFor(() => held.length === 1, 2000)
    held.shift().end('done')
    await one
    assert.deepStrictEqual([a.requestCount, a.createSocketCount], [1, 3])
    assert.deepStrictEqual([a.getCurrentStatus().requestCount, a.statusChanged, a.requestCountLastCheck], [1, true, 1])
  })
})

test('a Promise-face connection idle for over a second (parked: hyper\'s state freed) serves the next requests on the same socket; one the server closed meanwhile is replaced', async () => {
  const big = 'y'.repeat(200 * 1024)
  const handler = (req, res) => {
    let length = 0
    req.on('data', chunk => { length += chunk.length })
    req.on('end', () => res.end(req.url === '/big' ? big : `${req.socket.remotePort} ${length}`))
  }
  await withServers(1, handler, async ([srv], agent) => {
    const a = agent()
    const first = await text(a.request(srv.url))
    const port = first.split(' ')[0]
    // Idle for longer than the pool's PARK_AFTER (1 s), then a GET, a POST with a body, a long body.
    await sleep(1300)
    assert.strictEqual(await text(a.request(srv.url)), `${port} 0`)
    await sleep(1300)
    assert.strictEqual(await text(a.request(srv.url, { method: 'POST', body: Buffer.alloc(70 * 1024) })), `${port} ${70 * 1024}`)
    await sleep(1300)
    assert.strictEqual((await text(a.request(`${srv.url}/big`))).length, big.length)
    assert.strictEqual(srv.counts.opened, 1)
    await sleep(1300)
    srv.server.closeIdleConnections()
    assert.notStrictEqual(await waitFor(() => srv.counts.closed === 1, 5000), Infinity)
    const after = await a.request(srv.url)
    assert.strictEqual(after.reused, false)
    assert.notStrictEqual((await after.text()).split(' ')[0], port)
    assert.strictEqual(srv.counts.opened, 2)
    assert.strictEqual(a.getCurrentStatus().errorSocketCount, 0)
  })
})
