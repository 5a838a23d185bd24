'use strict'
// undici's Agent options given to this agent, as code moving from `new undici.Agent({ ... })` gives
// them: each one holds as on undici's Agent (side by side with it where both can run), on every face
// it concerns, or is refused at construction; none is ignored. Every server is on 127.0.0.1.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const https = require('node:https')
const net = require('node:net')
const { once } = require('node:events')
const { Readable } = require('node:stream')
const undici = require('undici')
const { Agent, HttpsAgent } = require('..')
const { selfSigned } = require('../examples/certs')
const { listenCounting, get } = require('./helpers/faces')
const { ROUTES, along } = require('./helpers/routes')

const cert = selfSigned()

/** An https server on 127.0.0.1 with a self-signed certificate, answering 'secure'. */
function secureServer () {
  return listenCounting(https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => res.end('secure')))
}

/** What fetch gives: the body text, or its failure's cause as `name code message`. */
function fetched (url, dispatcher) {
  return fetch(url, { dispatcher }).then(res => res.text()).catch(err => `${err.cause?.name} ${err.cause?.code} ${err.cause?.message}`)
}

/** What `undici.request` gives: the status and body text, or the error's name, code and message. */
function requested (url, dispatcher, options) {
  return undici.request(url, { dispatcher, ...options })
    .then(async res => `${res.statusCode} ${await res.body.text()}`)
    .catch(err => `${err.name} ${err.code} ${err.message}`)
}

/** Runs `check(agent, name)` with undici's Agent and ours, both made with `options`; destroys both after. */
async function bothAgents (options, check, Ours = Agent) {
  for (const [name, agent] of [['undici', new undici.Agent(options)], ['ours', new Ours(options)]]) {
    try {
      await check(agent, name)
    } finally {
      await agent.destroy()
    }
  }
}

test('connect.lookup is asked for every connection, on each face; its error fails the request and nothing is dialled', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end('reached')))
  try {
    const asked = []
    const guard = (host, options, callback) => {
      asked.push(host)
      callback(Object.assign(new Error(`${host} is not allowed`), { code: 'EBLOCKED' }))
    }
    const url = `http://localhost:${srv.port}/`
    await bothAgents({ connect: { lookup: guard } }, async (agent, name) => {
      asked.length = 0
      assert.strictEqual(await fetched(url, agent), 'Error EBLOCKED localhost is not allowed', name)
      assert.deepStrictEqual(asked, ['localhost'], name)
    })
    const agent = new Agent({ connect: { lookup: guard } })
    try {
      await assert.rejects(agent.request(url), { code: 'EBLOCKED', message: 'localhost is not allowed' })
      await assert.rejects(get(url, agent), { code: 'EBLOCKED', message: 'localhost is not allowed' })
      assert.deepStrictEqual(asked, ['localhost', 'localhost', 'localhost'])
    } finally {
      agent.destroy()
    }
    assert.strictEqual(srv.counts.opened, 0)

    // undici dials each origin's own port whatever `connect` says, on every face.
    const ownPort = new Agent({ connect: { port: 1, host: '127.0.0.1' } })
    try {
      assert.strictEqual(await fetched(url.replace('localhost', '127.0.0.1'), ownPort), 'reached')
      assert.strictEqual(String((await get(url.replace('localhost', '127.0.0.1'), ownPort)).body), 'reached')
    } finally {
      ownPort.destroy()
    }

    // A lookup that lets the host through is dialled where it says.
    const allow = new Agent({ connect: { lookup: (host, options, callback) => callback(null, [{ address: '127.0.0.1', family: 4 }]) } })
    try {
      assert.strictEqual(await fetched(url, allow), 'reached')
    } finally {
      allow.destroy()
    }
  } finally {
    await srv.close()
  }
})

