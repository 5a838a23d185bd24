'use strict'
// The dispatcher face under Node's own fetch (`fetch(url, { dispatcher: agent })`, v1 handlers on Node
// 20 to 24): every body kind, large bodies both ways, content-encodings fetch decodes itself, redirects,
// cookies, bodiless answers and reuse, aborts at each stage, errors, the pool's caps and the keep-alive
// race, against real servers on 127.0.0.1.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const https = require('node:https')
const crypto = require('node:crypto')
const zlib = require('node:zlib')
const { Agent, HttpsAgent } = require('..')
const { selfSigned } = require('../examples/certs')
const { withAgent, listenCounting, refusedUrl } = require('./helpers/faces')

const sha256 = data => crypto.createHash('sha256').update(data).digest('hex')
const MiB = 1024 * 1024

/** Echoes the request as JSON: method, url, headers, body length, checksum and text (when short). */
function echo (req, res) {
  const chunks = []
  req.on('data', chunk => chunks.push(chunk))
  req.on('end', () => {
    const body = Buffer.concat(chunks)
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({
      method: req.method,
      url: req.url,
      headers: req.headers,
      length: body.length,
      sha256: sha256(body),
      text: body.length <= 4096 ? body.toString() : null
    }))
  })
}

const withServer = (handler, run, agentOptions) => withAgent(http.createServer(handler), new Agent(agentOptions), run)

async function echoed (url, agent, init) {
  const res = await fetch(url, { dispatcher: agent, ...init })
  assert.strictEqual(res.status, 200)
  return res.json()
}

test('fetch body kinds: string, Buffer, URLSearchParams, FormData, ReadableStream (duplex half)', async () => {
  await withServer(echo, async (srv, agent) => {
    const url = `${srv.url}/echo`
    let got = await echoed(url, agent, { method: 'POST', body: 'plain text' })
    assert.strictEqual(got.text, 'plain text')
    assert.strictEqual(got.headers['content-length'], '10')
    assert.strictEqual(got.headers['content-type'], 'text/plain;charset=UTF-8')

    got = await echoed(url, agent, { method: 'PUT', body: Buffer.from([0, 1, 2, 255]) })
    assert.strictEqual(got.method, 'PUT')
    assert.strictEqual(got.sha256, sha256(Buffer.from([0, 1, 2, 255])))

    got = await echoed(url, agent, { method: 'POST', body: new URLSearchParams({ a: '1', b: 'x y' }) })
    assert.strictEqual(got.text, 'a=1&b=x+y')
    assert.strictEqual(got.headers['content-type'], 'application/x-www-form-urlencoded;charset=UTF-8')

    const form = new FormData()
    form.append('field', 'value')
    form.append('file', new Blob(['file body'], { type: 'text/plain' }), 'a.txt')
    got = await echoed(url, agent, { method: 'POST', body: form })
    assert.match(got.headers['content-type'], /^multipart\/form-data; boundary=/)
    assert.match(got.text, /name="field"\r\n\r\nvalue\r\n/)
    assert.match(got.text, /name="file"; filename="a.txt"\r\nContent-Type: text\/plain\r\n\r\nfile body\r\n/)

    const stream = new ReadableStream({
      start (controller) {
        controller.enqueue(new TextEncoder().encode('streamed '))
        controller.enqueue(new TextEncoder().encode('body'))
        controller.close()
      }
    })
    got = await echoed(url, agent, { method: 'POST', body: stream, duplex: 'half' })
    assert.strictEqual(got.text, 'streamed body')
    assert.strictEqual(got.headers['transfer-encoding'], 'chunked')

    assert.strictEqual(srv.counts.opened, 1)
    assert.strictEqual(agent.getCurrentStatus().requestCount, 5)
  })
})

