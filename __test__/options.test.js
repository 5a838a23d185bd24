'use strict'
// Construction: Node's option names and defaults (keepAlive true, freeSocketTimeout 4000), every
// invalid value refused with Node's code and a message naming the option as Node does (pool options as
// lib/_http_agent.js names them, connect and TLS options as `options.x`), unknown options ignored.

const { test } = require('node:test')
const assert = require('node:assert')
const { inspect } = require('node:util')
const http = require('node:http')
const https = require('node:https')
const { Agent, HttpsAgent } = require('..')

test('defaults follow Node, except keepAlive true (as agentkeepalive)', () => {
  const agent = new Agent()
  try {
    assert.strictEqual(agent.keepAlive, true)
    assert.strictEqual(agent.keepAliveMsecs, 1000)
    assert.strictEqual(agent.maxSockets, Infinity)
    assert.strictEqual(agent.maxTotalSockets, Infinity)
    assert.strictEqual(agent.maxFreeSockets, 256)
    assert.strictEqual(agent.scheduling, 'lifo')
    assert.ok(agent instanceof http.Agent)
  } finally {
    agent.destroy()
  }
  const secure = new HttpsAgent({ maxSockets: 3, scheduling: 'fifo', keepAlive: false, somethingUnknown: 1 })
  try {
    assert.ok(secure instanceof https.Agent)
    assert.ok(secure instanceof Agent)
    assert.strictEqual(secure.maxSockets, 3)
    assert.strictEqual(secure.scheduling, 'fifo')
    assert.strictEqual(secure.keepAlive, false)
    assert.strictEqual(secure.defaultPort, 443)
  } finally {
    secure.destroy()
  }
})

const invalid = [
  [{ maxSockets: 0 }, 'ERR_OUT_OF_RANGE', 'maxSockets'],
  [{ maxSockets: -1 }, 'ERR_OUT_OF_RANGE', 'maxSockets'],
  [{ maxSockets: 1.5 }, 'ERR_OUT_OF_RANGE', 'maxSockets'],
  [{ maxSockets: NaN }, 'ERR_OUT_OF_RANGE', 'maxSockets'],
  [{ maxSockets: 'x' }, 'ERR_INVALID_ARG_TYPE', 'maxSockets'],
  [{ maxTotalSockets: 0 }, 'ERR_OUT_OF_RANGE', 'maxTotalSockets'],
  [{ maxTotalSockets: '8' }, 'ERR_INVALID_ARG_TYPE', 'maxTotalSockets'],
  [{ maxFreeSockets: -1 }, 'ERR_OUT_OF_RANGE', 'maxFreeSockets'],
  [{ maxFreeSockets: {} }, 'ERR_INVALID_ARG_TYPE', 'maxFreeSockets'],
  [{ keepAlive: 'yes' }, 'ERR_INVALID_ARG_TYPE', 'keepAlive'],
  [{ keepAliveMsecs: -5 }, 'ERR_OUT_OF_RANGE', 'keepAliveMsecs'],
  [{ keepAliveMsecs: Infinity }, 'ERR_OUT_OF_RANGE', 'keepAliveMsecs'],
  [{ scheduling: 'random' }, 'ERR_INVALID_ARG_VALUE', 'scheduling'],
  [{ timeout: -1 }, 'ERR_OUT_OF_RANGE', 'timeout'],
  [{ timeout: 'soon' }, 'ERR_INVALID_ARG_VALUE', 'timeout'],
  [{ freeSocketTimeout: -1 }, 'ERR_OUT_OF_RANGE', 'freeSocketTimeout'],
  [{ socketActiveTTL: -1 }, 'ERR_OUT_OF_RANGE', 'socketActiveTTL'],
  [{ connectTimeout: -1 }, 'ERR_OUT_OF_RANGE', 'connectTimeout'],
  [{ queueTimeout: -1 }, 'ERR_OUT_OF_RANGE', 'queueTimeout'],
  [{ maxQueueSize: -1 }, 'ERR_OUT_OF_RANGE', 'maxQueueSize'],
  [{ rejectUnauthorized: 'false' }, 'ERR_INVALID_ARG_TYPE', 'rejectUnauthorized'],
  [{ servername: 5 }, 'ERR_INVALID_ARG_TYPE', 'servername'],
  [{ ca: 42 }, 'ERR_INVALID_ARG_TYPE', 'ca'],
  [{ cert: [true] }, 'ERR_INVALID_ARG_TYPE', 'cert'],
  [{ key: {} }, 'ERR_INVALID_ARG_TYPE', 'key'],
  [{ maxVersion: 'TLSv1.1' }, 'ERR_INVALID_ARG_VALUE', 'maxVersion'],
  [{ secureOptions: 'x' }, 'ERR_INVALID_ARG_TYPE', 'secureOptions'],
  [{ secureProtocol: 'SSLv3_method' }, 'ERR_INVALID_ARG_VALUE', 'secureProtocol'],
  [{ maxVersion: 'SSLv3' }, 'ERR_INVALID_ARG_VALUE', 'maxVersion'],
  [{ lookup: 5 }, 'ERR_INVALID_ARG_TYPE', 'lookup'],
  [{ checkServerIdentity: 'x' }, 'ERR_INVALID_ARG_TYPE', 'checkServerIdentity'],
  [{ localAddress: 'not-an-ip' }, 'ERR_INVALID_ARG_VALUE', 'localAddress'],
  [{ localAddress: 7 }, 'ERR_INVALID_ARG_TYPE', 'localAddress'],
  [{ localPort: 70000 }, 'ERR_OUT_OF_RANGE', 'localPort'],
  [{ family: 5 }, 'ERR_INVALID_ARG_VALUE', 'family'],
  [{ hints: 'x' }, 'ERR_INVALID_ARG_TYPE', 'hints'],
  [{ socketPath: 1 }, 'ERR_INVALID_ARG_TYPE', 'socketPath'],
  [{ autoSelectFamily: 'yes' }, 'ERR_INVALID_ARG_TYPE', 'autoSelectFamily'],
  [{ autoSelectFamilyAttemptTimeout: 'x' }, 'ERR_INVALID_ARG_TYPE', 'autoSelectFamilyAttemptTimeout']
]

