'use strict'
// Spike for EXCHANGE-SPIKE.md: c=1 GET /small against nginx (Debian's, on PATH or /usr/sbin): the Promise face,
// undici Pool.request() and a bare JS-thread exchange (net.Socket + Node's llhttp), interleaved; p50, req/s, CPU.
// Usage: N=5000 ROUNDS=3 [ONLY=ka,undici,local] node benchmark/spikes/exchange-spike.js
const fs = require('fs'); const path = require('path'); const net = require('net')
const { startNginx } = require('../nginx')
const { HTTPParser } = require('_http_common')
const { Agent } = require('../..')
const { Pool } = require('undici')
const N = Number(process.env.N || 5000); const ROUNDS = Number(process.env.ROUNDS || 3)

function localClient (port) {
  const sock = net.connect(port, '127.0.0.1'); sock.setNoDelay(true)
  const parser = new HTTPParser()
  parser.initialize(HTTPParser.RESPONSE, {}, 0, 0)
  let pending = null; let status = 0; let chunks = []
  parser[HTTPParser.kOnHeadersComplete] = (maj, min, headers, method, url, statusCode) => { status = statusCode; return 0 }
  parser[HTTPParser.kOnBody] = (b) => { chunks.push(Buffer.from(b)) }
  parser[HTTPParser.kOnMessageComplete] = () => { const p = pending; pending = null; const body = Buffer.concat(chunks); chunks = []; p.resolve({ status, body }) }
  sock.on('data', d => { const r = parser.execute(d); if (r instanceof Error) pending?.reject(r) })
  const head = `GET /small HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: keep-alive\r\n\r\n`
  return {
    request () { return new Promise((resolve, reject) => { pending = { resolve, reject }; sock.write(head, 'latin1') }) },
    close () { sock.destroy() }
  }
}

async function measure (name, one) {
  for (let i = 0; i < 500; i++) await one()
  const lat = new Float64Array(N)
  const c0 = process.cpuUsage(); const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) { const s = process.hrtime.bigint(); await one(); lat[i] = Number(process.hrtime.bigint() - s) / 1e6 }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9; const c = process.cpuUsage(c0)
  lat.sort()
  return { name, rps: N / dt, p50: lat[N >> 1], p99: lat[Math.floor(N * 0.99)], cpu: (c.user + c.system) / N }
}

;(async () => {
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'ng-'))
  fs.copyFileSync(path.join(__dirname, '../../src/faces/testdata/localhost.pem'), path.join(dir, 'cert.pem'))
  fs.copyFileSync(path.join(__dirname, '../../src/faces/testdata/localhost.key'), path.join(dir, 'key.pem'))
  const httpPort = 18080 + Math.floor(Math.random() * 1000); const httpsPort = httpPort + 1000
  const ng = await startNginx(require('../binaries').findBinary('nginx'), { dir, httpPort, httpsPort })
  const url = `http://127.0.0.1:${httpPort}/small`
  const agent = new Agent({ maxSockets: 1 })
  const pool = new Pool(`http://127.0.0.1:${httpPort}`, { connections: 1 })
  const local = localClient(httpPort)
  const contenders = {
    ka: async () => { const r = await agent.request(url); await r.bytes() },
    undici: async () => { const r = await pool.request({ path: '/small', method: 'GET' }); await r.body.arrayBuffer() },
    local: async () => { await local.request() }
  }
  const only = process.env.ONLY ? process.env.ONLY.split(',') : Object.keys(contenders)
  const results = {}
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of only) (results[name] ??= []).push(await measure(name, contenders[name]))
  }
  for (const [name, rs] of Object.entries(results)) {
    const med = k => rs.map(x => x[k]).sort((a, b) => a - b)[rs.length >> 1]
    console.log(name.padEnd(8), 'req/s', med('rps').toFixed(0), 'p50', med('p50').toFixed(3), 'p99', med('p99').toFixed(3), 'cpu µs', med('cpu').toFixed(1))
  }
  agent.destroy(); await pool.close(); local.close(); await ng.stop()
})()
