'use strict'
// Memory: RSS per idle pooled connection and RSS of queued requests, keepalive-agent's two faces (Promise
// and socket) beside Node's http.Agent. Each measurement runs in a fresh client process (--expose-gc)
// against a Node server in another process, so neither the server's memory nor an earlier measurement's
// leftovers are counted.
// Run alone with `node benchmark/memory.js`, or at the end of `npm run bench`.

const path = require('node:path')
const { fork } = require('node:child_process')
const { track, installExitHandlers } = require('./processes')
const { settings } = require('./config')
const { median } = require('./stats')

function child (script, args, execArgv, timeoutMs) {
  const proc = track(fork(path.join(__dirname, script), args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  const reply = new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${script} gave no answer within ${timeoutMs / 1000} s`)) }, timeoutMs)
    proc.once('message', msg => { clearTimeout(timer); resolve(msg) })
    proc.once('exit', code => { clearTimeout(timer); reject(new Error(`${script} exited with code ${code}`)) })
  })
  return { proc, reply }
}

/** The clients measured, in the order reported: the Promise face, the socket face, Node's agent. */
const CLIENTS = ['ka-request', 'ka-http', 'node-http']

/** One row per client: the median of each figure over the rounds, and every round's figures. */
function medians (runs) {
  const row = { ...runs[runs.length - 1] }
  for (const key of Object.keys(row)) {
    if (typeof row[key] === 'number') row[key] = median(runs.map(r => r[key]))
  }
  row.rounds = runs
  return row
}

/**
 * Runs every client `rounds` times in each mode, interleaved (one of each client per round), each run in
 * a fresh process, and reports the medians: one run's RSS moves with the allocator's luck.
 */
async function measureMemory ({ connections = settings.memoryConnections, queued = settings.memoryQueued, rounds = settings.memoryRounds } = {}) {
  const server = child('node-server.js', ['{}'], [], 10000)
  try {
    const { httpPort } = await server.reply
    const origin = `http://127.0.0.1:${httpPort}`
    const run = async (mode, client, count) => {
      const r = await child('memory-client.js', [JSON.stringify({ mode, client, origin, count })], ['--expose-gc'], 60000).reply
      if (r.error) throw new Error(`${mode}/${client}: ${r.error}`)
      return r
    }
    const measure = async (mode, count) => {
      const runs = new Map(CLIENTS.map(c => [c, []]))
      for (let round = 0; round < rounds; round++) {
        for (const client of CLIENTS) runs.get(client).push(await run(mode, client, count))
      }
      return CLIENTS.map(c => ({ id: c, ...medians(runs.get(c)) }))
    }
    return { rounds, idle: await measure('idle', connections), queue: await measure('queue', queued) }
  } finally {
    server.proc.kill('SIGKILL')
  }
}

if (require.main === module) {
  installExitHandlers()
  const { memorySection } = require('./report')
  measureMemory().then(memory => {
    process.stdout.write(memorySection(memory))
    process.exit(0)
  }, err => {
    console.error(err)
    process.exit(1)
  })
}

module.exports = { measureMemory }
