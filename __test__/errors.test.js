'use strict'
// System errors carry Node's fields and wording on both faces (errno, code, syscall, address/port or
// hostname, `connect ECONNREFUSED 127.0.0.1:1`): each is compared with what Node's own http.get reports
// for the same failure.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const { Agent } = require('..')
const { rawServer, refusedUrl, get } = require('./helpers/faces')

const FIELDS = ['message', 'errno', 'code', 'syscall', 'address', 'port', 'hostname']

function fields (err) {
  assert.ok(err instanceof Error, String(err))
  const out = {}
  for (const name of FIELDS) if (err[name] !== undefined) out[name] = err[name]
  return out
}

/** Node's own report: http.get without an agent. */
function nodeError (url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, res => reject(new Error(`answered ${res.statusCode}`)))
    req.on('error', resolve)
  })
}

test('ECONNREFUSED, ENOTFOUND and a reset have Node\'s fields and messages on both faces', async () => {
  const reset = await rawServer(socket => socket.once('data', () => socket.resetAndDestroy()))
  const urls = {
    refused: await refusedUrl(),
    'not found': 'http://no-such-host.invalid/',
    reset: reset.url
  }
  const agent = new Agent()
  try {
    for (const [name, url] of Object.entries(urls)) {
      const expected = fields(await nodeError(url))
      assert.ok(expected.syscall, `${name}: Node reports a system call (${JSON.stringify(expected)})`)
      assert.deepStrictEqual(fields(await agent.request(url).then(() => null, e => e)), expected, `Promise face, ${name}`)
      assert.deepStrictEqual(fields(await get(url, agent).then(() => null, e => e)), expected, `socket face, ${name}`)
    }
  } finally {
    agent.destroy()
    await reset.close()
  }
})
