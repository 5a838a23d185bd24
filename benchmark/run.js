'use strict'
// `npm run bench`: starts the server (nginx, or a Node fallback), then for each scenario measures every
// contender in its own worker process, interleaved over rounds, prints a markdown table per scenario,
// runs the memory test and writes benchmark/results/. Settings: see config.js and README.md.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { settings, scenarioGroups } = require('./config')
const { installExitHandlers, atExit, killAll } = require('./processes')
const { startServer, verifyServer, writeTls } = require('./server')
const { findBinary, INSTALL_HINT } = require('./binaries')
const { contenders, WRK } = require('./contenders')
const { Worker } = require('./clients')
const { runWrk } = require('./wrk')
const { cpuMeter } = require('./proc')
const { measureMemory } = require('./memory')
const { summarize, table, header, memorySection, targetsSection, writeOutputs } = require('./report')
const { runOrder } = require('./targets')
const { selfSigned } = require('../examples/certs')

const log = text => process.stderr.write(text + '\n')

function wrkVersion (binary) {
  const out = require('node:child_process').spawnSync(binary, ['-v'], { encoding: 'utf8' })
  return ((out.stdout || '') + (out.stderr || '')).split('\n')[0].replace(/ Copyright.*/, '').trim()
}

/** Which code was measured: the package version, its git commit, and whether the sources were modified. */
function packageState () {
  const root = path.join(__dirname, '..')
  const git = args => require('node:child_process').spawnSync('git', args, { cwd: root, encoding: 'utf8' })
  const commit = git(['rev-parse', '--short', 'HEAD']).stdout?.trim()
  const dirty = git(['status', '--porcelain', '--', 'index.js', 'lib', 'src']).stdout?.trim()
  const version = require('../package.json').version
  return commit ? `${version} (${commit}${dirty ? ', with uncommitted changes' : ''})` : version
}

function chosenContenders () {
  if (!settings.contenders) return contenders
  const unknown = settings.contenders.filter(id => id !== 'wrk' && !contenders.some(c => c.id === id))
  if (unknown.length) throw new Error(`unknown contender(s) in BENCH_CONTENDERS: ${unknown.join(', ')}`)
  return contenders.filter(c => settings.contenders.includes(c.id))
}

/** How long a measurement of `scenario` lasts (see `secondsAtOne` in config.js). */
function secondsOf (scenario) {
  return scenario.concurrency === 1 ? settings.secondsAtOne : settings.seconds
}

/** One measurement of one contender; server CPU is metered from the end of the warm-up to the result. */
async function measureOne (entry, scenario, ctx) {
  let meter = null
  if (entry.worker) {
    const result = await entry.worker.measure({
      payload: scenario.payload,
      warmupMs: (entry.measured++ ? settings.warmupSeconds : settings.firstWarmupSeconds) * 1000,
      durationMs: secondsOf(scenario) * 1000,
      count: settings.requests
    }, () => { meter = cpuMeter(ctx.server.meteredPid) })
    return { ...result, serverCpu: meter?.share() ?? null }
  }
  meter = cpuMeter(ctx.server.meteredPid)
  const result = await runWrk(ctx.wrk, {
    url: ctx.server.origins[scenario.protocol] + scenario.payload.path,
    concurrency: scenario.concurrency,
    seconds: Math.max(1, Math.round(secondsOf(scenario))),
    payload: scenario.payload,
    dir: ctx.dir
  })
  return { ...result, serverCpu: meter.share() }
}

