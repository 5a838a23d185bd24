'use strict'
// The Promise face reads the usual response head without llhttp (lib/head.js `scan`). Two checks: on
// crafted heads and thousands of mutations of them, whatever `scan` takes, llhttp (Node's parser, strict)
// takes too and reads the same way; and over real connections, answers read that way give what Node's
// own client gives, keep or close their connection as llhttp would say, and fail as they should.

const { test } = require('node:test')
const assert = require('node:assert')
const async_hooks = require('node:async_hooks')
const http = require('node:http')
const https = require('node:https')
const crypto = require('node:crypto')
const { HTTPParser } = require('_http_common')
const { Agent } = require('..')
const { scan, scanned, ReceivedHead } = require('../lib/head')
const { rawServer, listenCounting } = require('./helpers/faces')
const { selfSigned } = require('../examples/certs')

/** What llhttp makes of `bytes` as one read of a response: its error code, or the head and body it read. */
function llhttp (bytes) {
  const parser = new HTTPParser()
  const pending = []
  let head = null
  const body = []
  let complete = false
  parser[HTTPParser.kOnMessageBegin] = () => {}
  parser[HTTPParser.kOnHeaders] = headers => pending.push(...headers)
  parser[HTTPParser.kOnHeadersComplete] = (major, minor, headers, method, url, status, statusText, upgrade, keepAlive) => {
    head = { status, statusText, rawHeaders: headers ?? pending, upgrade, keepAlive }
    return 0
  }
  parser[HTTPParser.kOnBody] = chunk => body.push(Buffer.from(chunk))
  parser[HTTPParser.kOnMessageComplete] = () => { complete = true }
  parser.initialize(HTTPParser.RESPONSE, {}, 64 * 1024, HTTPParser.kLenientNone)
  const result = parser.execute(bytes)
  parser.close()
  if (result instanceof Error) return { error: result.code }
  return { head, body: Buffer.concat(body), complete }
}

const SEEDS = [
  'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 04 Dec 2026 10:55:01 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n',
  'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n',
  'HTTP/1.1 200 \r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
  'HTTP/1.1 503 Service\tUnavailable \xe9\r\nKeep-Alive: timeout=5, max=100\r\nX-Empty:\r\nX-Pad: \t a  b \t\r\nContent-Length: 10\r\n\r\n01234',
  'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nkeep-alive: timeout=1\r\nKEEP-ALIVE: timeout=2\r\nX-Latin: caf\xe9\xff\r\nCONTENT-LENGTH:7\r\nConnection:\tKeep-Alive \r\n\r\npartial',
  'HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 000\r\n\r\n'
]

/** Bytes the mutations put in: the ones HTTP's grammar turns on, and a few plain ones. */
const ALPHABET = Buffer.from('\r\n \t:,;=0123456789aZ-_\x00\x01\x7f\x80\xe9\xffHTP/.', 'latin1')
/** Header names llhttp reads meaning into, which the mutations put in place of others. */
const NAMES = ['Content-Length', 'Transfer-Encoding', 'Connection', 'Proxy-Connection', 'Upgrade', 'Keep-Alive', 'content-LENGTH', 'Content-Length ']