test('connect.ca and connect.rejectUnauthorized decide trust as on undici\'s Agent, on each face', async () => {
  const srv = await secureServer()
  try {
    const url = `https://127.0.0.1:${srv.port}/`
    await bothAgents({ connect: { ca: cert.cert } }, async (agent, name) => {
      assert.strictEqual(await fetched(url, agent), 'secure', name)
    })
    await bothAgents({ connect: { rejectUnauthorized: false } }, async (agent, name) => {
      assert.strictEqual(await fetched(url, agent), 'secure', name)
    })
    await bothAgents({}, async (agent, name) => {
      assert.match(await fetched(url, agent), /DEPTH_ZERO_SELF_SIGNED_CERT/, name)
    })
    // The connect object wins over the same option beside it, as undici reads only the object.
    const agent = new HttpsAgent({ rejectUnauthorized: true, connect: { ca: cert.cert, rejectUnauthorized: false } })
    try {
      assert.strictEqual(await (await agent.request(url)).text(), 'secure')
      assert.strictEqual(String((await get(url, agent)).body), 'secure')
    } finally {
      agent.destroy()
    }
  } finally {
    await srv.close()
  }
})

test('a connect function is undici\'s connector: asked as undici asks it, its socket carries the request', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end('via connector')))
  const tlsSrv = await listenCounting(https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => res.end('via tls connector')))
  try {
    const asked = []
    const connector = (options, callback) => {
      asked.push(options)
      const socket = net.connect({ host: options.hostname, port: Number(options.port) })
      socket.once('connect', () => callback(null, socket))
      socket.once('error', callback)
    }
    const seen = {}
    await bothAgents({ connect: connector }, async (agent, name) => {
      asked.length = 0
      assert.strictEqual(await fetched(`${srv.url}/`, agent), 'via connector', name)
      seen[name] = asked.map(({ httpSocket, ...rest }) => rest)
    })
    assert.deepStrictEqual(seen.ours, seen.undici)
    assert.deepStrictEqual(seen.ours, [{ host: `127.0.0.1:${srv.port}`, hostname: '127.0.0.1', protocol: 'http:', port: String(srv.port), servername: null, localAddress: null }])

    // An IPv6 origin: `host` in brackets, `hostname` bare. (This connector dials 127.0.0.1 whatever it is asked.)
    const toLoopback = (options, callback) => {
      asked.push(options)
      const socket = net.connect({ host: '127.0.0.1', port: Number(options.port) })
      socket.once('connect', () => callback(null, socket))
      socket.once('error', callback)
    }
    await bothAgents({ connect: toLoopback }, async (agent, name) => {
      asked.length = 0
      assert.strictEqual(await fetched(`http://[::1]:${srv.port}/`, agent), 'via connector', name)
      seen[name] = asked.map(({ host, hostname, port }) => ({ host, hostname, port }))
    })
    assert.deepStrictEqual(seen.ours, seen.undici)
    assert.deepStrictEqual(seen.ours, [{ host: `[::1]:${srv.port}`, hostname: '::1', port: String(srv.port) }])

    // undici's own connector, as code builds it: TLS in the socket it makes.
    const connect = undici.buildConnector({ rejectUnauthorized: false })
    await bothAgents({ connect }, async (agent, name) => {
      assert.strictEqual(await fetched(`${tlsSrv.url}/`, agent), 'via tls connector', name)
      assert.strictEqual(await requested(`${tlsSrv.url}/`, agent), '200 via tls connector', name)
    })

    // A connector's error fails the request.
    const refusing = (options, callback) => callback(Object.assign(new Error('no route for you'), { code: 'ENOROUTE' }))
    await bothAgents({ connect: refusing }, async (agent, name) => {
      assert.strictEqual(await fetched(`${srv.url}/`, agent), 'Error ENOROUTE no route for you', name)
    })
  } finally {
    await srv.close()
    await tlsSrv.close()
  }
})

test('connect.timeout bounds making a connection; 0 (there, or as connectTimeout) is taken as no limit', async () => {
  // A lookup that never answers holds the connection in the making.
  const stuck = []
  const agent = new Agent({ connect: { timeout: 50, lookup: (host, options, callback) => stuck.push(callback) } })
  try {
    await assert.rejects(agent.request('http://localhost:9/'), { code: 'ETIMEDOUT' })
    assert.strictEqual(stuck.length, 1)
  } finally {
    agent.destroy()
  }
  const srv = await listenCounting(http.createServer((req, res) => res.end('ok')))
  for (const unbounded of [new Agent({ connect: { timeout: 0 } }), new Agent({ connectTimeout: 0 })]) {
    try {
      assert.strictEqual(await (await unbounded.request(`${srv.url}/`)).text(), 'ok')
    } finally {
      unbounded.destroy()
    }
  }
  await srv.close()
})