test('a streamed body of a small declared length is sent as it comes: the answer may come before its end (413 to a stalled upload), and a body that waits for the answer is not held back', async () => {
  /** A body that gives one chunk, then waits for `more` before the last (or for ever, without it). */
  const stalling = more => {
    let given = 0
    return new ReadableStream({
      async pull (controller) {
        if (given++ === 0) return controller.enqueue(Buffer.from('first'))
        await more
        controller.enqueue(Buffer.from('-last'))
        controller.close()
      }
    })
  }
  const init = (body, extra) => ({ method: 'PUT', body, duplex: 'half', headers: { 'content-length': '10' }, signal: AbortSignal.timeout(10_000), ...extra })
  // The server refuses at the first chunk; the rest never comes.
  await withServer((req, res) => req.once('data', () => res.writeHead(413, { connection: 'close' }).end('too large')), async (srv, agent) => {
    const res = await fetch(`${srv.url}/upload`, init(stalling(new Promise(() => {})), { dispatcher: agent }))
    assert.strictEqual(res.status, 413)
    assert.strictEqual(await res.text(), 'too large')
  })
  // An echo that answers at once; the body's last chunk waits for that answer's head.
  await withServer((req, res) => { res.writeHead(200); res.flushHeaders(); req.pipe(res) }, async (srv, agent) => {
    let answered
    const res = await fetch(`${srv.url}/echo`, init(stalling(new Promise(resolve => { answered = resolve })), { dispatcher: agent }))
    answered()
    assert.strictEqual(await res.text(), 'first-last')
  })
})

test('8 MiB up and down with checksums; a slow reader gets every byte', async () => {
  const big = crypto.randomBytes(8 * MiB)
  await withServer((req, res) => {
    if (req.url === '/down') { res.end(big); return }
    echo(req, res)
  }, async (srv, agent) => {
    const up = await echoed(`${srv.url}/up`, agent, { method: 'POST', body: big })
    assert.strictEqual(up.length, big.length)
    assert.strictEqual(up.sha256, sha256(big))

    const down = await fetch(`${srv.url}/down`, { dispatcher: agent })
    assert.strictEqual(sha256(Buffer.from(await down.arrayBuffer())), sha256(big))

    // A reader that yields to the event loop between chunks: the body is paused and resumed many times.
    const slow = await fetch(`${srv.url}/down`, { dispatcher: agent })
    const reader = slow.body.getReader()
    const hash = crypto.createHash('sha256')
    let length = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      hash.update(value)
      length += value.length
      for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve))
    }
    assert.strictEqual(length, big.length)
    assert.strictEqual(hash.digest('hex'), sha256(big))
    assert.strictEqual(srv.counts.opened, 1)
  })
})

test('fetch and agent.request() are spoken alike: one connection serves both, one request after another', async () => {
  await withServer((req, res) => res.end(req.url), async (srv, agent) => {
    assert.strictEqual(await (await agent.request(`${srv.url}/promise`)).text(), '/promise')
    assert.strictEqual(await (await fetch(`${srv.url}/fetch`, { dispatcher: agent })).text(), '/fetch')
    assert.strictEqual(await (await agent.request(`${srv.url}/again`)).text(), '/again')
    assert.strictEqual(srv.counts.opened, 1)
    assert.strictEqual(agent.getCurrentStatus().reusedCount, 2)
  })
})

test('8 fetches at once of 4 MiB each, read slowly: every byte arrives, over no more connections than requests', async () => {
  const big = crypto.randomBytes(4 * MiB)
  await withServer((req, res) => res.end(big), async (srv, agent) => {
    // Beyond a few in flight new connections take Rust's pipe, whose reader waits for a reader that lags.
    const slowly = async i => {
      const res = await fetch(`${srv.url}/${i}`, { dispatcher: agent })
      const reader = res.body.getReader()
      const hash = crypto.createHash('sha256')
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        hash.update(value)
        await new Promise(resolve => setImmediate(resolve))
      }
      return hash.digest('hex')
    }
    const hashes = await Promise.all(Array.from({ length: 8 }, (_, i) => slowly(i)))
    assert.deepStrictEqual(hashes, Array(8).fill(sha256(big)))
    assert.ok(srv.counts.opened <= 8, `${srv.counts.opened} connections opened`)
  })
})

test('gzip, br and deflate bodies come through raw and fetch decodes them', async () => {
  const text = 'compressible text '.repeat(2000)
  const encoders = { gzip: zlib.gzipSync, br: zlib.brotliCompressSync, deflate: zlib.deflateSync }
  await withServer((req, res) => {
    const coding = req.url.slice(1)
    res.setHeader('content-encoding', coding)
    res.end(encoders[coding](text))
  }, async (srv, agent) => {
    for (const coding of Object.keys(encoders)) {
      const res = await fetch(`${srv.url}/${coding}`, { dispatcher: agent })
      assert.strictEqual(res.headers.get('content-encoding'), coding)
      assert.strictEqual(await res.text(), text, coding)
    }
  })
})

