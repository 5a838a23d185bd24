'use strict'
// The socket face: the Agent passed to node:http / node:https, with its connections in the Rust pool.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const net = require('node:net')
const https = require('node:https')
const crypto = require('node:crypto')
const { Readable } = require('node:stream')
const { Agent, HttpsAgent } = require('..')
const { selfSigned, issued } = require('../examples/certs')
const { listenCounting, withAgent, refusedUrl, get } = require('./helpers/faces')

const hello = (req, res) => {
  req.resume()
  req.on('end', () => res.end(`hello ${req.url}`))
}

/**
 * Plain TCP and TLS, for the tests of bytes lent from buffers the fd carriers share (plain reads, TLS
 * plaintext, sealed records): each scheme's server, our agent and Node's for `options`, and its
 * `get`/`request`.
 */
function schemes () {
  const tls = selfSigned()
  return [
    { name: 'http', server: handler => http.createServer(handler), agent: options => new Agent(options), node: options => new http.Agent(options), client: http },
    {
      name: 'https',
      server: handler => https.createServer({ key: tls.key, cert: tls.cert }, handler),
      agent: options => new HttpsAgent({ ...options, ca: tls.cert }),
      node: options => new https.Agent({ ...options, ca: tls.cert }),
      client: https
    }
  ]
}

const SCHEMES = schemes()

test('is an http.Agent and an https.Agent, with Node\'s protocol and port', () => {
  const agent = new Agent()
  const secure = new HttpsAgent()
  assert.ok(agent instanceof http.Agent)
  assert.ok(secure instanceof https.Agent && secure instanceof http.Agent && secure instanceof Agent)
  assert.ok(!(agent instanceof https.Agent))
  assert.strictEqual(agent.protocol, 'http:')
  assert.strictEqual(agent.defaultPort, 80)
  assert.strictEqual(secure.protocol, 'https:')
  assert.strictEqual(secure.defaultPort, 443)
  agent.destroy()
  secure.destroy()
})

test('100 sequential http.get on one connection, reusedSocket after the first', async () => {
  await withAgent(http.createServer(hello), new Agent(), async (srv, agent) => {
    for (let i = 0; i < 100; i++) {
      const res = await get(`${srv.url}/${i}`, agent)
      assert.strictEqual(res.body.toString(), `hello /${i}`)
      assert.strictEqual(res.reused, i > 0)
    }
    assert.strictEqual(srv.counts.opened, 1)
    const status = agent.getCurrentStatus()
    assert.strictEqual(status.createSocketCount, 1)
    assert.strictEqual(status.requestCount, 100)
  })
})

