'use strict'
// undici's dispatcher events on the agent ('connect', 'disconnect', 'connectionError'), side by side with
// undici's own Agent on the same servers on 127.0.0.1: when each comes, with which origin and which error.
// Each case runs over both ways the agent speaks a dispatched request: on the JS thread (an exchange) and
// by hyper (taken while undici's connect channels have a subscriber, as with a proxy or a Unix socket).
// undici's Agent needs no options where ours takes its idle deadline as `freeSocketTimeout`.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const net = require('node:net')
const { once } = require('node:events')
const undici = require('undici')
const { Agent } = require('..')
const { listenCounting } = require('./helpers/faces')
const { ROUTES, along } = require('./helpers/routes')

/** The next `event` of `agent`; an agent that never emits it fails the test within 10 s rather than hanging it. */
const next = (agent, event) => once(agent, event, { signal: AbortSignal.timeout(10_000) })

/** What a listener heard: the event, the origin as text, whether targets[0] is the agent, and the error's kind. */
function recorder (agent) {
  const heard = []
  agent.on('connect', (origin, targets) => heard.push(['connect', String(origin), targets[0] === agent]))
  for (const event of ['disconnect', 'connectionError']) {
    agent.on(event, (origin, targets, err) => heard.push([event, String(origin), targets[0] === agent, err.name, err.code, err.message]))
  }
  return heard
}

async function get (agent, url) {
  const res = await undici.request(url, { dispatcher: agent })
  await res.body.text()
  return res.statusCode
}

/** Both agents: ours (with `options`) and undici's, each with what it heard and a name for messages. */
function bothAgents (options) {
  return [new Agent(options), new undici.Agent()].map(agent => ({ agent, heard: recorder(agent), name: nameOf(agent) }))
}

const nameOf = agent => agent instanceof Agent ? 'ours' : 'undici'

