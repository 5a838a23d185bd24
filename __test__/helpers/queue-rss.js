'use strict'
// Child process of memory.test.js (run with --expose-gc): queues `count` Promise-face requests behind the
// one connection of an agent with maxSockets 1 (the server never answers them), measures the growth of
// anonymous RSS over a baseline taken after a warm-up, destroys the agent, and prints JSON with the
// growth per queued request and how every request settled.

const fs = require('node:fs')
const { Agent } = require('../..')

const [url, count] = [process.argv[2], Number(process.argv[3])]

/** Anonymous resident memory: RSS without file-backed pages (code paged in once), where Linux says it. */
function resident () {
  global.gc()
  global.gc()
  const status = fs.existsSync('/proc/self/status') ? fs.readFileSync('/proc/self/status', 'utf8') : ''
  const kB = /^RssAnon:\s+(\d+) kB/m.exec(status)
  return kB ? Number(kB[1]) * 1024 : process.memoryUsage().rss
}

async function main () {
  const agent = new Agent({ maxSockets: 1 })
  // Warm-up: the runtime, the connection and the code paths exist before the baseline.
  for (let i = 0; i < 2; i++) await (await agent.request(`${url}/ok`)).text()
  const baseline = resident()
  const outcomes = {}
  let settled = 0
  let allSettled
  const done = new Promise(resolve => { allSettled = resolve })
  const tally = outcome => {
    outcomes[outcome] = (outcomes[outcome] || 0) + 1
    if (++settled === count) allSettled()
  }
  for (let i = 0; i < count; i++) {
    agent.request(`${url}/never`).then(() => tally('answered'), err => tally(err.code))
  }
  // The pool answers a checkout at once: all but the first wait in its queue now.
  const queued = Object.values(agent.getCurrentStatus().stats).reduce((n, s) => n + s.queued, 0)
  const grown = resident() - baseline
  agent.destroy()
  await done
  process.stdout.write(JSON.stringify({ queued, kibPerRequest: grown / 1024 / count, outcomes }))
}

main().catch(err => { console.error(err); process.exit(1) })