test('https.get with the agent: TLS in Rust, plaintext through the socket, one connection', async () => {
  const tls = selfSigned()
  await withAgent(https.createServer({ key: tls.key, cert: tls.cert }, hello), new HttpsAgent({ ca: tls.cert }), async (srv, agent) => {
    for (let i = 0; i < 100; i++) {
      const res = await get(`https://localhost:${srv.port}/${i}`, agent)
      assert.strictEqual(res.body.toString(), `hello /${i}`)
      assert.strictEqual(res.reused, i > 0)
    }
    assert.strictEqual(srv.counts.opened, 1)
    const { socket } = await get(`https://localhost:${srv.port}/`, agent)
    assert.strictEqual(socket.encrypted, true)
    assert.strictEqual(socket.authorized, true)
    assert.strictEqual(socket.alpnProtocol, 'http/1.1')
    assert.strictEqual(socket.remotePort, srv.port)
    assert.strictEqual(socket.remoteAddress, '127.0.0.1')
    const cert = socket.getPeerCertificate()
    assert.strictEqual(cert.subject.CN, 'localhost')
    assert.ok(cert.raw.equals(new crypto.X509Certificate(tls.cert).raw))
    assert.match(cert.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
  })
})

test('the socket over TLS tells what Node\'s tls.TLSSocket tells: protocol, cipher, key exchange, resumption, servername, certificates', async () => {
  const tls = selfSigned()
  const client = selfSigned({ cn: 'test-client' })
  const server = https.createServer({ key: tls.key, cert: tls.cert, requestCert: true, rejectUnauthorized: false }, hello)
  await withAgent(server, new HttpsAgent(), async srv => {
    /** What a socket tells, for 3 new connections (the 2nd resumes the 1st's session; the 3rd dials an IP). */
    const told = async Make => {
      const seen = []
      for (const maxVersion of ['TLSv1.2', 'TLSv1.3']) {
        const agent = new Make({ keepAlive: false, ca: tls.cert, cert: client.cert, key: client.key, maxVersion })
        for (const host of ['localhost', 'localhost', '127.0.0.1']) {
          // Read as the response starts: Node's socket tells nothing once closed (keepAlive: false).
          seen.push(await new Promise((resolve, reject) => {
            https.get(`https://${host}:${srv.port}/`, { agent }, res => {
              const { socket } = res
              resolve({
                protocol: socket.getProtocol(),
                cipher: socket.getCipher(),
                reused: socket.isSessionReused(),
                servername: socket.servername,
                own: [socket.getX509Certificate().subject, socket.getCertificate().subject.CN]
              })
              res.resume()
            }).on('error', reject)
          }))
        }
        agent.destroy()
      }
      return seen
    }
    const ours = await told(HttpsAgent)
    assert.deepStrictEqual(ours, await told(https.Agent))
    assert.deepStrictEqual(ours.map(s => [s.protocol, s.reused, s.servername]), [
      ['TLSv1.2', false, 'localhost'], ['TLSv1.2', true, 'localhost'], ['TLSv1.2', false, false],
      ['TLSv1.3', false, 'localhost'], ['TLSv1.3', true, 'localhost'], ['TLSv1.3', false, false]
    ])
    assert.strictEqual(ours[0].cipher.name, 'ECDHE-RSA-AES128-GCM-SHA256')
    assert.strictEqual(ours[0].cipher.standardName, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256')
    // Told apart from Node's: the key exchange as Node 20 (OpenSSL 3.0) tells it for TLS 1.2 and 1.3
    // alike (Node 22 tells {} for TLS 1.3, Node 24 names its own post-quantum group), and the server's
    // certificate (Node reads none on a resumed session; rustls keeps it with the session).
    const agent = new HttpsAgent({ ca: tls.cert })
    const { socket } = await get(`https://localhost:${srv.port}/`, agent)
    assert.deepStrictEqual(socket.getEphemeralKeyInfo(), { type: 'ECDH', name: 'X25519', size: 253 })
    assert.strictEqual(socket.getPeerX509Certificate().fingerprint256, new crypto.X509Certificate(tls.cert).fingerprint256)
    agent.destroy()
  })
})

test('getPeerCertificate() is Node\'s object for the server\'s certificate, and with true its chain up to the trust anchor given in ca', async () => {
  const company = issued()
  await withAgent(https.createServer({ key: company.key, cert: company.cert }, hello), new HttpsAgent({ ca: company.ca }), async (srv, agent) => {
    const seen = async agent => {
      const { socket } = await get(`https://localhost:${srv.port}/`, agent)
      const chain = []
      for (let cert = socket.getPeerCertificate(true); chain.at(-1) !== cert; cert = cert.issuerCertificate) chain.push(cert)
      return { plain: socket.getPeerCertificate(), chain: chain.map(cert => [cert.subject.CN, cert.fingerprint256]) }
    }
    const node = new https.Agent({ ca: company.ca })
    try {
      const ours = await seen(agent)
      assert.deepStrictEqual(ours, await seen(node))
      // The server sent its own certificate only: the company CA comes from ca, as Node's OpenSSL finds it.
      assert.deepStrictEqual(ours.chain.map(([cn]) => cn), ['localhost', 'Test Company CA'])
      assert.ok(ours.plain.pubkey.length > 0 && ours.plain.modulus && !('issuerCertificate' in ours.plain))
    } finally {
      node.destroy()
    }
  })
})

test('\'keylog\' as Node\'s https.Agent emits it, once listened to: the NSS lines of each handshake, the very secrets the server logs (TLS 1.2 and 1.3)', async () => {
  const tls = selfSigned()
  const server = https.createServer({ key: tls.key, cert: tls.cert }, hello)
  const serverLines = []
  server.on('keylog', line => serverLines.push(line.toString('latin1')))
  await withAgent(server, new HttpsAgent(), async srv => {
    const logged = async (Make, maxVersion) => {
      const agent = new Make({ ca: tls.cert, keepAlive: false, maxVersion })
      try {
        const lines = []
        agent.on('keylog', (line, socket) => {
          assert.ok(Buffer.isBuffer(line) && socket.encrypted)
          lines.push(line.toString('latin1'))
        })
        for (let i = 0; i < 2; i++) await get(`https://localhost:${srv.port}/`, agent)
        return lines
      } finally {
        agent.destroy()
      }
    }
    // Listened to while a socket is open (Node's own hook throws there: it reads agent.sockets as sockets).
    const open = new HttpsAgent({ ca: tls.cert })
    const answered = get(`https://localhost:${srv.port}/`, open)
    assert.strictEqual(Object.keys(open.sockets).length, 1)
    assert.doesNotThrow(() => open.on('keylog', () => {}))
    await answered
    open.destroy()
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3']) {
      const ours = await logged(HttpsAgent, maxVersion)
      const labels = lines => lines.map(line => line.split(' ')[0]).sort()
      assert.deepStrictEqual(labels(ours), labels(await logged(https.Agent, maxVersion)), maxVersion)
      assert.strictEqual(ours.length, maxVersion === 'TLSv1.2' ? 2 : 10)
      for (const line of ours) {
        assert.match(line, /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+\n$/)
        assert.ok(serverLines.includes(line), `the server logged ${line}`)
      }
    }
  })
})

test('https without a trusted ca fails with a TLS code', async () => {
  const tls = selfSigned()
  await withAgent(https.createServer({ key: tls.key, cert: tls.cert }, hello), new HttpsAgent(), async (srv, agent) => {
    await assert.rejects(get(`https://localhost:${srv.port}/`, agent), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  })
})

test('TLS options given per request are honoured (by Node\'s own agent logic), never replaced by the agent\'s', async () => {
  const tls = selfSigned()
  await withAgent(https.createServer({ key: tls.key, cert: tls.cert }, hello), new HttpsAgent(), async (srv, agent) => {
    const url = `https://localhost:${srv.port}/`
    // The agent trusts the default roots only: without an override the certificate is refused...
    await assert.rejects(get(url, agent), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
    // ...naming the host as servername changes nothing...
    await assert.rejects(get(url, agent, { servername: 'localhost' }), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
    // ...and a per-request `ca` or `rejectUnauthorized: false` is what that request gets, kept alive.
    const first = await get(url, agent, { ca: tls.cert })
    const second = await get(url, agent, { ca: tls.cert })
    assert.deepStrictEqual([first.status, first.reused, second.reused], [200, false, true])
    assert.strictEqual((await get(url, agent, { rejectUnauthorized: false })).status, 200)
    await assert.rejects(get(url, agent), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  })
})

test('maxSockets through http.request: queued in order, never more open, Node\'s maps follow', async () => {
  await withAgent(http.createServer((req, res) => setTimeout(() => res.end(req.url), 20)), new Agent({ maxSockets: 3 }), async (srv, agent) => {
    const pending = Array.from({ length: 20 }, (_, i) => get(`${srv.url}/${i}`, agent))
    const name = `127.0.0.1:${srv.port}:`
    // Node updates these synchronously in addRequest, and code reads them right after http.get().
    assert.strictEqual(agent.sockets[name].length, 3)
    assert.strictEqual(agent.requests[name].length, 17)
    const results = await Promise.all(pending)
    assert.deepStrictEqual(results.map(r => r.body.toString()), results.map((_, i) => `/${i}`))
    assert.ok(srv.counts.maxOpen <= 3, `max open ${srv.counts.maxOpen}`)
    assert.strictEqual(srv.counts.opened, 3)
    assert.strictEqual(agent.requests[name], undefined)
    assert.strictEqual(agent.freeSockets[name].length, 3)
    assert.strictEqual(agent.totalSocketCount, 3)
  })
})

test('more origins than the agent remembers route names for: each keeps its own entry in Node\'s maps and its own connection', async () => {
  // The socket face keeps the last few route names to key its maps with (lib/sockets.js, knownName);
  // twelve origins, twice over, all at once, go past that.
  const servers = await Promise.all(Array.from({ length: 12 }, () => listenCounting(http.createServer((req, res) => res.end(req.url)))))
  const agent = new Agent()
  try {
    for (const pass of [0, 1]) {
      const results = await Promise.all(servers.map(srv => get(`${srv.url}/${srv.port}`, agent)))
      assert.deepStrictEqual(results.map(r => [r.body.toString(), r.reused]), servers.map(srv => [`/${srv.port}`, pass === 1]))
    }
    const names = servers.map(srv => `127.0.0.1:${srv.port}:`)
    assert.deepStrictEqual(Object.keys(agent.freeSockets).sort(), [...names].sort())
    for (const name of names) assert.strictEqual(agent.freeSockets[name].length, 1, name)
    assert.deepStrictEqual(servers.map(srv => srv.counts.opened), servers.map(() => 1))
  } finally {
    agent.destroy()
    await Promise.all(servers.map(srv => srv.close()))
  }
})

test('maxFreeSockets: the surplus is closed when freed', async () => {
  await withAgent(http.createServer((req, res) => setTimeout(() => res.end('x'), 20)), new Agent({ maxFreeSockets: 2 }), async (srv, agent) => {
    await Promise.all(Array.from({ length: 5 }, () => get(srv.url, agent)))
    const name = `127.0.0.1:${srv.port}:`
    assert.strictEqual(agent.freeSockets[name].length, 2)
    for (let i = 0; i < 50 && srv.counts.open > 2; i++) await new Promise(resolve => setTimeout(resolve, 20))
    assert.strictEqual(srv.counts.open, 2)
    assert.strictEqual(agent.getCurrentStatus().freeSockets[name], 2)
  })
})

test('a response with Connection: close is not reused', async () => {
  await withAgent(http.createServer((req, res) => {
    res.setHeader('connection', 'close')
    res.end('bye')
  }), new Agent(), async (srv, agent) => {
    for (let i = 0; i < 3; i++) {
      const res = await get(srv.url, agent)
      assert.strictEqual(res.reused, false)
    }
    assert.strictEqual(srv.counts.opened, 3)
  })
})

test('a server that closes idle connections: the next request gets a fresh one, no error', async () => {
  const server = http.createServer(hello)
  server.keepAliveTimeout = 50
  await withAgent(server, new Agent(), async (srv, agent) => {
    await get(srv.url, agent)
    for (let i = 0; i < 100 && srv.counts.closed < 1; i++) await new Promise(resolve => setTimeout(resolve, 10))
    // Give the Rust reader a moment to see the FIN and drop the idle connection.
    for (let i = 0; i < 100 && agent.getCurrentStatus().closeSocketCount < 1; i++) {
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    const res = await get(srv.url, agent)
    assert.strictEqual(res.reused, false)
    assert.strictEqual(srv.counts.opened, 2)
  })
})

/**
 * Answers `/download/<size>` with that many random bytes and their sha256 (`x-sha256`), and any other
 * request with its body's length and sha256. `held.until`, when set, is a promise the server waits for
 * before it reads the body of a request to `/held`.
 */
function digestServer (scheme, held = {}) {
  return scheme.server(async (req, res) => {
    if (req.url.startsWith('/download/')) {
      const size = Number(req.url.split('/')[2])
      const body = crypto.randomBytes(size)
      res.setHeader('x-sha256', crypto.createHash('sha256').update(body).digest('hex'))
      res.end(body)
      return
    }
    const hash = crypto.createHash('sha256')
    let length = 0
    if (req.url === '/held') {
      req.pause()
      await held.until
    }
    req.on('data', chunk => { hash.update(chunk); length += chunk.length }).resume()
    req.on('end', () => res.end(JSON.stringify({ length, sha256: hash.digest('hex'), chunked: req.headers['transfer-encoding'] === 'chunked' })))
  })
}

/** `chunks` chunks of `size` random bytes, and their sha256. */
function randomChunks (chunks, size = 16 * 1024) {
  const hash = crypto.createHash('sha256')
  const list = Array.from({ length: chunks }, () => crypto.randomBytes(size))
  for (const chunk of list) hash.update(chunk)
  return { list, sha256: hash.digest('hex'), length: chunks * size }
}

/** POSTs `write(req)`'s body to `url` through `agent` with `client` (http or https); the digest server's answer. */
function upload (client, url, agent, write) {
  return new Promise((resolve, reject) => {
    const req = client.request(url, { agent, method: 'POST' }, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks))))
    })
    req.on('error', reject)
    write(req)
  })
}

for (const scheme of SCHEMES) {
  test(`${scheme.name}: uploads arrive whole: a POST of 1 MiB, a chunked upload, 8 MiB written at once, and a stream the server holds while another connection sends`, async () => {
    const held = {}
    await withAgent(digestServer(scheme, held), scheme.agent(), async (srv, agent) => {
      const body = crypto.randomBytes(1024 * 1024)
      const res = await get(`${srv.url}/upload`, agent, { method: 'POST', body })
      const answer = JSON.parse(res.body)
      assert.strictEqual(answer.length, body.length)
      assert.strictEqual(answer.sha256, crypto.createHash('sha256').update(body).digest('hex'))

      const piped = randomChunks(64)
      const chunked = await upload(scheme.client, `${srv.url}/upload`, agent, req => Readable.from(piped.list).pipe(req))
      assert.deepStrictEqual(chunked, { chunked: true, length: piped.length, sha256: piped.sha256 })

      // More than the kernel takes at once: the stream holds the rest, and what it holds stays as written.
      const burst = randomChunks(512)
      const written = await upload(scheme.client, `${srv.url}/upload`, agent, req => {
        for (const chunk of burst.list) req.write(chunk)
        req.end()
      })
      assert.deepStrictEqual(written, { chunked: true, length: burst.length, sha256: burst.sha256 })
      assert.strictEqual(srv.counts.opened, 1)

      // The Promise face, which sends a stream's chunks as the connection takes them (a chunk over 16 KiB
      // in three writes: its size, its bytes, CRLF). The server reads nothing until the body stops being
      // pulled (its connection took no more): the write that filled the kernel's buffers is held. Another
      // request then sends 60 KiB over another connection, and its records must not land where the held
      // ones wait to be sent.
      const streamed = randomChunks(256, 32 * 1024)
      let pulled = 0
      let release
      held.until = new Promise(resolve => { release = resolve })
      const stalled = new Promise(resolve => {
        const check = seen => setImmediate(() => pulled > 0 && pulled === seen ? resolve(seen) : check(pulled))
        check(-1)
      })
      const source = Readable.from((function * () {
        for (const chunk of streamed.list) {
          pulled++
          yield chunk
        }
      })())
      const stalledReply = agent.request(`${srv.url}/held`, { method: 'POST', body: source })
      const stalledAt = await stalled
      assert.ok(stalledAt < streamed.list.length, `the connection took the whole body at once (${stalledAt} chunks)`)
      const other = crypto.randomBytes(60 * 1024)
      const otherReply = await agent.request(`${srv.url}/upload`, { method: 'POST', body: other })
      assert.deepStrictEqual(await otherReply.json(),
        { chunked: false, length: other.length, sha256: crypto.createHash('sha256').update(other).digest('hex') })
      release()
      const reply = await stalledReply
      assert.deepStrictEqual(await reply.json(), { chunked: true, length: streamed.length, sha256: streamed.sha256 })
    })
  })
}

for (const scheme of SCHEMES) {
  test(`${scheme.name}: an empty write between others sends nothing and keeps the connection, as on Node's socket`, async () => {
    await withAgent(digestServer(scheme), scheme.agent(), async (srv, agent) => {
      const sent = Buffer.from('before|after')
      const answer = await upload(scheme.client, `${srv.url}/upload`, agent, async req => {
        req.write(sent.subarray(0, 7))
        // Each in its own turn: written together they would reach the socket as one.
        await new Promise(resolve => setImmediate(resolve))
        req.socket.write(Buffer.alloc(0))
        req.socket.write('')
        await new Promise(resolve => setImmediate(resolve))
        req.end(sent.subarray(7))
      })
      assert.deepStrictEqual(answer, { chunked: true, length: sent.length, sha256: crypto.createHash('sha256').update(sent).digest('hex') })
      assert.strictEqual((await get(`${srv.url}/upload`, agent)).reused, true)
    })
  })
}

test('https: small writes made while earlier ones wait for a slow server hold their own bytes, not a 64 KiB buffer each', async () => {
  const scheme = SCHEMES.find(s => s.name === 'https')
  const held = {}
  let release
  held.until = new Promise(resolve => { release = resolve })
  await withAgent(digestServer(scheme, held), scheme.agent(), async (srv, agent) => {
    // A length the body never reaches: each write goes to the socket as it is, with no chunked framing.
    const req = scheme.client.request(`${srv.url}/held`, { agent, method: 'POST', headers: { 'content-length': 1 << 30 } })
    const closed = new Promise(resolve => req.on('error', resolve).on('close', resolve))
    const socket = await new Promise(resolve => req.once('socket', resolve))
    if (socket.connecting) await new Promise(resolve => socket.once('secureConnect', resolve))
    // 100-byte writes until the kernel's buffers are full (the server reads nothing) and the socket holds
    // 16 KiB more: from the first write libuv could not send, each sealed record waits in the stream.
    const chunk = Buffer.alloc(100, 'x')
    const before = process.memoryUsage().arrayBuffers
    let writes = 0
    const tick = () => new Promise(resolve => process.nextTick(resolve))
    while (writes < 1e6 && req.write(chunk)) {
      writes++
      // Node corks a request's socket until the next tick: one write reaches the connection per tick.
      await tick()
      // And an empty one, which seals to nothing: nothing is held for it.
      socket.write(Buffer.alloc(0))
      await tick()
    }
    const grown = process.memoryUsage().arrayBuffers - before
    assert.ok(writes < 1e6, 'the connection never held a write')
    // About 150 records wait, and as many empty writes come while they do: at 64 KiB each, over 8 MiB.
    assert.ok(grown < 2 * 1024 * 1024, `${grown} bytes of buffers grew over ${writes} writes and as many empty ones`)
    req.destroy()
    release()
    await closed
  })
})

test('strings written in any encoding, and a header beyond ASCII, reach the server as through Node\'s agent', async () => {
  const seen = []
  const srv = await listenCounting(http.createServer((req, res) => {
    const chunks = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      seen.push({ header: Buffer.from(req.headers['x-name'], 'latin1'), body: Buffer.concat(chunks) })
      res.end('ok')
    })
  }))
  const writes = [['h\u00e9llo \u20ac ', 'utf8'], ['ff00', 'hex'], ['aGk=', 'base64'], ['\u00ff\u0100', 'latin1'],
    ['caf\u00e9', 'ascii'], ['\u00e9', 'ucs2'], [Buffer.from([1, 2, 3])]]
  // One write at a time, each after the last went out: writes made together reach the socket as one
  // Buffer (its _writev), a lone one as the string and encoding given (its _write).
  const post = async agent => {
    // A known length: chunked framing would add writes around each chunk.
    const length = writes.reduce((sum, [chunk, encoding]) => sum + Buffer.byteLength(chunk, encoding), 0)
    const headers = { 'x-name': 'caf\u00e9', 'content-length': length }
    const req = http.request(`${srv.url}/`, { agent, method: 'POST', headers })
    const answered = new Promise((resolve, reject) => {
      req.on('response', res => {
        res.resume()
        res.on('end', resolve)
      })
      req.on('error', reject)
    })
    for (const [chunk, encoding] of writes) {
      await new Promise((resolve, reject) => req.write(chunk, encoding, err => err ? reject(err) : resolve()))
    }
    req.end()
    await answered
  }
  const agent = new Agent()
  const nodes = new http.Agent()
  try {
    await post(agent)
    await post(nodes)
    assert.strictEqual(seen.length, 2)
    assert.deepStrictEqual(seen[0], seen[1])
    assert.ok(seen[0].body.equals(Buffer.concat(writes.map(([chunk, encoding]) => Buffer.from(chunk, encoding)))))
  } finally {
    agent.destroy()
    nodes.destroy()
    await srv.close()
  }
})

