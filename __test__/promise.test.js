'use strict'
// The Promise face (`agent.request`): what goes out (methods, headers, bodies) and what comes back
// (status, headers, body helpers), against real Node servers on 127.0.0.1 that count connections.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const crypto = require('node:crypto')
const { Readable } = require('node:stream')
const { Agent } = require('..')
const { once } = require('node:events')
const { withAgent, refusedUrl, get } = require('./helpers/faces')

const sha256 = data => crypto.createHash('sha256').update(data).digest('hex')

/** Echoes the request back as JSON: method, url, headers, raw headers, body length and checksum. */
function echo (req, res) {
  const hash = crypto.createHash('sha256')
  let length = 0
  req.on('data', chunk => { length += chunk.length; hash.update(chunk) })
  req.on('end', () => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({
      method: req.method,
      url: req.url,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      length,
      sha256: hash.digest('hex')
    }))
  })
}

const withServer = (handler, run, agentOptions) => withAgent(http.createServer(handler), new Agent(agentOptions), run)

test('100 sequential requests ride one connection; reused is false only for the first', async () => {
  await withServer((req, res) => res.end(req.url), async (srv, agent) => {
    const reused = []
    for (let i = 0; i < 100; i++) {
      const res = await agent.request(`${srv.url}/n/${i}`)
      assert.strictEqual(await res.text(), `/n/${i}`)
      reused.push(res.reused)
    }
    assert.strictEqual(srv.counts.opened, 1)
    assert.deepStrictEqual(reused, [false, ...Array(99).fill(true)])
    const status = agent.getCurrentStatus()
    assert.strictEqual(status.createSocketCount, 1)
    assert.strictEqual(status.requestCount, 100)
    assert.strictEqual(status.reusedCount, 99)
  })
})

test('a body of up to 64 KiB with a known length comes whole with its head: its connection is free before the body is read', async () => {
  const bodies = { '/64k': crypto.randomBytes(64 * 1024), '/small': Buffer.from('small') }
  await withServer((req, res) => res.end(bodies[req.url]), async (srv, agent) => {
    for (const path of ['/64k', '/small']) {
      const res = await agent.request(`${srv.url}${path}`)
      const stats = Object.values(agent.getCurrentStatus().stats)
      assert.deepStrictEqual(stats.map(s => [s.free, s.running]), [[1, 0]], path)
      assert.strictEqual(sha256(Buffer.from(await res.bytes())), sha256(bodies[path]), path)
    }
  })
})

test('the response: status and statusCode, statusText, url, lower-cased headers, arrays, set-cookie', async () => {
  const handler = (req, res) => {
    res.writeHead(404, 'Nowhere Here', [
      'X-Single', 'one',
      'X-Twice', 'a', 'X-Twice', 'b',
      'Set-Cookie', 'only=1',
      'Content-Type', 'text/plain'
    ])
    res.end('missing')
  }
  await withServer(handler, async (srv, agent) => {
    const res = await agent.request(new URL('/where?q=1', srv.url))
    assert.strictEqual(res.status, 404)
    assert.strictEqual(res.statusCode, 404)
    assert.strictEqual(res.statusText, 'Nowhere Here')
    assert.strictEqual(res.url, `${srv.url}/where?q=1`)
    assert.strictEqual(res.headers['x-single'], 'one')
    assert.deepStrictEqual(res.headers['x-twice'], ['a', 'b'])
    assert.deepStrictEqual(res.headers['set-cookie'], ['only=1'])
    assert.strictEqual(res.headers['content-type'], 'text/plain')
    assert.strictEqual(res.headers['X-Single'], undefined)
    assert.strictEqual(await res.text(), 'missing')
  })
})

test('methods, headers as an object or as pairs, array values, and every body kind', async () => {
  await withServer(echo, async (srv, agent) => {
    let res = await agent.request(`${srv.url}/obj`, {
      method: 'put',
      headers: { 'X-Obj': 'yes', 'X-Num': 7, 'X-List': ['1', '2'] },
      body: 'hello'
    })
    let seen = await res.json()
    assert.strictEqual(seen.method, 'PUT')
    assert.strictEqual(seen.headers['x-obj'], 'yes')
    assert.strictEqual(seen.headers['x-num'], '7')
    assert.strictEqual(seen.headers['x-list'], '1, 2')
    assert.strictEqual(seen.headers['content-length'], '5')
    assert.strictEqual(seen.length, 5)

    res = await agent.request(`${srv.url}/pairs`, {
      method: 'POST',
      headers: [['X-Pair', 'p'], ['X-Pair', 'q']],
      body: Buffer.from('buffer body')
    })
    seen = await res.json()
    assert.strictEqual(seen.headers['x-pair'], 'p, q')
    assert.strictEqual(seen.sha256, sha256('buffer body'))

    res = await agent.request(`${srv.url}/u8`, { method: 'POST', body: new Uint8Array([1, 2, 3]) })
    assert.strictEqual((await res.json()).sha256, sha256(Buffer.from([1, 2, 3])))

    const parts = ['a', 'bb', 'ccc']
    res = await agent.request(`${srv.url}/readable`, { method: 'POST', body: Readable.from(parts.map(p => Buffer.from(p))) })
    seen = await res.json()
    assert.strictEqual(seen.headers['transfer-encoding'], 'chunked')
    assert.strictEqual(seen.sha256, sha256('abbccc'))

    async function * generate () { for (const p of parts) yield p }
    res = await agent.request(`${srv.url}/iterable`, { method: 'POST', body: generate() })
    assert.strictEqual((await res.json()).sha256, sha256('abbccc'))

    res = await agent.request(`${srv.url}/head`, { method: 'HEAD' })
    assert.strictEqual(res.status, 200)
    assert.strictEqual((await res.bytes()).length, 0)
    assert.strictEqual(srv.counts.opened, 1)
  })
})

