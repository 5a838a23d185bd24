'use strict'
// Proxies, against a small real proxy written here on 127.0.0.1: CONNECT tunnels for https targets (TLS
// to the target in Rust, tunnels pooled and reused), absolute-form for http targets, Proxy-Authorization
// from the URL's credentials, ERR_PROXY_TUNNEL with the proxy's status, Node's environment semantics
// (`proxyEnv`, `proxy: 'env'`, NO_PROXY, lowercase names first), and bad proxy URLs refused.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const https = require('node:https')
const net = require('node:net')
const { once } = require('node:events')
const { Agent, HttpsAgent } = require('..')
const { selfSigned } = require('../examples/certs')
const { listenCounting } = require('./helpers/faces')

const cert = selfSigned()
const CREDENTIALS = `Basic ${Buffer.from('user:p@ss').toString('base64')}`

/**
 * A forward proxy on 127.0.0.1: CONNECT tunnels and absolute-form requests; `auth` demands credentials;
 * `tls` (key and cert) makes it an https: proxy.
 */
async function startProxy ({ auth, tls } = {}) {
  const seen = { connects: [], forwarded: [], auths: [], connections: 0 }
  const tunnels = new Set()
  const refused = req => auth !== undefined && req.headers['proxy-authorization'] !== auth
  const server = (tls ? https : http).createServer({ ...tls }, (req, res) => {
    seen.forwarded.push(req.url)
    seen.auths.push(req.headers['proxy-authorization'])
    if (refused(req)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic' })
      res.end('credentials, please')
      return
    }
    const url = new URL(req.url)
    const headers = { ...req.headers }
    delete headers['proxy-authorization']
    const upstream = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: req.method, headers, agent: false }, answer => {
      // Hop-by-hop: the upstream connection's `Connection: close` is not the client's.
      const { connection, 'keep-alive': keepAlive, ...forwarded } = answer.headers
      res.writeHead(answer.statusCode, forwarded)
      answer.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  server.on(tls ? 'secureConnection' : 'connection', () => { seen.connections++ })
  server.on('connect', (req, socket, head) => {
    seen.connects.push(req.url)
    seen.auths.push(req.headers['proxy-authorization'])
    tunnels.add(socket)
    socket.on('close', () => tunnels.delete(socket))
    socket.on('error', () => {})
    if (refused(req)) {
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n')
      return
    }
    const at = req.url.lastIndexOf(':')
    const upstream = net.connect(Number(req.url.slice(at + 1)), req.url.slice(0, at).replace(/^\[|\]$/g, ''), () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    upstream.on('error', () => socket.destroy())
    socket.on('close', () => upstream.destroy())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  return {
    seen,
    port,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close () {
      for (const socket of tunnels) socket.destroy()
      server.closeAllConnections()
      return new Promise(resolve => server.close(resolve))
    }
  }
}

function target (secure) {
  const handler = (req, res) => res.end(`${secure ? 'secure' : 'plain'} ${req.url}`)
  return listenCounting(secure ? https.createServer({ key: cert.key, cert: cert.cert }, handler) : http.createServer(handler))
}

/** GET through the socket face; resolves with the body or rejects with the request's error. */
function get (url, options) {
  const client = url.startsWith('https:') ? https : http
  return new Promise((resolve, reject) => {
    const req = client.get(url, options, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve(res.statusCode === 200 ? body : `${res.statusCode} ${body}`))
    })
    req.on('error', reject)
  })
}

test('https through a proxy: a CONNECT tunnel with the URL\'s credentials, TLS to the target in Rust, reused (both faces)', async () => {
  const proxy = await startProxy({ auth: CREDENTIALS })
  const srv = await target(true)
  const agent = new HttpsAgent({ ca: cert.cert, proxy: `http://user:p%40ss@127.0.0.1:${proxy.port}` })
  try {
    for (let i = 0; i < 3; i++) assert.strictEqual(await (await agent.request(`https://localhost:${srv.port}/p${i}`)).text(), `secure /p${i}`)
    for (let i = 0; i < 3; i++) assert.strictEqual(await get(`https://localhost:${srv.port}/s${i}`, { agent }), `secure /s${i}`)
    // One tunnel per face, each reused for its three requests.
    assert.deepStrictEqual(proxy.seen.connects, [`localhost:${srv.port}`, `localhost:${srv.port}`])
    assert.deepStrictEqual(proxy.seen.auths, [CREDENTIALS, CREDENTIALS])
    assert.strictEqual(srv.counts.opened, 2)
    assert.strictEqual(agent.getCurrentStatus().createSocketCount, 2)
  } finally {
    agent.destroy()
    await srv.close()
    await proxy.close()
  }
})

test('http through a proxy: absolute-form requests with Proxy-Authorization, on a pooled connection to the proxy (both faces)', async () => {
  const proxy = await startProxy({ auth: CREDENTIALS })
  const srv = await target(false)
  const agent = new Agent({ proxy: `http://user:p%40ss@127.0.0.1:${proxy.port}` })
  try {
    for (let i = 0; i < 3; i++) assert.strictEqual(await (await agent.request(`http://localhost:${srv.port}/p${i}?q=1`)).text(), `plain /p${i}?q=1`)
    for (let i = 0; i < 3; i++) assert.strictEqual(await get(`http://localhost:${srv.port}/s${i}`, { agent }), `plain /s${i}`)
    assert.deepStrictEqual(proxy.seen.forwarded, [
      ...[0, 1, 2].map(i => `http://localhost:${srv.port}/p${i}?q=1`),
      ...[0, 1, 2].map(i => `http://localhost:${srv.port}/s${i}`)
    ])
    assert.ok(proxy.seen.auths.every(a => a === CREDENTIALS))
    assert.strictEqual(proxy.seen.connections, 2)
  } finally {
    agent.destroy()
    await srv.close()
    await proxy.close()
  }
})

test('an https: proxy: TLS to the proxy, then the tunnel and TLS to the target inside it (both faces)', async () => {
  const proxy = await startProxy({ tls: { key: cert.key, cert: cert.cert } })
  const srv = await target(true)
  const agent = new HttpsAgent({ ca: cert.cert, proxy: `https://localhost:${proxy.port}` })
  try {
    assert.strictEqual(await (await agent.request(`https://localhost:${srv.port}/a`)).text(), 'secure /a')
    assert.strictEqual(await get(`https://localhost:${srv.port}/b`, { agent }), 'secure /b')
    assert.deepStrictEqual(proxy.seen.connects, [`localhost:${srv.port}`, `localhost:${srv.port}`])
    assert.strictEqual(proxy.seen.connections, 2)
  } finally {
    agent.destroy()
    await srv.close()
    await proxy.close()
  }
})

test('a proxy that refuses the tunnel fails with ERR_PROXY_TUNNEL and its status (both faces)', async () => {
  const proxy = await startProxy({ auth: CREDENTIALS })
  const srv = await target(true)
  const agent = new HttpsAgent({ ca: cert.cert, proxy: proxy.url })
  try {
    const refused = { code: 'ERR_PROXY_TUNNEL', message: new RegExp(`localhost:${srv.port}: the proxy answered 407`) }
    await assert.rejects(agent.request(`https://localhost:${srv.port}/`), refused)
    await assert.rejects(get(`https://localhost:${srv.port}/`, { agent }), refused)
    assert.strictEqual(srv.counts.opened, 0)
  } finally {
    agent.destroy()
    await srv.close()
    await proxy.close()
  }
})

test('proxyEnv and proxy: \'env\': HTTPS_PROXY / HTTP_PROXY by target, lowercase first, NO_PROXY goes direct', async () => {
  const proxy = await startProxy()
  const secure = await target(true)
  const plain = await target(false)
  const env = {
    HTTPS_PROXY: 'http://127.0.0.1:1',
    https_proxy: proxy.url,
    HTTP_PROXY: proxy.url,
    NO_PROXY: `example.test, .direct.test,localhost:${plain.port}`
  }
  const agent = new HttpsAgent({ ca: cert.cert, proxyEnv: env })
  const httpAgent = new Agent({ proxyEnv: env })
  const saved = process.env.HTTP_PROXY
  process.env.HTTP_PROXY = proxy.url
  const fromProcess = new Agent({ proxy: 'env' })
  try {
    assert.strictEqual(await (await agent.request(`https://127.0.0.1:${secure.port}/tunnelled`)).text(), 'secure /tunnelled')
    assert.deepStrictEqual(proxy.seen.connects, [`127.0.0.1:${secure.port}`])
    // localhost on plain's port is listed: direct. The same host on another port goes through the proxy.
    assert.strictEqual(await (await httpAgent.request(`http://localhost:${plain.port}/direct`)).text(), 'plain /direct')
    assert.strictEqual(await get(`http://localhost:${plain.port}/direct`, { agent: httpAgent }), 'plain /direct')
    assert.deepStrictEqual(proxy.seen.forwarded, [])
    assert.strictEqual(await (await httpAgent.request(`http://127.0.0.1:${plain.port}/proxied`)).text(), 'plain /proxied')
    assert.strictEqual(await (await fromProcess.request(`http://127.0.0.1:${plain.port}/env`)).text(), 'plain /env')
    assert.deepStrictEqual(proxy.seen.forwarded, [`http://127.0.0.1:${plain.port}/proxied`, `http://127.0.0.1:${plain.port}/env`])
  } finally {
    if (saved === undefined) delete process.env.HTTP_PROXY
    else process.env.HTTP_PROXY = saved
    agent.destroy()
    httpAgent.destroy()
    fromProcess.destroy()
    await secure.close()
    await plain.close()
    await proxy.close()
  }
})

test('a malformed proxy is refused with Node\'s codes, at construction and per request', async () => {
  assert.throws(() => new Agent({ proxy: 'not a url' }), { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.proxy' must be an http: or https: URL/ })
  assert.throws(() => new Agent({ proxy: 'ftp://127.0.0.1:21' }), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => new Agent({ proxy: 5 }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => new Agent({ proxyEnv: { HTTP_PROXY: '::nonsense' } }), { code: 'ERR_INVALID_ARG_VALUE' })
  const agent = new Agent()
  try {
    await assert.rejects(agent.request('http://127.0.0.1:1/', { proxy: 'http://' }), { code: 'ERR_INVALID_ARG_VALUE' })
  } finally {
    agent.destroy()
  }
})
