'use strict'
// The socket face as a drop-in for Node's Agent and agentkeepalive: the keep-alive race survived on both
// faces, Node's maps at Node's moments, timeouts, errors, cancelled queued requests and Node's hooks.
// Every server is on 127.0.0.1.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const { once } = require('node:events')
const { Agent } = require('..')
const { rawServer, withAgent, twoOrigins, get, listenCounting, refusedUrl } = require('./helpers/faces')

const ok = body => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
const hello = (req, res) => res.end('hello')

/** Reads requests off a raw socket (bodies by Content-Length) and calls `onRequest(head, socket, index)`. */
function requests (socket, onRequest) {
  let buffered = Buffer.alloc(0)
  let index = 0
  socket.on('data', chunk => {
    buffered = Buffer.concat([buffered, chunk])
    let end
    while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
      const head = buffered.subarray(0, end).toString('latin1')
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0)
      if (buffered.length < end + 4 + length) return
      buffered = buffered.subarray(end + 4 + length)
      onRequest(head, socket, index++)
    }
  })
}

/**
 * The three ways a server closes an idle connection under a client that reuses it, each answering the
 * first request on a connection only: (a) closes it once idle for `idleMs`, (b) closes it as the next
 * request arrives, (c) reads the next request and closes without answering. `seen` counts each request id.
 */
function racingServer (how, seen, idleMs = 15) {
  return rawServer(socket => {
    let idle = null
    socket.on('data', () => clearTimeout(idle))
    socket.on('close', () => clearTimeout(idle))
    if (how === 'b') {
      let answered = false
      socket.on('data', () => { if (answered) socket.destroy() })
      requests(socket, (head, s) => {
        if (answered) return
        seen(head)
        answered = true
        s.write(ok('fine'))
      })
      return
    }
    requests(socket, (head, s, index) => {
      seen(head)
      if (index > 0) { s.end(); return }
      s.write(ok('fine'))
      if (how === 'a') idle = setTimeout(() => s.end(), idleMs)
    })
  })
}