async function runGroup (group, ctx) {
  const { protocol, concurrency } = group
  const setup = { protocol, origin: ctx.server.origins[protocol], ca: protocol === 'https' ? ctx.ca : undefined, concurrency }
  const entries = ctx.contenders.map(c => ({
    contender: c,
    measured: 0,
    worker: new Worker(c, setup, c.needsCaFile && protocol === 'https' ? { NODE_EXTRA_CA_CERTS: ctx.caFile } : {})
  }))
  if (ctx.wrk) entries.unshift({ contender: WRK, worker: null })
  await Promise.all(entries.map(e => e.worker?.ready().catch(err => log(`  ${e.contender.name}: setup failed: ${err.message}`))))
  const done = []
  // Pairs compared by a target side by side (targets.js); odd rounds run in reverse order, so no
  // contender always follows the same neighbour.
  const forward = runOrder(entries.map(e => e.contender.id))
  const backward = [...forward].reverse()
  try {
    for (const s of group.scenarios) {
      const rows = entries.map(e => ({ id: e.contender.id, name: e.contender.name, baseline: !!e.contender.baseline, failed: null, rounds: [] }))
      for (let round = 0; round < settings.rounds; round++) {
        for (const i of round % 2 ? backward : forward) {
          const entry = entries[i]
          const row = rows[i]
          if (entry.worker?.failure) {
            row.failed = entry.worker.failure
            row.rounds.push(null)
            continue
          }
          try {
            const r = await measureOne(entry, s, ctx)
            row.rounds.push(r)
            log(`  ${s.id} round ${round + 1} ${entry.contender.name}: ${Math.round(r.rps)} req/s` +
              (r.errors ? `, ${r.errors} errors (${r.firstError})` : ''))
          } catch (err) {
            row.failed = err.message
            row.rounds.push(null)
            log(`  ${s.id} round ${round + 1} ${entry.contender.name}: FAILED ${err.message}`)
          }
        }
      }
      const scenario = summarize({ id: s.id, protocol, concurrency, payload: s.payload.label, rows })
      process.stdout.write('\n' + table(scenario))
      done.push(scenario)
    }
  } finally {
    await Promise.all(entries.map(e => e.worker?.close()))
  }
  return done
}

async function main () {
  installExitHandlers()
  const startedAt = Date.now()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keepalive-agent-bench-'))
  atExit(() => fs.rmSync(dir, { recursive: true, force: true }))
  let server = null
  try {
    const tls = selfSigned()
    const caFile = writeTls(dir, tls)
    server = await startServer({ dir, forceNode: settings.forceNodeServer })
    const ca = tls.cert.toString()
    await verifyServer(server, ca)
    const wrk = findBinary('wrk')
    if (!wrk) log(`wrk not found: ${INSTALL_HINT}\nThe wrk ceiling row is skipped.`)

    const meta = {
      date: new Date().toISOString(),
      machine: { cpu: os.cpus()[0]?.model?.trim() || 'unknown CPU', cores: os.cpus().length, os: `${os.type()} ${os.release()}` },
      node: process.version,
      package: packageState(),
      server: server.label,
      wrk: wrk ? wrkVersion(wrk) : null,
      settings: { seconds: settings.seconds, secondsAtOne: settings.secondsAtOne, warmupSeconds: settings.warmupSeconds, firstWarmupSeconds: settings.firstWarmupSeconds, requests: settings.requests ?? null, rounds: settings.rounds, threads: settings.threads, quick: settings.quick },
      contenders: [...(wrk ? [WRK] : []), ...chosenContenders()].map(({ id, name, about }) => ({ id, name, about }))
    }
    process.stdout.write(header(meta))
    log(`server: ${server.label} — http ${server.origins.http}, https ${server.origins.https}`)

    const ctx = { server, ca, caFile, dir, wrk: settings.contenders && !settings.contenders.includes('wrk') ? null : wrk, contenders: chosenContenders() }
    const scenarios = []
    for (const group of scenarioGroups()) scenarios.push(...await runGroup(group, ctx))

    let memory = null
    if (settings.memory) {
      log('memory test…')
      try {
        memory = await measureMemory()
      } catch (err) {
        memory = { error: err.message }
      }
      process.stdout.write('\n' + memorySection(memory))
    }
    process.stdout.write('\n' + targetsSection(scenarios, memory))

    meta.totalSeconds = (Date.now() - startedAt) / 1000
    const files = writeOutputs({ meta, scenarios, memory }, { save: settings.save })
    process.stdout.write(`\nTotal run time: ${meta.totalSeconds.toFixed(0)} s\n`)
    log(`wrote ${files.map(f => path.relative(process.cwd(), f)).join(', ')}`)
  } finally {
    await server?.stop()
    killAll() // the workers, and the temp folder through atExit
  }
}

main().catch(err => {
  console.error(err)
  process.exitCode = 1
})
