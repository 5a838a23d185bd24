'use strict'
// The dispatcher face under undici's own APIs and raw handlers: undici 6 request/stream/pipeline/connect
// (v1 handlers), undici 8 request/stream/pipeline/fetch/WebSocket (v2 controllers, Node >= 22.19), pause and
// resume, aborts, bad input, close() and destroy(), against real servers on 127.0.0.1.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const https = require('node:https')
const crypto = require('node:crypto')
const { once } = require('node:events')
const { Writable, Readable } = require('node:stream')
const undici = require('undici')
const { WebSocketServer } = require('ws')
const { Agent, HttpsAgent } = require('..')
const { selfSigned } = require('../examples/certs')
const { withAgent, listenCounting } = require('./helpers/faces')
const { ROUTES, along } = require('./helpers/routes')

const [major, minor] = process.versions.node.split('.').map(Number)
const undici8Skip = major > 22 || (major === 22 && minor >= 19) ? false : 'undici 8 needs Node >= 22.19'
const sha256 = data => crypto.createHash('sha256').update(data).digest('hex')

const withServer = (handler, run, agentOptions) => withAgent(http.createServer(handler), new Agent(agentOptions), run)

function echo (req, res) {
  const chunks = []
  req.on('data', chunk => chunks.push(chunk))
  req.on('end', () => {
    res.setHeader('x-method', req.method)
    res.end(JSON.stringify({ url: req.url, headers: req.rawHeaders, body: Buffer.concat(chunks).toString() }))
  })
}

/** A Writable that collects what is piped into it. */
function collector () {
  const chunks = []
  const sink = new Writable({ write (chunk, _, callback) { chunks.push(chunk); callback() } })
  sink.text = () => Buffer.concat(chunks).toString()
  return sink
}

/** Runs undici's request, stream and pipeline (any major: they share these signatures) through `agent`. */
async function requestStreamPipeline (lib, url, agent) {
  const res = await lib.request(`${url}/request?x=1`, { dispatcher: agent, method: 'POST', body: 'from request', headers: { 'x-one': 'a' } })
  assert.strictEqual(res.statusCode, 200)
  assert.strictEqual(res.headers['x-method'], 'POST')
  const got = await res.body.json()
  assert.strictEqual(got.url, '/request?x=1')
  assert.strictEqual(got.body, 'from request')
  assert.ok(got.headers.includes('x-one'))

  const sink = collector()
  await lib.stream(`${url}/stream`, { dispatcher: agent, method: 'PUT', body: Readable.from(['str', 'eamed']) }, ({ statusCode }) => {
    assert.strictEqual(statusCode, 200)
    return sink
  })
  assert.strictEqual(JSON.parse(sink.text()).body, 'streamed')

  const piped = collector()
  await new Promise((resolve, reject) => {
    Readable.from(['through ', 'pipeline'])
      .pipe(lib.pipeline(`${url}/pipeline`, { dispatcher: agent, method: 'POST' }, ({ body }) => body))
      .on('error', reject)
      .pipe(piped)
      .on('finish', resolve)
  })
  assert.strictEqual(JSON.parse(piped.text()).body, 'through pipeline')
}

test('undici 6 request, stream and pipeline (v1 handlers) over the agent', async () => {
  await withServer(echo, async (srv, agent) => {
    await requestStreamPipeline(undici, srv.url, agent)
    assert.strictEqual(srv.counts.opened, 1)
    assert.strictEqual(agent.getCurrentStatus().requestCount, 3)
  })
})

test('undici 8 request, stream, pipeline and fetch (v2 controllers) over the agent', { skip: undici8Skip }, async () => {
  const undici8 = require('undici8')
  await withServer(echo, async (srv, agent) => {
    await requestStreamPipeline(undici8, srv.url, agent)
    const res = await undici8.fetch(`${srv.url}/fetch`, { dispatcher: agent, method: 'POST', body: 'from fetch 8' })
    assert.strictEqual((await res.json()).body, 'from fetch 8')
    assert.strictEqual(srv.counts.opened, 1)
    assert.strictEqual(agent.getCurrentStatus().requestCount, 4)
  })
})

/** Redirects /from/N to /from/N-1 (302) down to /from/0, which answers. */
function redirecting (req, res) {
  const n = Number(req.url.split('/')[2])
  if (n > 0) res.writeHead(302, { location: `/from/${n - 1}` }).end()
  else res.end('arrived')
}