function counter () {
  const counts = new Map()
  const seen = head => {
    const id = /x-id: (\S+)/i.exec(head)?.[1]
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return { counts, seen }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

for (const how of ['a', 'b', 'c']) {
  test(`keep-alive race (${how}): 50 GETs on each face, none fails; a POST reaches the server at most once`, async () => {
    const { counts, seen } = counter()
    const srv = await racingServer(how, seen)
    const agent = new Agent()
    try {
      const failures = []
      for (let i = 0; i < 50; i++) {
        // (a) reuses the connection right as the server's idle timer fires.
        if (how === 'a') await sleep(15)
        const socketFace = await get(srv.url, agent, { headers: { 'x-id': `s${i}` } }).catch(err => err)
        if (socketFace instanceof Error || socketFace.body.toString() !== 'fine') failures.push(`socket ${i}: ${socketFace.code ?? socketFace.body}`)
        if (how === 'a') await sleep(15)
        const promiseFace = await agent.request(srv.url, { headers: { 'x-id': `p${i}` } }).then(r => r.text(), err => err)
        if (promiseFace !== 'fine') failures.push(`promise ${i}: ${promiseFace.code}`)
      }
      assert.deepStrictEqual(failures, [])
      if (how !== 'a') assert.ok(agent.getCurrentStatus().retryCount >= 98, `retries: ${agent.getCurrentStatus().retryCount}`)

      // A POST on a connection the server then drops is never sent twice, on either face.
      await get(srv.url, agent, { headers: { 'x-id': 'warm' } })
      const post = await get(srv.url, agent, { method: 'POST', body: 'x', headers: { 'x-id': 'post-s' } }).catch(err => err)
      await agent.request(srv.url, { headers: { 'x-id': 'warm2' } }).then(r => r.text())
      const post2 = await agent.request(srv.url, { method: 'POST', body: 'x', headers: { 'x-id': 'post-p' } }).catch(err => err)
      assert.ok((counts.get('post-s') ?? 0) <= 1 && (counts.get('post-p') ?? 0) <= 1, JSON.stringify([...counts]))
      if (how !== 'a') {
        assert.strictEqual(post.code, 'ECONNRESET')
        assert.strictEqual(post.message, 'socket hang up')
        assert.strictEqual(post2.code, 'ECONNRESET')
      }
    } finally {
      agent.destroy()
      await srv.close()
    }
  })
}

test('a POST with an Idempotency-Key is replayed like a GET, on both faces; a body over 64 KiB is not', async () => {
  const { counts, seen } = counter()
  const srv = await racingServer('c', seen)
  const agent = new Agent()
  try {
    await get(srv.url, agent, { headers: { 'x-id': 'warm' } })
    const keyed = await get(srv.url, agent, { method: 'POST', body: 'x', headers: { 'x-id': 'keyed', 'idempotency-key': 'k1' } })
    assert.strictEqual(keyed.body.toString(), 'fine')
    assert.strictEqual(counts.get('keyed'), 2)
    await agent.request(srv.url, { headers: { 'x-id': 'warm-p' } }).then(r => r.text())
    const keyedP = await agent.request(srv.url, { method: 'POST', body: 'x', headers: { 'x-id': 'keyed-p', 'x-idempotency-key': 'k2' } })
    assert.strictEqual(await keyedP.text(), 'fine')
    assert.strictEqual(counts.get('keyed-p'), 2)
    await get(srv.url, agent, { headers: { 'x-id': 'warm2' } })
    const big = await get(srv.url, agent, { method: 'PUT', body: Buffer.alloc(70 * 1024), headers: { 'x-id': 'big' } }).catch(err => err)
    assert.strictEqual(big.code, 'ECONNRESET')
    assert.strictEqual(counts.get('big'), 1)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('strings written in any encoding reach the server as Node sends them, on a fresh connection and in a replay', async () => {
  // A server that answers the first request on a connection and closes the next unanswered (race c),
  // keeping each request's body bytes.
  const bodies = []
  const srv = await rawServer(socket => {
    let buffered = Buffer.alloc(0)
    let index = 0
    socket.on('data', chunk => {
      buffered = Buffer.concat([buffered, chunk])
      const end = buffered.indexOf('\r\n\r\n')
      if (end === -1) return
      const length = Number(/content-length: (\d+)/i.exec(buffered.subarray(0, end).toString('latin1'))?.[1] ?? 0)
      if (buffered.length < end + 4 + length) return
      bodies.push(buffered.subarray(end + 4, end + 4 + length))
      buffered = buffered.subarray(end + 4 + length)
      if (index++ > 0) socket.destroy()
      else socket.write(ok('fine'))
    })
  })
  const text = 'héllo wörld ✓'
  const expected = Buffer.concat([Buffer.from(text), Buffer.from('0a0b', 'hex'), Buffer.from(text, 'latin1')])
  const send = agent => new Promise((resolve, reject) => {
    const req = http.request(srv.url, {
      agent, method: 'PUT', headers: { 'content-length': expected.length, 'idempotency-key': 'k' }
    }, res => {
      res.resume()
      res.on('end', () => resolve(req.socket.bytesWritten))
    })
    req.on('error', reject)
    // One write after another has gone to the socket: each reaches it as the string it is.
    req.write(text, () => req.write('0a0b', 'hex', () => req.end(text, 'latin1')))
  })
  const nodeAgent = new http.Agent({ keepAlive: true })
  const agent = new Agent()
  try {
    const nodeBytes = await send(nodeAgent)
    assert.deepStrictEqual(bodies.pop(), expected)
    assert.strictEqual(await send(agent), nodeBytes, 'bytesWritten as Node counts it')
    assert.deepStrictEqual(bodies.pop(), expected)
    // Reused: the server closes it as the request arrives, and the socket sends it again elsewhere.
    const retries = agent.getCurrentStatus().retryCount
    await send(agent)
    assert.strictEqual(agent.getCurrentStatus().retryCount, retries + 1)
    assert.deepStrictEqual(bodies.slice(-2), [expected, expected])
  } finally {
    nodeAgent.destroy()
    agent.destroy()
    await srv.close()
  }
})

test('Node\'s maps: a socket is in agent.sockets from addRequest until its close, with keepAlive false too', async () => {
  await withAgent(http.createServer(hello), new Agent({ keepAlive: false }), async (srv, agent) => {
    const req = http.get(srv.url, { agent })
    const name = agent.getName({ host: '127.0.0.1', port: srv.port })
    assert.strictEqual(agent.sockets[name].length, 1)
    const [socket] = await once(req, 'socket')
    assert.strictEqual(socket.connecting, true)
    await once(socket, 'connect')
    assert.strictEqual(socket.connecting, false)
    const closed = new Promise(resolve => socket.once('close', () => resolve(agent.sockets[name])))
    assert.deepStrictEqual(agent.sockets[name], [socket])
    const [res] = await once(req, 'response')
    res.resume()
    assert.strictEqual(await closed, undefined, 'gone by the time a close listener runs')
    assert.deepStrictEqual(Object.keys(agent.freeSockets), [])
  })
})

test('addRequest merges options as Node does: the agent\'s win, and a caller\'s own object is left as it was', async () => {
  // The agent's `family` must win over the request's, whichever object addRequest is given.
  await withAgent(http.createServer(hello), new Agent({ keepAlive: true, family: 4 }), async (srv, agent) => {
    const named = []
    const getName = agent.getName.bind(agent)
    agent.getName = options => { named.push({ family: options.family, proto: Object.getPrototypeOf(options) }); return getName(options) }
    const freed = once(agent, 'free')
    assert.strictEqual((await get(srv.url, agent, { family: 6 })).status, 200)
    const [, freeOptions] = await freed
    assert.strictEqual(freeOptions.family, 4)
    assert.deepStrictEqual(named, [{ family: 4, proto: null }])

    // A wrapper that hands addRequest an object of its own (as interceptors do): copied, never written.
    const own = { host: '127.0.0.1', port: srv.port, family: 6 }
    const addRequest = agent.addRequest
    agent.addRequest = function (req) { return addRequest.call(this, req, own) }
    assert.strictEqual((await get(srv.url, agent)).status, 200)
    assert.deepStrictEqual(own, { host: '127.0.0.1', port: srv.port, family: 6 })
    assert.deepStrictEqual(named[1], { family: 4, proto: null })
  })
})

test('Node\'s maps: a queued request gets its socket within the close of the one it waited for', async () => {
  // The server closes every connection after its answer, so the waiting request needs a new one.
  const closing = (req, res) => res.setHeader('connection', 'close').end('hello')
  await withAgent(http.createServer(closing), new Agent({ maxSockets: 1 }), async (srv, agent) => {
    const name = agent.getName({ host: '127.0.0.1', port: srv.port })
    const first = http.get(srv.url, { agent })
    const second = http.get(srv.url, { agent })
    const errors = []
    first.on('error', err => errors.push(`first: ${err.stack}`))
    second.on('error', err => errors.push(`second: ${err.stack}`))
    assert.strictEqual(agent.requests[name].length, 1)
    const [socket] = await once(first, 'socket')
    const inClose = new Promise(resolve => socket.once('close', () => resolve({
      requests: agent.requests[name]?.length ?? 0,
      sockets: agent.sockets[name]?.length ?? 0
    })))
    first.on('response', res => res.resume())
    const answered = new Promise(resolve => second.on('response', res => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
    }))
    assert.deepStrictEqual(await inClose, { requests: 0, sockets: 1 }, errors.join('\n'))
    assert.strictEqual(await answered, 200)
    assert.strictEqual(srv.counts.maxOpen, 1)
    assert.deepStrictEqual(errors, [])
  })
})

test('Node\'s maps: a free socket is in freeSockets; an error on it is swallowed and it leaves the pool', async () => {
  await withAgent(http.createServer(hello), new Agent(), async (srv, agent) => {
    const name = agent.getName({ host: '127.0.0.1', port: srv.port })
    const { socket } = await get(srv.url, agent)
    await new Promise(resolve => setImmediate(resolve))
    assert.deepStrictEqual(agent.freeSockets[name], [socket])
    assert.strictEqual(agent.sockets[name], undefined)
    socket.emit('error', new Error('boom'))
    await once(socket, 'close')
    assert.strictEqual(agent.freeSockets[name], undefined)
    const next = await get(srv.url, agent)
    assert.strictEqual(next.reused, false)
    assert.notStrictEqual(next.socket, socket)
  })
})

test('a socket\'s listeners are a net.Socket\'s under Node\'s agent, in use and free: code that checks for leaks counts the same', async () => {
  await withAgent(http.createServer(hello), new Agent(), async (srv, ours) => {
    const counts = async agent => {
      const req = http.get(srv.url, { agent })
      const [socket] = await once(req, 'socket')
      const inUse = ['end', 'error', 'data', 'drain'].map(event => socket.listenerCount(event))
      const [res] = await once(req, 'response')
      res.resume()
      await once(socket, 'free')
      await new Promise(resolve => setImmediate(resolve))
      const free = ['end', 'error', 'data', 'drain'].map(event => socket.listenerCount(event))
      return { inUse, free }
    }
    const node = new http.Agent({ keepAlive: true })
    try {
      assert.deepStrictEqual(await counts(ours), await counts(node))
    } finally {
      node.destroy()
    }
  })
})

test('timeouts: socket.timeout is the agent\'s while active and freeSocketTimeout while idle; an idle timeout closes it', async () => {
  await withAgent(http.createServer(hello), new Agent({ timeout: 5000, freeSocketTimeout: 150 }), async (srv, agent) => {
    let active, socket
    const res = await new Promise((resolve, reject) => {
      const req = http.get(srv.url, { agent }, resolve)
      req.on('socket', s => { socket = s; active = s.timeout })
      req.on('error', reject)
    })
    res.resume()
    await once(res, 'end')
    assert.strictEqual(active, 5000)
    await new Promise(resolve => setImmediate(resolve))
    assert.strictEqual(socket.timeout, 150)
    let timedOut = false
    socket.on('timeout', () => { timedOut = true })
    await once(socket, 'close')
    assert.strictEqual(timedOut, true)
    assert.strictEqual((await get(srv.url, agent)).reused, false)
  })
})

test('timeouts: freeSocketTimeout 0 keeps the agent\'s timeout on an idle socket; a user timeout on an idle socket closes it', async () => {
  await withAgent(http.createServer(hello), new Agent({ timeout: 3000, freeSocketTimeout: 0 }), async (srv, agent) => {
    const { socket } = await get(srv.url, agent)
    await new Promise(resolve => setImmediate(resolve))
    assert.strictEqual(socket.timeout, 3000)
    const timedOut = once(socket, 'timeout')
    const closed = once(socket, 'close')
    socket.setTimeout(50)
    await timedOut
    await closed
    assert.strictEqual((await get(srv.url, agent)).reused, false)
  })
})

test('timeouts: req.setTimeout only emits timeout; the agent\'s own, unheard, fails with ERR_SOCKET_TIMEOUT', async () => {
  const srv = await rawServer(() => {})
  try {
    const agent = new Agent()
    const req = http.get(srv.url, { agent })
    req.setTimeout(50)
    await once(req, 'timeout')
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.strictEqual(req.destroyed, false, 'a user timeout never destroys')
    req.on('error', () => {})
    req.destroy()
    agent.destroy()

    // agentkeepalive counts every socket timeout.
    assert.strictEqual(agent.getCurrentStatus().timeoutSocketCount, 1)

    const strict = new Agent({ timeout: 50 })
    const timedOut = http.get(srv.url, { agent: strict })
    // As agentkeepalive: the socket has left the agent's maps when the request hears of the error.
    const mapsAtError = new Promise(resolve => timedOut.on('error', err => resolve({ err, sockets: { ...strict.sockets } })))
    const { err, sockets } = await mapsAtError
    assert.strictEqual(err.code, 'ERR_SOCKET_TIMEOUT')
    assert.strictEqual(err.message, 'Socket timeout')
    assert.deepStrictEqual(sockets, {})
    assert.strictEqual(strict.timeoutSocketCount, 1)
    strict.destroy()
  } finally {
    await srv.close()
  }
})

test('a queued request that is aborted leaves the queue at once and settles as with Node\'s agent', async () => {
  let release
  const server = http.createServer((req, res) => {
    if (req.url === '/hold') release = () => res.end('held')
    else res.end('hello')
  })
  await withAgent(server, new Agent({ maxSockets: 1, maxQueueSize: 1 }), async (srv, agent) => {
    const name = agent.getName({ host: '127.0.0.1', port: srv.port })
    const holding = get(`${srv.url}/hold`, agent)
    const queued = http.get(srv.url, { agent })
    assert.strictEqual(agent.requests[name].length, 1)
    const failed = once(queued, 'error')
    queued.destroy()
    assert.strictEqual(agent.requests[name], undefined)
    assert.deepStrictEqual(agent.getCurrentStatus().requests, {})
    const [err] = await failed
    assert.strictEqual(err.code, 'ECONNRESET')
    assert.strictEqual(err.message, 'socket hang up')
    // Its place is free again under maxQueueSize 1, and no connection was ever opened for it.
    const next = get(srv.url, agent)
    while (!release) await new Promise(resolve => setImmediate(resolve))
    release()
    assert.strictEqual((await holding).body.toString(), 'held')
    assert.strictEqual((await next).body.toString(), 'hello')
    assert.strictEqual(srv.counts.opened, 1)
  })
})

test('Node\'s hooks: keepSocketAlive returning false closes instead of pooling; reuseSocket is called on reuse', async () => {
  const calls = []
  class Picky extends Agent {
    keepSocketAlive (socket) {
      calls.push('keep')
      return calls.filter(c => c === 'keep').length > 1 && super.keepSocketAlive(socket)
    }

    reuseSocket (socket, req) {
      calls.push('reuse')
      super.reuseSocket(socket, req)
    }
  }
  await withAgent(http.createServer(hello), new Picky(), async (srv, agent) => {
    const first = await get(srv.url, agent)
    if (!first.socket.closed) await once(first.socket, 'close')
    const second = await get(srv.url, agent)
    assert.strictEqual(second.reused, false)
    await new Promise(resolve => setImmediate(resolve))
    const third = await get(srv.url, agent)
    assert.strictEqual(third.reused, true)
    assert.deepStrictEqual(calls, ['keep', 'keep', 'reuse', 'keep'])
    assert.strictEqual(srv.counts.opened, 2)
  })
})

test('a freed socket handed to a waiting request is not "reused", as from Node\'s agent: no reuseSocket, reusedSocket false', async () => {
  const hooked = Base => class extends Base {
    reuseSocket (socket, req) {
      this.reuses = (this.reuses ?? 0) + 1
      super.reuseSocket(socket, req)
    }
  }
  const seen = []
  for (const agent of [new (hooked(http.Agent))({ keepAlive: true, maxSockets: 1 }), new (hooked(Agent))({ maxSockets: 1 })]) {
    await withAgent(http.createServer(hello), agent, async (srv, agent) => {
      const waited = await Promise.all(Array.from({ length: 3 }, () => get(srv.url, agent)))
      const later = await get(srv.url, agent)
      seen.push({ waited: waited.map(a => a.reused), later: later.reused, reuses: agent.reuses, opened: srv.counts.opened })
    })
  }
  assert.deepStrictEqual(seen[0], { waited: [false, false, false], later: true, reuses: 1, opened: 1 }, 'Node\'s agent')
  assert.deepStrictEqual(seen[1], seen[0])
})

test('a timeout that keepSocketAlive sets on the socket is the idle one, as in Node: its \'timeout\' ends the idle socket', async () => {
  class Brief extends Agent {
    keepSocketAlive (socket) {
      if (!super.keepSocketAlive(socket)) return false
      socket.setTimeout(60)
      return true
    }
  }
  await withAgent(http.createServer(hello), new Brief({ timeout: 50 }), async (srv, agent) => {
    const first = await get(srv.url, agent)
    const { socket } = first
    if (!socket._isIdle) await once(agent, 'free')
    await once(socket, 'timeout')
    assert.strictEqual(socket.timeout, 60)
    if (!socket.destroyed) await once(socket, 'close')
    const second = await get(srv.url, agent)
    assert.strictEqual(second.reused, false)
    assert.strictEqual(srv.counts.opened, 2)
  })
})

test('Keep-Alive: max=5, timeout=2 sets the idle deadline to 1 s on the socket face; max=0 is not pooled', async () => {
  let header = 'max=5, timeout=2'
  const server = http.createServer((req, res) => {
    res.setHeader('keep-alive', header)
    res.end('hello')
  })
  await withAgent(server, new Agent({ freeSocketTimeout: 30000 }), async (srv, agent) => {
    const { socket } = await get(srv.url, agent)
    await new Promise(resolve => setImmediate(resolve))
    assert.strictEqual(socket.timeout, 1000)
    header = 'timeout=10, max=0'
    const last = await get(srv.url, agent)
    assert.strictEqual(last.reused, true)
    if (!last.socket.closed) await once(last.socket, 'close')
    assert.strictEqual((await get(srv.url, agent)).reused, false)
  })
})

test('agentKeepAliveTimeoutBuffer is taken off a server\'s Keep-Alive timeout as by Node 22+\'s agent, also once assigned; a hint it leaves nothing of is not pooled (both faces) but still serves queued requests', async () => {
  const server = http.createServer((req, res) => {
    res.setHeader('keep-alive', 'timeout=5')
    res.end('hello')
  })
  const idleTimeouts = async (agent, url) => {
    const seen = []
    for (const buffer of [2500, 4000]) {
      agent.agentKeepAliveTimeoutBuffer = buffer
      const { socket } = await get(url, agent)
      await new Promise(resolve => setImmediate(resolve))
      seen.push(socket.timeout)
    }
    // Nothing left of the hint: the socket closes once its response is done, and the next is a new one.
    agent.agentKeepAliveTimeoutBuffer = 5000
    const last = await get(url, agent)
    if (!last.socket.closed) await once(last.socket, 'close')
    const next = await get(url, agent)
    return { seen, lastReused: last.reused, nextReused: next.reused }
  }
  await withAgent(server, new Agent({ freeSocketTimeout: 30000, agentKeepAliveTimeoutBuffer: 2500 }), async (srv, agent) => {
    assert.strictEqual(agent.agentKeepAliveTimeoutBuffer, 2500)
    const ours = await idleTimeouts(agent, srv.url)
    assert.deepStrictEqual(ours, { seen: [2500, 1000], lastReused: true, nextReused: false })
    if ('agentKeepAliveTimeoutBuffer' in new http.Agent()) {
      const nodes = new http.Agent({ keepAlive: true, timeout: 30000 })
      try {
        assert.deepStrictEqual(await idleTimeouts(nodes, srv.url), ours)
      } finally {
        nodes.destroy()
      }
    }

    // The Promise face: not pooled while the buffer takes the whole hint; pooled once it leaves some.
    const text = async () => {
      const res = await agent.request(srv.url)
      await res.text()
      return res.reused
    }
    assert.deepStrictEqual([await text(), await text()], [false, false])
    agent.agentKeepAliveTimeoutBuffer = 0
    assert.deepStrictEqual([await text(), await text()], [false, true])

    // Requests waiting for the only socket still take it when the buffer leaves nothing of the hint: Node
    // hands a freed socket to a queued request before it weighs the hint, which decides only pooling.
    const queued = async agent => {
      agent.agentKeepAliveTimeoutBuffer = 5000
      agent.maxSockets = 1
      const opened = srv.counts.opened
      const replies = await Promise.all([0, 1, 2].map(() => get(srv.url, agent)))
      return { reused: replies.map(reply => reply.reused), opened: srv.counts.opened - opened }
    }
    const handedOver = await queued(agent)
    assert.deepStrictEqual(handedOver, { reused: [false, false, false], opened: 1 })
    const nodes = new http.Agent({ keepAlive: true, timeout: 30000 })
    try {
      assert.deepStrictEqual(await queued(nodes), handedOver)
    } finally {
      nodes.destroy()
    }
    agent.maxSockets = Infinity

    // What Node does not take counts as its 1000.
    agent.agentKeepAliveTimeoutBuffer = -1
    assert.strictEqual(agent.agentKeepAliveTimeoutBuffer, 1000)
    assert.strictEqual(new Agent({ agentKeepAliveTimeoutBuffer: 'x' }).agentKeepAliveTimeoutBuffer, 1000)
  })
})

test('Keep-Alive sent on two header lines counts as Node reads it, joined: either order sets the 1 s idle deadline', async () => {
  let lines = ['max=5', 'timeout=2']
  const server = http.createServer((req, res) => {
    res.setHeader('keep-alive', lines)
    res.end('hello')
  })
  await withAgent(server, new Agent({ freeSocketTimeout: 30000 }), async (srv, agent) => {
    const first = await get(srv.url, agent)
    await new Promise(resolve => setImmediate(resolve))
    assert.strictEqual(first.socket.timeout, 1000)
    lines = ['timeout=2', 'max=5']
    const second = await get(srv.url, agent)
    assert.strictEqual(second.reused, true)
    await new Promise(resolve => setImmediate(resolve))
    assert.strictEqual(second.socket.timeout, 1000)
  })
})

test('keepAlive false: waiting requests take a freed socket as with Node\'s agent; never more than maxSockets, on both faces', async () => {
  await withAgent(http.createServer(hello), new Agent({ keepAlive: false, maxSockets: 2 }), async (srv, agent) => {
    const socketFace = Array.from({ length: 20 }, () => get(srv.url, agent))
    const promiseFace = Array.from({ length: 20 }, () => agent.request(srv.url).then(r => r.text()))
    const answers = await Promise.all([...socketFace, ...promiseFace])
    assert.strictEqual(answers.length, 40)
    assert.ok(srv.counts.maxOpen <= 2, `the server saw ${srv.counts.maxOpen} connections at once`)
  })
})

test('caps hold until a connection is closed: an idle connection evicted under maxTotalSockets closes before the next is dialled', async () => {
  const { servers: [a, b], both, close } = await twoOrigins()
  // Idle connections would stay 60 s: room must come from closing them, never from their deadline.
  const agent = new Agent({ maxTotalSockets: 3, freeSocketTimeout: 60000 })
  try {
    for (let round = 0; round < 3; round++) {
      // Three idle connections to one origin, then three requests at once to the other: each needs an
      // eviction first. Both faces, alternately.
      const [warm, burst] = round % 2 === 0 ? [a, b] : [b, a]
      await Promise.all(Array.from({ length: 3 }, () => get(warm.url, agent)))
      await Promise.all(Array.from({ length: 3 }, () => agent.request(burst.url).then(r => r.text())))
      await Promise.all(Array.from({ length: 3 }, () => get(burst.url, agent)))
    }
    assert.ok(both.maxOpen <= 3, `the servers saw ${both.maxOpen} connections at once`)
  } finally {
    agent.destroy()
    await close()
  }
})

test('keepAlive false with maxSockets: queued socket-face requests reuse the freed socket, as Node\'s agent does', async () => {
  await withAgent(http.createServer(hello), new Agent({ keepAlive: false, maxSockets: 2 }), async (srv, agent) => {
    const answers = await Promise.all(Array.from({ length: 10 }, () => get(srv.url, agent)))
    assert.deepStrictEqual(answers.map(a => a.body.toString()), Array(10).fill('hello'))
    assert.strictEqual(srv.counts.opened, 2)
    await new Promise(resolve => setImmediate(resolve))
    assert.deepStrictEqual(Object.keys(agent.freeSockets), [], 'nothing is kept idle without keep-alive')
  })
})

test('agentkeepalive\'s socket fields: name, creation time, requests started and finished', async () => {
  const { constants } = require('..')
  await withAgent(http.createServer(hello), new Agent(), async (srv, agent) => {
    const first = await get(srv.url, agent)
    const second = await get(srv.url, agent)
    const socket = second.socket
    assert.strictEqual(first.socket, socket)
    assert.match(socket[constants.SOCKET_NAME], /^sock\[\d+#127\.0\.0\.1:\d+:\]$/)
    assert.ok(socket[constants.SOCKET_CREATED_TIME] <= Date.now())
    assert.strictEqual(socket[constants.SOCKET_REQUEST_COUNT], 2)
    await new Promise(resolve => setImmediate(resolve))
    assert.strictEqual(socket[constants.SOCKET_REQUEST_FINISHED_COUNT], 2)
  })
})

test('the agent emits \'free\' (socket, options) as Node\'s does once a socket is pooled, for both agents alike', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end('ok')))
  try {
    for (const agent of [new http.Agent({ keepAlive: true }), new Agent()]) {
      const freed = new Promise(resolve => agent.once('free', (socket, options) => resolve({ socket, options, free: agent.freeSockets[agent.getName(options)]?.slice() })))
      const req = http.get(srv.url, { agent }, res => res.resume())
      const { socket, options, free } = await freed
      assert.strictEqual(socket, req.socket ?? socket)
      assert.strictEqual(options.port, srv.port)
      assert.deepStrictEqual(free, [socket], agent.constructor.name)
      agent.destroy()
    }
  } finally {
    await srv.close()
  }
})

test('socketActiveTTL: an idle socket\'s timeout is what is left of its TTL when that comes first, as agentkeepalive sets it', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end('ok')))
  const agent = new Agent({ socketActiveTTL: 1000, freeSocketTimeout: 4000 })
  try {
    const freed = new Promise(resolve => agent.once('free', socket => resolve(socket)))
    http.get(srv.url, { agent }, res => res.resume())
    const socket = await freed
    assert.ok(socket.timeout > 0 && socket.timeout <= 1000, `socket.timeout ${socket.timeout}`)
  } finally {
    agent.destroy()
    await srv.close()
  }
})