for (const route of ROUTES) {
  test(`[${route}] 'connect' once per new connection, with its origin and the agent as target; 'disconnect' when the server closes it: SocketError 'other side closed', as undici's Agent`, async () => {
    const srv = await listenCounting(http.createServer((req, res) => res.end('ok')))
    try {
      for (const { agent, heard, name } of bothAgents()) {
        await along(route, async () => {
          const before = srv.counts.opened
          assert.strictEqual(await get(agent, `${srv.url}/a`), 200)
          assert.strictEqual(await get(agent, `${srv.url}/b`), 200)
          const opened = srv.counts.opened - before
          // undici's Agent may open a second connection for the second request; ours reuses the first.
          if (name === 'ours') assert.strictEqual(opened, 1)
          assert.deepStrictEqual(heard, Array(opened).fill(['connect', `${srv.url}/`, true]), name)
          const disconnected = next(agent, 'disconnect')
          srv.server.closeIdleConnections()
          await disconnected
          assert.deepStrictEqual(heard.at(-1), ['disconnect', `${srv.url}/`, true, 'SocketError', 'UND_ERR_SOCKET', 'other side closed'], name)
          await agent.close()
        })
      }
    } finally {
      await srv.close()
    }
  })

  test(`[${route}] a connection a response ends ('Connection: close', or a Keep-Alive hint of 1s, written '1s') disconnects with InformationalError 'reset', as undici's Agent`, async () => {
    const srv = await listenCounting(http.createServer((req, res) => {
      if (req.url === '/close') res.setHeader('connection', 'close')
      else res.setHeader('keep-alive', 'timeout=1s')
      res.end('ok')
    }))
    try {
      for (const { agent, heard } of bothAgents()) {
        await along(route, async () => {
          for (const path of ['/close', '/hint']) {
            const disconnected = next(agent, 'disconnect')
            assert.strictEqual(await get(agent, `${srv.url}${path}`), 200)
            const [, , err] = await disconnected
            assert.deepStrictEqual([err.name, err.code, err.message], ['InformationalError', 'UND_ERR_INFO', 'reset'], `${nameOf(agent)} ${path}`)
          }
          assert.deepStrictEqual(heard.map(([event]) => event), ['connect', 'disconnect', 'connect', 'disconnect'])
          await agent.close()
        })
      }
    } finally {
      await srv.close()
    }
  })

  test(`[${route}] an idle connection past its deadline disconnects with InformationalError 'socket idle timeout'; close() and destroy() with ClientDestroyedError, before they resolve, as undici's Agent`, async () => {
    const server = http.createServer((req, res) => res.end('ok'))
    // No Keep-Alive hint: the client's own idle deadline decides (undici's keepAliveTimeout, our freeSocketTimeout).
    server.keepAliveTimeout = 0
    const srv = await listenCounting(server)
    try {
      for (const agent of [new Agent({ freeSocketTimeout: 30 }), new undici.Agent({ keepAliveTimeout: 30 })]) {
        const heard = recorder(agent)
        await along(route, async () => {
          const disconnected = next(agent, 'disconnect')
          await get(agent, `${srv.url}/`)
          const [, , idle] = await disconnected
          assert.deepStrictEqual([idle.name, idle.code, idle.message], ['InformationalError', 'UND_ERR_INFO', 'socket idle timeout'], nameOf(agent))
          await get(agent, `${srv.url}/`)
          const closed = agent.close()
          assert.deepStrictEqual([agent.closed, agent.destroyed], [true, false])
          await closed
          assert.deepStrictEqual(heard.at(-1).slice(3), ['ClientDestroyedError', 'UND_ERR_DESTROYED', 'The client is destroyed'], nameOf(agent))
          assert.deepStrictEqual([agent.closed, agent.destroyed], [true, true])
        })
      }
      for (const agent of [new Agent(), new undici.Agent()]) {
        const heard = recorder(agent)
        await along(route, async () => {
          await get(agent, `${srv.url}/`)
          await agent.destroy()
          assert.deepStrictEqual([heard.at(-1)[0], ...heard.at(-1).slice(3)], ['disconnect', 'ClientDestroyedError', 'UND_ERR_DESTROYED', 'The client is destroyed'], nameOf(agent))
          // destroy() alone does not make it `closed`.
          assert.deepStrictEqual([agent.closed, agent.destroyed], [false, true])
        })
      }
    } finally {
      await srv.close()
    }
  })

  test(`[${route}] a connect that fails: 'connectionError' with the connect's error after the request's onError, no 'connect' nor 'disconnect', as undici's Agent`, async () => {
    // A port nothing listens on: taken from a listener that is closed again.
    const closed = net.createServer().listen(0, '127.0.0.1')
    await once(closed, 'listening')
    const { port } = closed.address()
    await new Promise(resolve => closed.close(resolve))
    for (const { agent, heard } of bothAgents()) {
      await along(route, async () => {
        const order = []
        agent.on('connectionError', () => order.push('connectionError'))
        const failed = next(agent, 'connectionError')
        await new Promise(resolve => {
          agent.dispatch({ origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' }, {
            onConnect () {},
            onHeaders () { return true },
            onData () { return true },
            onComplete () { resolve() },
            onError (err) {
              order.push(`onError ${err.code}`)
              resolve()
            }
          })
        })
        await failed
        assert.deepStrictEqual(order, ['onError ECONNREFUSED', 'connectionError'], nameOf(agent))
        assert.deepStrictEqual(heard, [['connectionError', `http://127.0.0.1:${port}/`, true, 'Error', 'ECONNREFUSED', `connect ECONNREFUSED 127.0.0.1:${port}`]], nameOf(agent))
        await agent.close()
      })
    }
  })
}

test('[hyper] destroy() while a response body is unread: its connection closes, says so before destroy() resolves, and the body fails', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end(Buffer.alloc(1 << 20))))
  try {
    const agent = new Agent()
    const heard = recorder(agent)
    await along('hyper', async () => {
      const res = await agent.request(`${srv.url}/`)
      assert.strictEqual(res.status, 200)
      await agent.destroy()
      assert.deepStrictEqual(heard.map(([event]) => event), ['connect', 'disconnect'])
      assert.strictEqual(heard[1][4], 'UND_ERR_DESTROYED')
      await assert.rejects(res.arrayBuffer())
    })
  } finally {
    await srv.close()
  }
})

test('close() and destroy() refuse a callback that is not a function, as undici: InvalidArgumentError', () => {
  for (const agent of [new Agent(), new undici.Agent()]) {
    assert.throws(() => agent.close({}), { name: 'InvalidArgumentError', code: 'UND_ERR_INVALID_ARG', message: 'invalid callback' })
    assert.throws(() => agent.destroy(new Error('x'), {}), { name: 'InvalidArgumentError', code: 'UND_ERR_INVALID_ARG', message: 'invalid callback' })
    assert.strictEqual(agent.closed, false)
    agent.destroy()
  }
})