test('body helpers: json, text, arrayBuffer, bytes, and the body as a Readable', async () => {
  const payload = { hello: 'world', n: [1, 2, 3], s: 'snow ☃' }
  await withServer((req, res) => res.end(JSON.stringify(payload)), async (srv, agent) => {
    const first = await agent.request(srv.url)
    assert.strictEqual(first.bodyUsed, false)
    assert.deepStrictEqual(await first.json(), payload)
    assert.strictEqual(first.bodyUsed, true)
    assert.strictEqual(await (await agent.request(srv.url)).text(), JSON.stringify(payload))
    const ab = await (await agent.request(srv.url)).arrayBuffer()
    assert.ok(ab instanceof ArrayBuffer)
    assert.strictEqual(Buffer.from(ab).toString(), JSON.stringify(payload))
    const bytes = await (await agent.request(srv.url)).bytes()
    assert.ok(bytes instanceof Uint8Array)
    assert.strictEqual(Buffer.from(bytes).toString(), JSON.stringify(payload))
    const res = await agent.request(srv.url)
    assert.ok(res.body instanceof Readable)
    const chunks = []
    for await (const chunk of res.body) chunks.push(chunk)
    assert.strictEqual(Buffer.concat(chunks).toString(), JSON.stringify(payload))
  })
})

test('8 MiB up and 8 MiB down stream through with matching checksums', async () => {
  const down = crypto.randomBytes(8 << 20)
  const handler = (req, res) => {
    if (req.method === 'POST') return echo(req, res)
    res.setHeader('content-length', down.length)
    res.end(down)
  }
  await withServer(handler, async (srv, agent) => {
    const up = crypto.randomBytes(8 << 20)
    // Sent as a stream of 64 KiB chunks, so it is never handed over whole.
    const chunks = function * () { for (let at = 0; at < up.length; at += 65536) yield up.subarray(at, at + 65536) }
    const posted = await (await agent.request(`${srv.url}/up`, { method: 'POST', body: Readable.from(chunks()) })).json()
    assert.strictEqual(posted.length, up.length)
    assert.strictEqual(posted.sha256, sha256(up))

    const res = await agent.request(`${srv.url}/down`)
    const hash = crypto.createHash('sha256')
    let length = 0
    let pieces = 0
    for await (const chunk of res.body) { hash.update(chunk); length += chunk.length; pieces++ }
    assert.strictEqual(length, down.length)
    assert.strictEqual(hash.digest('hex'), sha256(down))
    assert.ok(pieces > 1, 'a large body arrives in pieces, not whole')
    assert.strictEqual(srv.counts.opened, 1)
  })
})

test('abort: an already-aborted signal, and an abort while waiting for the answer', async () => {
  let stalled = 0
  const handler = (req, res) => {
    if (req.url === '/stall') { stalled++; return }
    res.end('fine')
  }
  await withServer(handler, async (srv, agent) => {
    await assert.rejects(agent.request(srv.url, { signal: AbortSignal.abort() }), { code: 'ABORT_ERR', name: 'AbortError' })
    const controller = new AbortController()
    const pending = agent.request(`${srv.url}/stall`, { signal: controller.signal })
    while (stalled === 0) await new Promise(resolve => setTimeout(resolve, 5))
    controller.abort()
    await assert.rejects(pending, { code: 'ABORT_ERR' })
    assert.strictEqual(await (await agent.request(srv.url)).text(), 'fine')
  }, { maxSockets: 1 })
})

test('abort while queued: the request leaves the queue at once, is never sent, and the others keep their turn', async () => {
  const seen = []
  let release = null
  const handler = (req, res) => {
    seen.push(req.url)
    if (req.url === '/hold') release = () => res.end('held')
    else res.end(req.url)
  }
  await withServer(handler, async (srv, agent) => {
    const queued = () => Object.values(agent.getCurrentStatus().stats).reduce((n, s) => n + s.queued, 0)
    const held = agent.request(`${srv.url}/hold`)
    while (release === null) await new Promise(resolve => setTimeout(resolve, 5))
    const controller = new AbortController()
    const aborted = agent.request(`${srv.url}/aborted`, { signal: controller.signal })
    const next = agent.request(`${srv.url}/next`)
    assert.strictEqual(queued(), 2)
    controller.abort()
    await assert.rejects(aborted, { code: 'ABORT_ERR', name: 'AbortError' })
    assert.strictEqual(queued(), 1)
    release()
    assert.strictEqual(await (await held).text(), 'held')
    assert.strictEqual(await (await next).text(), '/next')
    assert.deepStrictEqual(seen, ['/hold', '/next'])
  }, { maxSockets: 1 })
})

