'use strict'
// Streamed request bodies on the Promise face: pulled only as fast as the connection drains (bounded
// memory), from a Readable, an async iterable or a web ReadableStream; a source that fails aborts the
// request: the server never sees a complete body and the request rejects with the source's error.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const net = require('node:net')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { Readable } = require('node:stream')
const { Agent } = require('..')
const { listenCounting } = require('./helpers/faces')
const { ROUTES, along } = require('./helpers/routes')

/** Counts the request body; answers its length, and tells `seen` how each request body ended. */
function countingServer (seen = []) {
  return listenCounting(http.createServer((req, res) => {
    let length = 0
    req.on('data', chunk => { length += chunk.length })
    req.on('end', () => { seen.push({ url: req.url, ended: 'complete', length }); res.end(String(length)) })
    req.on('aborted', () => seen.push({ url: req.url, ended: 'aborted', length }))
    req.on('error', () => {})
  }))
}

test('a 100 MiB streamed upload grows the process by at most 12 MiB (a plateau, not a share of the size)', async () => {
  const srv = await countingServer()
  try {
    const child = path.join(__dirname, 'helpers', 'upload-rss.js')
    const out = await new Promise((resolve, reject) => {
      execFile(process.execPath, ['--expose-gc', child, srv.url, '100'], { timeout: 170000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`))
        else resolve(stdout)
      })
    })
    const { answer, growthMiB } = JSON.parse(out)
    assert.strictEqual(answer, String(100 * 1048576))
    console.log(`# RSS growth while streaming 100 MiB up: ${growthMiB.toFixed(1)} MiB`)
    assert.ok(growthMiB <= 12, `RSS grew ${growthMiB.toFixed(1)} MiB`)
  } finally {
    await srv.close()
  }
})

test('Readable, async iterable and web ReadableStream bodies stream through', async () => {
  const srv = await countingServer()
  const agent = new Agent()
  try {
    const pieces = ['alpha', 'beta', Buffer.from('gamma'), new Uint8Array([1, 2, 3])]
    const res1 = await agent.request(srv.url, { method: 'POST', body: Readable.from(pieces) })
    assert.strictEqual(await res1.text(), '17')
    async function * generate () { yield * pieces }
    assert.strictEqual(await (await agent.request(srv.url, { method: 'POST', body: generate() })).text(), '17')
    const web = new ReadableStream({
      start (controller) {
        for (const p of pieces) controller.enqueue(typeof p === 'string' ? new TextEncoder().encode(p) : p)
        controller.close()
      }
    })
    assert.strictEqual(await (await agent.request(srv.url, { method: 'POST', body: web })).text(), '17')
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('a body source that fails aborts the request with its own error, even with the queue full', async () => {
  const seen = []
  const srv = await countingServer(seen)
  const agent = new Agent()
  try {
    const boom = new Error('source broke')
    // 4 MiB at once and then the failure: the native queue and the socket are full when it comes.
    async function * failing () {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024)
      throw boom
    }
    const kinds = {
      'async iterable': () => failing(),
      Readable: () => Readable.from(failing()),
      ReadableStream: () => ReadableStream.from(failing())
    }
    for (const [kind, make] of Object.entries(kinds)) {
      const err = await agent.request(`${srv.url}/${kind}`, { method: 'POST', body: make() }).then(() => null, e => e)
      assert.strictEqual(err, boom, `${kind}: ${err?.code} ${err?.message}`)
    }
    // The server saw every one of them cut short, never complete.
    while (seen.length < 3) await new Promise(resolve => setImmediate(resolve))
    assert.deepStrictEqual(seen.map(s => s.ended), ['aborted', 'aborted', 'aborted'])
    assert.strictEqual(await (await agent.request(srv.url, { method: 'POST', body: 'after' })).text(), '5')
  } finally {
    agent.destroy()
    await srv.close()
  }
})

for (const route of ROUTES) {
  test(`a streamed body that is not its Content-Length fails with RequestContentLengthMismatchError, even once the server has all it asked for (${route})`, async () => {
    let received = ''
    // Answers once the head is in, a while later: the body's extra bytes come before the answer.
    const srv = net.createServer(socket => {
      socket.on('error', () => {})
      socket.on('data', data => {
        received += data.toString('latin1')
        if (received.includes('\r\n\r\n')) setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 100).unref()
      })
    })
    await new Promise(resolve => srv.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${srv.address().port}/`
    const paced = parts => Readable.from((async function * () {
      for (const part of parts) {
        await new Promise(resolve => setTimeout(resolve, 10))
        yield Buffer.from(part)
      }
    })())
    try {
      await along(route, async () => {
        for (const parts of [['hel', 'lo'], ['hi']]) {
          const agent = new Agent()
          try {
            await assert.rejects(agent.request(url, { method: 'POST', headers: { 'content-length': '3' }, body: paced(parts) }),
              { code: 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', message: 'Request body length does not match content-length header' }, parts.join())
          } finally {
            await agent.destroy()
          }
        }
      })
    } finally {
      srv.close()
    }
  })
}