test('compose(): undici 6 redirect interceptor (v1) over the agent follows redirects', async () => {
  await withServer(redirecting, async (srv, agent) => {
    const composed = agent.compose(undici.interceptors.redirect({ maxRedirections: 3 }))
    const res = await undici.request(`${srv.url}/from/3`, { dispatcher: composed })
    assert.strictEqual(res.statusCode, 200)
    assert.strictEqual(await res.body.text(), 'arrived')
    const plain = await undici.request(`${srv.url}/from/1`, { dispatcher: agent })
    assert.strictEqual(plain.statusCode, 302)
    await plain.body.dump()
    assert.throws(() => agent.compose('no'), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.strictEqual(srv.counts.opened, 1)
  })
})

/**
 * /r/<status>/<n>: answers `status` to /r/<status>/<n-1> (the body read first), down to n = 0, which
 * echoes the method, URL, body and the headers a redirect may drop; /cross/<port>: a 302 to the server
 * on that port (another origin).
 */
function redirectsOf (req, res) {
  const chunks = []
  req.on('data', chunk => chunks.push(chunk))
  req.on('end', () => {
    const [, kind, status, n] = req.url.split('/')
    if (kind === 'cross') return res.writeHead(302, { location: `http://127.0.0.1:${status}/r/302/0` }).end('moved')
    if (Number(n) > 0) return res.writeHead(Number(status), { location: `/r/${status}/${n - 1}` }).end('moved')
    const seen = ['authorization', 'cookie', 'content-type', 'content-length', 'x-keep'].filter(name => req.headers[name] !== undefined)
    res.end(JSON.stringify([req.method, req.url, Buffer.concat(chunks).toString(), ...seen.map(name => `${name}: ${req.headers[name]}`)]))
  })
}

test('maxRedirections (undici 6\'s option, per request or the Agent\'s) is followed as undici 6\'s Agent follows it: status, method, body, headers carried or dropped, history, limit', async () => {
  const other = await listenCounting(http.createServer(redirectsOf))
  const ours = new Agent()
  const theirs = new undici.Agent()
  const oursLimited = new Agent({ maxRedirections: 2 })
  const theirsLimited = new undici.Agent({ maxRedirections: 2 })
  try {
    await withServer(redirectsOf, async srv => {
      const credentials = { authorization: 'Bearer t', cookie: 'a=b', 'x-keep': '1' }
      const cases = [
        ['GET, 3 hops within 3', '/r/302/3', { maxRedirections: 3 }],
        ['GET beyond the limit: the redirect is the answer', '/r/301/3', { maxRedirections: 2 }],
        ['POST after 303: GET without body or content headers', '/r/303/1', { maxRedirections: 1, method: 'POST', body: 'data', headers: { 'content-type': 'text/plain' } }],
        ['POST after 307: the same body', '/r/307/1', { maxRedirections: 1, method: 'POST', body: 'data', headers: { 'content-type': 'text/plain' } }],
        ['PUT after 302', '/r/302/1', { maxRedirections: 1, method: 'PUT', body: 'data' }],
        ['credentials kept on the same origin', '/r/308/1', { maxRedirections: 1, headers: credentials }],
        ['credentials dropped for another origin', `/cross/${other.port}`, { maxRedirections: 1, headers: credentials }],
        ['a stream body once read is not sent again', '/r/307/1', { maxRedirections: 1, method: 'POST', body: () => Readable.from([Buffer.from('streamed')]) }],
        ['no limit: not followed', '/r/302/1', {}]
      ]
      const outcome = async (dispatcher, path, { body, ...options }) => {
        try {
          const res = await undici.request(`${srv.url}${path}`, { dispatcher, ...options, body: typeof body === 'function' ? body() : body })
          return [res.statusCode, await res.body.text(), res.context?.history.map(String)]
        } catch (err) {
          return [err.code, err.message]
        }
      }
      const seen = new Set()
      for (const [name, path, options] of cases) {
        const expected = await outcome(theirs, path, options)
        assert.deepStrictEqual(await outcome(ours, path, options), expected, name)
        seen.add(`${expected[0]} ${expected[1].slice(0, 2)}`)
      }
      // The Agent's own limit, where the request gives none; and throwOnMaxRedirect beyond it.
      assert.deepStrictEqual(await outcome(oursLimited, '/r/302/2', {}), await outcome(theirsLimited, '/r/302/2', {}))
      const thrown = await outcome(ours, '/r/302/3', { maxRedirections: 1, throwOnMaxRedirect: true })
      assert.deepStrictEqual(thrown, await outcome(theirs, '/r/302/3', { maxRedirections: 1, throwOnMaxRedirect: true }))
      assert.deepStrictEqual(thrown, [undefined, 'max redirects'])
      // Each kind of answer was met: a followed chain, a redirect given back, an echo after a 303.
      assert.deepStrictEqual([...seen].sort(), ['200 ["', '301 mo', '302 mo', '307 mo'])
      for (const bad of [-1, 1.5, '2']) {
        await assert.rejects(undici.request(`${srv.url}/r/302/0`, { dispatcher: ours, maxRedirections: bad }),
          { code: 'UND_ERR_INVALID_ARG', message: 'maxRedirections must be a positive number' })
      }
      assert.throws(() => new Agent({ maxRedirections: -1 }), { code: 'UND_ERR_INVALID_ARG' })
    })
  } finally {
    for (const agent of [ours, oursLimited]) agent.destroy()
    await Promise.all([theirs.close(), theirsLimited.close()])
    await other.close()
  }
})

test('compose(): undici 8 redirect and retry interceptors (v2) over the agent', { skip: undici8Skip }, async () => {
  const undici8 = require('undici8')
  await withServer(redirecting, async (srv, agent) => {
    const composed = agent.compose([undici8.interceptors.retry({ maxRetries: 1 }), undici8.interceptors.redirect({ maxRedirections: 3 })])
    const res = await undici8.request(`${srv.url}/from/2`, { dispatcher: composed })
    assert.strictEqual(res.statusCode, 200)
    assert.strictEqual(await res.body.text(), 'arrived')
  })
})

test('headers as a flat array with repeated values, and query, reach the server as given', async () => {
  await withServer(echo, async (srv, agent) => {
    const res = await undici.request(`${srv.url}/q`, {
      dispatcher: agent,
      headers: ['x-list', 'a', 'x-list', 'b', 'x-buffer', Buffer.from('c')],
      query: { n: [1, 2], s: 'x y' }
    })
    const got = await res.body.json()
    assert.strictEqual(got.url, '/q?n=1&n=2&s=x%20y')
    const raw = got.headers
    assert.deepStrictEqual(raw.filter((_, i) => i % 2 === 0 ? false : raw[i - 1] === 'x-list'), ['a', 'b'])
    assert.strictEqual(raw[raw.indexOf('x-buffer') + 1], 'c')
  })
})

test('v1 handler: onData returning false pauses the body until resume(); nothing arrives while paused', async () => {
  const big = crypto.randomBytes(4 * 1024 * 1024)
  await withServer((req, res) => res.end(big), async (srv, agent) => {
    const chunks = []
    let paused = false
    let whilePaused = 0
    let pauses = 0
    const result = await new Promise((resolve, reject) => {
      agent.dispatch({ origin: srv.url, path: '/', method: 'GET' }, {
        onConnect () {},
        onHeaders (status, rawHeaders, resume) {
          assert.strictEqual(status, 200)
          assert.ok(rawHeaders.every(Buffer.isBuffer))
          this.resume = resume
          return true
        },
        onData (chunk) {
          if (paused) whilePaused++
          chunks.push(chunk)
          paused = true
          pauses++
          setImmediate(() => { paused = false; this.resume() })
          return false
        },
        onComplete: trailers => resolve(trailers),
        onError: reject
      })
    })
    assert.deepStrictEqual(result, [])
    assert.strictEqual(whilePaused, 0)
    assert.ok(pauses > 1)
    assert.strictEqual(sha256(Buffer.concat(chunks)), sha256(big))
  })
})

test('v1 handler: a small body that came with its head waits for resume() after onHeaders returned false, then completes', async () => {
  await withServer((req, res) => res.end('small body'), async (srv, agent) => {
    const seen = []
    let headed
    const resumeGiven = new Promise(resolve => { headed = resolve })
    const done = new Promise((resolve, reject) => {
      agent.dispatch({ origin: srv.url, path: '/', method: 'GET' }, {
        onConnect () {},
        onHeaders (status, rawHeaders, resumeFn) {
          seen.push(`headers ${status}`)
          headed(resumeFn)
          return false
        },
        onData (chunk) { seen.push(`data ${chunk}`); return true },
        onComplete (trailers) { seen.push('complete'); resolve(trailers) },
        onError: reject
      })
    })
    const resume = await resumeGiven
    // Paused: neither the body nor its end arrives while the handler lets turns of the loop pass.
    for (let i = 0; i < 3; i++) await new Promise(resolve => setImmediate(resolve))
    assert.deepStrictEqual(seen, ['headers 200'])
    resume()
    assert.deepStrictEqual(await done, [])
    assert.deepStrictEqual(seen, ['headers 200', 'data small body', 'complete'])
  })
})

test('response trailers reach the handler (undici.request\'s trailers), after a small body and a streamed one', async () => {
  await withServer((req, res) => {
    res.setHeader('trailer', 'x-sum')
    if (req.url === '/big') res.write(Buffer.alloc(200_000, 'b'))
    res.write('tail')
    res.addTrailers({ 'x-sum': 'abc' })
    res.end()
  }, async (srv, agent) => {
    for (const path of ['/small', '/big']) {
      const res = await undici.request(`${srv.url}${path}`, { dispatcher: agent })
      assert.ok((await res.body.text()).endsWith('tail'))
      assert.deepStrictEqual(res.trailers, { 'x-sum': 'abc' }, path)
    }
  })
})

test('v2 handler: controller.pause()/resume(), raw headers as Buffers, then abort() mid-body frees the slot', async () => {
  await withServer((req, res) => {
    if (req.url === '/partial') { res.setHeader('x-kind', 'partial'); res.write('part'); return }
    res.end('whole')
  }, async (srv, agent) => {
    const failure = await new Promise(resolve => {
      agent.dispatch({ origin: srv.url, path: '/partial', method: 'GET' }, {
        onRequestStart (controller, context) { assert.strictEqual(typeof context, 'object') },
        onResponseStart (controller, status, headers, statusText) {
          assert.strictEqual(status, 200)
          assert.strictEqual(statusText, 'OK')
          assert.strictEqual(headers['x-kind'], 'partial')
          assert.ok(controller.rawHeaders.every(Buffer.isBuffer))
          controller.pause()
          assert.strictEqual(controller.paused, true)
          setImmediate(() => controller.resume())
        },
        onResponseData (controller, chunk) {
          assert.strictEqual(chunk.toString(), 'part')
          controller.abort(new Error('enough'))
          assert.strictEqual(controller.aborted, true)
        },
        onResponseEnd () { resolve(new Error('ended')) },
        onResponseError: (controller, err) => resolve(err)
      })
    })
    assert.strictEqual(failure.message, 'enough')
    // maxSockets 1: this runs only once the aborted request gave its connection back (closed it).
    const res = await undici.request(srv.url, { dispatcher: agent })
    assert.strictEqual(await res.body.text(), 'whole')
    assert.strictEqual(srv.counts.opened, 2)
  }, { maxSockets: 1 })
})

test('abort from onConnect (v1) or onRequestStart (v2): onError once, nothing reaches the server', async () => {
  let requests = 0
  await withServer((req, res) => { requests++; res.end() }, async (srv, agent) => {
    const v1 = await new Promise(resolve => {
      agent.dispatch({ origin: srv.url, path: '/', method: 'GET' }, {
        onConnect: abort => abort(new Error('v1 abort')),
        onHeaders: () => resolve(new Error('answered')),
        onData () {},
        onComplete () {},
        onError: resolve
      })
    })
    assert.strictEqual(v1.message, 'v1 abort')
    const v2 = await new Promise(resolve => {
      agent.dispatch({ origin: srv.url, path: '/', method: 'GET' }, {
        onRequestStart: controller => controller.abort(),
        onResponseStart: () => resolve(new Error('answered')),
        onResponseError: (controller, err) => resolve(err)
      })
    })
    // undici's RequestAbortedError.
    assert.strictEqual(v2.code, 'UND_ERR_ABORTED')
    assert.strictEqual(v2.name, 'AbortError')
    assert.strictEqual(v2.message, 'Request aborted')
    await (await undici.request(srv.url, { dispatcher: agent })).body.dump()
    assert.strictEqual(requests, 1)
  })
})

test('bad input: a handler that is not an object throws; bad opts reach onError with undici\'s InvalidArgumentError, as from undici\'s Agent', async () => {
  const agent = new Agent()
  const undicis = new undici.Agent()
  try {
    const invalid = message => ({ code: 'UND_ERR_INVALID_ARG', name: 'InvalidArgumentError', message })
    assert.throws(() => agent.dispatch({ origin: 'http://127.0.0.1:1', path: '/' }, null), invalid('handler must be an object'))
    assert.throws(() => agent.dispatch({ origin: 'http://127.0.0.1:1', path: '/' }, {}), invalid('invalid onError method'))
    const asked = [
      null,
      { origin: 'http://127.0.0.1:1', path: 1 },
      { origin: 'http://127.0.0.1:1', path: 'relative' },
      { origin: 'http://127.0.0.1:1', path: '/', method: 1 },
      { origin: 'http://127.0.0.1:1', path: '/', method: 'GET', headersTimeout: -1 },
      { origin: 'http://127.0.0.1:1', path: '/', method: 'GET', bodyTimeout: 'x' },
      { origin: 'http://127.0.0.1:1', path: '/', method: 'GET', upgrade: 'websocket' },
      { origin: 'http://127.0.0.1:1', path: '/', method: 'GET', upgrade: 1 },
      { origin: 'http://127.0.0.1:1', path: '/', method: 'GET', reset: 0 },
      { origin: 'http://127.0.0.1:1', path: '/', method: 'GET', expectContinue: 0 },
      { origin: 'http://127.0.0.1:1', path: '/', method: 'GET', headers: ['a'] },
      { origin: 'http://127.0.0.1:1', path: '/', method: 'GET', headers: new Set(['not a pair']) },
      { origin: 'http://127.0.0.1:1', path: '/', method: 'GET', headers: 'x' }
    ]
    const failures = dispatcher => asked.map(opts => {
      let seen = null
      dispatcher.dispatch(opts, { onConnect () {}, onHeaders () {}, onData () {}, onComplete () {}, onError: err => { seen = err } })
      return seen && { code: seen.code, name: seen.name, message: seen.message, undici: seen instanceof undici.errors.InvalidArgumentError }
    })
    const expected = failures(undicis)
    assert.deepStrictEqual(expected.map(e => e?.message), ['opts must be an object.', 'path must be a string',
      'path must be an absolute URL or start with a slash', 'method must be a string', 'invalid headersTimeout', 'invalid bodyTimeout',
      'invalid onUpgrade method', 'upgrade must be a string', 'invalid reset', 'invalid expectContinue', 'headers array must be even',
      'headers must be in key-value pair format', 'headers must be an object or an array'])
    assert.deepStrictEqual(failures(agent), expected)
    // undici 7 and 8 (v2 handlers) refuse maxRedirections; undici 6's (v1) are served (see above).
    const v2 = []
    assert.strictEqual(agent.dispatch({ origin: 'http://127.0.0.1:1', path: '/', maxRedirections: 2 }, { onRequestStart () {}, onResponseError: (controller, err) => v2.push(err) }), false)
    assert.deepStrictEqual(v2.map(e => e.message), ['maxRedirections is not supported, use the redirect interceptor'])
    assert.strictEqual(agent.dispatch({ origin: 'http://127.0.0.1:1', path: '/', idempotent: 0 }, { onError: err => v2.push(err) }), false)
    assert.strictEqual(v2[1].message, 'invalid idempotent')
  } finally {
    agent.destroy()
    await undicis.close()
  }
})

test('headers undici refuses (a name that is no token; CR, LF or NUL in a value, a Blob type too; those it writes itself; Expect) fail as undici\'s Agent fails them, before anything is sent', async () => {
  let requests = 0
  await withServer((req, res) => { requests++; res.end('hello') }, async (srv, agent) => {
    const asked = [
      { headers: { 'bad name': 'x' } },
      { headers: { 'content-type': 'application/json\r\n\r\nGET /smuggled HTTP/1.1' } },
      { headers: { 'x-a': ['fine', 'one\ntwo'] } },
      { headers: ['X-Nul', 'a\0b'] },
      { method: 'POST', body: new (class extends Blob { get type () { return 'text/html\r\nX-Injected: true' } })(['hello']) },
      // What undici writes itself, or does not support.
      { headers: { 'content-length': 'asd' } },
      { headers: ['Host', 'a', 'host', 'b'] },
      { headers: { 'transfer-encoding': 'chunked' } },
      { headers: { upgrade: 'websocket' } },
      { headers: { 'keep-alive': 'timeout=5' } },
      { headers: { foo: {} } },
      { headers: { Expect: '100-continue' } }
    ]
    const failures = async dispatcher => {
      const seen = []
      for (const opts of asked) {
        const err = await undici.request(srv.url, { ...opts, dispatcher }).then(() => null, err => err)
        seen.push(err && { code: err.code, name: err.name, message: err.message })
      }
      return seen
    }
    const undicis = new undici.Agent()
    try {
      const expected = await failures(undicis)
      assert.deepStrictEqual(expected.map(e => e?.message), ['invalid header key', 'invalid content-type header', 'invalid x-a header',
        'invalid X-Nul header', 'invalid content-type header', 'invalid content-length header', 'duplicate host header',
        'invalid transfer-encoding header', 'invalid upgrade header', 'invalid keep-alive header', 'invalid foo header',
        'expect header not supported'])
      assert.strictEqual(expected.at(-1).code, 'UND_ERR_NOT_SUPPORTED')
      assert.deepStrictEqual(await failures(agent), expected)
    } finally {
      await undicis.close()
    }
    assert.strictEqual(requests, 0)
  })
})

test('the request head is written in undici\'s order: host and connection first, then the caller\'s headers as given', async () => {
  const server = http.createServer((req, res) => {
    if (req.url === '/303') {
      res.writeHead(303, { location: '/there' })
      res.end()
      return
    }
    res.end(JSON.stringify(req.rawHeaders))
  })
  await withAgent(server, new Agent(), async (srv, agent) => {
    const heads = async dispatcher => [
      await (await undici.request(`${srv.url}/`, { dispatcher, headers: { 'x-foo': '1', 'X-Bar': '2' } })).body.json(),
      await (await undici.request(`${srv.url}/303`, { dispatcher, method: 'PATCH', headers: ['X-Foo', '1', 'Host', 'localhost'], maxRedirections: 1 })).body.json(),
      await (await undici.request(`${srv.url}/`, { dispatcher, headers: { 'x-foo': '1', Connection: 'close' } })).body.json(),
      await (await fetch(`${srv.url}/`, { dispatcher, headers: { 'x-foo': '1' } })).json()
    ]
    const undicis = new undici.Agent()
    try {
      const expected = await heads(undicis)
      assert.deepStrictEqual(expected[0].slice(0, 4), ['host', srv.url.slice(7), 'connection', 'keep-alive'])
      assert.deepStrictEqual(await heads(agent), expected)
    } finally {
      await undicis.close()
    }
  })
})

test('a FormData body from npm\'s undici (its own class) or Node\'s goes as multipart, with its boundary', async () => {
  await withServer(echo, async (srv, agent) => {
    for (const FormDataOf of [undici.FormData, FormData]) {
      const form = new FormDataOf()
      form.append('name', 'value')
      form.append('file', new undici.File(['file body'], 'a.txt', { type: 'text/plain' }))
      const res = await undici.request(srv.url, { dispatcher: agent, method: 'POST', body: form })
      const { headers, body } = await res.body.json()
      const type = headers[headers.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === 'content-type') + 1]
      const boundary = /^multipart\/form-data; boundary=(.+)$/.exec(type)?.[1]
      assert.ok(boundary, type)
      assert.match(body, new RegExp(`^--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nvalue\r\n`))
      assert.match(body, /filename="a.txt"\r\nContent-Type: text\/plain\r\n\r\nfile body\r\n/)
    }
  })
})

