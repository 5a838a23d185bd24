'use strict'
// One memory measurement in a fresh process started with --expose-gc (by memory.js): either N idle pooled
// connections or N requests queued behind one busy connection, for one client: keepalive-agent's Promise
// face (`agent.request`), its socket face (`http.get` through it) or Node's keep-alive http.Agent.
// argv[2]: JSON { mode: 'idle' | 'queue', client: 'ka-request' | 'ka-http' | 'node-http', origin, count }.
//
// The harness keeps nothing per request (no list of requests or promises): what is measured is what the
// client keeps. Finished requests are unreachable when the idle connections are measured.

const fs = require('node:fs')
const http = require('node:http')
const { Agent } = require('..')

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
/** How long idle connections are left before their second measurement. */
const IDLE_A_WHILE_MS = 2000
const MiB = 1024 * 1024

/**
 * Anonymous resident memory (Linux), in bytes: RSS without the file-backed pages, i.e. without the code
 * of node and the addon that a burst of requests pages in once (≈ 4 MiB, whatever the count).
 */
function rssAnon () {
  try {
    const kB = /^RssAnon:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))
    return kB ? Number(kB[1]) * 1024 : NaN
  } catch {
    return NaN
  }
}

/** Memory after full collections with pauses between (lets finalizers and native frees run). */
async function settled () {
  for (let i = 0; i < 3; i++) {
    global.gc()
    await sleep(100)
  }
  return { ...process.memoryUsage(), anon: rssAnon() }
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

/** `http.get` through `agent`: resolves with the status once the body is read, rejects on an error. */
function httpGet (agent, url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, res => {
      res.resume()
      res.once('end', () => resolve(res.statusCode))
      res.once('error', reject)
    })
    req.once('error', reject)
  })
}

/** Node's agent.destroy() closes sockets only: requests queued for one would wait (here for a held one). */
function destroyQueued (agent) {
  for (const list of Object.values(agent.requests)) for (const req of [...list]) req.destroy()
}

const mapCount = map => Object.values(map).reduce((sum, list) => sum + list.length, 0)

const NAMES = {
  'ka-request': 'keepalive-agent request()',
  'ka-http': 'keepalive-agent + http.request',
  'node-http': 'node http.Agent keep-alive'
}

/** Each client behind one interface: get(path), idle/queued counts, and how to tear down. */
function makeClient (which, origin, options) {
  if (which === 'ka-request' || which === 'ka-http') {
    const agent = new Agent({ keepAlive: true, ...options })
    const totals = () => Object.values(agent.getCurrentStatus().stats)
      .reduce((t, s) => ({ free: t.free + s.free, queued: t.queued + s.queued, inUse: t.inUse + s.running + s.pending }),
        { free: 0, queued: 0, inUse: 0 })
    const get = which === 'ka-request'
      ? path => agent.request(origin + path).then(res => res.bytes().then(() => res.status))
      : path => httpGet(agent, origin + path)
    return {
      get,
      idle: () => totals().free,
      inUse: () => totals().inUse,
      queued: () => totals().queued,
      opened: () => agent.getCurrentStatus().createSocketCount,
      destroy () {
        // As Node's agent, destroy() lets socket-face requests still queued go on: end them as for Node's.
        destroyQueued(agent)
        agent.destroy()
      }
    }
  }
  const agent = new http.Agent({ keepAlive: true, ...options })
  let opened = 0
  // Node's agent counts the sockets it created nowhere public: count them as they are made.
  const create = agent.createConnection.bind(agent)
  agent.createConnection = (...args) => { opened++; return create(...args) }
  return {
    get: path => httpGet(agent, origin + path),
    idle: () => mapCount(agent.freeSockets),
    inUse: () => mapCount(agent.sockets),
    queued: () => mapCount(agent.requests),
    opened: () => opened,
    destroy () {
      destroyQueued(agent)
      agent.destroy()
    }
  }
}

function deltas (before, after) {
  return {
    rssDeltaMiB: (after.rss - before.rss) / MiB,
    anonDeltaMiB: (after.anon - before.anon) / MiB,
    heapDeltaMiB: (after.heapUsed - before.heapUsed) / MiB,
    externalDeltaMiB: (after.external - before.external) / MiB
  }
}

/** RSS per idle pooled connection: `count` concurrent held requests open `count` connections, then idle. */
async function idle (which, origin, count) {
  const client = makeClient(which, origin, { maxSockets: count, maxFreeSockets: count, freeSocketTimeout: 60000 })
  await client.get('/small') // loads the runtime and opens the first connection before the baseline
  await client.get('/small')
  const before = await settled()
  // The server holds each response 1.5 s, so every request needs its own connection.
  let failed = 0
  const count200 = status => { if (status !== 200) failed++ }
  await Promise.all(Array.from({ length: count }, () => client.get('/hold?ms=1500').then(count200, () => { failed++ })))
  // Every connection back in the pool, or closed: the socket face closes the few fd-carried ones a
  // busy route frees (lib/sockets.js `retires`), so the count idle is not waited for.
  await until(() => client.inUse() === 0, 10000)
  const after = await settled()
  // Idle for a while: past the pool's PARK_AFTER (1 s), when the Promise face frees hyper's state.
  await sleep(IDLE_A_WHILE_MS)
  const later = await settled()
  const idleNow = client.idle()
  const opened = client.opened()
  client.destroy()
  const added = Math.max(1, idleNow - 1)
  return {
    client: NAMES[which],
    connections: count,
    opened,
    idle: idleNow,
    failed,
    ...deltas(before, after),
    kibPerConnection: (after.rss - before.rss) / 1024 / added,
    anonKibPerConnection: (after.anon - before.anon) / 1024 / added,
    anonKibPerConnectionLater: (later.anon - before.anon) / 1024 / added
  }
}

/** RSS of `count` requests waiting for the single connection, which the server holds for 30 s. */
async function queue (which, origin, count) {
  const client = makeClient(which, origin, { maxSockets: 1 })
  await client.get('/small')
  await client.get('/small')
  const before = await settled()
  const tally = {}
  let settledCount = 0
  const outcome = o => { tally[o] = (tally[o] || 0) + 1; settledCount++ }
  for (let i = 0; i < count; i++) {
    client.get('/hold?ms=30000').then(() => outcome('answered'), err => outcome(err.code || err.message))
  }
  await until(() => client.queued() >= count - 1, 10000)
  const queuedNow = client.queued()
  const after = await settled()
  client.destroy()
  const allSettled = await until(() => settledCount === count, 10000)
  const listed = Object.entries(tally).map(([k, n]) => `${n} × ${k}`).join(', ')
  return {
    client: NAMES[which],
    requested: count,
    queued: queuedNow,
    ...deltas(before, after),
    bytesPerRequest: (after.rss - before.rss) / count,
    outcome: allSettled ? `destroyed: ${listed}` : `destroyed, but only ${settledCount} settled within 10 s (${listed})`
  }
}

async function main () {
  const { mode, client, origin, count } = JSON.parse(process.argv[2])
  if (!NAMES[client]) throw new Error(`unknown client ${client}`)
  const result = mode === 'idle' ? await idle(client, origin, count) : await queue(client, origin, count)
  process.send(result, () => process.exit(0))
}

process.on('disconnect', () => process.exit(0)) // never outlive the parent
main().catch(err => {
  process.send({ error: `${err.code || ''} ${err.message}`.trim() }, () => process.exit(1))
})
