'use strict'
// The socket face's carriers (lib/carriers/): a TCP connection, plain or TLS, made while few requests are
// in flight is carried by its fd (libuv on the JS thread; TLS records opened and sealed by rustls in Rust),
// others by Rust's pipe.
// Whatever carries it, the pool keeps counting the connection: its idle list, deadline, caps and
// evictions, and a server closing it. Every server is on 127.0.0.1.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const https = require('node:https')
const net = require('node:net')
const { EventEmitter, once } = require('node:events')
const { Agent, HttpsAgent } = require('..')
const { selfSigned } = require('../examples/certs')
const { rawServer, withAgent, twoOrigins, get } = require('./helpers/faces')

const CARRIER = Symbol.for('keepalive-agent.carrier')
const hello = (req, res) => res.end('hello')
const ok = body => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`

/** The carrier of this agent's only free socket, and that socket. */
function onlyFree (agent) {
  const free = Object.values(agent.freeSockets).flat()
  assert.strictEqual(free.length, 1)
  return free[0]
}

test('one request at a time: a plain-http connection is carried by its fd, and reused', async () => {
  await withAgent(http.createServer(hello), new Agent(), async (srv, agent) => {
    for (let i = 0; i < 3; i++) {
      const res = await get(srv.url, agent)
      assert.strictEqual(res.body.toString(), 'hello')
      assert.strictEqual(res.socket[CARRIER], 'fd')
      assert.strictEqual(res.reused, i > 0)
    }
    assert.strictEqual(srv.counts.opened, 1)
    assert.strictEqual(onlyFree(agent).remotePort, srv.port)
  })
})

test('https one request at a time: the fd carries the records, rustls (in Rust) opens and seals them', async () => {
  const cert = selfSigned()
  const big = Buffer.alloc(200 * 1024)
  for (let i = 0; i < big.length; i++) big[i] = i % 251
  const server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    const chunks = []
    req.on('data', chunk => chunks.push(chunk))
    // GET: 200 KiB (many records); POST: the body back.
    req.on('end', () => res.end(req.method === 'POST' ? Buffer.concat(chunks) : big))
  })
  await withAgent(server, new HttpsAgent({ ca: cert.cert }), async (srv, agent) => {
    for (let i = 0; i < 3; i++) {
      const res = await get(srv.url, agent)
      assert.deepStrictEqual(res.body, big)
      assert.strictEqual(res.socket[CARRIER], 'fd')
      assert.strictEqual(res.reused, i > 0)
      assert.strictEqual(res.socket.authorized, true)
      assert.strictEqual(res.socket.encrypted, true)
      assert.strictEqual(res.socket.getPeerCertificate().raw.equals(new (require('node:crypto').X509Certificate)(cert.cert).raw), true)
    }
    const upload = big.subarray(0, 100 * 1024 + 7)
    const echoed = await get(srv.url, agent, { method: 'POST', body: upload })
    assert.deepStrictEqual(echoed.body, upload)
    assert.strictEqual(echoed.socket[CARRIER], 'fd')
    assert.strictEqual(srv.counts.opened, 1)
  })
})

test('https over the fd: a server closing an idle connection takes it out of the pool; the next request opens another', async () => {
  const cert = selfSigned()
  const server = https.createServer({ key: cert.key, cert: cert.cert }, hello)
  await withAgent(server, new HttpsAgent({ ca: cert.cert }), async (srv, agent) => {
    const first = await get(srv.url, agent)
    assert.strictEqual(first.socket[CARRIER], 'fd')
    const closed = once(first.socket, 'close')
    srv.server.closeIdleConnections()
    await closed
    assert.strictEqual(Object.keys(agent.freeSockets).length, 0)
    const next = await get(srv.url, agent)
    assert.strictEqual(next.body.toString(), 'hello')
    assert.strictEqual(next.reused, false)
    assert.strictEqual(srv.counts.opened, 2)
  })
})

test('https over the fd: a damaged record fails the request with rustls\'s error after its alert, and the connection leaves the pool', async () => {
  const cert = selfSigned()
  const server = https.createServer({ key: cert.key, cert: cert.cert }, hello)
  // How the server's TLS sockets end: the error each failed with (the client's alert, as OpenSSL reads
  // it), or null.
  const serverEnds = []
  const ended = new EventEmitter()
  server.on('secureConnection', socket => {
    let code = null
    socket.on('error', err => { code = err.code })
    socket.on('close', () => { serverEnds.push(code); ended.emit('end') })
  })
  // Between the client and the server, a proxy that damages what the server sends once told to.
  let damage = false
  const proxy = net.createServer(client => {
    const upstream = net.connect(srv.port, '127.0.0.1')
    client.on('data', chunk => upstream.write(chunk))
    upstream.on('data', chunk => {
      if (damage) chunk[chunk.length - 1] ^= 1
      client.write(chunk)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.on('error', () => {})
    upstream.on('error', () => {})
  })
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  const srv = await require('./helpers/faces').listenCounting(server)
  const agent = new HttpsAgent({ ca: cert.cert, servername: 'localhost' })
  try {
    const url = `https://127.0.0.1:${proxy.address().port}`
    const first = await get(url, agent)
    assert.strictEqual(first.body.toString(), 'hello')
    assert.strictEqual(first.socket[CARRIER], 'fd')
    damage = true
    const err = await get(url, agent).then(() => null, e => e)
    assert.ok(err instanceof Error, 'the request fails')
    assert.strictEqual(err.code, 'EPROTO')
    assert.match(err.message, /decrypt/)
    assert.strictEqual(Object.keys(agent.freeSockets).length, 0)
    if (serverEnds.length === 0) await once(ended, 'end')
    // OpenSSL 3.0 names it SSLV3_ALERT_BAD_RECORD_MAC, later ones SSL/TLS_ALERT_BAD_RECORD_MAC.
    assert.strictEqual(serverEnds.length, 1)
    assert.match(String(serverEnds[0]), /^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_BAD_RECORD_MAC$/)
    damage = false
    const after = await get(url, agent)
    assert.strictEqual(after.body.toString(), 'hello')
    assert.strictEqual(after.reused, false)
  } finally {
    agent.destroy()
    proxy.close()
    await srv.close()
  }
})

