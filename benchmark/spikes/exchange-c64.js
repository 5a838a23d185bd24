'use strict'
// Spike for EXCHANGE-SPIKE.md: the Promise face, undici Pool.request() and C bare JS-thread exchanges (the floor)
// at C=64 (env C) against nginx, interleaved, ROUNDS rounds (3); req/s and CPU µs per request each.
// Usage: C=64 ROUNDS=3 node benchmark/spikes/exchange-c64.js
const fs = require('fs'); const path = require('path')
const { startNginx } = require('../nginx')
const { Agent } = require('../..')
const { Pool } = require('undici')
const net = require('net')
const { HTTPParser } = require('_http_common')
const N = 20000; const C = Number(process.env.C || 64)
;(async () => {
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'ng-'))
  fs.copyFileSync(path.join(__dirname, '../../src/faces/testdata/localhost.pem'), path.join(dir, 'cert.pem'))
  fs.copyFileSync(path.join(__dirname, '../../src/faces/testdata/localhost.key'), path.join(dir, 'key.pem'))
  const httpPort = 18080 + Math.floor(Math.random() * 1000)
  const ng = await startNginx(require('../binaries').findBinary('nginx'), { dir, httpPort, httpsPort: httpPort + 1000 })
  const url = `http://127.0.0.1:${httpPort}/small`
  const agent = new Agent({ maxSockets: C })
  const pool = new Pool(`http://127.0.0.1:${httpPort}`, { connections: C })
  const run = async (one) => {
    let next = 0
    const worker = async () => { while (next++ < N) await one() }
    await Promise.all(Array.from({ length: C }, worker)); next = 0
    const c0 = process.cpuUsage(); const t0 = process.hrtime.bigint()
    await Promise.all(Array.from({ length: C }, worker))
    const dt = Number(process.hrtime.bigint() - t0) / 1e9; const c = process.cpuUsage(c0)
    return [(N / dt).toFixed(0), ((c.user + c.system) / N).toFixed(1)]
  }
  // The floor: C bare JS-thread exchanges (net.Socket + llhttp), one request at a time each.
  const bare = Array.from({ length: C }, () => {
    const sock = net.connect(httpPort, '127.0.0.1'); sock.setNoDelay(true)
    const parser = new HTTPParser(); parser.initialize(HTTPParser.RESPONSE, {}, 0, 0)
    let done = null; let chunks = []
    parser[HTTPParser.kOnBody] = b => { chunks.push(b) }
    parser[HTTPParser.kOnMessageComplete] = () => { const d = done; done = null; Buffer.concat(chunks); chunks = []; d() }
    sock.on('data', d => parser.execute(d))
    const head = `GET /small HTTP/1.1\r\nhost: 127.0.0.1:${httpPort}\r\n\r\n`
    return () => new Promise(resolve => { done = resolve; sock.write(head, 'latin1') })
  })
  const runBare = async () => {
    let next = 0
    const worker = async one => { while (next++ < N) await one() }
    await Promise.all(bare.map(worker)); next = 0
    const c0 = process.cpuUsage(); const t0 = process.hrtime.bigint()
    await Promise.all(bare.map(worker))
    const dt = Number(process.hrtime.bigint() - t0) / 1e9; const c = process.cpuUsage(c0)
    return [(N / dt).toFixed(0), ((c.user + c.system) / N).toFixed(1)]
  }
  for (let r = 0; r < Number(process.env.ROUNDS || 3); r++) {
    console.log('ka', ...(await run(async () => { const x = await agent.request(url); await x.bytes() })), 'undici', ...(await run(async () => { const x = await pool.request({ path: '/small', method: 'GET' }); await x.body.arrayBuffer() })), 'bare', ...(await runBare()))
  }
  console.log(agent.getCurrentStatus().createSocketCount)
  agent.destroy(); await pool.close(); await ng.stop()
})()
