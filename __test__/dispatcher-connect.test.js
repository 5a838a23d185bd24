'use strict'
// undici's connect events (undici:client:beforeConnect, connected, connectError) for the connections the
// dispatcher and Promise faces open, read by real subscribers: undici's payload shapes, the socket's
// addresses, the very Error the request fails with, and no connect event crossing from Rust while
// nobody subscribes.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const https = require('node:https')
const net = require('node:net')
const dc = require('node:diagnostics_channel')
const { Agent } = require('..')
const { PendingRequests } = require('../lib/requests')
const { NativeAgent } = require('../native.js')
const { Kind, STRIDE } = require('../lib/batch')
const { withAgent, refusedUrl } = require('./helpers/faces')
const { selfSigned } = require('../examples/certs')

const CONNECT_NAMES = ['undici:client:beforeConnect', 'undici:client:connected', 'undici:client:connectError']

/** Subscribes to `names`; `events` lists [name, message] in order. Returns the unsubscriber. */
function subscribe (events, names = [...CONNECT_NAMES, 'undici:request:headers']) {
  const listeners = names.map(name => {
    const listener = message => events.push([name, message])
    dc.subscribe(name, listener)
    return [name, listener]
  })
  return () => { for (const [name, listener] of listeners) dc.unsubscribe(name, listener) }
}

/** undici's connectParams for a new connection to http://127.0.0.1:port with no TLS or local options. */
const plainParams = port => ({
  host: `127.0.0.1:${port}`,
  hostname: '127.0.0.1',
  protocol: 'http:',
  port: String(port),
  version: undefined,
  servername: null,
  localAddress: null
})

/** A server that answers each request with the client port of its connection. */
const portEcho = () => http.createServer((req, res) => res.end(String(req.socket.remotePort)))

test('beforeConnect then connected, in undici shapes, once per new connection, before the response head', async () => {
  await withAgent(portEcho(), new Agent(), async (srv, agent) => {
    const events = []
    const unsubscribe = subscribe(events)
    let clientPort
    try {
      clientPort = Number(await (await fetch(`${srv.url}/a`, { dispatcher: agent })).text())
      // Reused: no connect events.
      assert.strictEqual(Number(await (await fetch(`${srv.url}/b`, { dispatcher: agent })).text()), clientPort)
    } finally {
      unsubscribe()
    }
    assert.deepStrictEqual(events.map(([name]) => name),
      ['undici:client:beforeConnect', 'undici:client:connected', 'undici:request:headers', 'undici:request:headers'])
    const [[, before], [, connected]] = events
    const params = plainParams(srv.port)
    assert.deepStrictEqual(before.connectParams, params)
    assert.deepStrictEqual(Object.keys(before.connectParams).length, 7)
    assert.deepStrictEqual(connected.connectParams, { ...params, version: 'h1' })
    assert.strictEqual(typeof before.connector, 'function')
    assert.strictEqual(connected.connector, before.connector)
    const { socket } = connected
    assert.strictEqual(socket.remoteAddress, '127.0.0.1')
    assert.strictEqual(socket.remotePort, srv.port)
    assert.strictEqual(socket.remoteFamily, 'IPv4')
    assert.strictEqual(socket.localAddress, '127.0.0.1')
    assert.strictEqual(socket.localPort, clientPort)
    assert.strictEqual(socket.encrypted, false)
  })
})

test('connected over TLS through the Promise face: servername and ALPN as undici reports them', async () => {
  const cert = selfSigned()
  const server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => res.end('secure'))
  await withAgent(server, new Agent({ ca: cert.cert, servername: 'localhost' }), async (srv, agent) => {
    const events = []
    const unsubscribe = subscribe(events, ['undici:client:connected'])
    try {
      const res = await agent.request(`${srv.url}/`)
      assert.strictEqual(await res.text(), 'secure')
    } finally {
      unsubscribe()
    }
    assert.strictEqual(events.length, 1)
    const [[, { connectParams, socket }]] = events
    assert.strictEqual(connectParams.protocol, 'https:')
    assert.strictEqual(connectParams.servername, 'localhost')
    assert.strictEqual(connectParams.version, 'h1')
    assert.strictEqual(socket.encrypted, true)
    assert.strictEqual(socket.alpnProtocol, 'http/1.1') // offered by the pool, taken by Node's server
    assert.strictEqual(socket.remotePort, srv.port)
  })
})

/** The error Node gives for a refused connect to `port` on 127.0.0.1. */
function nodeRefusal (port) {
  return new Promise(resolve => net.connect(port, '127.0.0.1').once('error', resolve))
}