test('a socket\'s own freeSocketTimeout (agentkeepalive\'s, which urllib sets) replaces the agent\'s while it is idle', async () => {
  // The server's Keep-Alive hint (timeout=59 here, less a second's margin) still caps it.
  const server = http.createServer(hello)
  server.keepAliveTimeout = 60_000
  await withAgent(server, new Agent({ freeSocketTimeout: 4000 }), async (srv, agent) => {
    const idleTimeout = async own => {
      const freed = new Promise(resolve => agent.once('free', socket => resolve(socket)))
      const req = http.get(srv.url, { agent }, res => res.resume())
      req.on('socket', socket => Object.assign(socket, own))
      return freed
    }
    const longer = await idleTimeout({ freeSocketTimeout: 9000 })
    assert.strictEqual(longer.timeout, 9000)
    const shorter = await idleTimeout({ freeSocketTimeout: undefined, freeSocketKeepAliveTimeout: 60 })
    assert.strictEqual(shorter, longer, 'the idle socket was reused')
    assert.strictEqual(shorter.timeout, 60)
    await once(shorter, 'close')
    assert.strictEqual(agent.freeSockets[agent.getName({ host: '127.0.0.1', port: srv.port })], undefined)
  })
})

test('requestCount counts, as agentkeepalive does, requests whose socket was kept: not one the server closed', async () => {
  const server = http.createServer((req, res) => {
    if (req.url === '/close') res.setHeader('Connection', 'close')
    res.end('ok')
  })
  await withAgent(server, new Agent(), async (srv, agent) => {
    for (const path of ['/a', '/b', '/close']) await get(`${srv.url}${path}`, agent)
    const freed = once(agent, 'free')
    const second = await get(`${srv.url}/c`, agent)
    assert.strictEqual(second.reused, false, 'the server closed the first connection')
    await freed
    assert.deepStrictEqual([agent.requestCount, agent.getCurrentStatus().closeSocketCount], [3, 1])
  })
})

