'use strict'
// The clients under test. `create(setup)` runs inside the contender's own worker process and returns
// `send(request)`, which performs one request and resolves to { status, length } once the whole body has
// been read, and `close()`. Libraries are required inside `create` so that a worker loads only its client.
// setup: { protocol, origin, ca (PEM string), concurrency }. request: { url, path, method, body }.
// Every https client verifies the server's certificate against the generated `ca`.

const POST_TYPE = 'application/octet-stream'

/** http.request / https.request with a given agent (or `agent: false`), body counted as it streams. */
function nodeSender (protocol, requestOptions) {
  const mod = require(protocol === 'https' ? 'node:https' : 'node:http')
  return ({ url, method, body }) => new Promise((resolve, reject) => {
    const headers = body ? { 'content-type': POST_TYPE, 'content-length': body.length } : undefined
    const req = mod.request(url, { ...requestOptions, method, headers }, res => {
      let length = 0
      res.on('data', chunk => { length += chunk.length })
      res.on('end', () => resolve({ status: res.statusCode, length }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** A fetch (Node's global one or undici's) with `dispatcher` when given, the body read with `arrayBuffer()`. */
function fetchSender (fetchImpl, dispatcher) {
  return async ({ url, method, body }) => {
    const res = await fetchImpl(url, { method, body, dispatcher, headers: body ? { 'content-type': POST_TYPE } : undefined })
    const bytes = await res.arrayBuffer()
    return { status: res.status, length: bytes.byteLength }
  }
}

function kaAgent ({ protocol, ca, concurrency }) {
  const { Agent, HttpsAgent } = require('..')
  return protocol === 'https'
    ? new HttpsAgent({ keepAlive: true, maxSockets: concurrency, ca })
    : new Agent({ keepAlive: true, maxSockets: concurrency })
}

function nodeAgent ({ protocol, ca, concurrency }) {
  const http = require('node:http')
  const https = require('node:https')
  return protocol === 'https'
    ? new https.Agent({ keepAlive: true, maxSockets: concurrency, ca })
    : new http.Agent({ keepAlive: true, maxSockets: concurrency })
}

/** axios as its users run it (defaults: follow-redirects transport), with the given agent. */
function axiosClient (setup, agent) {
  const axios = require('axios')
  const client = axios.create({
    [setup.protocol === 'https' ? 'httpsAgent' : 'httpAgent']: agent,
    proxy: false, // never route through a proxy from the environment: only 127.0.0.1 is contacted
    responseType: 'arraybuffer',
    validateStatus: null // every status resolves; the worker checks it
  })
  return {
    async send ({ url, method, body }) {
      const res = await client.request({ url, method, data: body, headers: body ? { 'content-type': POST_TYPE } : undefined })
      return { status: res.status, length: res.data.length }
    },
    close: () => agent.destroy()
  }
}

/** got as its users run it, with the given agent. */
function gotClient (setup, agent) {
  const got = require('got')
  const client = got.extend({
    agent: { [setup.protocol]: agent },
    https: setup.ca ? { certificateAuthority: setup.ca } : undefined,
    retry: 0,
    throwHttpErrors: false,
    responseType: 'buffer'
  })
  return {
    async send ({ url, method, body }) {
      const res = await client(url, { method, body, headers: body ? { 'content-type': POST_TYPE } : undefined })
      return { status: res.statusCode, length: res.body.length }
    },
    close: () => agent.destroy()
  }
}

/** node-fetch 2 with the given agent (it takes the CA through the agent only). */
function nodeFetchClient (agent) {
  const fetch = require('node-fetch')
  return {
    async send ({ url, method, body }) {
      const res = await fetch(url, { method, body, agent, headers: body ? { 'content-type': POST_TYPE } : undefined })
      const bytes = await res.buffer()
      return { status: res.status, length: bytes.length }
    },
    close: () => agent.destroy()
  }
}

/**
 * An undici dispatcher that answers every request from memory with the body the route would give, on the
 * next microtask: with it, `fetch` costs only its own work (the `fetch-floor` row). `later`: on the event
 * loop's next check phase instead (setImmediate), as soon as any answer that comes from I/O can come: what
 * fetch costs when its requests stay in flight over a turn, as they do over any network (the
 * `fetch-floor-later` row).
 */
class MemoryDispatcher {
  constructor (later) {
    this.bodies = routeBodies()
    this.defer = later ? setImmediate : queueMicrotask
  }

  dispatch (opts, handler) {
    const body = this.bodies[opts.path]
    const head = [Buffer.from('content-length'), Buffer.from(String(body.length))]
    this.defer(() => {
      handler.onConnect(() => {})
      handler.onHeaders(200, head, () => {}, 'OK')
      handler.onData(body)
      handler.onComplete([])
    })
    return true
  }

  close () {}
  destroy () {}
}

/**
 * A socket that is its own HTTP/1.1 server, in memory: each request written to it (head, then as many body
 * bytes as its Content-Length says) is answered on the next microtask with the body the route would give.
 * It has the few socket methods Node's agent and ClientRequest call.
 */
class MemorySocket extends require('node:stream').Duplex {
  constructor (bodies) {
    super()
    this.bodies = bodies
    this.pending = Buffer.alloc(0)
    this.remoteAddress = '127.0.0.1'
  }

  _write (chunk, encoding, callback) {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    for (;;) {
      const end = this.pending.indexOf('\r\n\r\n')
      if (end === -1) break
      const head = this.pending.toString('latin1', 0, end)
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
      if (this.pending.length < end + 4 + length) break
      this.pending = this.pending.subarray(end + 4 + length)
      const body = this.bodies[head.slice(head.indexOf(' ') + 1, head.indexOf(' ', head.indexOf(' ') + 1))]
      queueMicrotask(() => this.push(Buffer.concat([
        Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n`), body])))
    }
    callback()
  }

  _read () {}
  setKeepAlive () { return this }
  setNoDelay () { return this }
  setTimeout () { return this }
  ref () { return this }
  unref () { return this }
}

/** The bodies the routes give, by path, for the in-memory floors. */
function routeBodies () {
  const { PAYLOADS } = require('./payloads')
  return Object.fromEntries(PAYLOADS.map(p => [p.path, Buffer.alloc(p.responseBytes, 'x')]))
}

const contenders = [
  {
    id: 'ka-request',
    name: 'keepalive-agent request()',
    about: 'this package, Promise face: `agent.request(url)` then `res.bytes()`; HTTP spoken on the JS thread over a Rust-pooled fd (the usual head scanned in JS, the rest parsed by llhttp)',
    create (setup) {
      const agent = kaAgent(setup)
      return {
        async send ({ url, method, body }) {
          const res = await agent.request(url, { method, body, headers: body ? { 'content-type': POST_TYPE } : undefined })
          const bytes = await res.bytes()
          return { status: res.status, length: bytes.length }
        },
        close: () => agent.destroy()
      }
    }
  },
  {
    id: 'ka-http',
    name: 'keepalive-agent + http.request',
    about: 'this package, socket face: the agent passed to `http.request` / `https.request`',
    create (setup) {
      const agent = kaAgent(setup)
      return { send: nodeSender(setup.protocol, { agent }), close: () => agent.destroy() }
    }
  },
  {
    id: 'ka-axios',
    name: 'keepalive-agent + axios',
    about: 'this package, socket face, as axios `httpAgent` / `httpsAgent`',
    create: setup => axiosClient(setup, kaAgent(setup))
  },
  {
    id: 'node-http',
    name: 'node http.Agent keep-alive',
    about: 'the baseline: `new http.Agent({ keepAlive: true, maxSockets: C })` with `http.request`',
    baseline: true,
    create (setup) {
      const agent = nodeAgent(setup)
      return { send: nodeSender(setup.protocol, { agent }), close: () => agent.destroy() }
    }
  },
  {
    id: 'node-noagent',
    name: 'node http.request agent:false',
    about: 'a new connection (and TLS handshake) per request: what keep-alive saves',
    create (setup) {
      return { send: nodeSender(setup.protocol, { agent: false, ca: setup.ca }), close () {} }
    }
  },
  {
    id: 'agentkeepalive',
    name: 'agentkeepalive',
    about: 'agentkeepalive 4 (`HttpAgent` / `HttpsAgent`) with `http.request`',
    create (setup) {
      const AgentKeepAlive = require('agentkeepalive')
      const agent = setup.protocol === 'https'
        ? new AgentKeepAlive.HttpsAgent({ maxSockets: setup.concurrency, ca: setup.ca })
        : new AgentKeepAlive({ maxSockets: setup.concurrency })
      return { send: nodeSender(setup.protocol, { agent }), close: () => agent.destroy() }
    }
  },
  {
    id: 'undici-request',
    name: 'undici Pool.request()',
    about: 'undici 6 `Pool` (connections: C) `.request()`, body read with `arrayBuffer()`',
    create ({ origin, ca, concurrency }) {
      const { Pool } = require('undici')
      const pool = new Pool(origin, { connections: concurrency, connect: ca ? { ca } : undefined })
      return {
        async send ({ path, method, body }) {
          const res = await pool.request({ path, method, body, headers: body ? { 'content-type': POST_TYPE } : undefined })
          const bytes = await res.body.arrayBuffer()
          return { status: res.statusCode, length: bytes.byteLength }
        },
        close: () => pool.destroy()
      }
    }
  },
  {
    id: 'undici-fetch',
    name: 'undici fetch',
    about: 'undici 6 `fetch` with an undici `Agent` (connections: C) as dispatcher',
    create ({ ca, concurrency }) {
      const { fetch, Agent } = require('undici')
      const dispatcher = new Agent({ connections: concurrency, connect: ca ? { ca } : undefined })
      return { send: fetchSender(fetch, dispatcher), close: () => dispatcher.destroy() }
    }
  },
  {
    id: 'global-fetch',
    name: 'global fetch',
    about: "Node's built-in `fetch` (its bundled undici, default dispatcher); for https the CA is trusted through `NODE_EXTRA_CA_CERTS` in that worker's environment, as global fetch takes no CA option",
    needsCaFile: true,
    create () {
      return { send: fetchSender(fetch), close () {} }
    }
  },
  {
    id: 'ka-fetch',
    name: 'global fetch + keepalive-agent',
    about: "this package, dispatcher face: Node's built-in `fetch` with `dispatcher: agent` (fetch's own work; HTTP spoken as `agent.request()` speaks it: on the JS thread over a Rust-pooled fd below 4 in flight, over Rust's byte pipe above)",
    create (setup) {
      const agent = kaAgent(setup)
      return { send: fetchSender(fetch, agent), close: () => agent.destroy() }
    }
  },
  {
    id: 'axios',
    name: 'axios + http.Agent keep-alive',
    about: "axios 1 with Node's keep-alive `http.Agent` / `https.Agent`",
    create: setup => axiosClient(setup, nodeAgent(setup))
  },
  {
    id: 'got',
    name: 'got + http.Agent keep-alive',
    about: "got 11 with Node's keep-alive agents, `retry: 0`, `responseType: 'buffer'`",
    create: setup => gotClient(setup, nodeAgent(setup))
  },
  {
    id: 'ka-got',
    name: 'keepalive-agent + got',
    about: 'this package, socket face: got 11 with this agent, otherwise as `got`',
    create: setup => gotClient(setup, kaAgent(setup))
  },
  {
    id: 'node-fetch',
    name: 'node-fetch + http.Agent keep-alive',
    about: "node-fetch 2 with Node's keep-alive agent",
    create: setup => nodeFetchClient(nodeAgent(setup))
  },
  {
    id: 'ka-node-fetch',
    name: 'keepalive-agent + node-fetch',
    about: 'this package, socket face: node-fetch 2 with this agent',
    create: setup => nodeFetchClient(kaAgent(setup))
  },
  {
    id: 'http-floor',
    name: 'http.request, no network (floor)',
    about: "not a client: `http.request` with Node's keep-alive agent over in-memory sockets that answer at once, so its row is what Node's HTTP client code costs; no agent can make `http.request` (and axios, got, node-fetch on it) faster than this",
    create ({ concurrency }) {
      const http = require('node:http')
      const bodies = routeBodies()
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
      agent.createConnection = () => new MemorySocket(bodies)
      const send = nodeSender('http', { agent })
      return { send: ({ path, method, body }) => send({ url: `http://127.0.0.1${path}`, method, body }), close: () => agent.destroy() }
    }
  },
  {
    id: 'fetch-floor',
    name: 'global fetch, no network (floor)',
    about: "not a client: Node's built-in `fetch` with a dispatcher that answers from memory at once, so its row is what fetch's own work costs; no dispatcher can make fetch faster than this",
    create () {
      return { send: fetchSender(fetch, new MemoryDispatcher(false)), close () {} }
    }
  },
  {
    id: 'fetch-floor-later',
    name: 'global fetch, answered a turn later (floor)',
    about: "not a client: Node's built-in `fetch` with a dispatcher that answers from memory on the event loop's next check phase (setImmediate), the soonest an answer read from a socket can come; no dispatcher whose answers come over a network can make fetch faster than this",
    create () {
      return { send: fetchSender(fetch, new MemoryDispatcher(true)), close () {} }
    }
  }
]

/** wrk is not a Node client; it is driven by wrk.js but listed here so the report knows its place. */
const WRK = {
  id: 'wrk',
  name: 'wrk (ceiling)',
  about: 'wrk -t1 -c C: a C load generator, the ceiling of what the server gives one client core; does not verify certificates'
}

module.exports = { contenders, WRK }