test('a FormData body of known size goes with the Content-Length undici sends (names and values that escaping and line breaks change, files, a Blob); one with a stream part goes chunked', async () => {
  const seen = (req, res) => {
    let received = 0
    req.on('data', chunk => { received += chunk.length })
    req.on('end', () => res.end(JSON.stringify({ declared: req.headers['content-length'] ?? null, chunked: req.headers['transfer-encoding'] ?? null, received })))
  }
  const form = FormDataOf => {
    const form = new FormDataOf()
    form.append('plain', 'value')
    form.append('lines "quoted"\nname', 'one\ntwo\r\nthree\rfour é ✓')
    form.append('file', new undici.File(['file body ✓'], 'a "b".txt', { type: 'text/plain' }))
    form.append('blob', new Blob([Buffer.alloc(1000, 1)]))
    return form
  }
  await withServer(seen, async (srv, agent) => {
    const undiciAgent = new undici.Agent()
    try {
      for (const FormDataOf of [undici.FormData, FormData]) {
        const ours = await (await undici.request(srv.url, { dispatcher: agent, method: 'POST', body: form(FormDataOf) })).body.json()
        const theirs = await (await undici.request(srv.url, { dispatcher: undiciAgent, method: 'POST', body: form(FormDataOf) })).body.json()
        assert.strictEqual(ours.chunked, null)
        assert.strictEqual(Number(ours.declared), ours.received)
        assert.deepStrictEqual(ours, theirs)
      }
      // A part whose size is unknown: chunked, as undici sends it.
      const streamed = new undici.FormData()
      streamed.append('stream', { [Symbol.toStringTag]: 'Blob', type: 'text/plain', stream: () => Readable.from([Buffer.from('abc')]) })
      const answer = await (await undici.request(srv.url, { dispatcher: agent, method: 'POST', body: streamed })).body.json()
      assert.deepStrictEqual([answer.declared, answer.chunked], [null, 'chunked'])
    } finally {
      await undiciAgent.close()
    }
  })
})