test('an agent whose carrier is forced to the pipe uses the pipe, over http and https', async () => {
  const cert = selfSigned()
  await withAgent(https.createServer({ key: cert.key, cert: cert.cert }, hello), new HttpsAgent({ ca: cert.cert, [CARRIER]: 'pipe' }), async (srv, agent) => {
    const res = await get(srv.url, agent)
    assert.strictEqual(res.body.toString(), 'hello')
    assert.strictEqual(res.socket[CARRIER], 'pipe')
  })
  await withAgent(http.createServer(hello), new Agent({ [CARRIER]: 'pipe' }), async (srv, agent) => {
    const res = await get(srv.url, agent)
    assert.strictEqual(res.socket[CARRIER], 'pipe')
  })
})

test('a response read only after its server closed the connection gets its whole body (pipe, http and https): the socket ends once what it holds is read', async () => {
  const cert = selfSigned()
  const body = Buffer.alloc(60 * 1024, 'b')
  let serverClosed, rest
  const handler = (req, res) => {
    serverClosed = once(req.socket, 'close')
    res.writeHead(200, { connection: 'close', 'content-length': body.length })
    res.write(body.subarray(0, 30 * 1024))
    rest = () => res.end(body.subarray(30 * 1024))
  }
  const cases = [
    [http.createServer(handler), new Agent({ [CARRIER]: 'pipe' })],
    [https.createServer({ key: cert.key, cert: cert.cert }, handler), new HttpsAgent({ ca: cert.cert, [CARRIER]: 'pipe' })]
  ]
  for (const [server, agent] of cases) {
    await withAgent(server, agent, async srv => {
      for (let i = 0; i < 3; i++) {
        const res = await new Promise((resolve, reject) => {
          (srv.url.startsWith('https:') ? https : http).get(srv.url, { agent }, res => {
            // Unread, the response holds the first part and the socket stops flowing. The rest and the end
            // of the connection come now, while this thread is held: Rust reads them into one batch, the
            // socket keeps the rest, then hears that the connection closed.
            rest()
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50)
            resolve(res)
          }).on('error', reject)
        })
        // The server's side closes once ours did.
        await serverClosed
        await new Promise(resolve => setImmediate(resolve))
        assert.strictEqual(res.destroyed, false, 'the response was cut off as the connection closed')
        const chunks = []
        res.on('data', chunk => chunks.push(chunk))
        await once(res, 'end')
        assert.strictEqual(Buffer.concat(chunks).length, body.length)
      }
    })
  }
})

