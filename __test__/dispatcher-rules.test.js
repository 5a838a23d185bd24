'use strict'
// undici 6's rules for a dispatch, where its own test suite, run against the agent, found the agent
// behaving otherwise: each case side by side with undici's Agent on the same server on 127.0.0.1, over
// both ways the agent speaks a dispatched request (on the JS thread, and by hyper: taken while undici's
// connect channels have a subscriber).

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const net = require('node:net')
const { once } = require('node:events')
const { Readable } = require('node:stream')
const { execFile } = require('node:child_process')
const path = require('node:path')
const undici = require('undici')
const { Agent } = require('..')
const { listenCounting } = require('./helpers/faces')
const { ROUTES, along } = require('./helpers/routes')

/** An http origin on 127.0.0.1 that refuses connections: a port just freed. */
async function refusedOrigin () {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  await new Promise(resolve => server.close(resolve))
  return `http://127.0.0.1:${port}`
}

/** Runs `check(agent, name)` for undici's Agent and ours; closes both after. */
async function bothAgents (check) {
  for (const agent of [new undici.Agent(), new Agent()]) {
    try {
      await check(agent, agent instanceof Agent ? 'ours' : 'undici')
    } finally {
      await agent.destroy()
    }
  }
}

/** What `undici.request` gives: the status and body text, or the error's name, code and message. */
function outcome (promise) {
  return promise.then(async res => `${res.statusCode} ${await res.body.text()}`, err => `${err.name} ${err.code} ${err.message}`)
}

