'use strict'
// The keep-alive race, shown: a local server closes each idle connection once it has been idle for its
// keep-alive timeout (without announcing it in a Keep-Alive header, as many servers and proxies do), and
// a client sends its next request just as that happens. The same sequence of requests goes through
// Node's own keep-alive agent and through this package's agent (socket face and Promise face); each line
// says how many requests failed.

const http = require('node:http')
const net = require('node:net')
const { Agent } = require('..')

const REQUESTS = 50
const IDLE_TIMEOUT_MS = 30

/** A raw HTTP/1.1 server: answers every request, closes a connection idle for IDLE_TIMEOUT_MS. */
function racingServer () {
  const server = net.createServer(socket => {
    let idle = null
    let buffered = ''
    socket.on('error', () => {})
    socket.on('close', () => clearTimeout(idle))
    socket.on('data', chunk => {
      clearTimeout(idle)
      buffered += chunk.toString('latin1')
      let end
      while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
        buffered = buffered.slice(end + 4)
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
      }
      idle = setTimeout(() => socket.end(), IDLE_TIMEOUT_MS)
    })
  })
  return new Promise(resolve => server.listen(0, '127.0.0.1', () => resolve(server)))
}

const pause = ms => new Promise(resolve => setTimeout(resolve, ms))

function viaHttp (url, agent) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, res => {
      res.resume()
      res.on('end', resolve)
      res.on('error', reject)
    }).on('error', reject)
  })
}

/** Sends REQUESTS requests one after another, each when the last connection is about to be closed. */
async function race (name, send) {
  const failures = new Map()
  for (let i = 0; i < REQUESTS; i++) {
    await pause(IDLE_TIMEOUT_MS)
    try {
      await send()
    } catch (err) {
      const what = `${err.code} ${err.message}`
      failures.set(what, (failures.get(what) ?? 0) + 1)
    }
  }
  const failed = [...failures.values()].reduce((a, b) => a + b, 0)
  const why = [...failures].map(([what, n]) => `${n}× ${what}`).join(', ')
  console.log(`  ${name.padEnd(36)} ${failed}/${REQUESTS} failed${failed ? ` (${why})` : ''}`)
}

async function showRace () {
  const server = await racingServer()
  const url = `http://127.0.0.1:${server.address().port}/`
  console.log(`\nThe keep-alive race: a server closes connections idle for ${IDLE_TIMEOUT_MS} ms; ` +
    `${REQUESTS} GETs, each sent as that happens:`)
  const node = new http.Agent({ keepAlive: true })
  await race('Node\'s http.Agent (keepAlive)', () => viaHttp(url, node))
  node.destroy()
  const ours = new Agent()
  await race('keepalive-agent, http.get', () => viaHttp(url, ours))
  await race('keepalive-agent, agent.request()', () => ours.request(url).then(res => res.text()))
  console.log(`  (requests the agent sent again on a new connection: ${ours.getCurrentStatus().retryCount})`)
  ours.destroy()
  server.close()
}

module.exports = { showRace }