test('connections caps the connections per origin, as maxSockets', async () => {
  const held = []
  const sockets = new Set()
  const srv = await listenCounting(http.createServer((req, res) => {
    sockets.add(req.socket)
    held.push(res)
    if (held.length === 3) for (const r of held.splice(0)) r.end('done')
  }))
  try {
    for (const [cap, expected] of [[1, 1], [0, 3], [null, 3]]) {
      for (const [name, agent] of [['undici', new undici.Agent({ connections: cap, pipelining: 1 })], ['ours', new Agent({ connections: cap })]]) {
        // Each agent counted from none open: the last one's connections are gone.
        await Promise.all([...sockets].map(socket => socket.destroyed || once(socket, 'close')))
        srv.counts.maxOpen = 0
        // With one connection the requests go one by one: the server answers each as it comes.
        const answer = cap === 1 ? setInterval(() => { for (const r of held.splice(0)) r.end('done') }, 5) : null
        try {
          const bodies = await Promise.all([0, 1, 2].map(() => requested(`${srv.url}/`, agent)))
          assert.deepStrictEqual(bodies, ['200 done', '200 done', '200 done'], name)
          assert.strictEqual(srv.counts.maxOpen, expected, `${name}, connections: ${cap}`)
        } finally {
          clearInterval(answer)
          await agent.destroy()
        }
      }
    }
    assert.strictEqual(new Agent({ connections: 4 }).maxSockets, 4)
    assert.strictEqual(new Agent({ connections: 4, maxSockets: 2 }).maxSockets, 2)
  } finally {
    await srv.close()
  }
})

for (const route of ROUTES) {
  test(`headersTimeout and bodyTimeout given to the agent hold for dispatches that do not say (${route})`, async () => {
    const srv = await listenCounting(http.createServer((req, res) => {
      if (req.url === '/silent') return
      res.writeHead(200, { 'content-length': 10 })
      res.write('12345')
    }))
    try {
      await along(route, () => bothAgents({ headersTimeout: 100, bodyTimeout: 100 }, async (agent, name) => {
        assert.strictEqual(await requested(`${srv.url}/silent`, agent), 'HeadersTimeoutError UND_ERR_HEADERS_TIMEOUT Headers Timeout Error', name)
        assert.strictEqual(await requested(`${srv.url}/stalls`, agent), 'BodyTimeoutError UND_ERR_BODY_TIMEOUT Body Timeout Error', name)
        // A dispatch's own limit wins over the agent's.
        const res = await undici.request(`${srv.url}/silent`, { dispatcher: agent, headersTimeout: 400 }).catch(err => err)
        assert.strictEqual(res.code, 'UND_ERR_HEADERS_TIMEOUT', name)
      }))
    } finally {
      await srv.close()
    }
  })

  test(`maxResponseSize fails a longer body with undici's ResponseExceededMaxSizeError (${route})`, async () => {
    let streamed = null
    const srv = await listenCounting(http.createServer(async (req, res) => {
      if (req.url !== '/streamed') return res.end('x'.repeat(Number(req.url.slice(1))))
      // 8 MiB, as fast as the client takes it.
      streamed = res
      const chunk = Buffer.alloc(64 * 1024, 'x')
      for (let i = 0; i < 128 && !res.destroyed; i++) {
        if (!res.write(chunk)) await Promise.race([once(res, 'drain'), once(res, 'close')])
      }
      res.end()
    }))
    try {
      await along(route, () => bothAgents({ maxResponseSize: 100 }, async (agent, name) => {
        assert.strictEqual(await requested(`${srv.url}/100`, agent), `200 ${'x'.repeat(100)}`, name)
        const exceeded = 'ResponseExceededMaxSizeError UND_ERR_RES_EXCEEDED_MAX_SIZE Response content exceeded max size'
        assert.strictEqual(await requested(`${srv.url}/101`, agent), exceeded, name)
        assert.strictEqual(await fetched(`${srv.url}/101`, agent), exceeded, name)
        assert.strictEqual(await requested(`${srv.url}/streamed`, agent), exceeded, name)
        // The rest of the body is not read: its connection closes under it.
        if (!streamed.destroyed) await once(streamed, 'close')
        assert.strictEqual(streamed.writableFinished, false, name)
      }))
    } finally {
      await srv.close()
    }
  })
}

