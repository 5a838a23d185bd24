'use strict'
// Memory: RSS per idle pooled connection and RSS of queued requests, keepalive-agent beside Node's
// http.Agent. Each measurement runs in a fresh client process (--expose-gc) against a Node server in
// another process, so neither the server's memory nor an earlier measurement's leftovers are counted.
// Run alone with `node benchmark/memory.js`, or at the end of `npm run bench`.

const path = require('node:path')
const { fork } = require('node:child_process')
const { track, installExitHandlers } = require('./processes')
const { settings } = require('./config')

function child (script, args, execArgv, timeoutMs) {
  const proc = track(fork(path.join(__dirname, script), args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  const reply = new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${script} gave no answer within ${timeoutMs / 1000} s`)) }, timeoutMs)
    proc.once('message', msg => { clearTimeout(timer); resolve(msg) })
    proc.once('exit', code => { clearTimeout(timer); reject(new Error(`${script} exited with code ${code}`)) })
  })
  return { proc, reply }
}

async function measureMemory ({ connections = settings.memoryConnections, queued = settings.memoryQueued } = {}) {
  const server = child('node-server.js', ['{}'], [], 10000)
  try {
    const { httpPort } = await server.reply
    const origin = `http://127.0.0.1:${httpPort}`
    const run = async (mode, client, count) => {
      const r = await child('memory-client.js', [JSON.stringify({ mode, client, origin, count })], ['--expose-gc'], 60000).reply
      if (r.error) throw new Error(`${mode}/${client}: ${r.error}`)
      return r
    }
    return {
      idle: [await run('idle', 'ka', connections), await run('idle', 'node', connections)],
      queue: [await run('queue', 'ka', queued), await run('queue', 'node', queued)]
    }
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