// Connect and TLS options are named as net.connect and tls.connect name them.
const CONNECT = new Set(['lookup', 'checkServerIdentity', 'localAddress', 'localPort', 'family', 'hints', 'socketPath',
  'autoSelectFamily', 'autoSelectFamilyAttemptTimeout', 'rejectUnauthorized', 'servername', 'ca', 'cert', 'key',
  'minVersion', 'maxVersion', 'secureOptions', 'secureProtocol'])

for (const [options, code, name] of invalid) {
  test(`${inspect(options)} throws ${code} naming ${name}`, () => {
    for (const Ctor of [Agent, HttpsAgent]) {
      assert.throws(() => new Ctor(options), err => {
        assert.strictEqual(err.code, code)
        const named = CONNECT.has(name) ? `options.${name}` : name
        assert.ok(err.message.includes(`"${named}"`) || err.message.includes(`'${named}'`), err.message)
        return true
      })
    }
  })
}

test('agent.options holds what the caller gave, as Node\'s Agent keeps it (Node copies it into every request)', () => {
  for (const [Ours, Nodes, options] of [
    [Agent, http.Agent, { keepAlive: true, maxSockets: 1, timeout: 500, freeSocketTimeout: 100 }],
    [Agent, http.Agent, undefined],
    [HttpsAgent, https.Agent, { noDelay: false, rejectUnauthorized: false, maxCachedSessions: 5 }]
  ]) {
    const ours = new Ours(options)
    const nodes = new Nodes(options)
    try {
      assert.deepStrictEqual(ours.options, nodes.options)
      assert.strictEqual(ours.maxSockets, options?.maxSockets ?? Infinity)
    } finally {
      ours.destroy()
      nodes.destroy()
    }
  }
})