for (const route of ROUTES) {
  test(`a response head whose headers come to maxHeaderSize fails with undici's HeadersOverflowError; 16 KiB by default (${route})`, async () => {
    const srv = await listenCounting(http.createServer((req, res) => {
      res.setHeader('x-big', 'x'.repeat(Number(req.url.slice(1))))
      res.end('fits')
    }))
    try {
      const overflow = 'HeadersOverflowError UND_ERR_HEADERS_OVERFLOW Headers Overflow Error'
      await along(route, async () => {
        await bothAgents({}, async (agent, name) => {
          assert.strictEqual(await requested(`${srv.url}/1000`, agent), '200 fits', name)
          assert.strictEqual(await requested(`${srv.url}/20000`, agent), overflow, name)
          assert.strictEqual(await fetched(`${srv.url}/20000`, agent), overflow, name)
        })
        await bothAgents({ maxHeaderSize: 32 * 1024 }, async (agent, name) => {
          assert.strictEqual(await requested(`${srv.url}/20000`, agent), '200 fits', name)
        })
        await bothAgents({ maxHeaderSize: 200 }, async (agent, name) => {
          assert.strictEqual(await requested(`${srv.url}/10`, agent), '200 fits', name)
          assert.strictEqual(await requested(`${srv.url}/300`, agent), overflow, name)
        })
      })
    } finally {
      await srv.close()
    }
  })
}

test('keepAliveTimeoutThreshold is agentKeepAliveTimeoutBuffer; connect.keepAliveInitialDelay is keepAliveMsecs', () => {
  assert.strictEqual(new Agent({ keepAliveTimeoutThreshold: 500 }).agentKeepAliveTimeoutBuffer, 500)
  assert.strictEqual(new Agent({ keepAliveTimeoutThreshold: 500, agentKeepAliveTimeoutBuffer: 200 }).agentKeepAliveTimeoutBuffer, 200)
  assert.strictEqual(new Agent({ connect: { keepAliveInitialDelay: 30000 } }).keepAliveMsecs, 30000)
})

test('keepAliveMaxTimeout caps what a server\'s Keep-Alive hint keeps a connection idle, as undici\'s: the socket face\'s idle socket says so', async () => {
  const srv = await listenCounting(http.createServer((req, res) => {
    res.setHeader('keep-alive', 'timeout=30')
    res.end('ok')
  }))
  const agents = [new Agent({ keepAliveTimeout: 30000, keepAliveMaxTimeout: 500 }), new Agent({ keepAliveTimeout: 30000 })]
  try {
    const idle = []
    for (const agent of agents) {
      const req = http.get(`${srv.url}/`, { agent })
      const [res] = await once(req, 'response')
      res.resume()
      const socket = req.socket
      await once(socket, 'free')
      await new Promise(resolve => setImmediate(resolve))
      idle.push(socket.timeout)
    }
    // undici keeps it min(30 s less its threshold, 500 ms); without the cap, the hint less the buffer.
    assert.deepStrictEqual(idle, [500, 29000])
  } finally {
    for (const agent of agents) agent.destroy()
    await srv.close()
  }
})

