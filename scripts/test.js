#!/usr/bin/env node
'use strict'
// Runs the JS test suite, every __test__/*.test.js and *.test.mjs (so a new file is picked up by itself),
// under each supported Node major in turn (scripts/node-binaries.js), then type-checks the TypeScript
// consumers. Node's `--test` is given the files: Node 22 and 24 read a folder argument as a module.
// The socket face's key suites run twice more per major, with the fd and then the pipe carrier forced.
// Usage: node scripts/test.js [major ...]   (default: 20 22 24)

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { nodeBinary } = require('./node-binaries.js')

const root = path.join(__dirname, '..')
const majors = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [20, 22, 24]
const testDir = path.join(root, '__test__')
const files = fs.readdirSync(testDir).filter(f => /\.test\.m?js$/.test(f)).sort().map(f => path.join('__test__', f))
const typeProjects = ['__test__/types/tsconfig.json', '__test__/types/tsconfig.nodenext.json']
// The socket face carries a connection by its fd or by Rust's pipe, chosen by load (lib/sockets.js): its
// key suites run again with each carrier forced, so both see every case. (The Promise face's exchanges
// always take the fd, lib/exchange.js.)
const carrierFiles = ['socket-fidelity', 'socket-face', 'libraries'].map(f => path.join('__test__', `${f}.test.js`))

function run (label, command, args, env = process.env) {
  const started = Date.now()
  const { status, error } = spawnSync(command, args, { cwd: root, stdio: 'inherit', env })
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  const ok = status === 0 && !error
  console.log(`# ${label}: ${ok ? 'passed' : `FAILED (${error ? error.message : `exit ${status}`})`} in ${seconds} s`)
  return { label, ok, seconds }
}

const results = []
for (const major of majors) {
  const node = nodeBinary(major)
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()
  // Child processes a test spawns by name (npm, node) run on the Node under test too.
  const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}` }
  results.push(run(`JS tests on Node ${version} (${files.length} files)`, node, ['--test', '--test-timeout=180000', ...files], env))
  for (const carrier of ['fd', 'pipe']) {
    results.push(run(`carrier tests on Node ${version}, ${carrier} carrier`, node, ['--test', '--test-timeout=180000', ...carrierFiles],
      { ...env, KEEPALIVE_AGENT_SOCKET_CARRIER: carrier }))
  }
}
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
for (const project of typeProjects) results.push(run(`tsc --noEmit -p ${project}`, process.execPath, [tsc, '--noEmit', '-p', project]))

console.log('# summary')
for (const { label, ok, seconds } of results) console.log(`#   ${ok ? 'ok  ' : 'FAIL'} ${label} (${seconds} s)`)
process.exitCode = results.every(r => r.ok) ? 0 : 1