test('an 8 MiB download streams through with the right checksum', async () => {
  await withAgent(digestServer(SCHEMES[0]), new Agent(), async (srv, agent) => {
    const res = await get(`${srv.url}/download/${8 * 1024 * 1024}`, agent)
    assert.strictEqual(res.body.length, 8 * 1024 * 1024)
    assert.strictEqual(crypto.createHash('sha256').update(res.body).digest('hex'), res.headers['x-sha256'])
  })
})

test('timeout: a stalled server makes the request emit timeout; unheard, it fails ERR_SOCKET_TIMEOUT', async () => {
  const stalled = []
  const srv = await listenCounting(http.createServer((req, res) => stalled.push(res)))
  const agent = new Agent({ timeout: 150 })
  try {
    const heard = await new Promise((resolve, reject) => {
      const req = http.get(srv.url, { agent }, () => reject(new Error('no answer was expected')))
      req.on('timeout', () => {
        req.destroy()
        resolve('timeout')
      })
      req.on('error', () => {})
    })
    assert.strictEqual(heard, 'timeout')
    await assert.rejects(get(srv.url, agent), { code: 'ERR_SOCKET_TIMEOUT' })
  } finally {
    for (const res of stalled) res.destroy()
    agent.destroy()
    await srv.close()
  }
})