test('undici\'s options that cannot hold, or hold a wrong value, are refused at construction', () => {
  // Values undici refuses: with undici's InvalidArgumentError and message, as its Agent throws them
  // (or the Pool and Client it makes for an origin, whose options they are).
  const origin = 'http://127.0.0.1:1'
  const undiciRefuses = [
    [{ connect: 5 }, 'connect must be a function or an object', options => new undici.Agent(options)],
    [{ factory: 5 }, 'factory must be a function.', options => new undici.Agent(options)],
    [{ factory: null }, 'factory must be a function.', options => new undici.Agent(options)],
    [{ connections: -1 }, 'invalid connections', options => new undici.Pool(origin, options)],
    [{ connections: Infinity }, 'invalid connections', options => new undici.Pool(origin, options)],
    [{ headersTimeout: '10s' }, 'headersTimeout must be a positive integer or zero', options => new undici.Client(origin, options)],
    [{ bodyTimeout: 1.5 }, 'bodyTimeout must be a positive integer or zero', options => new undici.Client(origin, options)],
    [{ maxResponseSize: -2 }, 'maxResponseSize must be a positive number', options => new undici.Client(origin, options)],
    [{ keepAliveTimeoutThreshold: 'soon' }, 'invalid keepAliveTimeoutThreshold', options => new undici.Client(origin, options)],
    [{ maxHeaderSize: Infinity }, 'invalid maxHeaderSize', options => new undici.Client(origin, options)],
    [{ maxRequestsPerClient: -1 }, 'maxRequestsPerClient must be a positive number', options => new undici.Client(origin, options)],
    [{ keepAliveMaxTimeout: 0 }, 'invalid keepAliveMaxTimeout', options => new undici.Client(origin, options)]
  ]
  for (const [options, message, made] of undiciRefuses) {
    assert.throws(() => made(options), { code: 'UND_ERR_INVALID_ARG', message }, `undici: ${message}`)
    assert.throws(() => new Agent(options), err => err instanceof undici.errors.InvalidArgumentError && err.code === 'UND_ERR_INVALID_ARG' && err.message === message, message)
  }
  // What only this agent cannot do.
  const refused = [
    [{ factory: () => null }, 'ERR_INVALID_ARG_VALUE', /options\.factory' is not supported/],
    [{ connect: () => null, createConnection: () => null }, 'ERR_INVALID_ARG_VALUE', /cannot be given with createConnection/],
    [{ connect: { timeout: -1 } }, 'ERR_OUT_OF_RANGE', /"connect\.timeout"/],
    // undici's own message, which its dispatchers give a bad interceptor set later; here, at once.
    [{ interceptors: { Agent: [5] } }, 'UND_ERR_INVALID_ARG', /^interceptor must be an function$/]
  ]
  for (const [options, code, message] of refused) {
    assert.throws(() => new Agent(options), { code, message }, JSON.stringify(options))
  }
})

test('pipelining: 0 disables keep-alive as on undici\'s Agent: each request says Connection: close, on a connection of its own', async () => {
  const seen = []
  const srv = await listenCounting(http.createServer((req, res) => {
    seen.push([req.headers.connection, req.socket.remotePort])
    res.end('ok')
  }))
  try {
    const results = {}
    await bothAgents({ pipelining: 0 }, async (agent, name) => {
      seen.length = 0
      for (let i = 0; i < 2; i++) assert.strictEqual(await requested(`${srv.url}/`, agent), '200 ok', name)
      results[name] = { said: seen.map(([connection]) => connection), connections: new Set(seen.map(([, port]) => port)).size }
    })
    assert.deepStrictEqual(results.ours, results.undici)
    assert.deepStrictEqual(results.ours, { said: ['close', 'close'], connections: 2 })
  } finally {
    await srv.close()
  }
})

test('tls, undici\'s other object of TLS options, holds beside connect (which wins)', async () => {
  const srv = await secureServer()
  try {
    const url = `https://127.0.0.1:${srv.port}/`
    const pinned = () => new Error('pin mismatch')
    await bothAgents({ tls: { ca: cert.cert, checkServerIdentity: pinned } }, async (agent, name) => {
      assert.strictEqual(await fetched(url, agent), 'Error undefined pin mismatch', name)
    })
    await bothAgents({ tls: { ca: cert.cert } }, async (agent, name) => {
      assert.strictEqual(await fetched(url, agent), 'secure', name)
    })
    await bothAgents({ tls: { rejectUnauthorized: false }, connect: { rejectUnauthorized: true } }, async (agent, name) => {
      assert.match(await fetched(url, agent), /DEPTH_ZERO_SELF_SIGNED_CERT/, name)
    })
  } finally {
    await srv.close()
  }
})

test('interceptors.Agent (undici 6) run around every dispatch, the first outermost; a guard among them holds', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end(`reached ${req.url}`)))
  try {
    const results = {}
    await bothAgents({
      interceptors: {
        Agent: [
          dispatch => (opts, handler) => { results.order.push('first'); return dispatch(opts, handler) },
          dispatch => (opts, handler) => {
            results.order.push('second')
            if (opts.path === '/blocked') {
              handler.onError(new Error('blocked by guard'))
              return true
            }
            return dispatch(opts, handler)
          }
        ]
      }
    }, async (agent, name) => {
      results.order = []
      assert.strictEqual(await requested(`${srv.url}/open`, agent), '200 reached /open', name)
      assert.strictEqual(await requested(`${srv.url}/blocked`, agent), 'Error undefined blocked by guard', name)
      assert.strictEqual(await fetched(`${srv.url}/blocked`, agent), 'Error undefined blocked by guard', name)
      results[name] = results.order
    })
    assert.deepStrictEqual(results.ours, results.undici)
    assert.deepStrictEqual(results.ours, ['first', 'second', 'first', 'second', 'first', 'second'])
    assert.strictEqual(srv.counts.opened, 2)
  } finally {
    await srv.close()
  }
})

