'use strict'
// `npm start`: keep-alive at work in one command. First the keep-alive race (examples/race.js): the same
// requests through Node's agent and through ours, against a server that closes idle connections. Then a
// local HTTP and a local HTTPS server (with a self-signed certificate made now by openssl) get a few
// hundred requests through one Agent each, and it prints how many requests rode how many connections,
// and the pool's stats.

const http = require('node:http')
const https = require('node:https')
const { Agent, HttpsAgent } = require('..')
const { selfSigned } = require('./certs')
const { showRace } = require('./race')

const REQUESTS = 300
const CONCURRENCY = 8

function listen (server) {
  return new Promise(resolve => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))
}

function countConnections (server) {
  const counter = { opened: 0 }
  server.on(server instanceof https.Server ? 'secureConnection' : 'connection', () => counter.opened++)
  return counter
}

async function drive (agent, url) {
  let next = 0
  let ok = 0
  let reused = 0
  const worker = async () => {
    while (next < REQUESTS) {
      next++
      const res = await agent.request(`${url}/item/${next}`)
      const body = await res.json()
      if (res.status === 200 && body.ok) ok++
      if (res.reused) reused++
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return { ok, reused }
}

function handler (req, res) {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ ok: true, path: req.url }))
}

async function run (name, server, agent, scheme) {
  const counter = countConnections(server)
  const port = await listen(server)
  const started = process.hrtime.bigint()
  const { ok, reused } = await drive(agent, `${scheme}://localhost:${port}`)
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  const status = agent.getCurrentStatus()
  console.log(`\n${name}: ${ok}/${REQUESTS} requests answered in ${ms.toFixed(0)} ms, ` +
    `${CONCURRENCY} at a time, over ${counter.opened} connections (${reused} requests reused one)`)
  const { stats, ...counters } = status
  console.log('  getCurrentStatus():', JSON.stringify(counters))
  console.log('  stats:', JSON.stringify(stats))
  agent.destroy()
  server.close()
}

async function main () {
  await showRace()
  const tls = selfSigned()
  await run('http ', http.createServer(handler), new Agent({ maxSockets: 4 }), 'http')
  await run('https', https.createServer({ key: tls.key, cert: tls.cert }, handler),
    new HttpsAgent({ maxSockets: 4, ca: tls.cert }), 'https')
  console.log('\nmaxSockets: 4 caps each origin at 4 connections; every other request reused an idle one.')
}

main().catch(err => {
  console.error(err)
  process.exitCode = 1
})