test('connectError carries the Error the request fails with: ECONNREFUSED as Node gives it, fetch\'s cause', async () => {
  const origin = await refusedUrl([2, 3, 4])
  const port = Number(new URL(origin).port)
  const agent = new Agent()
  const events = []
  const unsubscribe = subscribe(events)
  try {
    await assert.rejects(fetch(`${origin}/`, { dispatcher: agent }), err => {
      assert.ok(err instanceof TypeError)
      assert.strictEqual(err.message, 'fetch failed')
      assert.deepStrictEqual(events.map(([name]) => name), ['undici:client:beforeConnect', 'undici:client:connectError'])
      const [, { connectParams, connector, error }] = events[1]
      assert.strictEqual(error, err.cause)
      assert.strictEqual(connector, events[0][1].connector)
      assert.strictEqual(connectParams.port, String(port))
      assert.strictEqual(connectParams.version, undefined)
      return true
    })
    const error = events[1][1].error
    const expected = await nodeRefusal(port)
    assert.ok(error instanceof Error)
    for (const field of ['message', 'code', 'errno', 'syscall', 'address', 'port']) {
      assert.strictEqual(error[field], expected[field], field)
    }
  } finally {
    unsubscribe()
    agent.destroy()
  }
})

test('no connect event crosses from Rust while nobody subscribes; subscribing switches them on, unsubscribing off', async () => {
  const switches = []
  const watch = NativeAgent.prototype.watchConnects
  NativeAgent.prototype.watchConnects = function (on) {
    switches.push(on)
    return watch.call(this, on)
  }
  let crossed = 0
  const onEvents = PendingRequests.prototype.onEvents
  PendingRequests.prototype.onEvents = function (batch) {
    for (let at = 0; at < batch.meta.length; at += STRIDE) if (batch.meta[at] === Kind.CONNECT) crossed++
    return onEvents.call(this, batch)
  }
  // keepAlive false: every request opens a connection.
  try {
    await withAgent(portEcho(), new Agent({ keepAlive: false }), async (srv, agent) => {
      for (let i = 0; i < 3; i++) await (await fetch(srv.url, { dispatcher: agent })).text()
      await (await agent.request(srv.url)).text()
      assert.deepStrictEqual(switches, [])
      assert.strictEqual(crossed, 0)

      const events = []
      const unsubscribe = subscribe(events, ['undici:client:connected'])
      for (let i = 0; i < 2; i++) await (await fetch(srv.url, { dispatcher: agent })).text()
      assert.deepStrictEqual(switches, [true])
      assert.strictEqual(events.length, 2)
      assert.strictEqual(crossed, 4) // beforeConnect and connected of each

      unsubscribe()
      await (await fetch(srv.url, { dispatcher: agent })).text()
      await (await agent.request(srv.url)).text()
      assert.deepStrictEqual(switches, [true, false])
      assert.strictEqual(crossed, 4)
      assert.strictEqual(events.length, 2)
    })
  } finally {
    NativeAgent.prototype.watchConnects = watch
    PendingRequests.prototype.onEvents = onEvents
  }
})

test('an upgrade\'s connection (WebSocket through the socket face) publishes the same events, with its socket', async () => {
  const undici = require('undici')
  const { WebSocketServer } = require('ws')
  const server = http.createServer()
  const wss = new WebSocketServer({ server })
  wss.on('connection', ws => ws.on('message', data => ws.send(`echo: ${data}`)))
  await withAgent(server, new Agent(), async (srv, agent) => {
    const events = []
    const unsubscribe = subscribe(events, CONNECT_NAMES)
    try {
      const ws = new undici.WebSocket(`ws://127.0.0.1:${srv.port}/`, { dispatcher: agent })
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket failed')) })
      const closed = new Promise(resolve => { ws.onclose = resolve })
      ws.close()
      await closed

      const refused = await refusedUrl([2, 3, 4])
      const failing = new undici.WebSocket(refused.replace('http:', 'ws:'), { dispatcher: agent })
      await new Promise(resolve => { failing.onerror = resolve })
    } finally {
      unsubscribe()
    }
    assert.deepStrictEqual(events.map(([name]) => name), [...CONNECT_NAMES.slice(0, 2), CONNECT_NAMES[0], CONNECT_NAMES[2]])
    const [[, before], [, connected], , [, failed]] = events
    assert.deepStrictEqual(before.connectParams, plainParams(srv.port))
    assert.strictEqual(connected.connectParams.version, 'h1')
    assert.strictEqual(connected.connector, before.connector)
    assert.strictEqual(typeof connected.socket.write, 'function')
    assert.strictEqual(connected.socket.remoteAddress, '127.0.0.1')
    assert.strictEqual(connected.socket.remotePort, srv.port)
    assert.strictEqual(failed.error.code, 'ECONNREFUSED')
    assert.strictEqual(failed.error.syscall, 'connect')
  })
})
