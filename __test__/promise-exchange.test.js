'use strict'
// The Promise face speaks HTTP/1.1 on the JS thread over connections of its own role in the pool
// (lib/exchange.js); what an exchange does not take goes to hyper.

const { test } = require('node:test')
const assert = require('node:assert')
const async_hooks = require('node:async_hooks')
const http = require('node:http')
const { Agent } = require('..')
const { listenCounting } = require('./helpers/faces')

function get (url, agent) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { text += chunk })
      res.on('end', () => resolve({ text, reused: res.req.reusedSocket }))
    }).on('error', reject)
  })
}

test('each face reuses its own connections: a Promise-face request never rides a ClientRequest\'s socket, nor the reverse', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end(`${req.method} ${req.url}`)))
  const agent = new Agent()
  try {
    const first = await agent.request(`${srv.url}/a`)
    assert.strictEqual(await first.text(), 'GET /a')
    assert.strictEqual(first.reused, false)
    assert.deepStrictEqual(await get(`${srv.url}/b`, agent), { text: 'GET /b', reused: false })
    assert.strictEqual(srv.counts.opened, 2)
    const again = await agent.request(`${srv.url}/c`, { method: 'POST', body: 'x' })
    assert.strictEqual(await again.text(), 'POST /c')
    assert.strictEqual(again.reused, true)
    assert.deepStrictEqual(await get(`${srv.url}/d`, agent), { text: 'GET /d', reused: true })
    assert.strictEqual(srv.counts.opened, 2)
    const status = agent.getCurrentStatus()
    assert.strictEqual(status.createSocketCount, 2)
    assert.strictEqual(status.requestCount, 4)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

/** A server that notes each request's framing and body in `seen` (a request cut short is left out). */
function framingServer (seen) {
  return listenCounting(http.createServer((req, res) => {
    let body = ''
    req.setEncoding('latin1')
    req.on('data', chunk => { body += chunk })
    req.on('end', () => {
      seen.push({ length: req.headers['content-length'], te: req.headers['transfer-encoding'], body })
      res.end('ok')
    })
    req.on('error', () => {})
  }))
}

test('a request framed by the caller is sent as framed: its Content-Length kept on the exchange, Transfer-Encoding by hyper', async () => {
  const seen = []
  const srv = await framingServer(seen)
  const agent = new Agent()
  try {
    await (await agent.request(srv.url, { method: 'POST', body: 'abc' })).text()
    await (await agent.request(srv.url, { method: 'POST', body: 'abcd', headers: { 'Content-Length': '4' } })).text()
    await (await agent.request(srv.url, { method: 'PUT' })).text()
    await (await agent.request(srv.url, { method: 'POST', body: 'xyz', headers: { 'Transfer-Encoding': 'chunked' } })).text()
    assert.deepStrictEqual(seen, [
      { length: '3', te: undefined, body: 'abc' },
      { length: '4', te: undefined, body: 'abcd' },
      { length: '0', te: undefined, body: '' },
      { length: undefined, te: 'chunked', body: 'xyz' }
    ])
    // The exchanges' one connection, and hyper's for the request it framed as chunked.
    assert.strictEqual(srv.counts.opened, 2)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('requests alike but for their body each send their own head: its Content-Length, or chunked for a stream', async () => {
  const seen = []
  const srv = await framingServer(seen)
  const agent = new Agent()
  const headers = { 'content-type': 'text/plain' }
  try {
    for (const body of ['a', 'bbbb', 'a', 'cc', async function * () { yield 'dd'; yield 'e' }]) {
      await (await agent.request(srv.url, { method: 'POST', body: typeof body === 'function' ? body() : body, headers })).text()
    }
    assert.deepStrictEqual(seen, [
      { length: '1', te: undefined, body: 'a' },
      { length: '4', te: undefined, body: 'bbbb' },
      { length: '1', te: undefined, body: 'a' },
      { length: '2', te: undefined, body: 'cc' },
      { length: undefined, te: 'chunked', body: 'dde' }
    ])
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('a streamed body of a declared Content-Length goes as it comes, unchunked; one longer or shorter fails as undici says', async () => {
  const seen = []
  const srv = await framingServer(seen)
  async function * pieces (...parts) {
    for (const part of parts) yield Buffer.from(part)
  }
  const mismatch = { name: 'RequestContentLengthMismatchError', code: 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', message: 'Request body length does not match content-length header' }
  const agent = new Agent()
  try {
    const res = await agent.request(srv.url, { method: 'PUT', body: pieces('ab', 'cd', 'e'), headers: { 'content-length': '5' } })
    assert.strictEqual(await res.text(), 'ok')
    assert.deepStrictEqual(seen, [{ length: '5', te: undefined, body: 'abcde' }])
    await assert.rejects(agent.request(srv.url, { method: 'PUT', body: pieces('abc', 'def'), headers: { 'content-length': '5' } }), mismatch)
    await assert.rejects(agent.request(srv.url, { method: 'PUT', body: pieces('abc'), headers: { 'content-length': '5' } }), mismatch)
    assert.strictEqual(seen.length, 1)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('a connection released while a lagging reader had paused it reads again: the next request on it is answered', async () => {
  // A body that crosses the pause mark in the read that completes it: whether it does depends on how the
  // kernel cuts the reads, so several sizes, each with an agent of its own.
  const srv = await listenCounting(http.createServer((req, res) => {
    const size = Number(req.url.slice(1))
    res.end(size > 0 ? Buffer.alloc(size, 97) : 'small')
  }))
  try {
    for (let kib = 130; kib <= 260; kib += 10) {
      const agent = new Agent({ timeout: 5000 })
      try {
        const unread = await agent.request(`${srv.url}/${kib * 1024}`)
        const forFetch = await fetch(`${srv.url}/${kib * 1024}`, { dispatcher: agent })
        assert.strictEqual(await (await agent.request(`${srv.url}/0`)).text(), 'small', `after ${kib} KiB`)
        assert.strictEqual(await (await fetch(`${srv.url}/0`, { dispatcher: agent })).text(), 'small', `after ${kib} KiB (fetch)`)
        assert.strictEqual((await unread.bytes()).length, kib * 1024)
        assert.strictEqual((await forFetch.arrayBuffer()).byteLength, kib * 1024)
      } finally {
        agent.destroy()
      }
    }
  } finally {
    await srv.close()
  }
})

test('bytes after a whole response (the start of another) close the connection: the next request goes on a new one', async () => {
  const net = require('node:net')
  let connections = 0
  let requests = 0
  const server = net.createServer(socket => {
    connections++
    socket.on('data', () => {
      requests++
      if (requests === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 2')
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond')
    })
    socket.on('error', () => {})
  })
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${server.address().port}`
  const agent = new Agent()
  try {
    assert.strictEqual(await (await agent.request(`${url}/a`)).text(), 'ok')
    const second = await agent.request(`${url}/b`)
    assert.strictEqual(await second.text(), 'second')
    assert.strictEqual(second.reused, false)
    assert.strictEqual(connections, 2)
  } finally {
    agent.destroy()
    server.close()
  }
})

test('a queued request granted a connection whose end was read first asks again: every face is answered', async () => {
  // maxSockets 1: B waits while A holds the connection. The server answers A and closes at once, while the
  // JS thread is busy, so A's answer and the end are read together: the pool hands the connection to B
  // (a grant, delivered later) and JS closes it on the end before B's grant arrives.
  const net = require('node:net')
  let requests = 0
  const server = net.createServer(socket => {
    let head = ''
    socket.on('data', chunk => {
      head += chunk
      if (!head.includes('\r\n\r\n')) return
      head = ''
      requests++
      setTimeout(() => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 20)
    })
    socket.on('error', () => {})
  })
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${server.address().port}`
  const faces = {
    promise: (agent, i) => agent.request(`${origin}/${i}`).then(res => res.text()),
    fetch: (agent, i) => fetch(`${origin}/${i}`, { dispatcher: agent }).then(res => res.text())
  }
  try {
    for (const [face, send] of Object.entries(faces)) {
      for (let round = 0; round < 3; round++) {
        const agent = new Agent({ maxSockets: 1, timeout: 5000 })
        try {
          const both = Promise.all([0, 1].map(i => send(agent, i)))
          // Busy while the server answers and closes: the answer and the end wait to be read together.
          setTimeout(() => { const until = Date.now() + 100; while (Date.now() < until); }, 5)
          // Bounded: the bug this guards against left the second request waiting forever.
          let bound
          const hung = new Promise((resolve, reject) => { bound = setTimeout(() => reject(new Error(`${face}: a request never settled`)), 10000) })
          try {
            assert.deepStrictEqual(await Promise.race([both, hung]), ['ok', 'ok'], `${face}, round ${round}`)
          } finally {
            clearTimeout(bound)
          }
        } finally {
          agent.destroy()
        }
      }
    }
  } finally {
    server.close()
  }
})

test('a response that arrives a byte at a time, chunked with trailers, parses as one', async () => {
  const raw = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Case: Kept\r\n\r\n' +
    '5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n'
  const net = require('node:net')
  const server = net.createServer(socket => {
    socket.once('data', async () => {
      for (const byte of Buffer.from(raw, 'latin1')) {
        socket.write(Buffer.from([byte]))
        await new Promise(resolve => setImmediate(resolve))
      }
    })
  })
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  const agent = new Agent()
  try {
    const res = await agent.request(`http://127.0.0.1:${server.address().port}/`)
    assert.strictEqual(res.status, 200)
    assert.deepStrictEqual(res.rawHeaders, ['Transfer-Encoding', 'chunked', 'X-Case', 'Kept'])
    assert.strictEqual(await res.text(), 'hello world')
    assert.deepStrictEqual(res.rawTrailers, ['X-Sum', '11'])
  } finally {
    agent.destroy()
    server.close()
  }
})

test('header names go as the caller wrote them, in its order (agent.request and fetch, after host and connection as undici writes them); without keep-alive Connection: close replaces the caller\'s', async () => {
  const seen = []
  const srv = await listenCounting(http.createServer((req, res) => {
    seen.push(req.rawHeaders.filter((_, i) => i % 2 === 0))
    res.end('ok')
  }))
  const agent = new Agent()
  const closing = new Agent({ keepAlive: false })
  try {
    const headers = { 'Content-Type': 'text/plain', 'X-Custom-Thing': 'a' }
    await (await agent.request(srv.url, { headers })).text()
    await (await fetch(srv.url, { dispatcher: agent, headers })).text()
    // fetch's come after host and connection, where undici's client writes those.
    assert.deepStrictEqual(seen[0].slice(0, 2), ['Content-Type', 'X-Custom-Thing'])
    assert.deepStrictEqual(seen[1].slice(0, 4), ['host', 'connection', 'Content-Type', 'X-Custom-Thing'])
    const res = await closing.request(srv.url, { headers: { Connection: 'keep-alive' } })
    assert.strictEqual(await res.text(), 'ok')
    const last = seen.at(-1)
    assert.ok(!last.includes('Connection'), last.join())
    assert.strictEqual(srv.counts.opened, 2)
  } finally {
    agent.destroy()
    closing.destroy()
    await srv.close()
  }
})

test('a request waiting for its answer holds no parser: each connection takes one when its answer\'s first bytes arrive', async () => {
  const WAITING = 8
  const held = []
  let allHeld
  const allArrived = new Promise(resolve => { allHeld = resolve })
  const srv = await listenCounting(http.createServer((req, res) => { if (held.push(res) === WAITING) allHeld() }))
  // A parser taken is initialized for the exchange: async_hooks see that as an init with its resource.
  let parsers = 0
  const hook = async_hooks.createHook({
    init (id, type, trigger, resource) {
      if (resource?.type === 'keepalive-agent exchange') parsers++
    }
  }).enable()
  const agent = new Agent({ maxSockets: WAITING })
  try {
    const answers = Array.from({ length: WAITING }, (_, i) => agent.request(`${srv.url}/${i}`))
    await allArrived
    assert.strictEqual(parsers, 0, 'parsers taken while every request waits for its answer')
    // Chunked: llhttp reads these (a head with a Content-Length is read without it, lib/head.js).
    for (const res of held) {
      res.write('o')
      res.end('k')
    }
    for (const response of await Promise.all(answers)) assert.strictEqual(await response.text(), 'ok')
    assert.strictEqual(parsers, WAITING)
    assert.strictEqual(srv.counts.opened, WAITING)
  } finally {
    hook.disable()
    agent.destroy()
    await srv.close()
  }
})

test('body chunks read earlier keep their bytes while later reads of the connection arrive (reads share one buffer)', async () => {
  const PART = 4096
  const PARTS = 4
  const parts = Array.from({ length: PARTS }, (_, i) => Buffer.alloc(PART, 65 + i))
  let body = null
  let sent = 0
  // /body sends its first part; each /next sends one more, so each part is read apart from the others.
  // Chunked: a body of a known length up to SMALL_BODY would be read whole before the answer.
  const srv = await listenCounting(http.createServer((req, res) => {
    if (req.url === '/body') {
      body = res
      res.writeHead(200)
      res.write(parts[sent++])
    } else {
      body.write(parts[sent++])
      if (sent === PARTS) body.end()
      res.end('ok')
    }
  }))
  const agent = new Agent()
  try {
    const response = await agent.request(`${srv.url}/body`)
    const kept = []
    let received = 0
    for await (const chunk of response.body) {
      kept.push(chunk)
      received += chunk.length
      if (received % PART === 0 && received < PART * PARTS) assert.strictEqual(await (await agent.request(`${srv.url}/next`)).text(), 'ok')
    }
    assert.ok(kept.length >= PARTS, `${kept.length} chunks`)
    assert.ok(Buffer.concat(kept).equals(Buffer.concat(parts)), 'the chunks kept still hold what was sent')
  } finally {
    agent.destroy()
    await srv.close()
  }
})