test('req.destroy() frees the slot: with maxSockets 1 the next 10 requests succeed', async () => {
  await withAgent(http.createServer((req, res) => {
    if (req.url === '/stall') return
    res.end('ok')
  }), new Agent({ maxSockets: 1 }), async (srv, agent) => {
    await new Promise(resolve => {
      const req = http.get(`${srv.url}/stall`, { agent })
      req.on('error', () => resolve())
      setTimeout(() => req.destroy(), 50)
    })
    for (let i = 0; i < 10; i++) assert.strictEqual((await get(srv.url, agent)).body.toString(), 'ok')
  })
})

test('10,000 requests over one connection add no listeners (no MaxListenersExceededWarning)', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end('x')))
  const agent = new Agent()
  const warnings = []
  const onWarning = w => warnings.push(w)
  process.on('warning', onWarning)
  try {
    let socket
    for (let i = 0; i < 10000; i++) socket = (await get(srv.url, agent)).socket
    assert.strictEqual(srv.counts.opened, 1)
    assert.ok(socket.listenerCount('data') <= 1, `data listeners: ${socket.listenerCount('data')}`)
    assert.ok(socket.listenerCount('close') <= 3, `close listeners: ${socket.listenerCount('close')}`)
    await new Promise(resolve => setImmediate(resolve))
    assert.deepStrictEqual(warnings.filter(w => w.name === 'MaxListenersExceededWarning'), [])
  } finally {
    process.off('warning', onWarning)
    agent.destroy()
    await srv.close()
  }
})