test('under load new connections take the pipe: the first four in flight get an fd, the rest do not', async () => {
  const held = []
  const server = http.createServer((req, res) => {
    // The first eight are all in flight at once before any is answered.
    if (held.length === 8) return res.end('hello')
    held.push(res)
    if (held.length === 8) for (const r of held) r.end('hello')
  })
  await withAgent(server, new Agent(), async (srv, agent) => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => get(srv.url, agent)))
    assert.deepStrictEqual(answers.map(a => a.socket[CARRIER]), ['fd', 'fd', 'fd', 'fd', 'pipe', 'pipe', 'pipe', 'pipe'])
    assert.strictEqual(srv.counts.opened, 8)
    // Eight sockets in use are few: all stay in the pool, as with Node's agent (see the next test).
    assert.strictEqual(agent.getCurrentStatus().closeSocketCount, 0)
    assert.strictEqual(agent.freeSockets[`127.0.0.1:${srv.port}:`].length, 8)
    // The load is gone: a new connection is carried by its fd again.
    agent.destroy()
    const fresh = new Agent()
    try {
      assert.strictEqual((await get(srv.url, fresh)).socket[CARRIER], 'fd')
    } finally {
      fresh.destroy()
    }
  })
})

test('an fd-carried connection freed while more than 16 sockets of its route are in use closes (none waiting); the pipe carries the burst on', async () => {
  const held = []
  let holding = true
  let arrived = () => {}
  const server = http.createServer((req, res) => {
    if (!holding) return res.end('hello')
    held.push(res)
    arrived()
  })
  const heldCount = n => new Promise(resolve => {
    arrived = () => { if (held.length >= n) resolve() }
    arrived()
  })
  await withAgent(server, new Agent(), async (srv, agent) => {
    const first = Array.from({ length: 8 }, () => get(srv.url, agent))
    await heldCount(8)
    // Sixteen more in flight while the first eight are answered: each of those is freed with its route busy.
    const more = Array.from({ length: 16 }, () => get(srv.url, agent))
    await heldCount(24)
    for (const res of held.splice(0, 8)) res.end('hello')
    const answers = await Promise.all(first)
    assert.deepStrictEqual(answers.map(a => a.socket[CARRIER]).sort(), ['fd', 'fd', 'fd', 'fd', 'pipe', 'pipe', 'pipe', 'pipe'])
    await Promise.all(answers.filter(a => a.socket[CARRIER] === 'fd').map(a => a.socket.destroyed || once(a.socket, 'close')))
    for (const res of held.splice(0)) res.end('hello')
    await Promise.all(more)
    // The four fd-carried connections closed; the twenty by the pipe serve the next burst.
    assert.strictEqual(agent.getCurrentStatus().closeSocketCount, 4)
    holding = false
    const next = await Promise.all(Array.from({ length: 20 }, () => get(srv.url, agent)))
    assert.strictEqual(srv.counts.opened, 24)
    assert.ok(next.every(a => a.reused && a.socket[CARRIER] === 'pipe'))
  })
})

