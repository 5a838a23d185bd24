'use strict'
// Spike for EXCHANGE-SPIKE.md: the Promise face and undici Pool.request() at C=64 (env C) against nginx, 2 rounds.
// Usage: C=64 node benchmark/spikes/exchange-c64.js
const fs = require('fs'); const path = require('path')
const { startNginx } = require('../nginx')
const { Agent } = require('../..')
const { Pool } = require('undici')
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
  for (let r = 0; r < 2; r++) {
    console.log('ka', ...(await run(async () => { const x = await agent.request(url); await x.bytes() })), 'undici', ...(await run(async () => { const x = await pool.request({ path: '/small', method: 'GET' }); await x.body.arrayBuffer() })))
  }
  console.log(agent.getCurrentStatus().createSocketCount)
  agent.destroy(); await pool.close(); await ng.stop()
})()