test('a socket made for a queued request is handed over with a \'free\' of the agent, as Node\'s agent does', async () => {
  await withAgent(http.createServer(hello), new Agent({ keepAlive: false, maxSockets: 1 }), async (srv, agent) => {
    const freed = []
    agent.on('free', socket => freed.push(socket))
    const first = http.get(srv.url, { agent }, res => {
      res.resume()
      // Its socket goes while the second request waits: a new one is made for it.
      res.on('end', () => first.socket.destroy())
    })
    const second = await new Promise((resolve, reject) => {
      const req = http.get(srv.url, { agent }, res => {
        res.resume()
        res.on('end', () => resolve(req))
      })
      req.on('error', reject)
    })
    await new Promise(resolve => setImmediate(resolve))
    assert.strictEqual(freed.length, 3)
    assert.deepStrictEqual([freed[0] === first.socket, freed[1] === second.socket, freed[2] === second.socket], [true, true, true])
    assert.notStrictEqual(first.socket, second.socket)
  })
})

test('createSocket replaced, as on Node\'s agent: asked once per new connection, never for a reused one; an error it gives fails the request; its own socket serves the request', async () => {
  for (const [name, make] of [['node', options => new http.Agent(options)], ['ours', options => new Agent(options)]]) {
    // A subclass-style wrapper that calls the agent's own, sometimes later (as wrappers that do I/O first).
    await withAgent(http.createServer(hello), make({ keepAlive: true, maxSockets: 1 }), async (srv, agent) => {
      const made = []
      const own = agent.createSocket
      agent.createSocket = function (req, options, callback) {
        setImmediate(() => own.call(this, req, options, (err, socket) => {
          made.push(socket)
          callback(err, socket)
        }))
      }
      const first = await get(srv.url, agent)
      const second = await get(srv.url, agent)
      assert.strictEqual(first.body.toString(), 'hello', name)
      assert.strictEqual(second.reused, true, name)
      assert.deepStrictEqual(made, [first.socket], name)
      assert.strictEqual(second.socket, first.socket, name)
    })

    // An error: the request fails with it and closes; the connection granted is given back (maxSockets 1).
    await withAgent(http.createServer(hello), make({ keepAlive: true, maxSockets: 1 }), async (srv, agent) => {
      const boom = new Error('kaboom')
      const own = agent.createSocket
      agent.createSocket = (req, options, callback) => callback(boom)
      const req = http.get(srv.url, { agent })
      const closed = new Promise(resolve => req.once('close', resolve))
      const [err] = await once(req, 'error')
      assert.strictEqual(err, boom, name)
      await closed
      assert.strictEqual(req.destroyed, true, name)
      agent.createSocket = own
      assert.strictEqual((await get(srv.url, agent)).status, 200, name)
    })

    // Its own socket (not the agent's): it serves the request.
    await withAgent(http.createServer(hello), make({ keepAlive: true, maxSockets: 1 }), async (srv, agent) => {
      const net = require('node:net')
      const theirs = []
      agent.createSocket = (req, options, callback) => {
        const socket = net.connect(srv.port, '127.0.0.1')
        theirs.push(socket)
        callback(null, socket)
      }
      const res = await get(srv.url, agent)
      assert.strictEqual(res.body.toString(), 'hello', name)
      assert.deepStrictEqual([res.socket], theirs, name)
      theirs[0].destroy()
    })
  }
  // Outside addRequest ours refuses: a socket it made there would escape the pool's caps.
  const agent = new Agent()
  const [err] = await new Promise(resolve => agent.createSocket({}, {}, (...args) => resolve(args)))
  assert.strictEqual(err.code, 'ERR_INVALID_STATE')
  agent.destroy()
})