for (const how of ['closes', 'sends a stray byte on']) {
  test(`a server that ${how} an idle fd-carried connection: it leaves the pool, and the next request works`, async () => {
    const sockets = []
    const srv = await rawServer(socket => {
      sockets.push(socket)
      socket.on('data', () => socket.write(ok('fine')))
    })
    const agent = new Agent({ [CARRIER]: 'fd' })
    try {
      assert.strictEqual((await get(srv.url, agent)).body.toString(), 'fine')
      const idle = onlyFree(agent)
      assert.strictEqual(idle[CARRIER], 'fd')
      const closed = once(idle, 'close')
      if (how === 'closes') sockets[0].end()
      else sockets[0].write('X')
      await closed
      assert.deepStrictEqual(Object.keys(agent.freeSockets), [])
      const status = agent.getCurrentStatus()
      assert.deepStrictEqual(status.freeSockets, {})
      assert.strictEqual(status.closeSocketCount, 1)
      // Stray bytes close it as an error, as the pipe's reader counts them.
      assert.strictEqual(status.errorSocketCount, how === 'closes' ? 0 : 1)
      const next = await get(srv.url, agent)
      assert.strictEqual(next.body.toString(), 'fine')
      assert.strictEqual(next.reused, false)
      assert.strictEqual(sockets.length, 2)
    } finally {
      agent.destroy()
      await srv.close()
    }
  })
}

test('the pool\'s idle deadline closes an fd-carried connection: a timeout, the server sees it close, maps follow', async () => {
  await withAgent(http.createServer(hello), new Agent({ [CARRIER]: 'fd', freeSocketTimeout: 50 }), async (srv, agent) => {
    const serverClosed = once(srv.server, 'connection').then(([socket]) => once(socket, 'close'))
    await get(srv.url, agent)
    const idle = onlyFree(agent)
    const timedOut = once(idle, 'timeout')
    await Promise.all([timedOut, once(idle, 'close'), serverClosed])
    assert.deepStrictEqual(Object.keys(agent.freeSockets), [])
    assert.strictEqual(agent.getCurrentStatus().closeSocketCount, 1)
    assert.strictEqual(srv.counts.open, 0)
    assert.strictEqual((await get(srv.url, agent)).reused, false)
  })
})

test('agent.destroy() closes idle fd-carried connections: the server sees each close', async () => {
  await withAgent(http.createServer(hello), new Agent({ [CARRIER]: 'fd' }), async (srv, agent) => {
    const serverSockets = []
    srv.server.on('connection', socket => serverSockets.push(socket))
    await Promise.all(Array.from({ length: 3 }, () => get(srv.url, agent)))
    assert.strictEqual(serverSockets.length, 3)
    const allClosed = Promise.all(serverSockets.map(socket => once(socket, 'close')))
    agent.destroy()
    await allClosed
    assert.strictEqual(srv.counts.open, 0)
  })
})

test('caps count fd-carried connections until they are closed: evictions under maxTotalSockets and maxSockets never exceed them', async () => {
  const { servers, both, close } = await twoOrigins()
  const agent = new Agent({ [CARRIER]: 'fd', maxTotalSockets: 3, maxSockets: 3, freeSocketTimeout: 60000 })
  try {
    for (let round = 0; round < 4; round++) {
      // Three idle connections to one origin, then three requests at once to the other: each needs an
      // eviction first, and the evicted connections are closed in JS.
      const [warm, burst] = round % 2 === 0 ? servers : [servers[1], servers[0]]
      await Promise.all(Array.from({ length: 3 }, () => get(warm.url, agent)))
      const answers = await Promise.all(Array.from({ length: 3 }, () => get(burst.url, agent)))
      assert.deepStrictEqual(answers.map(a => a.socket[CARRIER]), ['fd', 'fd', 'fd'])
    }
    assert.ok(both.maxOpen <= 3, `the servers saw ${both.maxOpen} connections at once`)
    // Destroying busy fd-carried sockets frees their slots only once closed: still never over the cap.
    const many = Array.from({ length: 9 }, () => {
      const req = http.get(servers[0].url, { agent })
      req.on('error', () => {})
      return once(req, 'socket').then(([socket]) => { socket.destroy(); return once(socket, 'close') })
    })
    await Promise.all(many)
    assert.strictEqual((await get(servers[0].url, agent)).body.toString(), 'hello')
    assert.ok(both.maxOpen <= 3, `the servers saw ${both.maxOpen} connections at once`)
  } finally {
    agent.destroy()
    await close()
  }
})

