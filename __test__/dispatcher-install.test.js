'use strict'
// install() and the register entry points: the global agents and both global dispatcher symbols, the
// process's own fetch, http.get and WebSocket going through the agent, undici 8 loaded afterwards keeping
// it, and restore() putting back what was there. Servers on 127.0.0.1 only.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const https = require('node:https')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { WebSocketServer } = require('ws')
const { Agent, HttpsAgent, install } = require('..')
const { listenCounting } = require('./helpers/faces')
const { selfSigned } = require('../examples/certs')

const [major, minor] = process.versions.node.split('.').map(Number)
const DISPATCHER_1 = Symbol.for('undici.globalDispatcher.1')
const DISPATCHER_2 = Symbol.for('undici.globalDispatcher.2')

async function server (handler) {
  const srv = await listenCounting(http.createServer(handler))
  return srv
}

test('install() routes fetch, http.get and the global agents through one agent; restore() puts them back', async () => {
  const srv = await server((req, res) => res.end('served'))
  // Node loads its bundled undici (and its default dispatcher) on first use: load it to see what was there.
  assert.strictEqual(typeof Headers, 'function')
  const before = { http: http.globalAgent, https: https.globalAgent, d1: globalThis[DISPATCHER_1], d2: globalThis[DISPATCHER_2] }
  const agent = new Agent()
  const restore = install(agent)
  try {
    assert.strictEqual(http.globalAgent, agent)
    assert.ok(https.globalAgent instanceof HttpsAgent)
    assert.strictEqual(globalThis[DISPATCHER_1], agent)
    assert.strictEqual(globalThis[DISPATCHER_2], agent)

    assert.strictEqual(await (await fetch(srv.url)).text(), 'served')
    const status = await new Promise((resolve, reject) => {
      http.get(srv.url, res => { res.resume(); res.on('end', () => resolve(res.statusCode)) }).on('error', reject)
    })
    assert.strictEqual(status, 200)
    assert.strictEqual(agent.getCurrentStatus().requestCount, 2)
    restore()
    restore()
    assert.strictEqual(http.globalAgent, before.http)
    assert.strictEqual(https.globalAgent, before.https)
    assert.strictEqual(globalThis[DISPATCHER_1], before.d1)
    assert.strictEqual(globalThis[DISPATCHER_2], before.d2)
    assert.strictEqual(await (await fetch(srv.url)).text(), 'served')
    assert.strictEqual(agent.getCurrentStatus().requestCount, 2)
  } finally {
    restore()
    agent.destroy()
    await srv.close()
  }
})

test('install(): agent: false is what it is under Node\'s global agents, a connection per request closed once answered (http and https); restore() puts the constructor back', async () => {
  const cert = selfSigned()
  const handler = (req, res) => res.end(`connection: ${req.headers.connection}`)
  const plain = await server(handler)
  const secure = await listenCounting(https.createServer({ key: cert.key, cert: cert.cert }, handler))
  const get = (mod, url) => new Promise((resolve, reject) => {
    mod.get(url, { agent: false, ca: cert.cert }, res => {
      let body = ''
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
  const urls = [[http, plain.url], [https, `https://localhost:${secure.port}/`]]
  const asked = async () => { const seen = []; for (const [mod, url] of urls) seen.push(await get(mod, url), await get(mod, url)); return seen }
  const closed = srv => new Promise(resolve => srv.server.getConnections((err, n) => resolve(err ?? n)))
  try {
    const node = await asked()
    const agent = new Agent()
    const restore = install(agent)
    try {
      assert.deepStrictEqual(await asked(), node)
      assert.deepStrictEqual(node, Array(4).fill('connection: close'))
      // Nothing was kept: each connection closed once answered (the server hears of it a little later:
      // waited for, up to 2 s: a busy machine may take its time, and a kept one would idle 4 s).
      const open = async () => [await closed(plain), await closed(secure)]
      for (const until = Date.now() + 2000; Date.now() < until && (await open()).some(n => n !== 0);) {
        await new Promise(resolve => setTimeout(resolve, 10))
      }
      assert.deepStrictEqual(await open(), [0, 0])
      assert.strictEqual(http.globalAgent.constructor.name, 'Agent')
      // With options, the installed agent's constructor makes what they say.
      const kept = new http.globalAgent.constructor({ keepAlive: true })
      assert.strictEqual(kept.keepAlive, true)
      kept.destroy()
    } finally {
      restore()
      agent.destroy()
    }
    assert.strictEqual(agent.constructor, Agent)
  } finally {
    await plain.close()
    await secure.close()
  }
})

test('install(): https.globalAgent is an https view of the same pool: one set of caps, one queue, one status', async () => {
  const cert = selfSigned()
  let release
  const held = new Promise(resolve => { release = resolve })
  let arrived
  const reached = new Promise(resolve => { arrived = resolve })
  const plain = await server((req, res) => { arrived(); held.then(() => res.end('plain')) })
  const secure = await listenCounting(https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => res.end('secure')))
  const get = (url, options = {}) => new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? https : http).get(url, options, res => {
      res.setEncoding('utf8')
      let body = ''
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve(body))
    }).on('error', reject)
    return req
  })
  const agent = new Agent({ ca: cert.cert, maxTotalSockets: 1 })
  const restore = install(agent)
  const view = https.globalAgent
  try {
    assert.ok(view instanceof HttpsAgent)
    assert.ok(view instanceof https.Agent)
    assert.strictEqual(view.protocol, 'https:')
    assert.strictEqual(view.defaultPort, 443)
    assert.notStrictEqual(view, agent)

    // The only connection the caps allow is busy with an http request: the https one waits for it.
    const first = get(plain.url)
    await reached
    const second = get(secure.url)
    const name = Object.keys(view.requests)[0]
    assert.strictEqual(view.requests[name].length, 1)
    assert.deepStrictEqual(Object.keys(agent.requests), [])
    assert.strictEqual(agent.getCurrentStatus().stats[secure.url].queued, 1)
    assert.strictEqual(secure.counts.opened, 0)
    release()
    assert.strictEqual(await first, 'plain')
    assert.strictEqual(await second, 'secure')
    assert.strictEqual(await (await fetch(secure.url)).text(), 'secure')

    const status = agent.getCurrentStatus()
    assert.deepStrictEqual(view.getCurrentStatus(), status)
    assert.strictEqual(status.requestCount, 3)
    // One pool, one cap: the idle http connection was closed to make room for the https one, and that
    // one (the socket face's) for fetch's (an idle connection serves the face that made it).
    assert.strictEqual(status.createSocketCount, 3)
    assert.strictEqual(status.closeSocketCount, 2)
    assert.deepStrictEqual(Object.keys(status.stats), [secure.url])
    assert.strictEqual(view.totalSocketCount, agent.totalSocketCount)
  } finally {
    restore()
    agent.destroy()
    await plain.close()
    await secure.close()
  }
  // The view goes with the agent it was made for.
  await assert.rejects(view.request(secure.url), { code: 'ERR_AGENT_DESTROYED' })
})