test('close() lets requests in flight finish, then refuses new ones; destroy(err) fails those in flight with err, destroy() with undici\'s UND_ERR_DESTROYED', async () => {
  const held = []
  const arrived = []
  await withServer((req, res) => { held.push(res); arrived.shift()?.() }, async (srv, agent) => {
    const reached = new Promise(resolve => arrived.push(resolve))
    const inFlight = undici.request(srv.url, { dispatcher: agent })
    await reached
    const closing = agent.close()
    await assert.rejects(undici.request(srv.url, { dispatcher: agent }), { code: 'UND_ERR_CLOSED' })
    held.shift().end('finished')
    assert.strictEqual(await (await inFlight).body.text(), 'finished')
    assert.strictEqual(await closing, undefined)

    const other = new Agent()
    const reachedOther = new Promise(resolve => arrived.push(resolve))
    const doomed = undici.request(srv.url, { dispatcher: other })
    await reachedOther
    const destroyed = other.destroy(new Error('shut down'))
    assert.ok(destroyed instanceof Promise)
    // Failed at once; destroy() resolves once its connections have closed (a turn later, as undici's).
    const doomedFailed = assert.rejects(doomed, { message: 'shut down' })
    await destroyed
    await doomedFailed
    await new Promise(resolve => other.destroy(resolve))

    const third = new Agent()
    const reachedThird = new Promise(resolve => arrived.push(resolve))
    const gone = undici.request(srv.url, { dispatcher: third })
    await reachedThird
    const destroyedError = { name: 'ClientDestroyedError', code: 'UND_ERR_DESTROYED', message: 'The client is destroyed' }
    const goneFailed = assert.rejects(gone, destroyedError)
    await third.destroy()
    await goneFailed
    await assert.rejects(undici.request(srv.url, { dispatcher: third }), destroyedError)
  })
})