/** A server on 127.0.0.1 that writes `text` to each connection and reads nothing; `close` ends them all. */
async function rawAnswer (text) {
  const sockets = new Set()
  const server = net.createServer(socket => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.write(text)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const close = () => {
    for (const socket of sockets) socket.destroy()
    return new Promise(resolve => server.close(resolve))
  }
  return { origin: `http://127.0.0.1:${server.address().port}`, close }
}

/** Echoes the request's head (without its Host line) and body. */
function echoHead (req, res) {
  let body = ''
  req.on('data', chunk => { body += chunk })
  req.on('end', () => res.end(JSON.stringify({ headers: req.rawHeaders.filter((_, i, all) => all[i - (i % 2)].toLowerCase() !== 'host'), body })))
}

for (const route of ROUTES) {
  test(`[${route}] a path in absolute form naming another origin is never dialled: undici sends it to opts.origin, the agent refuses it (NotSupportedError); naming opts.origin it is sent there`, async () => {
    const srv = await listenCounting(http.createServer((req, res) => res.end(req.url)))
    const other = await listenCounting(http.createServer((req, res) => res.end('elsewhere')))
    try {
      await along(route, () => bothAgents(async (agent, name) => {
        // undici's Dispatcher API over either agent (the agent's own `request()` is its Promise face).
        const dispatched = opts => outcome(undici.Dispatcher.prototype.request.call(agent, opts))
        const foreign = await dispatched({ origin: srv.url, path: `${other.url}/x`, method: 'GET' })
        if (name === 'ours') assert.strictEqual(foreign, 'NotSupportedError UND_ERR_NOT_SUPPORTED an absolute-form path naming another origin than opts.origin is not supported')
        else assert.strictEqual(foreign, `200 ${other.url}/x`)
        assert.strictEqual(other.counts.opened, 0, name)
        // Naming opts.origin: undici sends the absolute form, the agent the origin form, to the same server.
        assert.strictEqual(await dispatched({ origin: srv.url, path: `${srv.url}/same?a=1`, method: 'GET' }), `200 ${name === 'ours' ? '' : srv.url}/same?a=1`)
      }))
    } finally {
      await srv.close()
      await other.close()
    }
  })

  test(`[${route}] the caller's Content-Length goes where the body is held or absent: the length sent is the body's (none for a GET, 0 for a POST), so a GET declaring a body it has not is answered, as by undici`, async () => {
    const srv = await listenCounting(http.createServer(echoHead))
    try {
      const seen = {}
      await along(route, () => bothAgents(async (agent, name) => {
        seen[name] = []
        for (const [method, body] of [['GET', undefined], ['DELETE', undefined], ['POST', undefined], ['POST', 'abc']]) {
          const res = await undici.request(`${srv.url}/`, { dispatcher: agent, method, body, headers: { 'content-length': '10', 'x-a': '1' }, headersTimeout: 5000 }).catch(err => err)
          seen[name].push(res instanceof Error ? `${method} ${res.code}` : `${method} ${await res.body.text()}`)
        }
      }))
      assert.deepStrictEqual(seen.ours, seen.undici)
      assert.deepStrictEqual(seen.ours, [
        'GET {"headers":["connection","keep-alive","x-a","1"],"body":""}',
        'DELETE {"headers":["connection","keep-alive","x-a","1"],"body":""}',
        'POST {"headers":["connection","keep-alive","x-a","1","content-length","0"],"body":""}',
        'POST UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'
      ])
    } finally {
      await srv.close()
    }
  })

  test(`[${route}] an upload the server stops reading, with no answer, fails with HeadersTimeoutError once the connection has taken nothing for headersTimeout, as undici's (it hung)`, async () => {
    const sockets = new Set()
    const server = net.createServer(socket => { sockets.add(socket); socket.pause() })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const origin = `http://127.0.0.1:${server.address().port}`
    try {
      await along(route, () => bothAgents(async (agent, name) => {
        // Far more than the kernel's buffers hold, produced as fast as it is taken.
        const body = Readable.from((function * () { for (let i = 0; i < 4096; i++) yield Buffer.alloc(16384) })())
        const result = await outcome(undici.request(origin, { dispatcher: agent, method: 'POST', body, headersTimeout: 200 }))
        assert.strictEqual(result, 'HeadersTimeoutError UND_ERR_HEADERS_TIMEOUT Headers Timeout Error', name)
      }))
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  })

  test(`[${route}] a 101 nobody asked for is undici's SocketError 'bad upgrade' (it reached the handler as an answer, crashing undici's request()); a response llhttp refuses is undici's HTTPParserError`, async () => {
    const upgrade = await rawAnswer('HTTP/1.1 101 Switching Protocols\r\nUpgrade: example/1\r\nConnection: Upgrade\r\n\r\n')
    const garbage = await rawAnswer('HTT/1.1 200 OK\r\n\r\n')
    try {
      await along(route, () => bothAgents(async (agent, name) => {
        assert.strictEqual(await outcome(undici.request(upgrade.origin, { dispatcher: agent })), 'SocketError UND_ERR_SOCKET bad upgrade', name)
        const err = await undici.request(garbage.origin, { dispatcher: agent }).then(() => null, err => err)
        assert.ok(err instanceof undici.errors.HTTPParserError, name)
        assert.deepStrictEqual([err.name, err.code], ['HTTPParserError', 'HPE_INVALID_CONSTANT'], name)
        assert.match(err.message, /^Response does not match the HTTP\/1\.1 protocol \(Expected HTTP\//, name)
      }))
    } finally {
      await upgrade.close()
      await garbage.close()
    }
  })

  test(`[${route}] bodies undici takes: any iterable of chunks (an array, a generator), sent chunked; null header values as empty`, async () => {
    const srv = await listenCounting(http.createServer(echoHead))
    try {
      const seen = {}
      await along(route, () => bothAgents(async (agent, name) => {
        seen[name] = []
        for (const body of [['hel', Buffer.from('lo')], { * [Symbol.iterator] () { yield 'a'; yield 'b' } }]) {
          seen[name].push(await outcome(undici.request(`${srv.url}/`, { dispatcher: agent, method: 'POST', body, headers: { 'x-n': null, 'x-l': [null, 'v'] } })))
        }
      }))
      assert.deepStrictEqual(seen.ours, seen.undici)
      assert.deepStrictEqual(seen.ours.map(text => JSON.parse(text.slice(4))), [
        { headers: ['connection', 'keep-alive', 'x-n', '', 'x-l', '', 'x-l', 'v', 'transfer-encoding', 'chunked'], body: 'hello' },
        { headers: ['connection', 'keep-alive', 'x-n', '', 'x-l', '', 'x-l', 'v', 'transfer-encoding', 'chunked'], body: 'ab' }
      ])
    } finally {
      await srv.close()
    }
  })

  test(`[${route}] a v1 handler: onBodySent for each chunk sent and onRequestSent once, before onHeaders; one without onConnect (or onHeaders, onData, onComplete) fails through onError, as undici checks it`, async () => {
    const srv = await listenCounting(http.createServer(echoHead))
    try {
      const logs = {}
      await along(route, () => bothAgents(async (agent, name) => {
        const log = logs[name] = []
        await new Promise(resolve => agent.dispatch({ origin: srv.url, path: '/', method: 'GET' }, {
          onHeaders () {}, onData () {}, onComplete: resolve, onError (err) { log.push(`${err.code} ${err.message}`); resolve() }
        }))
        // undici's order of checks: onBodySent before the response's callbacks.
        await new Promise(resolve => agent.dispatch({ origin: srv.url, path: '/', method: 'GET' }, {
          onConnect () {}, onBodySent: 5, onHeaders () {}, onData () {}, onError (err) { log.push(`${err.code} ${err.message}`); resolve() }
        }))
        for (const body of ['held', Readable.from(['s1', 's2'])]) {
          await new Promise(resolve => agent.dispatch({ origin: srv.url, path: '/', method: 'POST', body }, {
            onConnect () {},
            onBodySent (chunk) { log.push(`bodySent ${chunk}`) },
            onRequestSent () { log.push('requestSent') },
            onHeaders (status) { log.push(`headers ${status}`) },
            onData () {},
            onComplete () { log.push('complete'); resolve() },
            onError (err) { log.push(err.message); resolve() }
          }))
        }
      }))
      assert.deepStrictEqual(logs.ours, logs.undici)
      assert.deepStrictEqual(logs.ours, ['UND_ERR_INVALID_ARG invalid onConnect method', 'UND_ERR_INVALID_ARG invalid onBodySent method',
        'bodySent held', 'requestSent', 'headers 200', 'complete',
        'bodySent s1', 'bodySent s2', 'requestSent', 'headers 200', 'complete'])
    } finally {
      await srv.close()
    }
  })
}

test('what a handler\'s onError throws is thrown again on its own: every other request failing with it is still told', async () => {
  // In a process of its own: the throws end as uncaught exceptions, which it reports.
  const script = `
    const { Agent } = require(${JSON.stringify(path.join(__dirname, '..'))})
    const told = []
    process.on('uncaughtException', err => told.push('uncaught ' + err.message))
    const agent = new Agent({ maxSockets: 1 })
    for (let i = 0; i < 3; i++) {
      agent.dispatch({ origin: process.argv[1], path: '/', method: 'GET' }, {
        onConnect () {}, onHeaders () {}, onData () {}, onComplete () {},
        onError (err) {
          told.push('onError ' + i + ' ' + err.code)
          if (i === 2) setImmediate(() => { console.log(JSON.stringify(told)); agent.destroy() })
          throw new Error('thrown by ' + i)
        }
      })
    }`
  const origin = await refusedOrigin()
  const stdout = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script, origin], { timeout: 30000 }, (err, out) => err ? reject(err) : resolve(out))
  })
  assert.deepStrictEqual(JSON.parse(stdout), ['onError 0 ECONNREFUSED', 'onError 1 ECONNREFUSED', 'onError 2 ECONNREFUSED',
    'uncaught thrown by 0', 'uncaught thrown by 1', 'uncaught thrown by 2'])
})

