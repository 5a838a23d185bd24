'use strict'
// Lifecycle: destroy() closes everything and fails what waits; idle connections never keep a process
// alive, in-flight requests do. The process checks run a child Node process against a server here.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Agent } = require('..')
const { listenCounting } = require('./helpers/faces')

const root = path.join(__dirname, '..')

/** Runs `source` in a child Node with the server's URL in TARGET; resolves with its code and output. */
function runChild (source, target, limitMs = 20000, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', source, ...args], {
      env: { ...process.env, TARGET: target, PACKAGE: root },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    child.stdout.on('data', chunk => { out += chunk })
    child.stderr.on('data', chunk => { out += chunk })
    const killer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`child did not exit within ${limitMs} ms: ${out}`)) }, limitMs)
    child.on('exit', (code, signal) => { clearTimeout(killer); resolve({ code, signal, out }) })
  })
}

test('a process whose agent holds only idle connections exits by itself (both faces)', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end('hi')))
  try {
    const source = `
      const http = require('node:http')
      const { Agent } = require(process.env.PACKAGE)
      const agent = new Agent({ freeSocketTimeout: 60000 })
      ;(async () => {
        for (let i = 0; i < 5; i++) await (await agent.request(process.env.TARGET)).text()
        await new Promise((resolve, reject) => http.get(process.env.TARGET, { agent }, res => { res.resume(); res.on('end', resolve) }).on('error', reject))
        const status = agent.getCurrentStatus()
        console.log('idle', Object.values(status.freeSockets).reduce((a, b) => a + b, 0))
      })()`
    const { code, out } = await runChild(source, srv.url)
    assert.strictEqual(code, 0, out)
    // Both faces left a connection idle (a pooled connection serves one face at a time), and the
    // process still ended long before the 60 s idle deadline.
    assert.match(out, /^idle 2$/m)
    assert.strictEqual(srv.counts.opened, 2)
  } finally {
    await srv.close()
  }
})

test('a fake clock installed over requests (as test suites install one) neither stops the agent nor keeps the process alive once it is taken away (both faces)', async () => {
  const srv = await listenCounting(http.createServer((req, res) => res.end('hi')))
  try {
    // What @sinonjs/fake-timers and Jest's modern timers do: the global timers are replaced, and what is
    // given to them runs only when the test ticks the clock (never, here).
    const source = `
      const http = require('node:http')
      const { Agent } = require(process.env.PACKAGE)
      const agent = new Agent({ freeSocketTimeout: 60000 })
      const names = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate']
      const real = Object.fromEntries(names.map(name => [name, globalThis[name]]))
      const never = { ref () { return this }, unref () { return this }, hasRef () { return false }, refresh () { return this } }
      for (const name of names) globalThis[name] = name.startsWith('set') ? () => never : () => {}
      ;(async () => {
        const texts = []
        for (let i = 0; i < 3; i++) texts.push(await (await agent.request(process.env.TARGET)).text())
        texts.push(await new Promise((resolve, reject) => http.get(process.env.TARGET, { agent }, res => { res.setEncoding('utf8'); res.on('data', resolve) }).on('error', reject)))
        Object.assign(globalThis, real)
        console.log(texts.join(' '))
      })()`
    const { code, out } = await runChild(source, srv.url)
    assert.strictEqual(code, 0, out)
    assert.match(out, /^hi hi hi hi$/m)
  } finally {
    await srv.close()
  }
})

test('an in-flight request keeps the process alive until it is answered', async () => {
  const srv = await listenCounting(http.createServer((req, res) => setTimeout(() => res.end('late answer'), 400)))
  try {
    const source = `
      const { Agent } = require(process.env.PACKAGE)
      new Agent().request(process.env.TARGET).then(res => res.text()).then(text => console.log('got', text))`
    const { code, out } = await runChild(source, srv.url)
    assert.strictEqual(code, 0, out)
    assert.match(out, /got late answer/)
    const socketSource = `
      const http = require('node:http')
      const { Agent } = require(process.env.PACKAGE)
      http.get(process.env.TARGET, { agent: new Agent() }, res => {
        let text = ''
        res.on('data', chunk => { text += chunk })
        res.on('end', () => console.log('got', text))
      })`
    const socketRun = await runChild(socketSource, srv.url)
    assert.strictEqual(socketRun.code, 0, socketRun.out)
    assert.match(socketRun.out, /got late answer/)
  } finally {
    await srv.close()
  }
})