test("timeouts: the agent's timeout (inactivity) covers fetch", async () => {
  await withServer(() => {}, async (srv, agent) => {
    await assert.rejects(fetch(srv.url, { dispatcher: agent }), err => {
      assert.strictEqual(err.cause.code, 'ETIMEDOUT')
      assert.strictEqual(err.cause.message, 'no activity for 150ms (timeout)')
      return true
    })
  }, { timeout: 150 })
})

/** A server that answers `/late-head` after 300 ms and `/stall` with a head and half a body, the rest 300 ms later. */
function staller () {
  const timers = new Set()
  const later = fn => timers.add(setTimeout(fn, 300))
  const server = http.createServer((req, res) => {
    if (req.url === '/silent') return
    if (req.url === '/late-head') return later(() => res.end('late'))
    res.writeHead(200, { 'content-length': 8 })
    res.write('half')
    later(() => res.end('done'))
  })
  server.on('close', () => timers.forEach(clearTimeout))
  return server
}

const headersTimeout = { name: 'HeadersTimeoutError', code: 'UND_ERR_HEADERS_TIMEOUT', message: 'Headers Timeout Error' }
const bodyTimeout = { name: 'BodyTimeoutError', code: 'UND_ERR_BODY_TIMEOUT', message: 'Body Timeout Error' }

test('headersTimeout: a head that does not come in time fails with undici\'s error; fetch gives it as its cause', async () => {
  await withAgent(staller(), new Agent(), async (srv, agent) => {
    await assert.rejects(undici.request(`${srv.url}/silent`, { dispatcher: agent, headersTimeout: 100 }), headersTimeout)
    const hurried = agent.compose(dispatch => (opts, handler) => dispatch({ ...opts, headersTimeout: 100 }, handler))
    await assert.rejects(fetch(`${srv.url}/late-head`, { dispatcher: hurried }), err => {
      assert.ok(err instanceof TypeError)
      assert.strictEqual(err.message, 'fetch failed')
      assert.deepStrictEqual({ name: err.cause.name, code: err.cause.code, message: err.cause.message }, headersTimeout)
      return true
    })
    // It does not cover the body: a short headersTimeout, a body that stalls longer.
    const res = await undici.request(`${srv.url}/stall`, { dispatcher: agent, headersTimeout: 100 })
    assert.strictEqual(await res.body.text(), 'halfdone')
    // 0: no limit.
    const late = await undici.request(`${srv.url}/late-head`, { dispatcher: agent, headersTimeout: 0 })
    assert.strictEqual(await late.body.text(), 'late')
  })
})

test('headersTimeout runs from the end of the request: a streamed body slower than it is no timeout', async () => {
  await withServer(echo, async (srv, agent) => {
    const { setTimeout: sleep } = require('node:timers/promises')
    async function * slowly () {
      for (const piece of ['one ', 'two ', 'three']) {
        await sleep(150)
        yield Buffer.from(piece)
      }
    }
    const res = await undici.request(`${srv.url}/upload`, { dispatcher: agent, method: 'POST', body: slowly(), headersTimeout: 100 })
    assert.strictEqual(JSON.parse(await res.body.text()).body, 'one two three')
  })
})

test('bodyTimeout: a body that stalls longer fails with undici\'s error after the head was given', async () => {
  await withAgent(staller(), new Agent(), async (srv, agent) => {
    const res = await undici.request(`${srv.url}/stall`, { dispatcher: agent, bodyTimeout: 100 })
    assert.strictEqual(res.statusCode, 200)
    await assert.rejects(res.body.text(), bodyTimeout)
    // It does not cover the wait for the head.
    const late = await undici.request(`${srv.url}/late-head`, { dispatcher: agent, bodyTimeout: 100 })
    assert.strictEqual(await late.body.text(), 'late')
    // 0: no limit.
    const slow = await undici.request(`${srv.url}/stall`, { dispatcher: agent, bodyTimeout: 0 })
    assert.strictEqual(await slow.body.text(), 'halfdone')
    const stats = agent.getCurrentStatus()
    assert.strictEqual(stats.timeoutSocketCount, 1)
  })
})

