'use strict'
// The settings of one run, read once from the environment so every file sees the same numbers.

const { PAYLOADS } = require('./payloads')

const quick = process.env.BENCH_QUICK === '1'

function positive (name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`)
  return value
}

/** A comma-separated list of whole positive numbers, or null when unset. */
function counts (name) {
  const raw = process.env[name]
  if (!raw) return null
  return raw.split(',').map(part => {
    const value = Number(part)
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must list whole positive numbers, got ${JSON.stringify(raw)}`)
    return value
  })
}

function regex (name) {
  const raw = process.env[name]
  return raw ? new RegExp(raw, 'i') : null
}

const seconds = positive('BENCH_SECONDS', quick ? 0.2 : 0.8)

const settings = {
  quick,
  // Seconds of one measurement (after its warm-up). wrk only takes whole seconds, so it runs at least 1 s.
  seconds,
  // One request at a time, a measurement is longer: 0.8 s holds only a few thousand requests, so the JIT's
  // work and the VM's hiccups weigh on it (got through our agent against through Node's: 0.86, 0.82, 0.98x
  // over 0.8 s, 1.14, 1.00, 0.98x over 3 s; README.md, Performance), and the c=1 targets ask about +-10 %.
  secondsAtOne: positive('BENCH_SECONDS_AT_ONE', quick ? seconds : Math.max(2, seconds)),
  warmupSeconds: positive('BENCH_WARMUP_SECONDS', quick ? 0.05 : 0.2),
  // A worker's first measurement warms up longer: its JIT is cold and its pool empty. Later ones only
  // refill after the previous payload.
  firstWarmupSeconds: positive('BENCH_FIRST_WARMUP_SECONDS', quick ? 0.2 : 0.8),
  // A fixed number of requests per measurement instead of a duration (wrk still runs BENCH_SECONDS).
  requests: process.env.BENCH_REQUESTS ? Math.round(positive('BENCH_REQUESTS')) : undefined,
  rounds: Math.round(positive('BENCH_ROUNDS', quick ? 1 : 2)),
  save: process.env.BENCH_SAVE === '1',
  memory: process.env.BENCH_MEMORY !== '0',
  // Forces the Node fallback server even when nginx is installed (to check that path).
  forceNodeServer: process.env.BENCH_SERVER === 'node',
  threads: process.env.KEEPALIVE_AGENT_THREADS || '1',
  contenders: process.env.BENCH_CONTENDERS ? process.env.BENCH_CONTENDERS.split(',').map(s => s.trim()) : null,
  scenarioFilter: regex('BENCH_SCENARIOS'),
  concurrencies: counts('BENCH_CONCURRENCIES'),
  memoryConnections: Math.round(positive('BENCH_MEMORY_CONNECTIONS', quick ? 100 : 1000)),
  memoryQueued: Math.round(positive('BENCH_MEMORY_QUEUED', quick ? 1000 : 10000)),
  memoryRounds: Math.round(positive('BENCH_MEMORY_ROUNDS', quick ? 1 : 3))
}

/** Scenarios grouped by what a worker's client depends on (protocol, concurrency); payloads vary inside. */
function scenarioGroups () {
  const groups = []
  // The quick sanity run keeps every protocol and payload but only concurrency 64.
  const concurrencies = settings.concurrencies ?? (settings.quick && !settings.scenarioFilter ? [64] : [1, 64])
  for (const protocol of ['http', 'https']) {
    for (const concurrency of concurrencies) {
      const scenarios = PAYLOADS
        .map(payload => ({ id: `${protocol} c=${concurrency} ${payload.label}`, protocol, concurrency, payload }))
        .filter(s => !settings.scenarioFilter || settings.scenarioFilter.test(s.id))
      if (scenarios.length) groups.push({ protocol, concurrency, scenarios })
    }
  }
  return groups
}

module.exports = { settings, scenarioGroups }