test('a failure found within dispatch() comes out of dispatch() when the handler\'s onError throws it, as from undici\'s', async () => {
  const results = {}
  await bothAgents({}, async (agent, name) => {
    results[name] = []
    for (const opts of [{ origin: 'http://127.0.0.1:1', path: '/', method: 'GET', headers: { 'bad key': 'x' } }, { origin: 'http://127.0.0.1:1', path: 5 }]) {
      try {
        agent.dispatch(opts, { onConnect () {}, onHeaders () {}, onData () {}, onComplete () {}, onError (err) { throw err } })
        results[name].push('returned')
      } catch (err) {
        results[name].push(`threw ${err.code} ${err.message}`)
      }
    }
  })
  assert.deepStrictEqual(results.ours, results.undici)
  assert.deepStrictEqual(results.ours, ['threw UND_ERR_INVALID_ARG invalid header key', 'threw UND_ERR_INVALID_ARG path must be a string'])
})

for (const route of ROUTES) {
  test(`maxHeaderSize counts trailers too, and an upgrade's head (${route})`, async () => {
    const srv = await listenCounting(http.createServer((req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked', trailer: 'x-t' })
      res.write('ok')
      res.addTrailers({ 'x-t': 'y'.repeat(Number(req.url.slice(1))) })
      res.end()
    }))
    const upgrades = net.createServer(socket => socket.once('data', () => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nx-big: ${'z'.repeat(2000)}\r\n\r\n`)
    }))
    upgrades.listen(0, '127.0.0.1')
    await once(upgrades, 'listening')
    try {
      const overflow = 'HeadersOverflowError UND_ERR_HEADERS_OVERFLOW Headers Overflow Error'
      await along(route, async () => {
        await bothAgents({}, async (agent, name) => {
          assert.strictEqual(await requested(`${srv.url}/100`, agent), '200 ok', name)
          assert.strictEqual(await requested(`${srv.url}/20000`, agent), overflow, name)
        })
        await bothAgents({ maxHeaderSize: 1000 }, async (agent, name) => {
          const upgraded = await undici.upgrade(`http://127.0.0.1:${upgrades.address().port}/`, { dispatcher: agent })
            .then(({ socket }) => { socket.destroy(); return 'upgraded' }, err => `${err.name} ${err.code} ${err.message}`)
          assert.strictEqual(upgraded, overflow, name)
        })
      })
    } finally {
      await srv.close()
      await new Promise(resolve => upgrades.close(resolve))
    }
  })
}

