'use strict'
// The parent's handle on one worker process: fork it, set its client up, ask for measurements, close it.
// Every wait is bounded; a worker that dies, reports a fatal error or overruns is marked failed with the
// reason, and the run goes on without it.

const path = require('node:path')
const { fork } = require('node:child_process')
const { track } = require('./processes')

// Environment variables a client library might route through a proxy with: removed, so that only
// 127.0.0.1 is ever contacted.
const PROXY_VARS = ['http_proxy', 'https_proxy', 'all_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY']

class Worker {
  constructor (contender, setup, extraEnv = {}) {
    const env = { ...process.env, ...extraEnv }
    for (const name of PROXY_VARS) delete env[name]
    this.contender = contender
    this.failure = null
    this.child = track(fork(path.join(__dirname, 'worker.js'), [contender.id],
      { env, execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
    this.child.on('error', () => {}) // reported through 'exit' below
    this.setupMessage = { type: 'setup', contender: contender.id, setup }
  }

  /** Sends `message`, resolves with the worker's reply of type `until`; `onMessage` sees the others. */
  ask (message, until, timeoutMs, onMessage = () => {}) {
    if (this.failure) return Promise.reject(new Error(this.failure))
    return new Promise((resolve, reject) => {
      const finish = (err, value) => {
        clearTimeout(timer)
        this.child.off('message', onReply)
        this.child.off('exit', onExit)
        if (err) {
          this.failure = err.message
          this.child.kill('SIGKILL')
          reject(err)
        } else {
          resolve(value)
        }
      }
      const onReply = msg => {
        if (msg.type === 'fatal') finish(new Error(msg.error))
        else if (msg.type === until) finish(null, msg)
        else onMessage(msg)
      }
      const onExit = (code, signal) => finish(new Error(`worker exited (${signal || code})`))
      const timer = setTimeout(() => finish(new Error(`no ${until} within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs)
      this.child.on('message', onReply)
      this.child.once('exit', onExit)
      this.child.send(message)
    })
  }

  ready () {
    return this.ask(this.setupMessage, 'ready', 30000)
  }

  /** One measurement; `onStarted` runs when the warm-up is over and counting begins. */
  async measure (command, onStarted) {
    const budgetMs = command.warmupMs + (command.count ? 120000 : command.durationMs) + 30000
    const reply = await this.ask({ type: 'measure', ...command }, 'result', budgetMs,
      msg => { if (msg.type === 'started') onStarted() })
    return reply.result
  }

  /** Lets the worker close its client; kills it if it takes more than 2 s. */
  async close () {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const gone = new Promise(resolve => this.child.once('exit', resolve))
    try { this.child.send({ type: 'close' }) } catch {}
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000)
    await gone
    clearTimeout(timer)
  }
}

module.exports = { Worker }