test('redirects: 301/302/303 turn a POST into a GET, 307/308 keep it; redirect: manual hands the 3xx over', async () => {
  await withServer((req, res) => {
    const match = /^\/redirect\/(\d+)$/.exec(req.url)
    if (match) {
      res.writeHead(Number(match[1]), { location: '/final' })
      res.end()
      return
    }
    echo(req, res)
  }, async (srv, agent) => {
    for (const [status, method, text] of [[301, 'GET', null], [302, 'GET', null], [303, 'GET', null], [307, 'POST', 'payload'], [308, 'POST', 'payload']]) {
      const res = await fetch(`${srv.url}/redirect/${status}`, { dispatcher: agent, method: 'POST', body: 'payload' })
      assert.strictEqual(res.status, 200)
      assert.strictEqual(res.redirected, true)
      assert.strictEqual(res.url, `${srv.url}/final`)
      const got = await res.json()
      assert.strictEqual(got.method, method, String(status))
      assert.strictEqual(got.text, text ?? '', String(status))
    }
    const manual = await fetch(`${srv.url}/redirect/301`, { dispatcher: agent, redirect: 'manual' })
    assert.strictEqual(manual.status, 301)
    assert.strictEqual(manual.headers.get('location'), '/final')
    assert.strictEqual(srv.counts.opened, 1)
  })
})

test('several set-cookie headers stay apart', async () => {
  await withServer((req, res) => {
    res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; HttpOnly'])
    res.end()
  }, async (srv, agent) => {
    const res = await fetch(srv.url, { dispatcher: agent })
    assert.deepStrictEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; HttpOnly'])
  })
})

test('204, 304 and HEAD answers have no body and leave the connection reusable', async () => {
  await withServer((req, res) => {
    if (req.url === '/204') res.writeHead(204)
    else if (req.url === '/304') res.writeHead(304, { etag: '"x"' })
    else res.writeHead(200, { 'content-length': '11' })
    res.end(req.method === 'HEAD' || req.url !== '/200' ? undefined : 'hello world')
  }, async (srv, agent) => {
    for (let round = 0; round < 3; round++) {
      const noContent = await fetch(`${srv.url}/204`, { dispatcher: agent })
      assert.strictEqual(noContent.status, 204)
      assert.strictEqual(await noContent.text(), '')
      const notModified = await fetch(`${srv.url}/304`, { dispatcher: agent, headers: { 'if-none-match': '"x"' } })
      assert.strictEqual(notModified.status, 304)
      assert.strictEqual(await notModified.text(), '')
      const head = await fetch(`${srv.url}/200`, { dispatcher: agent, method: 'HEAD' })
      assert.strictEqual(head.headers.get('content-length'), '11')
      assert.strictEqual(await head.text(), '')
      const get = await fetch(`${srv.url}/200`, { dispatcher: agent })
      assert.strictEqual(await get.text(), 'hello world')
    }
    assert.strictEqual(srv.counts.opened, 1)
    assert.strictEqual(agent.getCurrentStatus().reusedCount, 11)
  })
})

test('abort before send, while waiting for the head, and mid-body: AbortError, and the slot is free again', async () => {
  let requests = 0
  const arrived = []
  await withServer((req, res) => {
    requests++
    arrived.shift()?.()
    if (req.url === '/hang') return
    if (req.url === '/partial') { res.write('first part'); return }
    res.end('ok')
  }, async (srv, agent) => {
    await assert.rejects(fetch(`${srv.url}/ok`, { dispatcher: agent, signal: AbortSignal.abort() }), { name: 'AbortError' })
    assert.strictEqual(requests, 0)

    const waiting = new AbortController()
    const headReached = new Promise(resolve => arrived.push(resolve))
    const hanging = fetch(`${srv.url}/hang`, { dispatcher: agent, signal: waiting.signal })
    await headReached
    waiting.abort()
    await assert.rejects(hanging, { name: 'AbortError' })
    // maxSockets 1: the next request can only run once the aborted one gave its slot back.
    assert.strictEqual(await (await fetch(`${srv.url}/ok`, { dispatcher: agent })).text(), 'ok')

    const midBody = new AbortController()
    const partial = await fetch(`${srv.url}/partial`, { dispatcher: agent, signal: midBody.signal })
    const reader = partial.body.getReader()
    assert.strictEqual(Buffer.from((await reader.read()).value).toString(), 'first part')
    midBody.abort()
    await assert.rejects(reader.read(), { name: 'AbortError' })
    assert.strictEqual(await (await fetch(`${srv.url}/ok`, { dispatcher: agent })).text(), 'ok')
    assert.strictEqual(requests, 4)
    assert.strictEqual(srv.counts.opened, 3)
  }, { maxSockets: 1 })
})