test('limits of a second or more run out too, never before their length: headersTimeout and bodyTimeout of 1 s', async () => {
  const server = http.createServer((req, res) => {
    if (req.url === '/silent') return
    res.writeHead(200, { 'content-length': 8 })
    res.write('half')
  })
  await withAgent(server, new Agent(), async (srv, agent) => {
    let started = performance.now()
    await assert.rejects(undici.request(`${srv.url}/silent`, { dispatcher: agent, headersTimeout: 1000 }), headersTimeout)
    assert.ok(performance.now() - started >= 1000, `ran out after ${performance.now() - started} ms`)
    started = performance.now()
    const res = await undici.request(`${srv.url}/stall`, { dispatcher: agent, bodyTimeout: 1000 })
    await assert.rejects(res.body.text(), bodyTimeout)
    assert.ok(performance.now() - started >= 1000, `ran out after ${performance.now() - started} ms`)
    assert.strictEqual(agent.getCurrentStatus().timeoutSocketCount, 2)
  })
})

test('the head reaches the handler as soon as it arrives, a small body still coming (as undici gives it)', async () => {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-length': 8 })
    res.write('half')
    server.once('headSeen', () => res.end('done'))
  })
  await withAgent(server, new Agent(), async (srv, agent) => {
    let bound
    const late = new Promise((resolve, reject) => { bound = setTimeout(() => reject(new Error('no head before the body ended')), 5000) })
    try {
      const res = await Promise.race([undici.request(`${srv.url}/`, { dispatcher: agent }), late])
      assert.strictEqual(res.statusCode, 200)
      server.emit('headSeen')
      assert.strictEqual(await res.body.text(), 'halfdone')
    } finally {
      clearTimeout(bound)
    }
  })
})

test('a handler whose onComplete throws hears of it in onError, as undici\'s; nothing escapes the process', async () => {
  await withServer((req, res) => res.end(req.url === '/big' ? Buffer.alloc(200000) : 'hello'), async (srv, agent) => {
    let escaped = null
    const onUncaught = err => { escaped = err }
    process.on('uncaughtException', onUncaught)
    try {
      for (const path of ['/small', '/big']) {
        const heard = await new Promise(resolve => {
          agent.dispatch({ origin: srv.url, path, method: 'GET' }, {
            onConnect () {},
            onHeaders () { return true },
            onData () { return true },
            onComplete () { throw new Error(`thrown from onComplete ${path}`) },
            onError (err) { resolve(err.message) }
          })
        })
        assert.strictEqual(heard, `thrown from onComplete ${path}`)
      }
      await new Promise(resolve => setImmediate(resolve))
      assert.strictEqual(escaped, null)
    } finally {
      process.off('uncaughtException', onUncaught)
    }
  })
})

test('bodyTimeout does not run out while the consumer has paused: a body read after the server\'s stall arrives whole', async () => {
  const first = 100 * 1024
  const server = http.createServer((req, res) => {
    res.setHeader('content-length', first + 10)
    res.write(Buffer.alloc(first, 97))
    // The rest comes after bodyTimeout, while the consumer has not read yet (undici's parser is paused).
    req.socket.server.once('readerBack', () => res.end(Buffer.alloc(10, 98)))
  })
  await withAgent(server, new Agent(), async (srv, agent) => {
    const { body } = await undici.request(`${srv.url}/`, { dispatcher: agent, bodyTimeout: 100 })
    let failed = null
    body.on('error', err => { failed = err })
    // The consumer pauses (nothing reads the body) for longer than bodyTimeout.
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.strictEqual(failed, null)
    server.emit('readerBack')
    let total = 0
    for await (const chunk of body) total += chunk.length
    assert.strictEqual(total, first + 10)
  })
})

test('idempotent: true replays a POST after the keep-alive race; without it a POST, and a GET with false, go once', async () => {
  // The server answers the first request of each connection and drops the connection on the next one
  // without a byte of answer: what a server closing an idle connection looks like to the client.
  const seen = []
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    req.socket.count = (req.socket.count ?? 0) + 1
    if (req.socket.count > 1) { req.socket.destroy(); return }
    req.resume()
    req.on('end', () => res.end('answered'))
  })
  await withAgent(server, new Agent({ maxSockets: 1 }), async (srv, agent) => {
    const send = async (path, opts) => (await undici.request(`${srv.url}${path}`, { dispatcher: agent, ...opts })).body.text()
    const raced = (path, opts) => send('/warm').then(() => send(path, opts))
    assert.strictEqual(await raced('/idem', { method: 'POST', body: 'again', idempotent: true }), 'answered')
    assert.deepStrictEqual(seen.filter(line => !line.endsWith('/warm')), ['POST /idem', 'POST /idem'])
    assert.strictEqual(agent.getCurrentStatus().retryCount, 1)

    for (const [path, opts] of [['/once', { method: 'POST', body: 'once' }], ['/no-replay', { idempotent: false }]]) {
      await assert.rejects(raced(path, opts), err => {
        assert.ok(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(err.code), err.code)
        return true
      })
      assert.strictEqual(seen.filter(line => line.endsWith(path)).length, 1, path)
    }
    assert.strictEqual(agent.dispatch({ origin: srv.url, path: '/', idempotent: 'yes' }, { onError () {} }), false)
  })
})

/** A server that sends 103 Early Hints (`/hints`), 102 Processing (no headers) or 100 Continue before its answer. */
const informing = () => http.createServer((req, res) => {
  if (req.url === '/hints') res.writeEarlyHints({ link: '</style.css>; rel=preload' })
  else if (req.url === '/processing') res.writeProcessing()
  else res.writeContinue()
  res.setHeader('x-final', 'yes')
  res.end('final')
})

test('1xx before the answer: handlers get 103 as undici gives it (request()\'s onInfo); 100 is passed over; every face gets the answer', async () => {
  await withAgent(informing(), new Agent(), async (srv, agent) => {
    for (const [path, expected] of [['/hints', [[103, '</style.css>; rel=preload']]], ['/processing', [[102, undefined]]], ['/continue', []]]) {
      const infos = []
      const res = await undici.request(`${srv.url}${path}`, { dispatcher: agent, onInfo: ({ statusCode, headers }) => infos.push([statusCode, headers.link]) })
      assert.strictEqual(res.statusCode, 200)
      assert.strictEqual(res.headers['x-final'], 'yes')
      assert.strictEqual(await res.body.text(), 'final')
      assert.deepStrictEqual(infos, expected, path)

      const fetched = await fetch(`${srv.url}${path}`, { dispatcher: agent })
      assert.strictEqual(fetched.status, 200)
      assert.strictEqual(fetched.headers.get('link'), null)
      assert.strictEqual(await fetched.text(), 'final')

      const promised = await agent.request(`${srv.url}${path}`)
      assert.strictEqual(promised.status, 200)
      assert.strictEqual(await promised.text(), 'final')

      const viaSocket = await new Promise((resolve, reject) => {
        http.get(`${srv.url}${path}`, { agent }, res => {
          res.setEncoding('utf8')
          let body = ''
          res.on('data', chunk => { body += chunk })
          res.on('end', () => resolve([res.statusCode, body]))
        }).on('error', reject)
      })
      assert.deepStrictEqual(viaSocket, [200, 'final'])
    }
  })
})

