'use strict'
// The Promise face's `timeout` is inactivity over the whole active life of a request: connecting,
// waiting for the head, the body both ways. Every byte that moves starts it again. The black hole is a
// listener on 127.0.0.1 whose accept backlog is full, so the kernel drops further SYNs.

const { test } = require('node:test')
const assert = require('node:assert')
const net = require('node:net')
const http = require('node:http')
const { once } = require('node:events')
const { Worker } = require('node:worker_threads')
const { Agent } = require('..')
const { rawServer, listenCounting } = require('./helpers/faces')

/**
 * A port on 127.0.0.1 where connects hang: a listener (backlog 1) in a worker that never returns to its
 * event loop, so nothing is accepted; two connections fill its queue, and later SYNs are dropped.
 */
async function blackHole () {
  const stop = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(`
    const { parentPort, workerData: stop } = require('node:worker_threads')
    const server = require('node:net').createServer()
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      parentPort.postMessage(server.address().port)
      while (Atomics.load(stop, 0) === 0) Atomics.wait(stop, 0, 0)
      server.close()
    })`, { eval: true, workerData: stop })
  const [port] = await once(worker, 'message')
  const fillers = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')]
  await Promise.all(fillers.map(s => once(s, 'connect')))
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    async close () {
      for (const s of fillers) s.destroy()
      Atomics.store(stop, 0, 1)
      Atomics.notify(stop, 0)
      await once(worker, 'exit')
    }
  }
}

test('a connect slower than timeout fails ETIMEDOUT at about timeout; queued requests each get their turn', async () => {
  const hole = await blackHole()
  // connectTimeout far longer than the test: only the request's timeout can end these connects.
  const agent = new Agent({ maxSockets: 1, connectTimeout: 60000 })
  try {
    const started = Date.now()
    const results = await Promise.all(Array.from({ length: 3 }, () => agent.request(hole.url, { timeout: 300 }).catch(err => err)))
    const elapsed = Date.now() - started
    for (const err of results) {
      assert.ok(err instanceof Error, String(err))
      assert.strictEqual(err.code, 'ETIMEDOUT')
      assert.strictEqual(err.message, `connect ETIMEDOUT 127.0.0.1:${hole.port}`)
      assert.strictEqual(err.syscall, 'connect')
      assert.strictEqual(err.port, hole.port)
    }
    // Each waited its own turn of about 300 ms, one after the other (maxSockets 1), far from 60 s.
    assert.ok(elapsed < 20000, `took ${elapsed} ms`)
    const status = agent.getCurrentStatus()
    assert.deepStrictEqual([status.createSocketCount, status.errorSocketCount], [3, 3])
    assert.deepStrictEqual(status.sockets, {})
    assert.deepStrictEqual(status.requests, {})
  } finally {
    agent.destroy()
    await hole.close()
  }
})

test('a steady upload slower than timeout in total never times out; a stalled one does', async () => {
  const server = http.createServer((req, res) => {
    let length = 0
    req.on('data', chunk => { length += chunk.length })
    req.on('end', () => res.end(String(length)))
  })
  const srv = await listenCounting(server)
  const agent = new Agent()
  try {
    // 40 pieces, one every 50 ms: about 2 s in all, with a 1.5 s timeout (gaps stretch on a loaded machine).
    async function * steady () {
      for (let i = 0; i < 40; i++) {
        yield Buffer.alloc(1024, i)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    }
    const res = await agent.request(srv.url, { method: 'POST', body: steady(), timeout: 1500 })
    assert.strictEqual(await res.text(), String(40 * 1024))
  } finally {
    agent.destroy()
    await srv.close()
  }

  // A server that takes the connection and never reads: the kernel's buffers fill, nothing moves.
  let received = 0
  const mute = await rawServer(socket => { socket.pause(); received++ })
  const stalled = new Agent()
  try {
    async function * endless () {
      const block = Buffer.alloc(64 * 1024)
      for (let i = 0; i < 64 * 1024; i++) yield block
    }
    await assert.rejects(stalled.request(mute.url, { method: 'POST', body: endless(), timeout: 300 }),
      { code: 'ETIMEDOUT', message: 'no activity for 300ms (timeout)' })
    assert.strictEqual(received, 1)
  } finally {
    stalled.destroy()
    await mute.close()
  }
})
