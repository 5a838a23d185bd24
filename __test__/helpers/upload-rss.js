'use strict'
// Child process of promise-upload.test.js (run with --expose-gc): streams `MiB` MiB to the URL given, from
// one reused 64 KiB block, and prints JSON with the RSS growth over a baseline taken after a warm-up.

const { Agent } = require('../..')

const [url, MiB] = [process.argv[2], Number(process.argv[3])]
const block = Buffer.alloc(64 * 1024, 7)

function rss () {
  global.gc()
  return process.memoryUsage().rss
}

async function main () {
  const agent = new Agent()
  // Warm-up: the runtime, the connection and the code paths exist before the baseline.
  async function * some (blocks) { for (let i = 0; i < blocks; i++) yield block }
  await (await agent.request(url, { method: 'POST', body: some(64) })).text()
  const baseline = rss()
  let peak = baseline
  const blocks = MiB * 16
  async function * body () {
    for (let i = 0; i < blocks; i++) {
      if (i % 64 === 0) peak = Math.max(peak, rss())
      yield block
    }
  }
  const answer = await (await agent.request(url, { method: 'POST', body: body() })).text()
  peak = Math.max(peak, rss())
  agent.destroy()
  process.stdout.write(JSON.stringify({ answer, growthMiB: (peak - baseline) / 1048576 }))
}

main().catch(err => { console.error(err); process.exit(1) })