test('a process exits after a request fails before any connection, and after an error listener throws (both faces)', async () => {
  const srv = await listenCounting(http.createServer((req, res) => { res.writeHead(200); res.write('part') }))
  try {
    // The lookup fails (no connection, nothing else for the loop to do); then a request's 'error'
    // listener throws; then a response is destroyed with an error nobody listens for: Node's agent lets
    // the process end after each, and its socket still says 'close'.
    const source = `
      const http = require('node:http')
      const { Agent } = require(process.env.PACKAGE)
      const agent = new Agent({ keepAlive: true })
      const lookup = (host, options, callback) => callback(Object.assign(new Error('getaddrinfo ENOTFOUND ' + host), { code: 'ENOTFOUND' }))
      const scenario = process.argv[1]
      const seen = []
      process.on('exit', () => console.log(seen.join(', ')))
      process.on('uncaughtException', err => seen.push('uncaught ' + err.message))
      if (scenario === 'promise') {
        agent.request('http://nowhere.invalid/', { lookup }).catch(err => seen.push('rejected ' + err.code))
      } else if (scenario === 'lookup') {
        http.get({ host: 'nowhere.invalid', agent, lookup }).on('error', err => seen.push('error ' + err.code))
      } else if (scenario === 'throw') {
        http.get({ host: 'nowhere.invalid', agent, lookup }).on('error', err => { seen.push('error ' + err.code); throw new Error('thrown by a listener') })
      } else {
        http.get(process.env.TARGET, { agent }, res => {
          res.socket.on('close', () => seen.push('socket close'))
          res.destroy(new Error('destroyed'))
        })
      }`
    const expected = {
      promise: 'rejected ENOTFOUND',
      lookup: 'error ENOTFOUND',
      throw: 'error ENOTFOUND, uncaught thrown by a listener',
      destroy: 'uncaught destroyed, socket close'
    }
    for (const [scenario, seen] of Object.entries(expected)) {
      const { code, out } = await runChild(source, srv.url, 20000, [scenario])
      assert.strictEqual(code, 0, `${scenario}: ${out}`)
      assert.strictEqual(out.trim(), seen, scenario)
    }
  } finally {
    await srv.close()
  }
})

test('destroy(): idle connections close at the server, queued requests fail, the agent refuses more', async () => {
  const held = []
  let pair = []
  const srv = await listenCounting(http.createServer((req, res) => {
    if (req.url === '/hold') return held.push(res)
    // The first two are answered together, so they are sure to ride two connections.
    pair.push(res)
    if (pair.length === 2) {
      for (const r of pair) r.end('ok')
      pair = []
    }
  }))
  const agent = new Agent({ maxSockets: 2 })
  try {
    await Promise.all([agent.request(srv.url).then(r => r.text()), agent.request(srv.url).then(r => r.text())])
    assert.strictEqual(srv.counts.open, 2)
    const running = [agent.request(`${srv.url}/hold`), agent.request(`${srv.url}/hold`)]
    const queued = Array.from({ length: 3 }, () => agent.request(`${srv.url}/hold`))
    for (let i = 0; i < 200 && held.length < 2; i++) await new Promise(resolve => setTimeout(resolve, 10))
    assert.strictEqual(agent.stats[`http://127.0.0.1:${srv.port}`].queued, 3)
    agent.destroy()
    const settled = await Promise.allSettled([...running, ...queued])
    assert.deepStrictEqual(settled.map(s => s.reason?.code), Array(5).fill('ERR_AGENT_DESTROYED'))
    for (let i = 0; i < 200 && srv.counts.open > 0; i++) await new Promise(resolve => setTimeout(resolve, 10))
    assert.strictEqual(srv.counts.open, 0)
    assert.deepStrictEqual(agent.stats, {})
    await assert.rejects(agent.request(srv.url), { code: 'ERR_AGENT_DESTROYED' })
    agent.destroy()
  } finally {
    for (const res of held) res.destroy()
    await srv.close()
  }
})

test('destroy() in the middle of a body fails the body on both faces, never a short body that ends', async () => {
  const big = Buffer.alloc(8 << 20, 7)
  const srv = await listenCounting(http.createServer((req, res) => {
    res.setHeader('content-length', big.length)
    res.end(big)
  }))
  try {
    const agent = new Agent()
    const res = await agent.request(srv.url)
    let received = 0
    await assert.rejects(async () => {
      for await (const chunk of res.body) {
        if (received === 0) agent.destroy()
        received += chunk.length
      }
    }, { code: 'ERR_AGENT_DESTROYED' })
    assert.ok(received < big.length, `${received} bytes read`)

    const socketAgent = new Agent()
    let response = null
    const outcome = await new Promise(resolve => {
      http.get(srv.url, { agent: socketAgent }, res => {
        response = res
        let bytes = 0
        res.on('data', chunk => {
          if (bytes === 0) socketAgent.destroy()
          bytes += chunk.length
        })
        res.on('end', () => resolve({ ended: true, bytes }))
        res.on('error', err => resolve({ ended: false, code: err.code }))
      }).on('error', err => resolve({ ended: false, code: `request error ${err.code}` }))
    })
    // As with Node's agent: a response cut off is aborted (ECONNRESET) and left incomplete, and no error
    // reaches a request that has its response.
    assert.deepStrictEqual(outcome, { ended: false, code: 'ECONNRESET' })
    assert.strictEqual(response.complete, false)
  } finally {
    await srv.close()
  }
})