test('an upgraded request takes its connection out of the pool for good', async () => {
  const server = http.createServer(hello)
  server.on('upgrade', (req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n')
    socket.on('data', d => socket.write(d))
    socket.on('end', () => socket.end())
  })
  await withAgent(server, new Agent(), async (srv, agent) => {
    const EVENTS = ['close', 'free', 'agentRemove', 'timeout', 'error']
    const upgrade = through => new Promise((resolve, reject) => {
      const req = http.request(srv.url, { agent: through, headers: { connection: 'upgrade', upgrade: 'echo' } })
      req.on('upgrade', (res, socket) => {
        // The agent let go of it: the caller owns it, with no listener of the agent's on it (as Node's).
        const listening = EVENTS.map(event => `${event} ${socket.listenerCount(event)}`)
        socket.once('data', d => {
          socket.destroy()
          resolve({ echoed: d.toString(), listening })
        })
        socket.write('ping')
      })
      req.on('error', reject)
      req.end()
    })
    const nodeAgent = new http.Agent({ keepAlive: true })
    const expected = await upgrade(nodeAgent)
    nodeAgent.destroy()
    const { echoed, listening } = await upgrade(agent)
    assert.strictEqual(echoed, 'ping')
    assert.deepStrictEqual(listening, expected.listening)
    assert.strictEqual(srv.counts.opened, 2)
    const res = await get(srv.url, agent)
    assert.strictEqual(res.reused, false)
    assert.strictEqual(srv.counts.opened, 3)
  })
})