test('what an upgrade\'s taker throws fails the socket it was handed, as undici fails it', async () => {
  const tunnels = new Set()
  const server = http.createServer()
  server.on('connect', (req, socket) => {
    tunnels.add(socket)
    socket.write('HTTP/1.1 200 Connection established\r\n\r\n')
  })
  const srv = await listenCounting(server)
  try {
    await bothAgents(async (agent, name) => {
      const thrown = new Error('taker failed')
      const heard = await new Promise(resolve => undici.connect(srv.url, { dispatcher: agent }, (err, { socket }) => {
        assert.ifError(err)
        socket.on('error', resolve)
        throw thrown
      }))
      assert.strictEqual(heard, thrown, name)
    })
  } finally {
    // A tunnel is the server's no longer: it closes them itself.
    for (const socket of tunnels) socket.destroy()
    await srv.close()
  }
})

test('an upgrade whose protocol holds CR, LF or NUL is refused before anything is sent, as undici refuses it', async () => {
  const srv = await listenCounting(http.createServer(echoHead))
  try {
    await bothAgents(async (agent, name) => {
      for (const protocol of ['websocket\r\n\r\nSET pwned true', 'websocket\rinjected', 'websocket\ninjected', 'websocket\0injected']) {
        assert.strictEqual(await outcome(undici.upgrade(srv.url, { dispatcher: agent, protocol })), 'InvalidArgumentError UND_ERR_INVALID_ARG invalid upgrade header', name)
      }
      assert.strictEqual(await outcome(undici.request(srv.url, { dispatcher: agent, upgrade: 'websocket\r\n\r\nGET /smuggled HTTP/1.1' })),
        'InvalidArgumentError UND_ERR_INVALID_ARG invalid upgrade header', name)
    })
    assert.strictEqual(srv.counts.opened, 0)
  } finally {
    await srv.close()
  }
})

