'use strict'
// Connect options served by the Rust pool, on both faces, agent-level and per request: a JS `lookup`
// (an SSRF guard that refuses a host, one that sends a name to 127.0.0.1), `family`, `hints`,
// `localAddress`, `localPort`, and bad input refused with Node's codes. Every server is on 127.0.0.1.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const { once } = require('node:events')
const net = require('node:net')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Agent } = require('..')
const { listenCounting } = require('./helpers/faces')

function okServer () {
  return http.createServer((req, res) => res.end(`${req.socket.remoteAddress} ${req.socket.remotePort}`))
}

/** GET through the socket face (`http.get`'s arguments); resolves with { status, body } or rejects. */
function get (...args) {
  return new Promise((resolve, reject) => {
    const req = http.get(...args, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

/** A lookup that answers `*.test` names with 127.0.0.1 and refuses `internal.test`, as SSRF guards do. */
function guard (calls) {
  const refusal = Object.assign(new Error('internal.test is not allowed'), { code: 'ERR_SSRF_BLOCKED' })
  const lookup = (host, options, callback) => {
    calls.push({ host, options })
    if (host === 'internal.test') return callback(refusal)
    callback(null, [{ address: '127.0.0.1', family: 4 }])
  }
  return { lookup, refusal }
}

test('agent-level lookup: a refused host fails with the lookup\'s own error and no connection is made (both faces)', async () => {
  const srv = await listenCounting(okServer())
  const calls = []
  const { lookup, refusal } = guard(calls)
  const agent = new Agent({ lookup })
  try {
    await assert.rejects(agent.request(`http://internal.test:${srv.port}/`), err => err === refusal)
    await assert.rejects(get(`http://internal.test:${srv.port}/`, { agent }), err => err === refusal)
    assert.strictEqual(srv.counts.opened, 0)
    assert.deepStrictEqual(calls.map(c => c.host), ['internal.test', 'internal.test'])
    assert.deepStrictEqual(calls[0].options, { family: 0, hints: require('node:dns').ADDRCONFIG, all: true })
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('agent-level lookup: a name sent to 127.0.0.1 is dialled there, once per connection (both faces)', async () => {
  const srv = await listenCounting(okServer())
  const calls = []
  const agent = new Agent({ lookup: guard(calls).lookup })
  try {
    for (let i = 0; i < 3; i++) {
      const res = await agent.request(`http://example.test:${srv.port}/`)
      assert.strictEqual(res.status, 200)
      assert.match(await res.text(), /^127\.0\.0\.1 /)
    }
    for (let i = 0; i < 3; i++) {
      const res = await get(`http://example.test:${srv.port}/`, { agent })
      assert.strictEqual(res.status, 200)
    }
    // One connection per face (each face keeps its own idle connections), one lookup per connection.
    assert.strictEqual(srv.counts.opened, 2)
    assert.strictEqual(calls.length, 2)
    assert.strictEqual(agent.getCurrentStatus().requestCount, 6)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('per-request lookup guards its own requests only, and never shares their connections (both faces)', async () => {
  const srv = await listenCounting(okServer())
  const calls = []
  const { lookup, refusal } = guard(calls)
  const agent = new Agent()
  try {
    await assert.rejects(agent.request(`http://internal.test:${srv.port}/`, { lookup }), err => err === refusal)
    await assert.rejects(get(`http://internal.test:${srv.port}/`, { agent, lookup }), err => err === refusal)
    const guarded = await agent.request(`http://localhost:${srv.port}/`, { lookup })
    await guarded.text()
    const plain = await agent.request(`http://localhost:${srv.port}/`)
    await plain.text()
    // The guarded connection is not reused by a request that asked for no guard, nor the reverse.
    assert.strictEqual(srv.counts.opened, 2)
    const again = await agent.request(`http://localhost:${srv.port}/`, { lookup })
    await again.text()
    assert.strictEqual(again.reused, true)
    assert.strictEqual(srv.counts.opened, 2)
    assert.strictEqual(calls.filter(c => c.host === 'localhost').length, 1)
    const viaSocket = await get(`http://localhost:${srv.port}/`, { agent, lookup })
    assert.strictEqual(viaSocket.status, 200)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('lookup errors keep their codes; an answer that is not an IP fails with ERR_INVALID_IP_ADDRESS', async () => {
  const srv = await listenCounting(okServer())
  const again = Object.assign(new Error('getaddrinfo EAI_AGAIN flaky.test'), { code: 'EAI_AGAIN' })
  const agent = new Agent({
    lookup (host, options, callback) {
      if (host === 'flaky.test') return callback(again)
      if (host === 'throws.test') throw new TypeError('lookup blew up')
      callback(null, 'not-an-address', 4)
    }
  })
  try {
    await assert.rejects(agent.request(`http://flaky.test:${srv.port}/`), err => err === again)
    await assert.rejects(get(`http://flaky.test:${srv.port}/`, { agent }), { code: 'EAI_AGAIN' })
    await assert.rejects(agent.request(`http://throws.test:${srv.port}/`), { name: 'TypeError', message: 'lookup blew up' })
    await assert.rejects(agent.request(`http://bad.test:${srv.port}/`),
      { code: 'ERR_INVALID_IP_ADDRESS', message: 'Invalid IP address: not-an-address' })
    await assert.rejects(get(`http://bad.test:${srv.port}/`, { agent }), { code: 'ERR_INVALID_IP_ADDRESS' })
    assert.strictEqual(srv.counts.opened, 0)
    // As agentkeepalive counts a socket whose connect fails: created, an error, closed.
    const status = agent.getCurrentStatus()
    assert.deepStrictEqual([status.createSocketCount, status.errorSocketCount, status.closeSocketCount, status.createSocketErrorCount], [5, 5, 5, 0])
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('an IP literal is dialled without calling lookup, as Node does', async () => {
  const srv = await listenCounting(okServer())
  const calls = []
  const agent = new Agent({ lookup: guard(calls).lookup })
  try {
    const res = await agent.request(`${srv.url}/`)
    await res.text()
    assert.strictEqual(calls.length, 0)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('family and hints reach the lookup; family 4 with the system resolver dials IPv4', async () => {
  const srv = await listenCounting(okServer())
  const calls = []
  const agent = new Agent({ family: 4, hints: require('node:dns').V4MAPPED, lookup: guard(calls).lookup })
  const system = new Agent({ family: 4 })
  try {
    await (await agent.request(`http://example.test:${srv.port}/`)).text()
    assert.deepStrictEqual(calls[0].options, { family: 4, hints: require('node:dns').V4MAPPED, all: true })
    const res = await system.request(`http://localhost:${srv.port}/`)
    assert.match(await res.text(), /^127\.0\.0\.1 /)
    assert.strictEqual((await get(`http://localhost:${srv.port}/`, { agent: system })).status, 200)
  } finally {
    agent.destroy()
    system.destroy()
    await srv.close()
  }
})

test('localAddress binds the connection, agent-level and per request (both faces)', async () => {
  const srv = await listenCounting(okServer())
  const agent = new Agent({ localAddress: '127.0.0.2' })
  const plain = new Agent()
  try {
    assert.match(await (await agent.request(`${srv.url}/`)).text(), /^127\.0\.0\.2 /)
    assert.match((await get(`${srv.url}/`, { agent })).body, /^127\.0\.0\.2 /)
    assert.match(await (await plain.request(`${srv.url}/`, { localAddress: '127.0.0.3' })).text(), /^127\.0\.0\.3 /)
    assert.match((await get(`${srv.url}/`, { agent: plain, localAddress: '127.0.0.3' })).body, /^127\.0\.0\.3 /)
    assert.match(await (await plain.request(`${srv.url}/`)).text(), /^127\.0\.0\.1 /)
  } finally {
    agent.destroy()
    plain.destroy()
    await srv.close()
  }
})

test('localPort binds the connection\'s port', async () => {
  const srv = await listenCounting(okServer())
  const agent = new Agent({ keepAlive: false })
  try {
    // A port free a moment ago may be taken by a parallel test: try a few.
    let body
    for (let attempt = 0; attempt < 5 && body === undefined; attempt++) {
      const probe = http.createServer().listen(0, '127.0.0.4')
      await once(probe, 'listening')
      const { port } = probe.address()
      await new Promise(resolve => probe.close(resolve))
      try {
        body = { port, text: await (await agent.request(`${srv.url}/`, { localAddress: '127.0.0.4', localPort: port })).text() }
      } catch (err) {
        if (err.code !== 'EADDRINUSE') throw err
      }
    }
    assert.strictEqual(body.text, `127.0.0.4 ${body.port}`)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('bad connect options per request fail with Node\'s codes: Promise face rejects, socket face throws', async () => {
  const agent = new Agent()
  try {
    await assert.rejects(agent.request('http://127.0.0.1:1/', { lookup: 'dns' }), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "options.lookup" property must be of type function. Received type string (\'dns\')'
    })
    await assert.rejects(agent.request('http://127.0.0.1:1/', { localAddress: 'localhost' }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => http.get('http://127.0.0.1:1/', { agent, localAddress: '300.1.1.1' }), { code: 'ERR_INVALID_ARG_VALUE' })
  } finally {
    agent.destroy()
  }
})

test('blockList: addresses it blocks are never dialled, agent-level or per request, both faces, with Node\'s ERR_IP_BLOCKED; a pooled connection made without it never serves a request with it', async () => {
  const srv = await listenCounting(okServer())
  const blocked = new net.BlockList()
  blocked.addAddress('127.0.0.1')
  const notV6 = new net.BlockList()
  notV6.addAddress('::1', 'ipv6')
  const refused = { code: 'ERR_IP_BLOCKED', message: 'IP(127.0.0.1) is blocked by net.BlockList' }
  const open = new Agent()
  const guarded = new Agent({ blockList: blocked })
  try {
    // Pooled first, without a blockList: the request that brings one must not get this connection.
    assert.strictEqual((await get({ host: '127.0.0.1', port: srv.port, agent: open })).status, 200)
    await assert.rejects(get({ host: '127.0.0.1', port: srv.port, agent: open, blockList: blocked }), refused)
    await assert.rejects(open.request(`http://127.0.0.1:${srv.port}/`, { blockList: blocked }), refused)
    // A name is checked by the addresses it resolves to.
    await assert.rejects(get({ host: 'localhost', port: srv.port, agent: guarded, family: 4 }), refused)
    await assert.rejects(guarded.request(`http://localhost:${srv.port}/`, { family: 4 }), refused)
    // Rules added later hold for new connections, as the list is asked at each connect.
    const later = new net.BlockList()
    const changing = new Agent({ blockList: later, keepAlive: false })
    assert.strictEqual((await get({ host: '127.0.0.1', port: srv.port, agent: changing })).status, 200)
    later.addSubnet('127.0.0.0', 8)
    await assert.rejects(get({ host: '127.0.0.1', port: srv.port, agent: changing }), refused)
    changing.destroy()
    // What it does not block is dialled.
    assert.strictEqual((await get({ host: '127.0.0.1', port: srv.port, agent: open, blockList: notV6 })).status, 200)
    assert.strictEqual(srv.counts.opened, 3)
    assert.throws(() => new Agent({ blockList: ['127.0.0.1'] }), { code: 'ERR_INVALID_ARG_TYPE', message: /"options\.blockList" property must be an instance of net\.BlockList/ })
    // Node's own agent refuses the same way where its net.connect knows the option (Node 22.13+).
    if (typeof net.BlockList.isBlockList === 'function') {
      await assert.rejects(get({ host: '127.0.0.1', port: srv.port, agent: new http.Agent(), blockList: blocked }), refused)
    }
  } finally {
    open.destroy()
    guarded.destroy()
    await srv.close()
  }
})

test('socketPath: requests go over a Unix socket, pooled and reused (both faces, agent-level and per request)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keepalive-agent-unix-'))
  const socketPath = path.join(dir, 'server.sock')
  let connections = 0
  const server = http.createServer((req, res) => res.end(`unix ${req.url}`))
  server.on('connection', () => { connections++ })
  server.listen(socketPath)
  await once(server, 'listening')
  const agent = new Agent({ socketPath })
  const plain = new Agent()
  let passing
  try {
    for (let i = 0; i < 3; i++) assert.strictEqual(await (await agent.request('http://localhost/a')).text(), 'unix /a')
    for (let i = 0; i < 3; i++) assert.strictEqual((await get('http://localhost/b', { agent })).body, 'unix /b')
    assert.strictEqual(connections, 2)
    const res = await plain.request('http://localhost/c', { socketPath })
    assert.strictEqual(await res.text(), 'unix /c')
    assert.strictEqual((await get({ socketPath, path: '/d', agent: plain })).body, 'unix /d')
    const again = await plain.request('http://localhost/e', { socketPath })
    await again.text()
    assert.strictEqual(again.reused, true)
    assert.strictEqual(connections, 4)
    await assert.rejects(plain.request('http://localhost/', { socketPath: path.join(dir, 'missing.sock') }),
      { code: 'ENOENT', message: `connect ENOENT ${path.join(dir, 'missing.sock')}` })
    // A subclass's createConnection that calls Node's gets `path` as Node's agent gives it: the Unix socket.
    const given = []
    class Passing extends Agent {
      createConnection (options, callback) {
        given.push(options.path)
        return super.createConnection(options, callback)
      }
    }
    passing = new Passing({ socketPath })
    assert.strictEqual((await get('http://localhost/f', { agent: passing })).body, 'unix /f')
    assert.strictEqual(await (await passing.request('http://localhost/g')).text(), 'unix /g')
    assert.deepStrictEqual(given, [socketPath, socketPath])
  } finally {
    agent.destroy()
    plain.destroy()
    passing?.destroy()
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('a createConnection given after construction is called as Node calls it (with keepAlive and keepAliveInitialDelay): assigned to the agent, a class field, a patch of Node\'s prototype (both faces)', async () => {
  const srv = await listenCounting(okServer())
  const calls = []
  const dial = label => function (options, callback) {
    assert.ok(this instanceof Agent, 'called on the agent')
    // As Node's agent: TCP keep-alive asked of the socket, after keepAliveMsecs.
    assert.deepStrictEqual([options.keepAlive, options.keepAliveInitialDelay], [true, this.keepAliveMsecs])
    calls.push(label)
    return net.connect(srv.port, '127.0.0.1')
  }
  class Fielded extends Agent {
    createConnection = dial('field')
  }
  const assigned = new Agent()
  const fielded = new Fielded()
  const patched = new Agent()
  const nodes = http.Agent.prototype.createConnection
  try {
    assigned.createConnection = dial('assigned')
    http.Agent.prototype.createConnection = dial('patched')
    for (const agent of [assigned, fielded, patched]) {
      assert.match((await get('http://example.test/', { agent })).body, /^127\.0\.0\.1 /)
      assert.match(await (await agent.request('http://example.test/x')).text(), /^127\.0\.0\.1 /)
    }
    // Every connection made by the function (one per face: each keeps its own kind of connection).
    assert.deepStrictEqual(calls, ['assigned', 'assigned', 'field', 'field', 'patched', 'patched'])
    assert.strictEqual(srv.counts.opened, 6)
  } finally {
    http.Agent.prototype.createConnection = nodes
    for (const agent of [assigned, fielded, patched]) agent.destroy()
    await srv.close()
  }
})

test('a patch of Node\'s keepSocketAlive is obeyed, as by a subclass that calls super', async () => {
  const srv = await listenCounting(okServer())
  const agent = new Agent()
  const nodes = http.Agent.prototype.keepSocketAlive
  let asked = 0
  try {
    http.Agent.prototype.keepSocketAlive = function () { asked++; return false }
    for (let i = 0; i < 2; i++) await get('http://127.0.0.1:' + srv.port + '/', { agent })
    assert.deepStrictEqual([asked, srv.counts.opened], [2, 2])
  } finally {
    http.Agent.prototype.keepSocketAlive = nodes
    agent.destroy()
    await srv.close()
  }
})

test('createConnection (a subclass override or the option): its socket carries the requests, pooled, counted and capped (both faces)', async () => {
  const srv = await listenCounting(okServer())
  const made = []
  class Dialling extends Agent {
    createConnection (options, callback) {
      made.push(options)
      return net.connect(srv.port, '127.0.0.1')
    }
  }
  const agent = new Dialling({ maxSockets: 1 })
  const refusal = new Error('no route for you')
  const option = new Agent({
    createConnection (options, callback) {
      if (options.host === 'refused.test') return callback(refusal)
      const socket = net.connect(srv.port, '127.0.0.1', () => callback(null, socket))
    }
  })
  try {
    const results = await Promise.all([
      agent.request('http://example.test/').then(r => r.text()),
      agent.request('http://example.test/').then(r => r.text()),
      get('http://example.test/', { agent }).then(r => r.body),
      get('http://example.test/', { agent }).then(r => r.body)
    ])
    for (const body of results) assert.match(body, /^127\.0\.0\.1 /)
    // maxSockets 1 held across both faces: never two connections at once.
    assert.strictEqual(srv.counts.maxOpen, 1)
    assert.strictEqual(made.length, agent.getCurrentStatus().createSocketCount)
    assert.strictEqual(made[0].host, 'example.test')
    assert.strictEqual(made[0].port, 80)
    assert.strictEqual(agent.getCurrentStatus().requestCount, 4)
    // A request with options of its own: its createConnection call gets them.
    await (await agent.request('http://example.test/', { servername: 'per-request.test' })).text()
    assert.strictEqual(made.at(-1).servername, 'per-request.test')
    assert.strictEqual(made[0].servername, 'example.test')

    assert.match(await (await option.request('http://example.test/')).text(), /^127\.0\.0\.1 /)
    const again = await option.request('http://example.test/')
    await again.text()
    assert.strictEqual(again.reused, true)
    await assert.rejects(option.request('http://refused.test/'), err => err === refusal)
    await assert.rejects(get('http://refused.test/', { agent: option }), err => err === refusal)
  } finally {
    agent.destroy()
    option.destroy()
    await srv.close()
  }
})

/**
 * An address on this machine that black-holes: a child process listens on 127.0.0.2:`port` with a
 * backlog of 1 (Node reads 0 as its default) and blocks its event loop at once, so it never accepts;
 * two connections fill its accept queue, after which the kernel drops SYNs to it. Resolves with the
 * child and the filling sockets once the queue is full.
 */
async function blackHole (port) {
  const { spawn } = require('node:child_process')
  const script = `
    const server = require('node:net').createServer()
    server.on('error', err => { console.log('error ' + err.code); process.exit(1) })
    server.listen({ host: '127.0.0.2', port: ${port}, backlog: 1 }, () => {
      console.log('ready')
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000)
    })`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = await once(child.stdout.setEncoding('utf8'), 'data')
  if (line.trim() !== 'ready') {
    child.kill()
    return null
  }
  const fill = [0, 1].map(() => net.connect(port, '127.0.0.2'))
  await Promise.all(fill.map(socket => once(socket, 'connect')))
  return { close () { for (const socket of fill) socket.destroy(); child.kill() } }
}

test('Happy Eyeballs: a black-holed first address costs the attempt timeout, not the connect timeout (both faces)', async t => {
  const srv = await listenCounting(okServer())
  const hole = await blackHole(srv.port)
  if (hole === null) {
    t.skip('127.0.0.2 cannot be bound here')
    await srv.close()
    return
  }
  const both = (host, options, callback) => callback(null, [{ address: '127.0.0.2', family: 4 }, { address: '127.0.0.1', family: 4 }])
  const agent = new Agent({ lookup: both, autoSelectFamilyAttemptTimeout: 50, connectTimeout: 60000 })
  const firstOnly = new Agent({ lookup: both, autoSelectFamily: false, connectTimeout: 300 })
  try {
    assert.match(await (await agent.request(`http://example.test:${srv.port}/`)).text(), /^127\.0\.0\.1 /)
    assert.match((await get(`http://example.test:${srv.port}/`, { agent })).body, /^127\.0\.0\.1 /)
    // Without autoSelectFamily only the first (black-holed) address is tried, as Node does.
    await assert.rejects(firstOnly.request(`http://example.test:${srv.port}/`), { code: 'ETIMEDOUT' })
  } finally {
    agent.destroy()
    firstOnly.destroy()
    hole.close()
    await srv.close()
  }
})

test('a fresh lookup closure per request: every request is served, and the agent\'s bookkeeping stays bounded', async () => {
  const srv = await listenCounting(okServer())
  const agent = new Agent({ keepAlive: false })
  try {
    // More requests than profiles are kept (256): old generations are forgotten as new ones come.
    for (let i = 0; i < 600; i++) {
      const lookup = (host, options, callback) => callback(null, [{ address: '127.0.0.1', family: 4 }])
      const res = await agent.request(`http://example.test:${srv.port}/`, { lookup })
      await res.text()
    }
    assert.strictEqual(srv.counts.opened, 600)
    // agentkeepalive counts a request when its socket is kept for another: none is without keep-alive.
    assert.strictEqual(agent.getCurrentStatus().requestCount, 0)
    // Internals, read only here: at most two generations of request functions are remembered.
    const connections = agent[Object.getOwnPropertySymbols(agent).find(s => s.description === 'connections')]
    assert.ok(connections.profiles.size <= 256)
    assert.ok(connections.functions.size + connections.retiredFunctions.size <= 2 * 256)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('a server that starts listening in the same turn as the request is listening when the agent connects, as with Node\'s agent (both faces)', async () => {
  // Node's agent connects a turn after http.request(); `server.listen(port, host)` listens a turn after
  // it is called: in that order. A connect made at once was refused (ECONNREFUSED).
  const freePort = async () => {
    const probe = net.createServer().listen(0, '127.0.0.1')
    await once(probe, 'listening')
    const { port } = probe.address()
    await new Promise(resolve => probe.close(resolve))
    return port
  }
  for (let i = 0; i < 3; i++) {
    for (const face of ['socket', 'promise']) {
      const port = await freePort()
      const agent = new Agent()
      const server = okServer().listen(port, '127.0.0.1')
      try {
        const url = `http://127.0.0.1:${port}/`
        const answered = face === 'socket'
          ? get(url, { agent })
          : agent.request(url).then(async res => ({ status: res.status, body: await res.text() }))
        assert.strictEqual((await answered).status, 200, face)
      } finally {
        agent.destroy()
        await new Promise(resolve => server.close(resolve))
      }
    }
  }
})

test('a refused connect is told as Node tells it, IPv6 included (`connect ECONNREFUSED ::1:port`, address without brackets), both faces', async () => {
  // A port nobody listens on, on each loopback.
  const closedPort = async host => {
    const probe = net.createServer().listen(0, host)
    await once(probe, 'listening')
    const { port } = probe.address()
    await new Promise(resolve => probe.close(resolve))
    return port
  }
  const fields = err => ({ code: err.code, errno: err.errno, syscall: err.syscall, address: err.address, port: err.port, message: err.message })
  for (const [host, inUrl] of [['127.0.0.1', '127.0.0.1'], ['::1', '[::1]']]) {
    const url = `http://${inUrl}:${await closedPort(host)}/`
    const node = new http.Agent()
    const ours = new Agent()
    try {
      const viaSocket = agent => get(url, { agent }).then(() => assert.fail('answered'), err => fields(err))
      const expected = await viaSocket(node)
      assert.strictEqual(expected.address, host)
      assert.deepStrictEqual(await viaSocket(ours), expected)
      assert.deepStrictEqual(fields(await ours.request(url).then(() => assert.fail('answered'), err => err)), expected)
    } finally {
      node.destroy()
      ours.destroy()
    }
  }
})