test('1xx before the answer through undici 8 (v2 onResponseStart): request()\'s onInfo gets 103', { skip: undici8Skip }, async () => {
  const undici8 = require('undici8')
  await withAgent(informing(), new Agent(), async (srv, agent) => {
    const infos = []
    const res = await undici8.request(`${srv.url}/hints`, { dispatcher: agent, onInfo: ({ statusCode }) => infos.push(statusCode) })
    assert.strictEqual(res.statusCode, 200)
    assert.strictEqual(await res.body.text(), 'final')
    assert.deepStrictEqual(infos, [103])
    assert.strictEqual(await (await undici8.fetch(`${srv.url}/hints`, { dispatcher: agent })).text(), 'final')
  })
})

test('CONNECT through undici.connect: the tunnel is a Duplex out of the pool', async () => {
  const server = http.createServer()
  server.on('connect', (req, socket, head) => {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    if (head.length > 0) socket.write(head)
    socket.pipe(socket)
  })
  await withAgent(server, new Agent(), async (srv, agent) => {
    const { statusCode, socket } = await undici.connect(srv.url, { dispatcher: agent, path: 'example.test:443' })
    assert.strictEqual(statusCode, 200)
    socket.write('ping through the tunnel')
    const [echoed] = await once(socket, 'data')
    assert.strictEqual(echoed.toString(), 'ping through the tunnel')
    socket.destroy()
    assert.strictEqual(agent.getCurrentStatus().sockets[`127.0.0.1:${srv.port}:`], undefined)
  })
})

/** An http(s) server whose WebSocket endpoint echoes each message back. */
function webSocketServer (tls) {
  const server = tls ? https.createServer(tls, (req, res) => res.end('plain')) : http.createServer((req, res) => res.end('plain'))
  const wss = new WebSocketServer({ server })
  wss.on('connection', ws => ws.on('message', (data, binary) => ws.send(data, { binary })))
  return server
}

async function echoOverWebSocket (WebSocketClass, url, options) {
  const ws = new WebSocketClass(url, options)
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = event => reject(event.error ?? new Error('WebSocket error')) })
  const message = new Promise(resolve => { ws.onmessage = event => resolve(event.data) })
  ws.send('hello over the pool')
  const data = await message
  const closed = new Promise(resolve => { ws.onclose = resolve })
  ws.close()
  await closed
  return data
}

test('undici 8 WebSocket with { dispatcher: agent } (v2 onRequestUpgrade)', { skip: undici8Skip }, async () => {
  const undici8 = require('undici8')
  await withAgent(webSocketServer(), new Agent(), async (srv, agent) => {
    assert.strictEqual(await echoOverWebSocket(undici8.WebSocket, `ws://127.0.0.1:${srv.port}/`, { dispatcher: agent }), 'hello over the pool')
    assert.strictEqual(srv.counts.opened, 1)
    // The upgraded connection left the pool: a plain request opens a new one.
    assert.strictEqual(await (await undici8.request(srv.url, { dispatcher: agent })).body.text(), 'plain')
    assert.strictEqual(srv.counts.opened, 2)
  })
})

test('undici 6 WebSocket with { dispatcher: agent } (v1 onUpgrade)', async () => {
  await withAgent(webSocketServer(), new Agent(), async (srv, agent) => {
    assert.strictEqual(await echoOverWebSocket(undici.WebSocket, `ws://127.0.0.1:${srv.port}/`, { dispatcher: agent }), 'hello over the pool')
  })
})

test('wss through an http Agent: its HttpsAgent counterpart, with the same CA, carries the upgrade', async () => {
  const cert = selfSigned()
  await withAgent(webSocketServer({ key: cert.key, cert: cert.cert }), new Agent({ ca: cert.cert }), async (srv, agent) => {
    assert.strictEqual(await echoOverWebSocket(undici.WebSocket, `wss://127.0.0.1:${srv.port}/`, { dispatcher: agent }), 'hello over the pool')
    assert.strictEqual(srv.counts.opened, 1)
  })
})

test('an upgrade asked with maxRedirections follows a redirect before its 101, as through undici 6\'s Agent', async () => {
  // Only /there upgrades; anything else is sent there.
  const server = http.createServer()
  server.on('upgrade', (req, socket) => {
    socket.end(req.url === '/there'
      ? `HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: ${req.headers.upgrade}\r\nX-Path: ${req.url}\r\n\r\n`
      : 'HTTP/1.1 301 Moved Permanently\r\nLocation: /there\r\nContent-Length: 0\r\n\r\n')
  })
  await withAgent(server, new Agent(), async (srv, agent) => {
    const upgrade = async (dispatcher, maxRedirections) => {
      try {
        const { headers, socket } = await undici.upgrade(`${srv.url}/`, { dispatcher, protocol: 'foo/1', maxRedirections })
        socket.destroy()
        return { upgrade: headers.upgrade, path: headers['x-path'] }
      } catch (err) {
        return { code: err.code, message: err.message }
      }
    }
    const undicis = new undici.Agent()
    try {
      const expected = [await upgrade(undicis, 2), await upgrade(undicis, 0)]
      assert.deepStrictEqual(expected[0], { upgrade: 'foo/1', path: '/there' })
      assert.deepStrictEqual([await upgrade(agent, 2), await upgrade(agent, 0)], expected)
    } finally {
      await undicis.close()
    }
  })
})