test('timeouts as agentkeepalive takes them: duration strings (\'30s\', \'1.5 min\', \'500\') and its older names for freeSocketTimeout', async () => {
  const made = []
  const agent = options => { const a = new Agent(options); made.push(a); return a }
  try {
    const strings = agent({ timeout: '2m', freeSocketTimeout: '1.5 s', socketActiveTTL: '1h' })
    assert.deepStrictEqual([strings.options.timeout, strings.options.freeSocketTimeout, strings.options.socketActiveTTL], [120000, 1500, 3600000])
    assert.deepStrictEqual([strings.timeout, strings.freeSocketKeepAliveTimeout, strings.socketActiveTTL], [120000, 1500, 3600000])
    assert.strictEqual(agent({ freeSocketTimeout: '500' }).freeSocketKeepAliveTimeout, 500)
    const defaults = agent()
    assert.deepStrictEqual([defaults.timeout, defaults.freeSocketKeepAliveTimeout, defaults.socketActiveTTL], [undefined, 4000, 0])
    // The older names win, as in agentkeepalive, and agent.options holds the value as freeSocketTimeout.
    for (const alias of ['keepAliveTimeout', 'freeSocketKeepAliveTimeout']) {
      const old = agent({ [alias]: '300ms', freeSocketTimeout: 10000 })
      assert.strictEqual(old.options.freeSocketTimeout, 300)
      assert.strictEqual(old.options[alias], undefined)
    }
    assert.throws(() => new Agent({ timeout: '5 parsecs' }), { code: 'ERR_INVALID_ARG_VALUE', message: "The argument 'timeout' must be a number of ms or a duration such as '30s'. Received '5 parsecs'" })
    assert.throws(() => new Agent({ freeSocketTimeout: '-1s' }), { code: 'ERR_OUT_OF_RANGE' })
    // The older name is the idle deadline: the idle connection is closed once it passes.
    const srv = http.createServer((req, res) => res.end('ok'))
    await new Promise(resolve => srv.listen(0, '127.0.0.1', resolve))
    try {
      const idle = agent({ keepAliveTimeout: '50ms' })
      const closed = new Promise(resolve => idle.once('free', socket => socket.once('close', resolve)))
      http.get(`http://127.0.0.1:${srv.address().port}/`, { agent: idle }, res => res.resume())
      await closed
      assert.deepStrictEqual(Object.keys(idle.freeSockets), [])
    } finally {
      srv.close()
    }
  } finally {
    for (const a of made) a.destroy()
  }
})

test('messages are Node\'s own, word for word', () => {
  const cases = [
    [{ maxTotalSockets: 0 }, 'The value of "maxTotalSockets" is out of range. It must be >= 1. Received 0'],
    [{ scheduling: 'x' }, 'The argument \'scheduling\' must be one of: \'fifo\', \'lifo\'. Received \'x\''],
    [{ lookup: 5 }, 'The "options.lookup" property must be of type function. Received type number (5)'],
    [{ family: 5 }, 'The property \'options.family\' must be one of: 0, 4, 6. Received 5'],
    [{ hints: 'x' }, 'The "options.hints" property must be of type number. Received type string (\'x\')']
  ]
  for (const [options, message] of cases) assert.throws(() => new Agent(options), { message })
})

test('options that are not an object throw ERR_INVALID_ARG_TYPE; null means none, as in Node', () => {
  for (const options of [5, 'x', true]) {
    assert.throws(() => new Agent(options), { code: 'ERR_INVALID_ARG_TYPE' })
  }
  const agent = new Agent(null)
  assert.strictEqual(agent.keepAlive, true)
  agent.destroy()
})

test('a bad certificate or key is refused with a code, not a crash', () => {
  assert.throws(() => new HttpsAgent({ ca: 'not a certificate' }), err => typeof err.code === 'string')
  assert.throws(() => new HttpsAgent({ cert: 'nope', key: 'nope' }), err => typeof err.code === 'string')
})