test('network errors are fetch TypeErrors with the Node code as cause.code', async () => {
  const agent = new Agent()
  try {
    await assert.rejects(fetch(`${await refusedUrl([2, 3, 4])}/`, { dispatcher: agent }), err => {
      assert.ok(err instanceof TypeError)
      assert.strictEqual(err.message, 'fetch failed')
      assert.strictEqual(err.cause.code, 'ECONNREFUSED')
      return true
    })
  } finally {
    agent.destroy()
  }
  const cert = selfSigned()
  const srv = await listenCounting(https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => res.end('secure')))
  const untrusting = new HttpsAgent()
  const trusting = new Agent({ ca: cert.cert })
  try {
    await assert.rejects(fetch(srv.url, { dispatcher: untrusting }), err => {
      assert.ok(err instanceof TypeError)
      assert.strictEqual(err.cause.code, 'DEPTH_ZERO_SELF_SIGNED_CERT')
      return true
    })
    // An http Agent serves https origins through its dispatcher too, with its TLS options.
    assert.strictEqual(await (await fetch(srv.url, { dispatcher: trusting })).text(), 'secure')
  } finally {
    untrusting.destroy()
    trusting.destroy()
    await srv.close()
  }
})

test('200 concurrent fetches under maxSockets 10 never open more than 10 connections', async () => {
  await withServer((req, res) => res.end(req.url), async (srv, agent) => {
    const bodies = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      fetch(`${srv.url}/${i}`, { dispatcher: agent }).then(res => res.text())))
    assert.deepStrictEqual(bodies, Array.from({ length: 200 }, (_, i) => `/${i}`))
    assert.ok(srv.counts.maxOpen <= 10, `${srv.counts.maxOpen} connections open at once`)
    assert.ok(srv.counts.opened <= 10, `${srv.counts.opened} connections opened`)
  }, { maxSockets: 10 })
})

test('keep-alive race: a GET or PUT on a connection the server drops is sent again; a POST is never sent twice', async () => {
  // The server answers the first request of each connection and drops the connection on the next one
  // without a byte of answer: what a server closing an idle connection looks like to the client.
  const seen = []
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    const count = (req.socket.count ?? 0) + 1
    req.socket.count = count
    if (count > 1) { req.socket.destroy(); return }
    req.resume()
    req.on('end', () => res.end('answered'))
  })
  await withAgent(server, new Agent({ maxSockets: 1 }), async (srv, agent) => {
    assert.strictEqual(await (await fetch(`${srv.url}/a`, { dispatcher: agent })).text(), 'answered')
    assert.strictEqual(await (await fetch(`${srv.url}/b`, { dispatcher: agent })).text(), 'answered')
    assert.deepStrictEqual(seen, ['GET /a', 'GET /b', 'GET /b'])
    assert.strictEqual(agent.getCurrentStatus().retryCount, 1)

    await assert.rejects(fetch(`${srv.url}/post`, { dispatcher: agent, method: 'POST', body: 'once' }), err => {
      assert.ok(err instanceof TypeError)
      assert.ok(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'].includes(err.cause.code), err.cause.code)
      return true
    })
    assert.deepStrictEqual(seen.filter(line => line.startsWith('POST')), ['POST /post'])

    // A PUT is idempotent, and fetch's body of a declared length is sent whole: it may go again.
    assert.strictEqual(await (await fetch(`${srv.url}/warm`, { dispatcher: agent })).text(), 'answered')
    assert.strictEqual(await (await fetch(`${srv.url}/put`, { dispatcher: agent, method: 'PUT', body: 'twice is fine' })).text(), 'answered')
    assert.deepStrictEqual(seen.filter(line => line.startsWith('PUT')), ['PUT /put', 'PUT /put'])
    assert.strictEqual(agent.getCurrentStatus().retryCount, 2)
  })
})

test('the agent keeps serving fetch and http.request side by side on one pool', async () => {
  await withServer((req, res) => res.end('shared'), async (srv, agent) => {
    const viaHttp = await new Promise((resolve, reject) => {
      http.get(srv.url, { agent }, res => { res.resume(); res.on('end', () => resolve(res.statusCode)) }).on('error', reject)
    })
    assert.strictEqual(viaHttp, 200)
    assert.strictEqual(await (await fetch(srv.url, { dispatcher: agent })).text(), 'shared')
    assert.strictEqual(await (await agent.request(srv.url)).text(), 'shared')
    assert.strictEqual(agent.getCurrentStatus().requestCount, 3)
  })
})