for (const carrier of ['fd', 'pipe']) {
  test(`${carrier} carrier: a replay queued at the cap takes over a connection another request just freed`, async () => {
    const seen = []
    const held = []
    const connections = []
    const answer = (socket, id) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${id.length}\r\n\r\n${id}`)
    const srv = await rawServer(socket => {
      connections.push(socket)
      socket.on('data', chunk => {
        for (const [, id] of chunk.toString('latin1').matchAll(/x-id: (\S+)/gi)) {
          seen.push(id)
          // r1's first sending is dropped as the keep-alive race does; r2 waits for r3, which comes on a
          // new connection once r1's is closed, so r1's replay has to queue behind both.
          if (id === 'r1' && seen.filter(s => s === 'r1').length === 1) socket.destroy()
          else if (id === 'r2') held.push(socket)
          else {
            answer(socket, id)
            if (id === 'r3') for (const s of held.splice(0)) answer(s, 'r2')
          }
        }
      })
    })
    const agent = new Agent({ [CARRIER]: carrier, maxSockets: 2 })
    try {
      await Promise.all(['w1', 'w2'].map(id => get(srv.url, agent, { headers: { 'x-id': id } })))
      const answers = await Promise.all(['r1', 'r2', 'r3'].map(id => get(srv.url, agent, { headers: { 'x-id': id } })))
      assert.deepStrictEqual(answers.map(a => a.body.toString()), ['r1', 'r2', 'r3'])
      assert.strictEqual(seen.filter(s => s === 'r1').length, 2)
      // r1 was sent again on a connection that was reused, not dialled for it.
      assert.strictEqual(connections.length, 3)
      assert.strictEqual(agent.getCurrentStatus().retryCount, 1)
      assert.ok(Object.values(agent.freeSockets).flat().every(socket => !socket.destroyed))
      assert.strictEqual((await get(srv.url, agent, { headers: { 'x-id': 'after' } })).body.toString(), 'after')
    } finally {
      agent.destroy()
      await srv.close()
    }
  })
}

for (const carrier of ['fd', 'pipe']) {
  for (const secure of [false, true]) {
    test(`${carrier} carrier${secure ? ', https' : ''}: a request aborted while its connection is being made never reaches the server, as with Node's agent`, async () => {
      const cert = selfSigned()
      const seen = new Map()
      const onRequest = (req, res) => {
        seen.set(req.url, req.socket)
        res.end('hello')
      }
      const server = secure ? https.createServer({ key: cert.key, cert: cert.cert }, onRequest) : http.createServer(onRequest)
      // Each connection the server took, and its close.
      const closes = new Map()
      server.on('connection', socket => closes.set(socket, once(socket, 'close')))
      const Ours = secure ? HttpsAgent : Agent
      await withAgent(server, new Ours({ ca: cert.cert, [CARRIER]: carrier }), async (srv, agent) => {
        const client = secure ? https : http
        const ac = new AbortController()
        const req = client.get({ host: '127.0.0.1', port: srv.port, path: '/aborted', agent, ca: cert.cert, signal: ac.signal })
        const failed = once(req, 'error')
        process.nextTick(() => ac.abort())
        assert.strictEqual((await failed)[0].code, 'ABORT_ERR')
        // A connection made after it: the server has taken the aborted one's, if it was made, by then.
        assert.strictEqual((await get(`${srv.url}/after`, agent)).body.toString(), 'hello')
        const after = seen.get('/after')
        // What reached the server on any other connection was read before it closed.
        await Promise.all([...closes].filter(([socket]) => socket !== after && socket !== after._parent).map(([, closed]) => closed))
        assert.deepStrictEqual([...seen.keys()], ['/after'])
      })
    })
  }
}