for (const route of ROUTES) {
  test(`a server that closes the connection before the response or within its body fails the request as undici's Agent does: SocketError 'other side closed' (fetch's cause), a body its response said ends the connection cut short undici's length mismatch or 'Invalid EOF state' (and 'disconnect' says so); a reset stays ECONNRESET (${route})`, async () => {
    const net = require('node:net')
    const answers = head => net.createServer(socket => socket.once('data', () => socket.end(head)))
    const resetsAfter = head => net.createServer(socket => socket.once('data', () => {
      socket.write(head)
      setTimeout(() => socket.resetAndDestroy(), 20)
    }))
    const servers = {
      closes: answers(''),
      'cuts the body': answers('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'),
      'cuts the body it said ends the connection': answers('HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc'),
      'cuts a chunked body it said ends the connection': answers('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nhel\r\n'),
      resets: net.createServer(socket => socket.once('data', () => socket.resetAndDestroy())),
      'resets within a body it said ends the connection': resetsAfter('HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc'),
      'resets within a chunked body it said ends the connection': resetsAfter('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nhel\r\n')
    }
    const agent = new Agent()
    const undicis = new undici.Agent()
    try {
      const seen = {}
      for (const [how, server] of Object.entries(servers)) {
        await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
        const url = `http://127.0.0.1:${server.address().port}/`
        const outcome = async dispatcher => {
          const disconnects = []
          const onDisconnect = (origin, targets, err) => disconnects.push(err.code)
          dispatcher.on('disconnect', onDisconnect)
          // Whether the head came before the failure, as undici gives it whenever it was read.
          let head = null
          const err = await undici.request(url, { dispatcher }).then(res => { head = res.statusCode; return res.body.text() }).then(() => null, err => err)
          const failed = await fetch(url, { dispatcher }).then(res => res.text()).then(() => null, err => err)
          await new Promise(resolve => setImmediate(resolve))
          dispatcher.off('disconnect', onDisconnect)
          return { head, code: err?.code, name: err?.name, message: err?.message, socketError: err instanceof undici.errors.SocketError, fetchCause: failed?.cause?.code, disconnects }
        }
        const expected = await along(route, () => outcome(undicis))
        seen[how] = expected.code
        assert.deepStrictEqual(await along(route, () => outcome(agent)), expected, how)
      }
      assert.deepStrictEqual(seen, {
        closes: 'UND_ERR_SOCKET',
        'cuts the body': 'UND_ERR_SOCKET',
        'cuts the body it said ends the connection': 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
        'cuts a chunked body it said ends the connection': 'HPE_INVALID_EOF_STATE',
        resets: 'ECONNRESET',
        // undici reads a reset after such a response as its end.
        'resets within a body it said ends the connection': 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
        'resets within a chunked body it said ends the connection': 'HPE_INVALID_EOF_STATE'
      })
    } finally {
      agent.destroy()
      await undicis.close()
      for (const server of Object.values(servers)) server.close()
    }
  })
}

test('a body held whole that is not its declared Content-Length fails before it is sent, as undici refuses it, on the dispatcher and Promise faces (it hung when short)', async () => {
  let requests = 0
  await withServer((req, res) => { requests++; req.resume(); req.on('end', () => res.end('read')) }, async (srv, agent) => {
    const bodies = ['asd', 'asdasdasdasdasdasda', Buffer.alloc(9), Buffer.alloc(11)]
    const outcomes = dispatcher => Promise.all(bodies.map(body =>
      undici.request(`${srv.url}/`, { dispatcher, method: 'PUT', headers: { 'content-length': 10 }, body })
        .then(res => res.body.text(), err => ({ code: err.code, name: err.name, mismatch: err instanceof undici.errors.RequestContentLengthMismatchError }))))
    const undicis = new undici.Agent()
    try {
      const expected = await outcomes(undicis)
      assert.deepStrictEqual(expected, Array(4).fill({ code: 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', name: 'RequestContentLengthMismatchError', mismatch: true }))
      assert.deepStrictEqual(await outcomes(agent), expected)
    } finally {
      await undicis.close()
    }
    for (const body of bodies) {
      await assert.rejects(agent.request(`${srv.url}/`, { method: 'PUT', headers: { 'content-length': '10' }, body }), { code: 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' })
    }
    assert.strictEqual(requests, 0)
    // The declared length met: sent.
    assert.strictEqual(await (await agent.request(`${srv.url}/`, { method: 'PUT', headers: { 'content-length': '3' }, body: 'abc' })).text(), 'read')
  })
})

for (const route of ROUTES) {
  test(`https: a body that runs to the connection's end is whole when the server closes without TLS close_notify, as undici and Node take it; 'disconnect' says 'reset' (${route})`, async () => {
    const tls = require('node:tls')
    const cert = selfSigned()
    const server = tls.createServer({ key: cert.key, cert: cert.cert }, socket => {
      socket.on('error', () => {})
      socket.once('data', data => {
        // With or without saying so, a body with no length ends with the connection.
        socket.write(`HTTP/1.1 200 OK\r\n${data.includes('/says') ? 'Connection: close\r\n' : ''}\r\nhello`)
        // Closed under TLS: no close_notify.
        setImmediate(() => socket.destroy())
      })
    })
    await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
    const origin = `https://127.0.0.1:${server.address().port}`
    const outcome = async (dispatcher, url) => {
      const disconnects = []
      dispatcher.on('disconnect', (origin, targets, err) => disconnects.push(`${err.name} ${err.message}`))
      const res = await undici.request(url, { dispatcher })
      const text = `${res.statusCode} ${await res.body.text()}`
      while (disconnects.length === 0) await once(dispatcher, 'disconnect')
      return { text, disconnects }
    }
    const undicis = new undici.Agent({ connect: { ca: cert.cert } })
    const agent = new HttpsAgent({ ca: cert.cert })
    try {
      await along(route, async () => {
        for (const url of [`${origin}/says`, `${origin}/`]) {
          const expected = await outcome(undicis, url)
          assert.deepStrictEqual(expected, { text: '200 hello', disconnects: ['InformationalError reset'] }, url)
          assert.deepStrictEqual(await outcome(agent, url), expected, url)
          assert.strictEqual(await (await agent.request(url)).text(), 'hello', url)
        }
      })
    } finally {
      await undicis.close()
      agent.destroy()
      server.close()
    }
  })
}

for (const route of ROUTES) {
  test(`a streamed body that runs past its Content-Length after the answer came fails the answer's body with undici's RequestContentLengthMismatchError, as undici's Agent (${route})`, async () => {
    const big = Buffer.alloc(1 << 20, 97)
    await withServer((req, res) => {
      req.resume()
      res.end(big)
    }, async srv => {
      const paced = parts => Readable.from((async function * () {
        for (const part of parts) {
          await new Promise(resolve => setTimeout(resolve, 50))
          yield Buffer.from(part)
        }
      })())
      const bodyError = async dispatcher => {
        const res = await undici.request(`${srv.url}/`, { dispatcher, method: 'POST', headers: { 'content-length': '3' }, body: paced(['hel', 'lo']) })
        // Read only once the request body has run over: the answer's body fails then.
        const [err] = await once(res.body, 'error')
        return `${res.statusCode} ${err.name} ${err.code}`
      }
      const undicis = new undici.Agent()
      const agent = new Agent()
      try {
        await along(route, async () => {
          const expected = await bodyError(undicis)
          assert.strictEqual(expected, '200 RequestContentLengthMismatchError UND_ERR_REQ_CONTENT_LENGTH_MISMATCH')
          assert.strictEqual(await bodyError(agent), expected)
        })
      } finally {
        await undicis.close()
        agent.destroy()
      }
    })
  })
}
