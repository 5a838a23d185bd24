'use strict'
// Turns measurements into the outputs: a markdown table per scenario (stdout and latest.md), latest.json,
// the SVG chart, and with BENCH_SAVE=1 the README-* copies meant to be committed.

const fs = require('node:fs')
const path = require('node:path')
const { median } = require('./stats')
const { chart } = require('./chart')
const { checkTargets, checkMemory, pairedRatio, goal } = require('./targets')

const RESULTS_DIR = path.join(__dirname, 'results')

/**
 * Median per metric over the rounds, and req/s against the baseline's: the median of the per-round ratios
 * with their range (see targets.js for why per round).
 */
function summarize (scenario) {
  for (const row of scenario.rows) {
    const done = row.rounds.filter(r => r !== null)
    row.errors = done.reduce((sum, r) => sum + r.errors, 0)
    row.firstError = done.find(r => r.firstError)?.firstError
    row.median = done.length
      ? Object.fromEntries(['rps', 'cpuUsPerReq', 'p50', 'p99', 'serverCpu'].map(k => [k, median(done.map(r => r[k]))]))
      : null
  }
  const base = scenario.rows.find(r => r.baseline)
  for (const row of scenario.rows) {
    if (!row.median) continue
    row.ratioRange = base ? pairedRatio(row, base, 'rps') : null
    row.median.ratio = row.ratioRange?.median ?? null
  }
  return scenario
}

const fixed = (v, digits) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–')
const signed = (v, digits) => (typeof v === 'number' && Number.isFinite(v) ? (v < 0 ? '' : '+') + v.toFixed(digits) : '–')
const grouped = v => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–')

function table (scenario) {
  const lines = [
    `### ${scenario.id}`,
    '',
    '| contender | req/s | vs node http.Agent | CPU µs/req | p50 ms | p99 ms | errors | server CPU % |',
    '|---|---:|---:|---:|---:|---:|---:|---:|'
  ]
  for (const row of scenario.rows) {
    const name = row.errors ? `${row.name} ⚠` : row.name
    if (!row.median) {
      lines.push(`| ${name} | ${row.failed || 'n/a'} | | | | | | |`)
      continue
    }
    const m = row.median
    const range = row.ratioRange?.rounds > 1 && !row.baseline ? ` (${fixed(row.ratioRange.min, 2)}–${fixed(row.ratioRange.max, 2)})` : ''
    lines.push(`| ${name} | ${grouped(m.rps)} | ${fixed(m.ratio, 2)}×${range} | ${fixed(m.cpuUsPerReq, 1)} | ` +
      `${fixed(m.p50, 3)} | ${fixed(m.p99, 3)} | ${row.errors} | ${fixed(m.serverCpu, 0)} |`)
  }
  const notes = scenario.rows.filter(r => r.failed || r.firstError)
  for (const row of notes) lines.push('', `- ${row.name}: ${row.failed ? 'failed: ' + row.failed : 'first error: ' + row.firstError}`)
  return lines.join('\n') + '\n'
}

function header (meta) {
  const s = meta.settings
  const atOne = s.secondsAtOne !== undefined && s.secondsAtOne !== s.seconds ? ` (${s.secondsAtOne} s with 1 in flight)` : ''
  const amount = s.requests ? `${s.requests} requests` : `${s.seconds} s${atOne}`
  return [
    '# keepalive-agent benchmark',
    '',
    `- ${meta.date} — ${meta.machine.cpu}, ${meta.machine.cores} cores, ${meta.machine.os}; Node ${meta.node}; ` +
      `keepalive-agent ${meta.package}`,
    `- server: ${meta.server}; ceiling: ${meta.wrk || 'wrk not installed'}`,
    `- each measurement: ${s.warmupSeconds} s warm-up (${s.firstWarmupSeconds} s for a worker's first), then ${amount} with C requests in flight (closed loop); ` +
      `contenders interleaved over ${s.rounds} round(s), each in its own process; median per contender; ` +
      `KEEPALIVE_AGENT_THREADS=${s.threads}`,
    '- req/s counts responses with status 200 and the exact body length; CPU µs/req is the client process\'s ' +
      'user+system time (all its threads) per request; server CPU % is the server process over the measurement, ' +
      'as % of one core (100 % would mean the server, not the client, set the pace)',
    ''
  ].join('\n')
}

/** "median (min–max)" of one figure over a row's rounds. */
function spread (row, key, digits) {
  const values = (row.rounds || [row]).map(r => r[key])
  if (values.length < 2) return fixed(row[key], digits)
  return `${fixed(row[key], digits)} (${fixed(Math.min(...values), digits)}–${fixed(Math.max(...values), digits)})`
}