test('a program that added enumerable properties to Object.prototype is served as by Node\'s agent: each face, an upgrade, an https request (in a child process)', async () => {
  const { execFile } = require('node:child_process')
  const script = `
    const http = require('node:http')
    const https = require('node:https')
    const { Agent, HttpsAgent } = require(${JSON.stringify(require.resolve('..'))})
    const { selfSigned } = require(${JSON.stringify(require.resolve('../examples/certs'))})
    // What some test suites and polluted dependencies do (superagent's own tests do this).
    Object.prototype.invalid = 'invalid'
    Object.prototype.close = 'polluted'
    const cert = selfSigned()
    const handler = (req, res) => res.end('hello')
    const server = http.createServer(handler)
    server.on('upgrade', (req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\\r\\nConnection: Upgrade\\r\\nUpgrade: x\\r\\n\\r\\nraw'))
    const secure = https.createServer({ key: cert.key, cert: cert.cert }, handler)
    const body = res => new Promise((resolve, reject) => { let b = ''; res.on('data', c => { b += c }); res.on('end', () => resolve(res.statusCode + ' ' + b)); res.on('error', reject) })
    const get = (mod, url, options) => new Promise((resolve, reject) => mod.get(url, options, res => body(res).then(resolve, reject)).on('error', reject))
    Promise.all([new Promise(r => server.listen(0, '127.0.0.1', r)), new Promise(r => secure.listen(0, '127.0.0.1', r))]).then(async () => {
      const url = 'http://127.0.0.1:' + server.address().port + '/'
      const agent = new Agent({ keepAlive: true })
      const tlsAgent = new HttpsAgent({ keepAlive: true, ca: cert.cert })
      const out = []
      out.push(await get(http, url, { agent }), await get(http, url, { agent }))
      out.push(await get(https, 'https://localhost:' + secure.address().port + '/', { agent: tlsAgent }))
      out.push(await (await agent.request(url)).text())
      out.push(await (await fetch(url, { dispatcher: agent })).text())
      out.push(await new Promise((resolve, reject) => {
        http.get(url, { agent, headers: { Connection: 'Upgrade', Upgrade: 'x' } })
          .on('upgrade', (res, socket, head) => { socket.destroy(); resolve(res.statusCode + ' ' + head) })
          .on('error', reject)
      }))
      agent.destroy(); tlsAgent.destroy(); server.close(); secure.close()
      console.log(JSON.stringify(out))
    }).catch(err => { console.log(JSON.stringify(String(err.stack))); process.exit(1) })
  `
  const stdout = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { timeout: 60000 }, (err, out, stderr) => err ? reject(new Error(`${err.message}\n${out}${stderr}`)) : resolve(out))
  })
  assert.deepStrictEqual(JSON.parse(stdout), ['200 hello', '200 hello', '200 hello', 'hello', 'hello', '101 raw'])
})