for (const scheme of SCHEMES) {
  test(`${scheme.name}: an upgrade's head and the chunks read from the upgraded socket keep their bytes after later reads`, async () => {
    const server = scheme.server(hello)
    server.on('upgrade', (req, socket) => {
      // The head and the first bytes in one write; then, once asked for, more bytes than the head took.
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nfirst-bytes')
      socket.once('data', () => socket.write('other-bytes'.repeat(20)))
      socket.on('end', () => socket.end())
    })
    await withAgent(server, scheme.agent(), async (srv, agent) => {
      const kept = await new Promise((resolve, reject) => {
        const req = scheme.client.request(srv.url, { agent, headers: { connection: 'upgrade', upgrade: 'echo' } })
        req.on('upgrade', (res, socket, head) => {
          const chunks = [head]
          let length = head.length
          socket.on('data', chunk => {
            chunks.push(chunk)
            length += chunk.length
            if (length === 11) socket.write('next')
            if (length === 11 * 21) {
              socket.destroy()
              resolve(chunks)
            }
          })
          if (length === 11) socket.write('next')
        })
        req.on('error', reject)
        req.end()
      })
      assert.strictEqual(Buffer.concat(kept).toString(), 'first-bytes' + 'other-bytes'.repeat(20))
    })
  })

  test(`${scheme.name}: a parse error's rawPacket keeps the bytes Node's agent gives it after later reads of other connections`, async () => {
    const bad = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nBad Header: x\r\n\r\nabc'
    const server = scheme.server((req, res) => {
      if (req.url === '/bad') req.socket.end(bad)
      else res.end('z'.repeat(30000))
    })
    const rawPacket = (url, agent) => new Promise(resolve => {
      scheme.client.get(`${url}/bad`, { agent }, () => resolve(null)).on('error', err => resolve(err))
    })
    await withAgent(server, scheme.agent({ keepAlive: true }), async (srv, agent) => {
      const nodes = scheme.node({ keepAlive: true })
      const expected = await rawPacket(srv.url, nodes)
      nodes.destroy()
      const err = await rawPacket(srv.url, agent)
      assert.strictEqual(err.code, expected.code)
      await readElsewhere(agent, `${srv.url}/other`, 3)
      assert.strictEqual(err.rawPacket.toString('latin1'), expected.rawPacket.toString('latin1'))
      assert.strictEqual(err.rawPacket.toString('latin1'), bad)
    })
  })

  test(`${scheme.name}: chunks a listener of its own takes from the socket, and those a paused response holds, keep their bytes after later reads`, async () => {
    const server = scheme.server((req, res) => res.end(req.url.slice(1).repeat(5000)))
    await withAgent(server, scheme.agent({ keepAlive: true }), async (srv, agent) => {
      const kept = []
      const seen = []
      await new Promise((resolve, reject) => {
        const req = scheme.client.get(`${srv.url}/a`, { agent }, res => { res.resume(); res.on('end', resolve) })
        req.on('socket', socket => socket.on('data', chunk => {
          kept.push(chunk)
          seen.push(Buffer.from(chunk))
        }))
        req.on('error', reject)
      })
      await readElsewhere(agent, `${srv.url}/b`, 3)
      assert.ok(Buffer.concat(seen).includes('a'.repeat(5000)))
      assert.ok(Buffer.concat(kept).equals(Buffer.concat(seen)))

      // A response nobody reads yet: what it holds stays its own while other connections are read.
      const held = await new Promise((resolve, reject) => {
        scheme.client.get(`${srv.url}/c`, { agent }, resolve).on('error', reject)
      })
      held.pause()
      const other = scheme.agent({ keepAlive: true })
      try {
        await readElsewhere(other, `${srv.url}/d`, 3)
      } finally {
        other.destroy()
      }
      const body = []
      held.on('data', chunk => body.push(chunk))
      await new Promise(resolve => held.on('end', resolve).resume())
      assert.strictEqual(Buffer.concat(body).toString(), 'c'.repeat(5000))
    })
  })
}