function memorySection (memory) {
  if (!memory) return ''
  const lines = ['## Memory', '']
  if (memory.error) return lines.concat([`Memory test failed: ${memory.error}`, '']).join('\n')
  const rounds = memory.rounds > 1 ? `; median of ${memory.rounds} rounds (min–max)` : ''
  lines.push('RSS after `global.gc()`, each client in a fresh process, against a Node server in another process' +
    `${rounds}. The socket face is \`http.get\` through the agent. Anonymous RSS leaves out file-backed pages ` +
    '(the code of node and the addon that a burst pages in once; 0–4 MiB from run to run): it is what the ' +
    'connections and requests themselves cost.', '')
  lines.push('| measurement | client | result | detail |', '|---|---|---:|---|')
  for (const r of memory.idle) {
    lines.push(`| ${r.connections} idle pooled connections | ${r.client} | ${spread(r, 'anonKibPerConnection', 1)} KiB anonymous ` +
      `per connection just idle; ${spread(r, 'anonKibPerConnectionLater', 1)} KiB idle 2 s | RSS ${fixed(r.kibPerConnection, 1)} KiB ` +
      `per connection (${signed(r.rssDeltaMiB, 1)} MiB), heap ${signed(r.heapDeltaMiB, 1)} MiB, ${r.idle} idle / ${r.opened} opened |`)
  }
  for (const r of memory.queue) {
    lines.push(`| ${r.requested} queued requests (maxSockets 1) | ${r.client} | ${spread(r, 'anonDeltaMiB', 1)} MiB anonymous | ` +
      `RSS ${signed(r.rssDeltaMiB, 1)} MiB (${fixed(r.bytesPerRequest / 1024, 2)} KiB per request), ` +
      `heap ${signed(r.heapDeltaMiB, 1)} MiB, ${r.queued} queued; then ${r.outcome} |`)
  }
  return lines.join('\n') + '\n'
}

/** Whether a cell would print as its goal (1.00 against ≥ 1.0×) while its verdict says otherwise. */
function onTheGoal (target, cell) {
  return Number(fixed(cell.ratio.median, 2)) === (target.atLeast ?? target.atMost) && !cell.met
}

/** The targets as two tables (one per concurrency, a column per scenario), then the memory bounds. */
function targetsSection (scenarios, memory) {
  const rows = checkTargets(scenarios)
  const mem = checkMemory(memory)
  if (!rows.length && !mem.length) return ''
  const lines = ['## Targets', '',
    'Each cell: the median over rounds of our figure ÷ the peer\'s in the same round (range over rounds), ' +
    'against the goal; ✓ met, ✗ not. req/s goals are "at least", p50 and CPU goals "at most".', '']
  for (const concurrency of [...new Set(rows.map(r => r.target.concurrency))]) {
    const group = rows.filter(r => r.target.concurrency === concurrency)
    const columns = group[0].cells.map(c => `${c.scenario.protocol} ${c.scenario.payload}`)
    lines.push(`| c=${concurrency} | goal | ${columns.join(' | ')} |`, `|---|---|${columns.map(() => '---:').join('|')}|`)
    for (const { target, cells } of group) {
      const text = cells.map(c => c.ratio
        ? `${fixed(c.ratio.median, onTheGoal(target, c) ? 3 : 2)}${c.ratio.rounds > 1 ? ` (${fixed(c.ratio.min, 2)}–${fixed(c.ratio.max, 2)})` : ''} ${c.met ? '✓' : '✗'}`
        : '–')
      lines.push(`| ${target.what} | ${goal(target)} | ${text.join(' | ')} |`)
    }
    lines.push('')
  }
  for (const m of mem) lines.push(`- ${m.what}: ${fixed(m.value, 1)} (goal ≤ ${m.bound}; Node's agent ${fixed(m.node, 1)}) ${m.met ? '✓' : '✗'}`)
  return lines.join('\n') + '\n'
}

function markdown (results) {
  return [header(results.meta), ...results.scenarios.map(table), memorySection(results.memory),
    targetsSection(results.scenarios, results.memory), `Total run time: ${fixed(results.meta.totalSeconds, 0)} s\n`].join('\n')
}

/** Writes latest.{json,md,svg}; with `save`, also the README-* copies. Returns the written paths. */
function writeOutputs (results, { save }) {
  fs.mkdirSync(RESULTS_DIR, { recursive: true })
  const md = markdown(results)
  const svg = chart(results)
  const files = {
    'latest.json': JSON.stringify(results, null, 2) + '\n',
    'latest.md': md,
    'latest.svg': svg
  }
  if (save) {
    files['README-table.md'] = md
    files['README-chart.svg'] = svg
    files['README-results.json'] = files['latest.json']
  }
  return Object.entries(files).map(([name, text]) => {
    const file = path.join(RESULTS_DIR, name)
    fs.writeFileSync(file, text)
    return file
  })
}

module.exports = { summarize, table, header, memorySection, targetsSection, writeOutputs }
