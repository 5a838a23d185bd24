'use strict'
// What `require('keepalive-agent')` gives, through the package's own `exports` map (a package may require
// itself by name): the Agent class itself, carrying every public name, as agentkeepalive's module does;
// and what TypeScript's CommonJS output (with and without `esModuleInterop`) and `import()` get from it.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const https = require('node:https')
const path = require('node:path')
const ts = require('typescript')

/** The public names, in the order index.js sets them; index.d.ts lists the same in `namespace Agent`. */
const NAMES = ['Agent', 'HttpAgent', 'HttpsAgent', 'constants', 'install', 'default']

test('require() gives the Agent class itself, carrying every public name', () => {
  const Agent = require('keepalive-agent')
  assert.strictEqual(typeof Agent, 'function')
  assert.strictEqual(Agent.name, 'Agent')
  assert.deepStrictEqual(Object.keys(Agent), NAMES)
  assert.strictEqual(Agent.Agent, Agent)
  assert.strictEqual(Agent.HttpAgent, Agent)
  assert.strictEqual(Agent.default, Agent)
  assert.strictEqual(Agent.__esModule, undefined, 'no __esModule: interop helpers must wrap it, not unwrap it')
  const agent = new Agent()
  assert.ok(agent instanceof http.Agent)
  agent.destroy()
})

test('destructuring require() gives the classes and install: { Agent, HttpAgent, HttpsAgent, install }', () => {
  const { Agent, HttpAgent, HttpsAgent, install } = require('keepalive-agent')
  assert.strictEqual(typeof install, 'function')
  const secure = new HttpsAgent()
  assert.ok(secure instanceof https.Agent)
  assert.ok(secure instanceof Agent)
  assert.ok(new HttpAgent() instanceof Agent)
  assert.notStrictEqual(HttpsAgent, Agent)
  secure.destroy()
})

test('as Node\'s agents, the classes build an agent when called without new; subclasses and instanceof work as with new', () => {
  const { Agent, HttpsAgent } = require('keepalive-agent')
  const plain = Agent({ keepAlive: true, maxSockets: 3 })
  const secure = HttpsAgent()
  class Sub extends HttpsAgent {}
  const sub = new Sub({ maxSockets: 2 })
  assert.ok(plain instanceof Agent && plain instanceof http.Agent && !(plain instanceof HttpsAgent))
  assert.ok(secure instanceof HttpsAgent && secure instanceof Agent && secure instanceof https.Agent)
  assert.ok(sub instanceof Sub && sub instanceof HttpsAgent && sub instanceof Agent)
  assert.strictEqual(plain.maxSockets, 3)
  assert.strictEqual(sub.maxSockets, 2)
  assert.strictEqual(plain.constructor, Agent)
  assert.strictEqual(secure.constructor, HttpsAgent)
  assert.strictEqual(sub.constructor, Sub)
  for (const agent of [plain, secure, sub]) agent.destroy()
})

test('a subclass made the pre-class way (util.inherits, Agent.call(this, options)) is an agent that serves requests, as with Node\'s function Agent', async () => {
  const util = require('node:util')
  const { Agent, HttpsAgent } = require('keepalive-agent')
  function Legacy (options) {
    Agent.call(this, { keepAlive: true, maxSockets: 2, ...options })
    this.named = 0
  }
  util.inherits(Legacy, Agent)
  Legacy.prototype.getName = function (options) {
    this.named++
    return Agent.prototype.getName.call(this, options)
  }
  function LegacySecure () { HttpsAgent.call(this, { maxFreeSockets: 3 }) }
  util.inherits(LegacySecure, HttpsAgent)
  const agent = new Legacy({ timeout: 1234 })
  const secure = new LegacySecure()
  assert.ok(agent instanceof Legacy && agent instanceof Agent && agent instanceof http.Agent)
  assert.ok(secure instanceof LegacySecure && secure instanceof https.Agent)
  assert.strictEqual(agent.maxSockets, 2)
  assert.strictEqual(agent.options.timeout, 1234)
  assert.strictEqual(secure.maxFreeSockets, 3)
  const server = http.createServer((req, res) => res.end('legacy'))
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    for (let i = 0; i < 2; i++) {
      const body = await new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: server.address().port, agent }, res => {
          let text = ''
          res.on('data', chunk => { text += chunk })
          res.on('end', () => resolve(text))
        }).on('error', reject)
      })
      assert.strictEqual(body, 'legacy')
    }
    // The prototype's override is the agent's, and the second request reused the first's connection.
    assert.ok(agent.named >= 2)
    assert.strictEqual(agent.createSocketCount, 1)
    // Called on an agent already made, it makes another, as without `new`.
    const another = Agent.call(agent, { maxSockets: 5 })
    assert.ok(another instanceof Agent && another !== agent)
    assert.strictEqual(agent.maxSockets, 2)
    another.destroy()
  } finally {
    agent.destroy()
    secure.destroy()
    server.close()
  }
})

test('constants: frozen, agentkeepalive\'s socket Symbols (the ones set on socket-face sockets)', () => {
  const { constants } = require('keepalive-agent')
  assert.ok(Object.isFrozen(constants))
  assert.deepStrictEqual(Object.keys(constants),
    ['SOCKET_CREATED_TIME', 'SOCKET_NAME', 'SOCKET_REQUEST_COUNT', 'SOCKET_REQUEST_FINISHED_COUNT'])
  assert.ok(Object.values(constants).every(v => typeof v === 'symbol'))
  assert.strictEqual(constants.CURRENT_ID, undefined)
})

test('the package name and the repository path load the same module', () => {
  assert.strictEqual(require('keepalive-agent'), require('..'))
  assert.strictEqual(require('keepalive-agent/package.json').name, 'keepalive-agent')
  assert.throws(() => require('keepalive-agent/lib/options'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' })
})

test('require.resolve(\'keepalive-agent/register\') gives register.js', () => {
  assert.strictEqual(require.resolve('keepalive-agent/register'), path.join(__dirname, '..', 'register.js'))
})

test('import() from CommonJS gives the class as default and every name', async () => {
  const ns = await import('keepalive-agent')
  const Agent = require('keepalive-agent')
  assert.strictEqual(ns.default, Agent)
  for (const name of NAMES) assert.strictEqual(ns[name], Agent[name], name)
})

/** Compiles `source` as TypeScript does for a CommonJS project and runs it; returns its `exports`. */
function runTypeScript (source, esModuleInterop) {
  const { outputText, diagnostics } = ts.transpileModule(source, {
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop }
  })
  assert.deepStrictEqual(diagnostics, [])
  const compiled = { exports: {} }
  new Function('require', 'module', 'exports', outputText)(require, compiled, compiled.exports)
  return compiled.exports
}

const TS_FORMS = `
import Agent from 'keepalive-agent'
import { Agent as Named, HttpsAgent } from 'keepalive-agent'
import * as ka from 'keepalive-agent'
import Assigned = require('keepalive-agent')
export const found = { Agent, Named, HttpsAgent, namespaceAgent: ka.Agent, namespaceDefault: ka.default, Assigned }
`

for (const esModuleInterop of [true, false]) {
  test(`TypeScript's CommonJS output, esModuleInterop ${esModuleInterop}: every import form reaches the class`, () => {
    const Agent = require('keepalive-agent')
    const { found } = runTypeScript(TS_FORMS, esModuleInterop)
    assert.deepStrictEqual(found, {
      Agent,
      Named: Agent,
      HttpsAgent: Agent.HttpsAgent,
      namespaceAgent: Agent,
      namespaceDefault: Agent,
      Assigned: Agent
    })
  })
}