for (const route of ROUTES) {
  test(`[${route}] a request body destroyed before its end (no error of its own) fails the request with undici's RequestAbortedError`, async () => {
    const srv = await listenCounting(http.createServer(echoHead))
    try {
      await along(route, () => bothAgents(async (agent, name) => {
        const body = new Readable({ read () {} })
        body.push('a')
        // Once the request is on its way: its first chunk has been taken.
        body.once('data', () => setImmediate(() => body.destroy()))
        assert.strictEqual(await outcome(undici.request(srv.url, { dispatcher: agent, method: 'POST', body })), 'AbortError UND_ERR_ABORTED Request aborted', name)
      }))
    } finally {
      await srv.close()
    }
  })
}

test('close() after destroy() fails with ClientDestroyedError, as undici\'s: rejected, or given to its callback', async () => {
  const seen = {}
  for (const agent of [new undici.Agent(), new Agent()]) {
    await agent.destroy()
    const name = agent instanceof Agent ? 'ours' : 'undici'
    seen[name] = [
      await agent.close().then(() => 'resolved', err => `${err.name} ${err.code}`),
      await new Promise(resolve => agent.close(err => resolve(`callback ${err?.code}`)))
    ]
  }
  assert.deepStrictEqual(seen.ours, seen.undici)
  assert.deepStrictEqual(seen.ours, ['ClientDestroyedError UND_ERR_DESTROYED', 'callback UND_ERR_DESTROYED'])
})

// Spoken on the JS thread, which the pipe carrier (forced, internal) leaves to hyper.
const EXCHANGES_OFF = process.env.KEEPALIVE_AGENT_SOCKET_CARRIER === 'pipe' && 'dispatched requests go to hyper with the pipe forced'

test('[exchange] a SocketError describes its connection as undici\'s does (err.socket): addresses and bytes moved, also in \'disconnect\'', { skip: EXCHANGES_OFF }, async () => {
  const srv = await listenCounting(http.createServer((req, res) => {
    if (req.url === '/cut') {
      res.writeHead(200, { 'content-length': 10 })
      res.write('abc')
      setImmediate(() => res.destroy())
    } else {
      res.destroy()
    }
  }))
  try {
    const seen = {}
    await bothAgents(async (agent, name) => {
      const heard = []
      agent.on('disconnect', (origin, targets, err) => heard.push(err))
      seen[name] = []
      for (const path of ['/', '/cut']) {
        const err = await undici.request(`${srv.url}${path}`, { dispatcher: agent }).then(res => res.body.text()).catch(err => err)
        assert.strictEqual(err.code, 'UND_ERR_SOCKET', name)
        const { localPort, remotePort, ...rest } = err.socket
        assert.strictEqual(typeof localPort, 'number', name)
        assert.strictEqual(remotePort, srv.port, name)
        seen[name].push(rest)
      }
      while (heard.length < 2) await once(agent, 'disconnect')
      assert.deepStrictEqual(heard.map(err => [err.code, err.socket?.remoteAddress]), [['UND_ERR_SOCKET', '127.0.0.1'], ['UND_ERR_SOCKET', '127.0.0.1']], name)
    })
    assert.deepStrictEqual(seen.ours, seen.undici)
    assert.deepStrictEqual(seen.ours.map(({ remoteAddress, remoteFamily, localAddress, bytesRead }) => [remoteAddress, remoteFamily, localAddress, bytesRead > 0]),
      [['127.0.0.1', 'IPv4', '127.0.0.1', false], ['127.0.0.1', 'IPv4', '127.0.0.1', true]])
  } finally {
    await srv.close()
  }
})
