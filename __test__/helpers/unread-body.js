'use strict'
// Child process of promise-response.test.js (run with --expose-gc): with maxSockets 1, drops a response
// (and then a body stream) without reading its large body, collects garbage, and needs that connection's
// slot for the next request. Prints "freed" when each next request was answered.

const { Agent } = require('../..')

const url = process.argv[2]

async function dropUnread (agent, takeStream) {
  const res = await agent.request(`${url}/large`)
  if (takeStream) res.body.pause()
}

async function main () {
  const agent = new Agent({ maxSockets: 1 })
  for (const takeStream of [false, true]) {
    await dropUnread(agent, takeStream)
    const next = agent.request(`${url}/small`).then(res => res.text())
    let answered = false
    next.then(() => { answered = true }, () => { answered = true })
    // The unread response is unreachable now; its registry callback runs after a collection.
    for (let i = 0; i < 200 && !answered; i++) {
      global.gc()
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    process.stdout.write(`${await next === 'small' ? 'freed' : 'wrong'}\n`)
  }
  agent.destroy()
}

main().catch(err => { console.error(err); process.exit(1) })