test('a request whose connection is refused fails as through Node\'s agent: its body never \'finish\'es, and a pipeline into it rejects', async () => {
  const { pipeline } = require('node:stream/promises')
  const { Readable } = require('node:stream')
  const url = await refusedUrl()
  /** The request's events in order, for a POST whose body is written before the connect fails. */
  const events = Agent => new Promise(resolve => {
    const agent = new Agent({ keepAlive: true })
    const seen = []
    const req = http.request(url, { agent, method: 'POST' })
    for (const name of ['socket', 'finish', 'close']) req.on(name, () => seen.push(name))
    req.on('error', err => seen.push(`error ${err.code}`))
    req.on('close', () => { agent.destroy(); resolve(seen.join(', ')) })
    req.end('body')
  })
  const piped = async Agent => {
    const agent = new Agent({ keepAlive: true })
    try {
      await pipeline(Readable.from([Buffer.from('body')]), http.request(url, { agent, method: 'POST' }))
      return 'resolved'
    } catch (err) {
      return `rejected ${err.code}`
    } finally {
      agent.destroy()
    }
  }
  const expected = await events(http.Agent)
  assert.strictEqual(await events(Agent), expected)
  assert.doesNotMatch(expected, /finish/)
  assert.strictEqual(await piped(Agent), await piped(http.Agent))
  assert.strictEqual(await piped(Agent), 'rejected ECONNREFUSED')
})

