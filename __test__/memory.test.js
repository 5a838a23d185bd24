'use strict'
// What the Promise face keeps per queued request, measured as RSS in a child process (--expose-gc): a
// queued request is one callback in the pool's queue, not a task. The bound is generous (today ≈ 1.9 KiB
// of anonymous RSS per request on Node 20-24; a task per request cost ≈ 3.5 KiB); the benchmark
// (benchmark/memory.js) has the figures.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const path = require('node:path')
const { execFile } = require('node:child_process')

const QUEUED = 10000

test(`${QUEUED} queued Promise-face requests: queued at once, at most 2.6 KiB of RSS each, all fail on destroy()`, async () => {
  // Answers /ok; holds every other request for as long as its connection lives.
  const server = http.createServer((req, res) => { if (req.url === '/ok') res.end('ok') })
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    const url = `http://127.0.0.1:${server.address().port}`
    const child = path.join(__dirname, 'helpers', 'queue-rss.js')
    const out = await new Promise((resolve, reject) => {
      execFile(process.execPath, ['--expose-gc', child, url, String(QUEUED)], { timeout: 170000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`))
        else resolve(stdout)
      })
    })
    const { queued, kibPerRequest, outcomes } = JSON.parse(out)
    console.log(`# anonymous RSS per queued request: ${kibPerRequest.toFixed(2)} KiB`)
    assert.strictEqual(queued, QUEUED - 1)
    assert.deepStrictEqual(outcomes, { ERR_AGENT_DESTROYED: QUEUED })
    assert.ok(kibPerRequest <= 2.6, `${kibPerRequest.toFixed(2)} KiB per queued request`)
  } finally {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
})