test('the socket face reads a Keep-Alive hint written with a unit (timeout=1s) as Node does: 1 s, which leaves nothing after the 1 s buffer, so the socket is not reused', async () => {
  const srv = await listenCounting(http.createServer((req, res) => {
    res.setHeader('keep-alive', 'timeout=1s')
    res.end('ok')
  }))
  try {
    const opened = []
    for (const agent of [new http.Agent({ keepAlive: true, timeout: 5000 }), new Agent({ timeout: 5000 })]) {
      const before = srv.counts.opened
      for (let i = 0; i < 2; i++) {
        const res = await new Promise((resolve, reject) => http.get(`${srv.url}/`, { agent }, resolve).on('error', reject))
        res.resume()
        await once(res, 'end')
        // Node's agent weighs the hint once the response is done ('free'); the next request comes after.
        await new Promise(resolve => setImmediate(resolve))
      }
      opened.push(srv.counts.opened - before)
      agent.destroy()
    }
    assert.deepStrictEqual(opened, [2, 2])
  } finally {
    await srv.close()
  }
})

test('a listener that throws: its error is uncaught, as from undici\'s, and the request it came during completes', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end('ok')))
  const agent = new Agent()
  const thrown = new Error('listener fault')
  agent.once('connect', () => { throw thrown })
  const uncaught = []
  const listeners = process.listeners('uncaughtException')
  process.removeAllListeners('uncaughtException')
  process.on('uncaughtException', err => uncaught.push(err))
  try {
    assert.strictEqual(await get(agent, `${srv.url}/`), 200)
    await new Promise(resolve => setImmediate(resolve))
    assert.deepStrictEqual(uncaught, [thrown])
  } finally {
    process.removeAllListeners('uncaughtException')
    for (const listener of listeners) process.on('uncaughtException', listener)
    agent.destroy()
    await srv.close()
  }
})

for (const route of ROUTES) {
  // A small body comes whole with its head; a large one is read on after it, and its end releases the
  // connection before the handler has it.
  for (const [size, body] of [['small', Buffer.from('ok')], ['read on after its head', Buffer.alloc(100000, 97)]]) {
    test(`[${route}] 'disconnect' of a connection its response ends comes after the handler had the whole response (body ${size}), as undici's`, async () => {
      const srv = await listenCounting(http.createServer((req, res) => {
        res.setHeader('connection', 'close')
        res.end(body)
      }))
      try {
        const orders = {}
        for (const agent of [new Agent(), new undici.Agent()]) {
          const order = orders[nameOf(agent)] = []
          agent.on('disconnect', () => order.push('disconnect'))
          await along(route, async () => {
            const disconnected = next(agent, 'disconnect')
            await new Promise((resolve, reject) => agent.dispatch({ origin: srv.url, path: '/', method: 'GET' }, {
              onConnect () {},
              onHeaders () { order.push('headers') },
              onData () {},
              onComplete () { order.push('complete'); resolve() },
              onError: reject
            }))
            await disconnected
          })
          await agent.close()
        }
        assert.deepStrictEqual(orders.ours, orders.undici)
        assert.deepStrictEqual(orders.ours, ['headers', 'complete', 'disconnect'])
      } finally {
        await srv.close()
      }
    })
  }
}

for (const route of ROUTES) {
  test(`[${route}] 'disconnect' of a connection a request failed under gives undici's reason: an abort 'aborted', a bad head undici's HTTPParserError, a headers timeout its error`, async () => {
    const srv = net.createServer(socket => {
      socket.on('error', () => {})
      socket.once('data', data => {
        if (data.includes('/bad')) socket.write('HTTP/1.1 99999 Nope\r\n\r\n')
      })
    })
    await new Promise(resolve => srv.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${srv.address().port}`
    try {
      const reasons = {}
      for (const agent of [new Agent(), new undici.Agent()]) {
        const seen = reasons[nameOf(agent)] = []
        await along(route, async () => {
          for (const [path, options] of [['/slow', { signal: AbortSignal.timeout(100) }], ['/bad', {}], ['/silent', { headersTimeout: 100 }]]) {
            const disconnected = next(agent, 'disconnect')
            await undici.request(`${url}${path}`, { dispatcher: agent, ...options }).then(res => res.body.dump(), () => {})
            const [, , err] = await disconnected
            seen.push(`${err.name} ${err.code}`)
          }
        })
        await agent.close()
      }
      assert.deepStrictEqual(reasons.ours, reasons.undici)
      assert.deepStrictEqual(reasons.ours, ['InformationalError UND_ERR_INFO', 'HTTPParserError HPE_INVALID_STATUS', 'HeadersTimeoutError UND_ERR_HEADERS_TIMEOUT'])
    } finally {
      srv.close()
    }
  })
}