test('agent.removeSocket(socket, options), as code with its own timeout handling calls it, fails no request waiting for a socket (as with Node\'s agent)', async () => {
  const server = http.createServer((req, res) => setTimeout(() => res.end(`ok ${req.url}`), 30))
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    for (const agent of [new http.Agent({ maxSockets: 1 }), new Agent({ maxSockets: 1 })]) {
      const options = { host: '127.0.0.1', port: server.address().port, agent }
      const bodyOf = req => new Promise((resolve, reject) => {
        req.on('response', res => {
          let text = ''
          res.on('data', chunk => { text += chunk })
          res.on('end', () => resolve(text))
        })
        req.on('error', reject)
      })
      const first = http.get({ ...options, path: '/1' })
      first.on('socket', socket => agent.removeSocket(socket, options))
      // Waits for the only socket when removeSocket is called.
      const second = http.get({ ...options, path: '/2' })
      assert.deepStrictEqual(await Promise.all([bodyOf(first), bodyOf(second)]), ['ok /1', 'ok /2'])
      agent.destroy()
    }
  } finally {
    server.close()
  }
})

test('a new socket says what Node\'s says as it connects: \'lookup\' (error, address, family, host) when dialled by name, then \'connect\', \'ready\', and over TLS \'secureConnect\' and \'secure\'; its timeout is undefined until one is set', async () => {
  const https = require('node:https')
  const { HttpsAgent } = require('..')
  const { selfSigned } = require('../examples/certs')
  const tlsCert = selfSigned()
  const servers = {
    http: http.createServer(hello),
    https: https.createServer({ key: tlsCert.key, cert: tlsCert.cert }, hello)
  }
  try {
    for (const [scheme, server] of Object.entries(servers)) {
      await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
      const mod = scheme === 'http' ? http : https
      for (const host of ['localhost', '127.0.0.1']) {
        const seen = {}
        for (const [who, agent] of [
          ['node', new mod.Agent({ keepAlive: true, ca: tlsCert.cert })],
          ['ours', scheme === 'http' ? new Agent() : new HttpsAgent({ ca: tlsCert.cert })]
        ]) {
          const events = []
          await new Promise((resolve, reject) => {
            const req = mod.get({ host, port: server.address().port, agent, servername: 'localhost' }, res => {
              // No timeout set by anyone yet: undefined, as a net.Socket's.
              events.push(['timeout', res.socket.timeout])
              res.resume()
              res.on('end', resolve)
            })
            req.on('error', reject)
            req.on('socket', socket => {
              // 'session' (OpenSSL's session ticket) is Node's alone: rustls keeps its sessions.
              for (const event of ['lookup', 'connect', 'ready', 'secureConnect', 'secure']) {
                socket.once(event, (...args) => events.push(event === 'lookup' ? [event, ...args] : event))
              }
            })
          })
          seen[who] = events
          agent.destroy()
        }
        assert.deepStrictEqual(seen.ours, seen.node, `${scheme} ${host}`)
      }
    }
  } finally {
    for (const server of Object.values(servers)) server.close()
  }
})

test('a Host header that is not a string throws from http.request, over http as over https, with Node\'s code and message', () => {
  const https = require('node:https')
  const { HttpsAgent } = require('..')
  const thrown = []
  for (const [mod, agents] of [[http, [new http.Agent(), new Agent()]], [https, [new https.Agent(), new HttpsAgent()]]]) {
    for (const agent of agents) {
      try {
        mod.request({ host: '127.0.0.1', port: 1, agent, headers: { host: ['a', 'b'] } }).on('error', () => {})
        thrown.push('nothing')
      } catch (err) {
        thrown.push(`${err.code}: ${err.message}`)
      }
      agent.destroy()
    }
  }
  const expected = 'ERR_INVALID_ARG_TYPE: The "options.headers.host" property must be of type string. Received an instance of Array'
  assert.deepStrictEqual(thrown, [expected, expected, expected, expected])
})