test('the signal covers the body; an abandoned body frees its slot even when the server stalls', async () => {
  const stalled = []
  const handler = (req, res) => {
    if (req.url === '/ok') return res.end('fine')
    // Headers and the first 200 KiB, then nothing more: the body never ends by itself.
    res.writeHead(200, { 'content-length': 1 << 20 })
    res.write(Buffer.alloc(200 << 10))
    stalled.push(res)
  }
  await withServer(handler, async (srv, agent) => {
    const controller = new AbortController()
    const res = await agent.request(`${srv.url}/stall`, { signal: controller.signal })
    const reading = res.bytes()
    setTimeout(() => controller.abort(), 50)
    await assert.rejects(reading, { code: 'ABORT_ERR' })
    // With maxSockets 1 the next request needs that slot: it is freed though the server sends nothing.
    assert.strictEqual(await (await agent.request(`${srv.url}/ok`)).text(), 'fine')

    const abandoned = await agent.request(`${srv.url}/stall`)
    abandoned.body.once('data', () => abandoned.body.destroy())
    await once(abandoned.body, 'close')
    assert.strictEqual(await (await agent.request(`${srv.url}/ok`)).text(), 'fine')
    assert.strictEqual(agent.stats[`http://127.0.0.1:${srv.port}`].running, 0)
  }, { maxSockets: 1 })
  for (const res of stalled) res.destroy()
})

test('timeout: a server that never answers fails the request with ETIMEDOUT', async () => {
  await withServer(() => {}, async (srv, agent) => {
    await assert.rejects(agent.request(srv.url, { timeout: 150 }), { code: 'ETIMEDOUT', message: 'no activity for 150ms (timeout)' })
    // Its connection closed for it, counted as agentkeepalive counts a timed-out socket.
    assert.strictEqual(agent.getCurrentStatus().timeoutSocketCount, 1)
  })
  await withServer(() => {}, async (srv, agent) => {
    await assert.rejects(agent.request(srv.url), { code: 'ETIMEDOUT' })
  }, { timeout: 150 })
})

test('bad input rejects with a code and sends nothing', async () => {
  await withServer(echo, async (srv, agent) => {
    await assert.rejects(agent.request(srv.url, { headers: { 'x-bad': 'a\r\nInjected: 1' } }), { code: 'ERR_INVALID_CHAR' })
    await assert.rejects(agent.request(srv.url, { headers: { 'bad name': 'x' } }), { code: 'ERR_INVALID_HTTP_TOKEN' })
    await assert.rejects(agent.request('not a url'), { code: 'ERR_INVALID_URL' })
    await assert.rejects(agent.request('ftp://127.0.0.1/'), { code: 'ERR_INVALID_PROTOCOL' })
    await assert.rejects(agent.request(srv.url, { body: 42 }), { code: 'ERR_INVALID_ARG_TYPE' })
    await assert.rejects(agent.request(srv.url, null), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.strictEqual(srv.counts.opened, 0)
  })
})

test('IPv6: a server on [::1] is reached by both faces and its connection reused', async t => {
  const server = http.createServer((req, res) => res.end(req.socket.remoteAddress))
  server.listen(0, '::1')
  const [event] = await Promise.race([once(server, 'listening').then(() => ['listening']), once(server, 'error')])
  if (event !== 'listening') {
    t.skip(`this machine has no IPv6 loopback (${event.code})`)
    return
  }
  const url = `http://[::1]:${server.address().port}/`
  const agent = new Agent()
  try {
    const first = await agent.request(url)
    assert.strictEqual(await first.text(), '::1')
    const second = await agent.request(url)
    assert.strictEqual(await second.text(), '::1')
    assert.strictEqual(second.reused, true)
    const viaSocket = await get(url, agent)
    assert.strictEqual(viaSocket.body.toString(), '::1')
    assert.strictEqual(viaSocket.socket.remoteFamily, 'IPv6')
  } finally {
    agent.destroy()
    server.closeAllConnections()
    server.close()
  }
})

test('ECONNREFUSED and ENOTFOUND reject with Node\'s codes', async () => {
  const agent = new Agent()
  try {
    await assert.rejects(agent.request(await refusedUrl()), { code: 'ECONNREFUSED' })
    await assert.rejects(agent.request('http://no-such-host.invalid/'), { code: 'ENOTFOUND' })
  } finally {
    agent.destroy()
  }
})
