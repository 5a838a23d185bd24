// The ECMAScript-module forms of importing the package (through its own `exports` map): default, named
// and namespace imports all reach the Agent class that `require()` gives.

import { test } from 'node:test'
import assert from 'node:assert'
import http from 'node:http'
import https from 'node:https'
import { createRequire } from 'node:module'
import Agent from 'keepalive-agent'
import { Agent as Named, HttpAgent, HttpsAgent, constants, install } from 'keepalive-agent'
import * as ka from 'keepalive-agent'

const required = createRequire(import.meta.url)('keepalive-agent')

test('import Agent from: the class itself, the same one require() gives', () => {
  assert.strictEqual(Agent, required)
  const agent = new Agent()
  assert.ok(agent instanceof http.Agent)
  agent.destroy()
})

test('import { Agent, HttpAgent, HttpsAgent, constants, install } from: the named exports', () => {
  assert.strictEqual(Named, Agent)
  assert.strictEqual(install, required.install)
  assert.strictEqual(typeof install, 'function')
  assert.strictEqual(HttpAgent, Agent)
  assert.strictEqual(constants, required.constants)
  const secure = new HttpsAgent()
  assert.ok(secure instanceof https.Agent)
  assert.ok(secure instanceof Agent)
  secure.destroy()
})

test('import * as ka from: default and every name of require()', () => {
  assert.strictEqual(ka.default, Agent)
  for (const name of Object.keys(required)) assert.strictEqual(ka[name], required[name], name)
})

test('import.meta.resolve(\'keepalive-agent/register\') gives register.mjs', () => {
  assert.strictEqual(import.meta.resolve('keepalive-agent/register'), new URL('../register.mjs', import.meta.url).href)
})