/** A small deterministic PRNG (mulberry32), so a failure can be run again. */
function random (seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function mutate (text, next) {
  const pick = n => Math.floor(next() * n)
  const at = pick(text.length + 1)
  switch (pick(5)) {
    case 0: return text.slice(0, at) + String.fromCharCode(ALPHABET[pick(ALPHABET.length)]) + text.slice(at + 1)
    case 1: return text.slice(0, at) + String.fromCharCode(ALPHABET[pick(ALPHABET.length)]) + text.slice(at)
    case 2: return text.slice(0, at) + text.slice(at + 1 + pick(3))
    case 3: {
      // A whole header line put in, with one of llhttp's names and a value that may be plain or not.
      const lineStart = text.indexOf('\r\n', Math.min(at, text.indexOf('\r\n\r\n'))) + 2
      const values = ['5', ' 5 ', 'close', 'keep-alive', 'chunked', 'x', '5, 6', '']
      return `${text.slice(0, lineStart)}${NAMES[pick(NAMES.length)]}: ${values[pick(values.length)]}\r\n${text.slice(lineStart)}`
    }
    default: return text.slice(0, at) + text.slice(at).toUpperCase()
  }
}

/** Asserts that `scan` and llhttp agree on `text` wherever `scan` takes it; returns whether it did. */
function agree (text) {
  const bytes = Buffer.from(text, 'latin1')
  if (!scan(bytes, bytes.length)) return false
  const { status, end, length, keepAlive, hintStart, hintEnd } = scanned
  const theirs = llhttp(bytes)
  const label = JSON.stringify(text)
  assert.strictEqual(theirs.error, undefined, `llhttp refuses what scan took: ${label}`)
  const head = new ReceivedHead(bytes.latin1Slice(0, end))
  assert.strictEqual(status, theirs.head.status, label)
  assert.strictEqual(head.statusText, theirs.head.statusText, label)
  assert.deepStrictEqual(head.rawHeaders, theirs.head.rawHeaders, label)
  assert.strictEqual(keepAlive, theirs.head.keepAlive, label)
  assert.strictEqual(theirs.head.upgrade, false, label)
  assert.ok(theirs.body.equals(bytes.subarray(end)), label)
  assert.strictEqual(theirs.complete, bytes.length - end === length, label)
  const hints = theirs.head.rawHeaders.filter((v, i) => i % 2 === 1 && theirs.head.rawHeaders[i - 1].toLowerCase() === 'keep-alive')
  assert.strictEqual(hintStart >= 0 ? bytes.latin1Slice(hintStart, hintEnd) : null, hints.length > 0 ? hints[hints.length - 1] : null, label)
  const lengths = theirs.head.rawHeaders.filter((v, i) => i % 2 === 1 && theirs.head.rawHeaders[i - 1].toLowerCase() === 'content-length')
  assert.deepStrictEqual(lengths.map(Number), [length], label)
  return true
}

test('what the head scan takes, llhttp takes and reads the same way (seeds and 30,000 mutations of them)', () => {
  for (const seed of SEEDS) assert.ok(agree(seed), `a seed the scan must take: ${JSON.stringify(seed)}`)
  const next = random(12345)
  let taken = 0
  let refused = 0
  for (let i = 0; i < 30000; i++) {
    let text = SEEDS[i % SEEDS.length]
    for (let k = 1 + Math.floor(next() * 3); k > 0; k--) text = mutate(text, next)
    if (agree(text)) taken++
    else refused++
  }
  // Both sides seen often: the check above ran on thousands of heads the scan took.
  assert.ok(taken > 3000, `taken: ${taken}`)
  assert.ok(refused > 3000, `refused: ${refused}`)
})

test('heads llhttp reads into meaning the scan does not take, and no bytes beyond the body', () => {
  const refused = [
    'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n',
    'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\n\r\nto the end',
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx',
    'HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n',
    'HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n'
  ]
  for (const text of refused) {
    const bytes = Buffer.from(text, 'latin1')
    assert.strictEqual(scan(bytes, bytes.length), false, JSON.stringify(text))
  }
})

/** How many llhttp parsers the agent's exchanges take meanwhile (each is an async resource when taken). */
async function parsersTaken (run) {
  let parsers = 0
  const hook = async_hooks.createHook({
    init (id, type, trigger, resource) {
      if (resource?.type === 'keepalive-agent exchange') parsers++
    }
  }).enable()
  try {
    await run()
  } finally {
    hook.disable()
  }
  return parsers
}

/** What Node's own client reads from `url`. */
function nodeGet (url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, res => {
      const chunks = []
      res.on('data', chunk => chunks.push(chunk))
      res.on('end', () => resolve({ statusText: res.statusMessage, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    }).on('error', reject)
  })
}

test('answers read without llhttp give the status text, raw headers and body Node\'s client gives, over one kept connection', async () => {
  const answers = SEEDS.filter(text => !/connection: ?close/i.test(text)).map(text => {
    // Complete the partial bodies of the seeds, so each answer is whole.
    const bytes = Buffer.from(text, 'latin1')
    scan(bytes, bytes.length)
    return Buffer.concat([bytes, Buffer.alloc(scanned.length - (bytes.length - scanned.end), 'z')])
  })
  let connections = 0
  const srv = await rawServer(socket => {
    connections++
    let seen = ''
    socket.on('data', chunk => {
      seen += chunk.toString('latin1')
      let end
      while ((end = seen.indexOf('\r\n\r\n')) !== -1) {
        const index = Number(seen.split(' ')[1].slice(1))
        seen = seen.slice(end + 4)
        socket.write(answers[index])
      }
    })
  })
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  try {
    const expected = []
    for (let i = 0; i < answers.length; i++) expected.push(await nodeGet(`${srv.url}/${i}`))
    connections = 0
    const parsers = await parsersTaken(async () => {
      for (let i = 0; i < answers.length; i++) {
        const res = await agent.request(`${srv.url}/${i}`)
        assert.strictEqual(res.statusText, expected[i].statusText, `answer ${i}`)
        assert.deepStrictEqual(res.rawHeaders, expected[i].rawHeaders, `answer ${i}`)
        assert.ok(Buffer.from(await res.bytes()).equals(expected[i].body), `answer ${i}`)
        assert.strictEqual(res.reused, i > 0, `answer ${i}`)
      }
    })
    assert.strictEqual(parsers, 0, 'llhttp parsers taken for heads the scan reads')
    assert.strictEqual(connections, 1)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

/**
 * A server whose answer to each request is `parts(n)` (n counts the requests it had before): the first
 * part is sent at once, each next when the test calls `more()` (null: the connection is destroyed).
 */
async function partsServer (parts) {
  let connections = 0
  let requests = 0
  let waiting = []
  const srv = await rawServer(socket => {
    connections++
    socket.on('data', chunk => {
      if (!chunk.includes('\r\n\r\n')) return
      const rest = parts(requests++)
      socket.write(rest.shift())
      waiting = rest.map(part => () => (part === null ? socket.destroy() : socket.write(part)))
    })
  })
  return { srv, connections: () => connections, more: () => waiting.shift()() }
}

const BIG = 100 * 1024

test('a body beyond the head\'s read comes in later reads; bytes after it close the connection', async () => {
  const head = `HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n`
  const body = Buffer.alloc(BIG, 'b')
  const { srv, connections, more } = await partsServer(n => n === 0
    ? [Buffer.concat([Buffer.from(head), body.subarray(0, 1000)]), body.subarray(1000, 70000), Buffer.concat([body.subarray(70000), Buffer.from('HTTP/1.1 200 OK\r\n')])]
    : [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')])
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  try {
    // Over SMALL_BODY: the answer comes with the head, the rest streams.
    const res = await agent.request(srv.url)
    const read = res.bytes()
    more()
    more()
    assert.ok(Buffer.from(await read).equals(body))
    const next = await agent.request(srv.url)
    assert.strictEqual(await next.text(), 'ok')
    assert.strictEqual(next.reused, false, 'the connection that carried stray bytes is not reused')
    assert.strictEqual(connections(), 2)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('a body cut short after a scanned head fails as Node\'s does (ECONNRESET, aborted), and is not sent again', async () => {
  const head = `HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n`
  const { srv, connections, more } = await partsServer(() => [Buffer.concat([Buffer.from(head), Buffer.alloc(BIG / 2)]), null])
  const agent = new Agent({ keepAlive: true })
  try {
    const res = await agent.request(srv.url)
    const read = res.bytes().then(() => null, err => err)
    more()
    const err = await read
    assert.strictEqual(err?.code, 'ECONNRESET')
    assert.strictEqual(err.message, 'aborted')
    assert.strictEqual(connections(), 1)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('Connection: close read by the scan closes the connection; the next request opens another', async () => {
  const { srv, connections } = await partsServer(() => [Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok')])
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  try {
    for (let i = 0; i < 2; i++) {
      const res = await agent.request(srv.url)
      assert.strictEqual(await res.text(), 'ok')
      assert.strictEqual(res.reused, false)
    }
    assert.strictEqual(connections(), 2)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('over TLS, bodies read without llhttp come whole from the plaintext rustls opens, in one read or many', async () => {
  const cert = selfSigned()
  const bodies = { '/small': crypto.randomBytes(100), '/big': crypto.randomBytes(300 * 1024), '/empty': Buffer.alloc(0) }
  const srv = await listenCounting(https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => res.end(bodies[req.url])))
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: cert.cert })
  try {
    const parsers = await parsersTaken(async () => {
      for (let round = 0; round < 3; round++) {
        for (const [path, body] of Object.entries(bodies)) {
          const res = await agent.request(`${srv.url}${path}`)
          assert.strictEqual(res.headers['content-length'], String(body.length))
          assert.ok(Buffer.from(await res.bytes()).equals(body), path)
        }
      }
    })
    assert.strictEqual(parsers, 0)
    assert.strictEqual(srv.counts.opened, 1)
  } finally {
    agent.destroy()
    await srv.close()
  }
})
