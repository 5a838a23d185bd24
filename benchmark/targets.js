'use strict'
// The performance targets the project holds itself to (issue "Performance: never slower than what it
// replaces"), checked against one run.
//
// A target compares two contenders of the same scenario. On this shared 2-core VM one contender's req/s
// moves ±30 % from round to round, and the machine drifts: a ratio of two medians can pair one contender's
// good round with the other's bad one. Within a round the two ran seconds apart, so each target is judged
// on the median of the per-round ratios, shown with their range.

const { median } = require('./stats')

/**
 * `ours` / `peer` in `metric`, per round; `atLeast` or `atMost` is the goal for that quotient. Latency and
 * CPU targets are "at most" (lower is better), req/s ones "at least".
 */
const TARGETS = [
  { what: 'socket face req/s vs Node\'s agent', ours: 'ka-http', peer: 'node-http', metric: 'rps', concurrency: 1, atLeast: 1.0 },
  { what: 'socket face p50 vs Node\'s agent', ours: 'ka-http', peer: 'node-http', metric: 'p50', concurrency: 1, atMost: 1.0 },
  { what: 'socket face req/s vs Node\'s agent', ours: 'ka-http', peer: 'node-http', metric: 'rps', concurrency: 64, atLeast: 2.5 },
  ...['axios', 'got', 'node-fetch'].flatMap(lib => [1, 64].map(concurrency => (
    { what: `${lib} req/s, our agent vs Node's`, ours: `ka-${lib}`, peer: lib, metric: 'rps', concurrency, atLeast: 1.0 }))),
  { what: 'Promise face p50 vs undici request()', ours: 'ka-request', peer: 'undici-request', metric: 'p50', concurrency: 1, atMost: 1.0 },
  { what: 'Promise face req/s vs undici request()', ours: 'ka-request', peer: 'undici-request', metric: 'rps', concurrency: 64, atLeast: 1.5 },
  ...[1, 64].map(concurrency => (
    { what: 'Promise face CPU µs/req vs wrk', ours: 'ka-request', peer: 'wrk', metric: 'cpuUsPerReq', concurrency, atMost: 2.0 })),
  { what: 'fetch + our agent req/s vs global fetch', ours: 'ka-fetch', peer: 'global-fetch', metric: 'rps', concurrency: 1, atLeast: 1.5 },
  { what: 'fetch + our agent req/s vs global fetch', ours: 'ka-fetch', peer: 'global-fetch', metric: 'rps', concurrency: 64, atLeast: 3.0 }
]

/** Memory goals: the figure of each face against a bound, in the memory test's units (Node's agent's beside it). */
const MEMORY_TARGETS = [
  { what: 'idle pooled connection, KiB anonymous RSS', section: 'idle', key: 'anonKibPerConnection', atMost: 16 },
  { what: '10,000 queued requests, MiB anonymous RSS', section: 'queue', key: 'anonDeltaMiB', atMost: 20 }
]
const FACES = [['ka-request', 'Promise face'], ['ka-http', 'socket face']]

/** Per-round `a / b` of one metric, over the rounds both finished; null when none did. */
function pairedRatio (a, b, metric) {
  const ratios = []
  for (let i = 0; i < Math.min(a.rounds.length, b.rounds.length); i++) {
    const x = a.rounds[i]?.[metric]
    const y = b.rounds[i]?.[metric]
    if (Number.isFinite(x) && Number.isFinite(y) && y > 0) ratios.push(x / y)
  }
  if (ratios.length === 0) return null
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), rounds: ratios.length }
}

const met = (target, value) => target.atLeast !== undefined ? value >= target.atLeast : value <= target.atMost
const goal = target => target.atLeast !== undefined ? `≥ ${target.atLeast.toFixed(1)}×` : `≤ ${target.atMost.toFixed(1)}×`

/**
 * Every target checked against the run's scenarios: one row per target, one cell per scenario of its
 * concurrency ({ ratio, met } or null where a contender was not measured).
 */
function checkTargets (scenarios) {
  return TARGETS.map(target => {
    const cells = scenarios.filter(s => s.concurrency === target.concurrency).map(s => {
      const ours = s.rows.find(r => r.id === target.ours)
      const peer = s.rows.find(r => r.id === target.peer)
      const ratio = ours && peer ? pairedRatio(ours, peer, target.metric) : null
      return { scenario: s, ratio, met: ratio ? met(target, ratio.median) : null }
    })
    return { target, cells }
  }).filter(row => row.cells.some(c => c.ratio))
}

function checkMemory (memory) {
  if (!memory || memory.error) return []
  return MEMORY_TARGETS.flatMap(target => FACES.map(([id, face]) => {
    const value = memory[target.section]?.find(r => r.id === id)?.[target.key]
    const node = memory[target.section]?.find(r => r.id === 'node-http')?.[target.key]
    return Number.isFinite(value) ? { what: `${face}: ${target.what}`, value, node, bound: target.atMost, met: value <= target.atMost } : null
  }).filter(Boolean))
}

/**
 * The order to measure `ids` in within a round: as given, except that each contender is followed at once
 * by the peers its targets compare it with (and they by theirs), so that the two figures of a target's
 * ratio are taken seconds apart, one after the other. Rounds alternate the direction, so each of a pair
 * goes first as often as the other: on this VM a process measured right after another runs faster.
 */
function runOrder (ids) {
  const partners = new Map()
  const link = (a, b) => partners.set(a, [...(partners.get(a) ?? []), b])
  for (const t of TARGETS) {
    link(t.ours, t.peer)
    link(t.peer, t.ours)
  }
  const order = []
  const place = id => {
    if (order.includes(id) || !ids.includes(id)) return
    order.push(id)
    for (const partner of partners.get(id) ?? []) place(partner)
  }
  for (const id of ids) place(id)
  return order.map(id => ids.indexOf(id))
}

module.exports = { checkTargets, checkMemory, pairedRatio, goal, runOrder }
