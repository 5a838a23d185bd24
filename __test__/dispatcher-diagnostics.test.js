'use strict'
// undici's diagnostics_channel events from the dispatcher face and the Promise face, read by a real
// subscriber that does what
// @opentelemetry/instrumentation-undici does: it adds a trace header on `undici:request:create` (published
// synchronously inside dispatch), reads the socket on `undici:client:sendHeaders`, the status and raw
// headers on `undici:request:headers`, and ends on `undici:request:trailers` or `undici:request:error`.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const dc = require('node:diagnostics_channel')
const { Agent } = require('..')
const { withAgent, refusedUrl } = require('./helpers/faces')

const NAMES = ['undici:request:create', 'undici:client:sendHeaders', 'undici:request:headers', 'undici:request:trailers', 'undici:request:error']

/** Subscribes to every request channel; `events` lists [name, message] in order. Returns the unsubscriber. */
function subscribe (events, onCreate) {
  const listeners = NAMES.map(name => {
    const listener = message => {
      events.push([name, message])
      if (name === 'undici:request:create') onCreate?.(message.request)
    }
    dc.subscribe(name, listener)
    return [name, listener]
  })
  return () => { for (const [name, listener] of listeners) dc.unsubscribe(name, listener) }
}

test('create (with a working addHeader), sendHeaders, headers and trailers, in undici shapes, for fetch', async () => {
  await withAgent(http.createServer((req, res) => {
    res.setHeader('x-seen-trace', req.headers.traceparent ?? 'none')
    res.end('traced')
  }), new Agent(), async (srv, agent) => {
    const events = []
    const unsubscribe = subscribe(events, request => request.addHeader('traceparent', '00-abc-def-01'))
    try {
      const res = await fetch(`${srv.url}/path?q=1`, { dispatcher: agent, headers: { 'x-mine': 'yes' } })
      assert.strictEqual(res.headers.get('x-seen-trace'), '00-abc-def-01')
      assert.strictEqual(await res.text(), 'traced')
    } finally {
      unsubscribe()
    }
    assert.deepStrictEqual(events.map(([name]) => name), NAMES.slice(0, 4))
    const [[, created], [, sent], [, answered], [, ended]] = events
    const { request } = created
    assert.strictEqual(request.origin, srv.url)
    assert.strictEqual(request.method, 'GET')
    assert.strictEqual(request.path, '/path?q=1')
    assert.ok(Array.isArray(request.headers))
    assert.strictEqual(request.headers[request.headers.indexOf('x-mine') + 1], 'yes')
    assert.strictEqual(request.headers[request.headers.indexOf('traceparent') + 1], '00-abc-def-01')
    assert.strictEqual(sent.request, request)
    assert.match(sent.headers, /^GET \/path\?q=1 HTTP\/1\.1\r\n/)
    assert.match(sent.headers, /traceparent: 00-abc-def-01\r\n/)
    assert.strictEqual(sent.socket.remoteAddress, '127.0.0.1')
    assert.strictEqual(sent.socket.remotePort, srv.port)
    assert.strictEqual(answered.request, request)
    assert.strictEqual(answered.response.statusCode, 200)
    assert.strictEqual(answered.response.statusText, 'OK')
    assert.ok(answered.response.headers.every(Buffer.isBuffer))
    const names = answered.response.headers.filter((_, i) => i % 2 === 0).map(String)
    assert.ok(names.includes('x-seen-trace'))
    assert.strictEqual(ended.request, request)
    assert.deepStrictEqual(ended.trailers, [])
    assert.strictEqual(request.completed, true)
  })
})

test('create is published synchronously inside dispatch, and error carries the failure', async () => {
  const origin = await refusedUrl()
  const agent = new Agent()
  const events = []
  const unsubscribe = subscribe(events)
  try {
    const failed = new Promise(resolve => {
      agent.dispatch({ origin, path: '/', method: 'GET' }, { onConnect () {}, onHeaders () {}, onData () {}, onComplete () {}, onError: resolve })
      assert.deepStrictEqual(events.map(([name]) => name), ['undici:request:create', 'undici:client:sendHeaders'])
    })
    const err = await failed
    assert.strictEqual(err.code, 'ECONNREFUSED')
    const [name, message] = events.at(-1)
    assert.strictEqual(name, 'undici:request:error')
    assert.strictEqual(message.error, err)
    assert.strictEqual(message.request, events[0][1].request)
  } finally {
    unsubscribe()
    agent.destroy()
  }
})

test('agent.request() publishes the same events; it counts as complete at its head, its body being the caller\'s', async () => {
  await withAgent(http.createServer((req, res) => res.end(req.headers.traceparent ?? 'none')), new Agent(), async (srv, agent) => {
    const events = []
    const unsubscribe = subscribe(events, request => request.addHeader('traceparent', '00-promise-face-01'))
    let failure
    try {
      const res = await agent.request(`${srv.url}/p?x=2`, { method: 'POST', body: 'b' })
      assert.deepStrictEqual(events.map(([name]) => name), NAMES.slice(0, 4))
      assert.strictEqual(await res.text(), '00-promise-face-01')
      failure = await agent.request(`${await refusedUrl()}/`).catch(err => err)
    } finally {
      unsubscribe()
    }
    const { request } = events[0][1]
    assert.strictEqual(request.origin, srv.url)
    assert.strictEqual(request.method, 'POST')
    assert.strictEqual(request.path, '/p?x=2')
    assert.strictEqual(events[2][1].response.statusCode, 200)
    assert.deepStrictEqual(events.slice(4).map(([name]) => name), ['undici:request:create', 'undici:client:sendHeaders', 'undici:request:error'])
    assert.strictEqual(failure.code, 'ECONNREFUSED')
    assert.strictEqual(events.at(-1)[1].error, failure)
  })
})
