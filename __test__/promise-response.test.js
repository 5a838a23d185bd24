'use strict'
// The Promise face's Response against raw servers on 127.0.0.1: header names in the case and order
// received, latin1 header values both ways, trailers, and the connection of an unreachable unread body
// given back.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const { once } = require('node:events')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { Agent } = require('..')
const { rawServer, listenCounting } = require('./helpers/faces')
const { ROUTES, along } = require('./helpers/routes')

test('rawHeaders keep the case and order received; headers are lower-cased; values are latin1', async () => {
  const srv = await rawServer(socket => socket.once('data', () => {
    socket.end(Buffer.from('HTTP/1.1 200 Fine \xe9\r\nX-Mixed-Case: 1\r\nset-cookie: a=1\r\nX-Mixed-Case: 2\r\n' +
      'X-Latin: caf\xe9 \xff\r\nContent-Length: 2\r\n\r\nok', 'latin1'))
  }))
  const agent = new Agent()
  try {
    const res = await agent.request(srv.url)
    assert.strictEqual(res.statusText, 'Fine é')
    assert.deepStrictEqual(res.rawHeaders, ['X-Mixed-Case', '1', 'set-cookie', 'a=1', 'X-Mixed-Case', '2',
      'X-Latin', 'café ÿ', 'Content-Length', '2'])
    assert.deepStrictEqual(res.headers['x-mixed-case'], ['1', '2'])
    assert.strictEqual(res.headers['x-latin'], 'café ÿ')
    assert.strictEqual(await res.text(), 'ok')
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('request header values are sent as latin1; a character beyond latin1 is refused', async () => {
  const server = http.createServer((req, res) => res.end(JSON.stringify(req.rawHeaders)))
  const srv = await listenCounting(server)
  const agent = new Agent()
  try {
    const res = await agent.request(srv.url, { headers: { 'x-latin': 'café ÿ' } })
    const raw = await res.json()
    // Node's server reads header bytes as latin1: the same characters arrive.
    assert.strictEqual(raw[raw.findIndex(n => n.toLowerCase() === 'x-latin') + 1], 'café ÿ')
    await assert.rejects(agent.request(srv.url, { headers: { 'x-snow': '☃' } }), { code: 'ERR_INVALID_CHAR' })
    assert.throws(() => http.get(srv.url, { headers: { 'x-snow': '☃' } }), { code: 'ERR_INVALID_CHAR' })
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('trailers: with a body that came whole and with a streamed one', async () => {
  const large = 'x'.repeat(200 * 1024)
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'transfer-encoding': 'chunked', trailer: 'X-Checksum' })
    res.write(req.url === '/large' ? large : 'small')
    res.addTrailers({ 'X-Checksum': req.url.slice(1) })
    res.end()
  })
  const srv = await listenCounting(server)
  const agent = new Agent()
  try {
    for (const name of ['small', 'large']) {
      const res = await agent.request(`${srv.url}/${name}`)
      if (name === 'large') assert.strictEqual(res.trailers, null, 'not before the body ended')
      assert.strictEqual((await res.text()).length, name === 'large' ? large.length : 5)
      assert.deepStrictEqual(res.trailers, { 'x-checksum': name })
      assert.deepStrictEqual(res.rawTrailers, ['X-Checksum', name], 'as received, as rawTrailers of Node')
    }
    const plain = await agent.request(`${srv.url}/small`, { method: 'HEAD' })
    await plain.text()
    assert.deepStrictEqual(plain.trailers, {})
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('an unread body whose response becomes unreachable gives its connection back (child, --expose-gc)', async () => {
  const server = http.createServer((req, res) => {
    if (req.url === '/small') return res.end('small')
    // 1 MiB that is never read: the connection stays busy until the body is given up.
    res.setHeader('content-length', 1 << 20)
    res.end(Buffer.alloc(1 << 20))
  })
  const srv = await listenCounting(server)
  try {
    const child = path.join(__dirname, 'helpers', 'unread-body.js')
    const out = await new Promise((resolve, reject) => {
      execFile(process.execPath, ['--expose-gc', child, srv.url], { timeout: 60000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stdout}\n${stderr}`))
        else resolve(stdout)
      })
    })
    assert.strictEqual(out, 'freed\nfreed\n')
  } finally {
    await srv.close()
  }
})

test('the body readers answer with a promise, a body that came whole as one streamed: JSON that fails to parse rejects, a second read is empty, a reader off its response rejects', async () => {
  const large = 'y'.repeat(300 * 1024)
  const server = http.createServer((req, res) => res.end(req.url === '/large' ? large : req.url === '/json' ? '{"a":[1,2]}' : '{not json'))
  const srv = await listenCounting(server)
  const agent = new Agent()
  try {
    for (const path of ['/small', '/large']) {
      const res = await agent.request(`${srv.url}${path}`)
      const reading = res.json()
      assert.ok(reading instanceof Promise, path)
      await assert.rejects(reading, SyntaxError, path)
      const again = res.bytes()
      assert.ok(again instanceof Promise, path)
      assert.strictEqual((await again).length, 0, path)
    }
    const res = await agent.request(`${srv.url}/json`)
    assert.deepStrictEqual(await res.json(), { a: [1, 2] })
    const whole = await agent.request(`${srv.url}/large`)
    const all = await whole.arrayBuffer()
    assert.ok(all instanceof ArrayBuffer)
    assert.strictEqual(Buffer.from(all).toString(), large)
    const bytes = await (await agent.request(`${srv.url}/json`)).bytes()
    assert.strictEqual(Object.getPrototypeOf(bytes), Uint8Array.prototype)
    assert.strictEqual(Buffer.from(bytes).toString(), '{"a":[1,2]}')
    // A reader taken off its response rejects, as fetch's do; nothing is thrown, and the body stays unread.
    const detached = await agent.request(`${srv.url}/json`)
    for (const name of ['bytes', 'arrayBuffer', 'text', 'json']) {
      const reader = detached[name]
      for (const receiver of [undefined, {}]) {
        let reading
        assert.doesNotThrow(() => { reading = reader.call(receiver) }, name)
        assert.ok(reading instanceof Promise, name)
        await assert.rejects(reading, { name: 'TypeError', code: 'ERR_INVALID_THIS' }, name)
      }
    }
    assert.strictEqual(detached.bodyUsed, false)
    assert.deepStrictEqual(await detached.json(), { a: [1, 2] })
  } finally {
    agent.destroy()
    await srv.close()
  }
})

for (const route of ROUTES) {
  test(`a body cut short after its head was read comes after the head, small or large, as Node's 'response' and fetch's Response do: the body fails with ECONNRESET 'aborted' (${route})`, async () => {
    const net = require('node:net')
    const srv = net.createServer(socket => {
      socket.on('error', () => {})
      socket.once('data', data => {
        const length = data.includes('/large') ? 1 << 20 : 10
        socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${length}\r\n\r\nabc`)
      })
    })
    await new Promise(resolve => srv.listen(0, '127.0.0.1', resolve))
    const agent = new Agent()
    try {
      await along(route, async () => {
        for (const path of ['/small', '/large']) {
          const disconnected = once(agent, 'disconnect', { signal: AbortSignal.timeout(5000) })
          const res = await agent.request(`http://127.0.0.1:${srv.address().port}${path}`)
          assert.strictEqual(res.status, 200, path)
          // A small body's failure came with its head: its connection's end is told at once, not when the
          // body is read (the agent's dispatcher events). (Hyper tells a large one's once it is read.)
          if (path === '/small') await disconnected
          await assert.rejects(res.text(), { code: 'ECONNRESET', message: 'aborted' }, path)
          await disconnected
        }
      })
    } finally {
      agent.destroy()
      srv.close()
    }
  })
}
