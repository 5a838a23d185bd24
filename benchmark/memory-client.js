'use strict'
// One memory measurement in a fresh process started with --expose-gc (by memory.js): either N idle pooled
// connections or N requests queued behind one busy connection, for keepalive-agent or Node's http.Agent.
// argv[2]: JSON { mode: 'idle' | 'queue', client: 'ka' | 'node', origin, count }.

const http = require('node:http')
const { Agent } = require('..')

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const MiB = 1024 * 1024

/** Memory after two full collections with a pause between (lets finalizers and native frees run). */
async function settled () {
  for (let i = 0; i < 2; i++) {
    global.gc()
    await sleep(100)
  }
  return process.memoryUsage()
}

/** Waits, at most `ms`, until `done()` holds; returns whether it did. */
async function until (done, ms) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (done()) return true
    await sleep(20)
  }
  return done()
}

function nodeGet (agent, url) {
  let req
  const answered = new Promise((resolve, reject) => {
    req = http.get(url, { agent }, res => {
      res.resume()
      res.once('end', () => resolve(res.statusCode))
      res.once('error', reject)
    })
    req.once('error', reject)
  })
  return { req, answered }
}

const nodeCount = map => Object.values(map).reduce((sum, list) => sum + list.length, 0)

/** Both clients behind one interface: get(path), idle/queued counts, and how to tear down. */
function makeClient (which, origin, options) {
  if (which === 'ka') {
    const agent = new Agent({ keepAlive: true, ...options })
    const totals = () => Object.values(agent.getCurrentStatus().stats)
      .reduce((t, s) => ({ free: t.free + s.free, queued: t.queued + s.queued }), { free: 0, queued: 0 })
    return {
      name: 'keepalive-agent',
      get: path => agent.request(origin + path).then(res => res.bytes().then(() => res.status)),
      idle: () => totals().free,
      queued: () => totals().queued,
      opened: () => agent.getCurrentStatus().createSocketCount,
      destroy: () => agent.destroy()
    }
  }
  const agent = new http.Agent({ keepAlive: true, ...options })
  const requests = []
  let opened = 0
  // Node's agent counts the sockets it created nowhere public: count them as they are made.
  const create = agent.createConnection.bind(agent)
  agent.createConnection = (...args) => { opened++; return create(...args) }
  return {
    name: 'node http.Agent keep-alive',
    get (path) {
      const { req, answered } = nodeGet(agent, origin + path)
      requests.push(req)
      return answered
    },
    idle: () => nodeCount(agent.freeSockets),
    queued: () => nodeCount(agent.requests),
    opened: () => opened,
    destroy () {
      for (const req of requests) req.destroy()
      agent.destroy()
    }
  }
}

/** RSS per idle pooled connection: `count` concurrent held requests open `count` connections, then idle. */
async function idle (which, origin, count) {
  const client = makeClient(which, origin, { maxSockets: count, maxFreeSockets: count, freeSocketTimeout: 60000 })
  await client.get('/small') // loads the runtime and opens the first connection before the baseline
  const before = await settled()
  // The server holds each response 1.5 s, so every request needs its own connection.
  const statuses = await Promise.allSettled(Array.from({ length: count }, () => client.get('/hold?ms=1500')))
  await until(() => client.idle() >= count, 10000)
  const after = await settled()
  const idleNow = client.idle()
  const failed = statuses.filter(s => s.status === 'rejected' || s.value !== 200).length
  client.destroy()
  const added = Math.max(1, idleNow - 1)
  return {
    client: client.name,
    connections: count,
    opened: client.opened(),
    idle: idleNow,
    failed,
    rssDeltaMiB: (after.rss - before.rss) / MiB,
    heapDeltaMiB: (after.heapUsed - before.heapUsed) / MiB,
    kibPerConnection: (after.rss - before.rss) / 1024 / added
  }
}

/** RSS of `count` requests waiting for the single connection, which the server holds for 30 s. */
async function queue (which, origin, count) {
  const client = makeClient(which, origin, { maxSockets: 1 })
  await client.get('/small')
  const before = await settled()
  const outcomes = Array.from({ length: count }, () =>
    client.get('/hold?ms=30000').then(() => 'answered', err => err.code || err.message))
  await until(() => client.queued() >= count - 1, 10000)
  const queuedNow = client.queued()
  const after = await settled()
  client.destroy()
  const settledOutcomes = await Promise.race([Promise.all(outcomes), sleep(10000).then(() => null)])
  const tally = {}
  for (const o of settledOutcomes || []) tally[o] = (tally[o] || 0) + 1
  return {
    client: client.name,
    requested: count,
    queued: queuedNow,
    rssDeltaMiB: (after.rss - before.rss) / MiB,
    heapDeltaMiB: (after.heapUsed - before.heapUsed) / MiB,
    bytesPerRequest: (after.rss - before.rss) / count,
    outcome: settledOutcomes
      ? 'destroyed: ' + Object.entries(tally).map(([k, n]) => `${n} × ${k}`).join(', ')
      : 'destroyed, but the requests did not all settle within 10 s'
  }
}

async function main () {
  const { mode, client, origin, count } = JSON.parse(process.argv[2])
  const result = mode === 'idle' ? await idle(client, origin, count) : await queue(client, origin, count)
  process.send(result, () => process.exit(0))
}

process.on('disconnect', () => process.exit(0)) // never outlive the parent
main().catch(err => {
  process.send({ error: `${err.code || ''} ${err.message}`.trim() }, () => process.exit(1))
})