test('install() takes an HttpsAgent too, and refuses what is not an Agent; destroy() takes the counterpart along', async () => {
  assert.throws(() => install({ dispatch () {} }), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "agent" argument must be an instance of Agent. Received an instance of Object'
  })
  const agent = new HttpsAgent()
  const restore = install(agent)
  const made = http.globalAgent
  try {
    assert.strictEqual(https.globalAgent, agent)
    assert.ok(made instanceof Agent)
    assert.ok(!(made instanceof https.Agent))
    assert.strictEqual(globalThis[DISPATCHER_2], agent)
  } finally {
    restore()
    agent.destroy()
  }
  // The Agent that install() made for http goes with the agent it was made for.
  await assert.rejects(made.request('http://127.0.0.1:1/'), { code: 'ERR_AGENT_DESTROYED' })
})

test('undici 8 loaded after install() keeps the installed dispatcher', {
  skip: major > 22 || (major === 22 && minor >= 19) ? false : 'undici 8 needs Node >= 22.19'
}, async () => {
  const agent = new Agent()
  const restore = install(agent)
  try {
    const undici8 = require('undici8')
    assert.strictEqual(undici8.getGlobalDispatcher(), agent)
    const srv = await server((req, res) => res.end('eight'))
    assert.strictEqual(await (await undici8.fetch(srv.url)).text(), 'eight')
    assert.strictEqual(agent.getCurrentStatus().requestCount, 1)
    await srv.close()
  } finally {
    restore()
    agent.destroy()
  }
})

test('the global WebSocket goes through the installed agent', {
  skip: typeof WebSocket === 'function' ? false : 'this Node has no global WebSocket (Node 22 added it)'
}, async () => {
  const srv = await server((req, res) => res.end())
  const wss = new WebSocketServer({ server: srv.server })
  wss.on('connection', ws => ws.on('message', data => ws.send(`echo: ${data}`)))
  const agent = new Agent()
  const restore = install(agent)
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/`)
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket failed')) })
    const answer = new Promise(resolve => { ws.onmessage = event => resolve(event.data) })
    ws.send('hi')
    assert.strictEqual(await answer, 'echo: hi')
    assert.strictEqual(agent.getCurrentStatus().createSocketCount, 1)
    const closed = new Promise(resolve => { ws.onclose = resolve })
    ws.close()
    await closed
  } finally {
    restore()
    agent.destroy()
    await srv.close()
  }
})

/**
 * Runs a script in a child Node with `flag keepalive-agent/register`, from the package's folder (where
 * the package reaches itself by name through its exports map); resolves with its stdout.
 */
function runWith (flag, script, url) {
  return new Promise((resolve, reject) => {
    const args = [flag, 'keepalive-agent/register', '--input-type=' + (flag === '--import' ? 'module' : 'commonjs'), '-e', script, url]
    execFile(process.execPath, args, { cwd: path.join(__dirname, '..'), timeout: 60000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim())))
  })
}

test('--require keepalive-agent/register and --import keepalive-agent/register install at startup', async () => {
  const srv = await server((req, res) => res.end('registered'))
  const script = `
    const http = require('node:http')
    const url = process.argv[1]
    const dispatcher = globalThis[Symbol.for('undici.globalDispatcher.1')]
    fetch(url).then(res => res.text()).then(body => {
      const count = dispatcher.getCurrentStatus().requestCount
      const req = http.get(url, res => {
        res.resume()
        res.on('end', () => {
          console.log(JSON.stringify({ body, count, status: res.statusCode, same: req.agent === dispatcher }))
          dispatcher.destroy()
        })
      })
    })`
  try {
    const required = JSON.parse(await runWith('--require', script, srv.url))
    assert.deepStrictEqual(required, { body: 'registered', count: 1, status: 200, same: true })
    const esm = script.replace("const http = require('node:http')", "import http from 'node:http'").replace('process.argv[1]', 'process.argv[2] ?? process.argv[1]')
    const imported = JSON.parse(await runWith('--import', esm, srv.url))
    assert.deepStrictEqual(imported, { body: 'registered', count: 1, status: 200, same: true })
  } finally {
    await srv.close()
  }
})