for (const route of ROUTES) {
  test(`maxRequestsPerClient: a connection closes after serving that many requests, and the next is made anew (${route})`, async () => {
    const srv = await listenCounting(http.createServer((req, res) => res.end('ok')))
    try {
      await along(route, async () => {
        // undici's own test: four requests one after another, two per connection.
        await bothAgents({ maxRequestsPerClient: 2 }, async (agent, name) => {
          const opened = srv.counts.opened
          for (let i = 0; i < 4; i++) assert.strictEqual(await requested(`${srv.url}/`, agent), '200 ok', name)
          assert.strictEqual(srv.counts.opened - opened, 2, name)
        })
        // As undici documents it: after that many, a new connection (undici 6 sends one more first).
        const agent = new Agent({ maxRequestsPerClient: 1 })
        try {
          const opened = srv.counts.opened
          for (let i = 0; i < 3; i++) assert.strictEqual(await requested(`${srv.url}/`, agent), '200 ok')
          assert.strictEqual((await agent.request(`${srv.url}/`)).status, 200)
          assert.strictEqual(srv.counts.opened - opened, 4)
        } finally {
          agent.destroy()
        }
      })
    } finally {
      await srv.close()
    }
  })
}

for (const route of ROUTES) {
  test(`with connections capped, dispatch() says false once the origin is full and 'drain' follows, as undici's Agent (${route})`, async () => {
    const held = []
    const srv = await listenCounting(http.createServer((req, res) => held.push(res)))
    try {
      const seen = {}
      await along(route, () => bothAgents({ connections: 2 }, async (agent, name) => {
        const log = seen[name] = []
        agent.on('drain', (origin, targets) => log.push(`drain ${origin.href} ${targets[0] === agent}`))
        const done = []
        for (let i = 0; i < 3; i++) {
          done.push(new Promise(resolve => {
            log.push(`dispatch ${agent.dispatch({ origin: srv.url, path: '/', method: 'GET' }, {
              onConnect () {}, onHeaders () {}, onData () {}, onComplete: resolve, onError: resolve
            })}`)
          }))
        }
        while (held.length < 2) await once(srv.server, 'request')
        held.shift().end('a')
        await done[0]
        while (held.length < 2) await once(srv.server, 'request')
        for (const res of held.splice(0)) res.end('b')
        await Promise.all(done)
        await new Promise(resolve => setImmediate(resolve))
      }))
      assert.deepStrictEqual(seen.ours, seen.undici)
      assert.deepStrictEqual(seen.ours, ['dispatch true', 'dispatch false', 'dispatch false', `drain ${srv.url}/ true`])

      // No 'drain' once the agent is closed or destroyed, by the very handler whose end made room; a
      // dispatch its handler aborts at once still says the origin is full.
      for (const end of ['close', 'destroy']) {
        await along(route, () => bothAgents({ connections: 1 }, async (agent, name) => {
          const log = []
          agent.on('drain', () => log.push('drain'))
          const noop = { onConnect () {}, onHeaders () {}, onData () {}, onError () {} }
          const ended = new Promise(resolve => {
            log.push(`dispatch ${agent.dispatch({ origin: srv.url, path: '/', method: 'GET' }, { ...noop, onComplete () { log.push('complete'); agent[end]().catch(() => {}); resolve() } })}`)
          })
          log.push(`dispatch ${agent.dispatch({ origin: srv.url, path: '/', method: 'GET' }, { ...noop, onConnect (abort) { abort() }, onComplete () {} })}`)
          while (held.length < 1) await once(srv.server, 'request')
          held.shift().end('a')
          await ended
          await new Promise(resolve => setImmediate(resolve))
          assert.deepStrictEqual(log, ['dispatch false', 'dispatch false', 'complete'], `${name} ${end}`)
        }))
      }
      // No cap: never full.
      const agent = new Agent()
      try {
        assert.strictEqual(agent.dispatch({ origin: srv.url, path: '/', method: 'GET' }, { onConnect () {}, onHeaders () {}, onData () {}, onComplete () {}, onError () {} }), true)
      } finally {
        agent.destroy()
      }
    } finally {
      await srv.close()
    }
  })
}

/** Runs `check(warned)` with process.emitWarning catching what is warned (its codes, in `warned`). */
async function catchingWarnings (check) {
  const warned = []
  const emitWarning = process.emitWarning
  process.emitWarning = warning => warned.push(warning.code)
  try {
    await check(warned)
  } finally {
    process.emitWarning = emitWarning
  }
}

/** A server answering each request at once with the Content-Length it was sent and the body it read. */
function echoingLengths () {
  return listenCounting(http.createServer((req, res) => {
    const chunks = []
    req.on('data', chunk => chunks.push(chunk))
    req.on('end', () => res.end(`${req.headers['content-length']} ${Buffer.concat(chunks)}`))
  }))
}

