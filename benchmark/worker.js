'use strict'
// A worker process: holds one contender's client and, on the parent's command, runs closed-loop
// measurements (C requests always in flight). Being its own process, its process.cpuUsage() is the
// client's CPU alone, all threads included (libuv's and the addon's tokio thread).

const { performance } = require('node:perf_hooks')
const { contenders } = require('./contenders')
const { percentile } = require('./stats')
const { requestBody } = require('./payloads')

// Bounds on one phase besides its duration: requests (keeps the latency array bounded) and, when a
// request count is asked instead of a duration, time.
const MAX_REQUESTS = 5_000_000
const COUNT_MODE_MAX_MS = 120_000

let client = null
let setup = null

function describe (err) {
  if (!(err instanceof Error)) return String(err)
  const cause = err.cause instanceof Error ? ` (cause: ${err.cause.code || ''} ${err.cause.message})` : ''
  return `${err.code ? err.code + ': ' : ''}${err.message}${cause}`
}

function fail (state, message) {
  state.errors++
  if (state.firstError === undefined) state.firstError = message
}

async function lane (request, expected, state, deadline, limit) {
  while (state.started < limit && performance.now() < deadline) {
    state.started++
    const t0 = performance.now()
    try {
      const { status, length } = await client.send(request)
      if (status === 200 && length === expected) {
        state.ok++
        state.latencies.push(performance.now() - t0)
      } else {
        fail(state, `status ${status} with ${length} body bytes (expected 200 with ${expected})`)
      }
    } catch (err) {
      fail(state, describe(err))
    }
  }
}

async function phase (request, expected, { durationMs, count }) {
  const state = { started: 0, ok: 0, errors: 0, firstError: undefined, latencies: [] }
  const deadline = performance.now() + (count ? COUNT_MODE_MAX_MS : durationMs)
  const limit = count ?? MAX_REQUESTS
  const lanes = []
  for (let i = 0; i < setup.concurrency; i++) lanes.push(lane(request, expected, state, deadline, limit))
  await Promise.all(lanes)
  return state
}

async function measure ({ payload, warmupMs, durationMs, count }) {
  const request = {
    url: setup.origin + payload.path,
    path: payload.path,
    method: payload.method,
    body: requestBody(payload)
  }
  await phase(request, payload.responseBytes, { durationMs: warmupMs })
  process.send({ type: 'started' })
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  const state = await phase(request, payload.responseBytes, { durationMs, count })
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  const sorted = Float64Array.from(state.latencies).sort()
  return {
    ok: state.ok,
    errors: state.errors,
    firstError: state.firstError,
    seconds,
    rps: state.ok / seconds,
    cpuUsPerReq: state.ok ? (cpu.user + cpu.system) / state.ok : null,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99)
  }
}

async function handle (msg) {
  if (msg.type === 'setup') {
    setup = msg.setup
    client = contenders.find(c => c.id === msg.contender).create(setup)
    process.send({ type: 'ready' })
  } else if (msg.type === 'measure') {
    process.send({ type: 'result', result: await measure(msg) })
  } else if (msg.type === 'close') {
    await client?.close()
    process.exit(0)
  }
}

process.on('message', msg => {
  handle(msg).catch(err => {
    process.send({ type: 'fatal', error: describe(err) })
  })
})
process.on('disconnect', () => process.exit(0)) // never outlive the parent