/** Bytes read over other connections meanwhile: `count` GETs of `url` through `agent`, one at a time. */
async function readElsewhere (agent, url, count) {
  const client = url.startsWith('https:') ? https : http
  for (let i = 0; i < count; i++) {
    await new Promise((resolve, reject) => {
      client.get(url, { agent }, res => { res.resume(); res.on('end', resolve) }).on('error', reject)
    })
  }
}

/**
 * Counts the distinct buffers TCP handles are told to read into (`useUserBuffer`) while `run` runs: a new
 * socket is told the current one, a give-away a new one.
 */
async function buffersTold (run) {
  const probe = net.connect({ port: 1, host: '127.0.0.1' })
  probe.on('error', () => {})
  const proto = Object.getPrototypeOf(probe._handle)
  probe.destroy()
  const told = new Set()
  const own = Object.prototype.hasOwnProperty.call(proto, 'useUserBuffer')
  const original = proto.useUserBuffer
  proto.useUserBuffer = function (buffer) {
    told.add(buffer)
    return original.call(this, buffer)
  }
  try {
    await run()
  } finally {
    if (own) proto.useUserBuffer = original
    else delete proto.useUserBuffer
  }
  return told.size
}

test('a handler that destroys its response gives no read buffer away; parse errors do, at most 16 times, their rawPacket intact', async () => {
  const bad = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nBad Header: x\r\n\r\nabc'
  const server = http.createServer((req, res) => {
    if (req.url === '/bad') req.socket.end(bad)
    else res.end('y'.repeat(20000))
  })
  await withAgent(server, new Agent({ keepAlive: true }), async (srv, agent) => {
    const destroyed = await buffersTold(async () => {
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve, reject) => {
          http.get(`${srv.url}/ok`, { agent }, res => { res.destroy(); resolve() }).on('error', reject)
        })
      }
    })
    assert.ok(destroyed <= 1, `read buffers for responses a handler destroyed: ${destroyed}`)
    const errors = []
    const given = await buffersTold(async () => {
      for (let i = 0; i < 24; i++) {
        errors.push(await new Promise(resolve => http.get(`${srv.url}/bad`, { agent }, () => resolve(null)).on('error', resolve)))
        await readElsewhere(agent, `${srv.url}/ok`, 1)
      }
    })
    assert.ok(given <= 17, `read buffers: ${given}`)
    if (process.env.KEEPALIVE_AGENT_SOCKET_CARRIER !== 'pipe') assert.ok(given > 1, 'a parse error\'s chunk was lent and given away')
    for (const err of errors) assert.strictEqual(err.rawPacket.toString('latin1'), bad)
  })
})

test('refused connections reach the request as ECONNREFUSED; queued ones do too', async () => {
  const url = await refusedUrl()
  const agent = new Agent({ maxSockets: 2 })
  try {
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => get(url, agent)))
    const outcomes = results.map(r => r.status === 'rejected' ? r.reason.code : `fulfilled ${r.value.status}`)
    assert.deepStrictEqual(outcomes, Array(20).fill('ECONNREFUSED'))
  } finally {
    agent.destroy()
  }
})