for (const route of ROUTES) {
  test(`strictContentLength: false sends a body held whole that is not its Content-Length with its own length, and warns, as undici's Agent (${route})`, async () => {
    const srv = await echoingLengths()
    try {
      await along(route, () => catchingWarnings(async warned => {
        const put = body => ({ method: 'PUT', headers: { 'content-length': 10 }, body })
        const results = {}
        await bothAgents({ strictContentLength: false }, async (agent, name) => {
          warned.length = 0
          results[name] = [await requested(`${srv.url}/`, agent, put('asd')), await requested(`${srv.url}/`, agent, put('a'.repeat(19)))]
          assert.deepStrictEqual(warned, ['UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'], name)
        })
        assert.deepStrictEqual(results.ours, results.undici)
        assert.deepStrictEqual(results.ours, ['200 3 asd', `200 19 ${'a'.repeat(19)}`])
        // Strict by default: refused, nothing warned.
        warned.length = 0
        const agent = new Agent()
        try {
          assert.strictEqual(await requested(`${srv.url}/`, agent, put('asd')),
            'RequestContentLengthMismatchError UND_ERR_REQ_CONTENT_LENGTH_MISMATCH Request body length does not match content-length header')
          assert.deepStrictEqual(warned, [])
        } finally {
          await agent.destroy()
        }
      }))
    } finally {
      await srv.close()
    }
  })
}

for (const route of ROUTES) {
  test(`a streamed body that is not its Content-Length fails with undici's RequestContentLengthMismatchError; with strictContentLength: false it warns, and what is past the length is not sent (${route})`, async () => {
    const srv = await echoingLengths()
    const answeringAtOnce = await listenCounting(http.createServer((req, res) => res.end('early')))
    // Comes a turn later, so it is streamed rather than gathered whole.
    const later = text => Readable.from((async function * () {
      await new Promise(resolve => setImmediate(resolve))
      yield text
    })())
    const put = (length, body) => ({ method: 'PUT', headers: { 'content-length': length }, body })
    const strict = new Agent()
    const lenient = new Agent({ strictContentLength: false })
    try {
      await along(route, () => catchingWarnings(async warned => {
        const mismatch = 'RequestContentLengthMismatchError UND_ERR_REQ_CONTENT_LENGTH_MISMATCH Request body length does not match content-length header'
        assert.strictEqual(await requested(`${srv.url}/`, strict, put(2, later('abcd'))), mismatch)
        assert.strictEqual(await requested(`${answeringAtOnce.url}/`, strict, put(10, later('abcd'))), mismatch)
        assert.deepStrictEqual(warned, [])

        // undici sends the rest too, and the server reads it as the start of the next request.
        const opened = srv.counts.opened
        assert.strictEqual(await requested(`${srv.url}/`, lenient, put(2, later('abcd'))), '200 2 ab')
        assert.strictEqual(await requested(`${srv.url}/`, lenient, put(0, later('abcd'))), '200 0 ')
        assert.deepStrictEqual(warned, ['UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'])
        // The connection is whole after it: the next request on it is answered.
        assert.strictEqual(await requested(`${srv.url}/`, lenient, { method: 'PUT', body: 'next' }), '200 4 next')
        assert.strictEqual(srv.counts.opened - opened, 1)
        if (route === 'hyper') return

        // Short of its length (hyper refuses to end such a body: there it fails).
        warned.length = 0
        assert.strictEqual(await requested(`${answeringAtOnce.url}/`, lenient, put(10, later('abcd'))), '200 early')
        assert.deepStrictEqual(warned, ['UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'])
        // The server still waits for the rest of that body: the next request goes on a new connection.
        const before = answeringAtOnce.counts.opened
        assert.strictEqual(await requested(`${answeringAtOnce.url}/`, lenient), '200 early')
        assert.strictEqual(answeringAtOnce.counts.opened - before, 1)
      }))
    } finally {
      await strict.destroy()
      await lenient.destroy()
      await srv.close()
      await answeringAtOnce.close()
    }
  })
}
