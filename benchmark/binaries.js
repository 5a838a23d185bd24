'use strict'
// Finds the external programs the benchmark drives (nginx, wrk) on PATH and in the usual sbin folders.

const fs = require('node:fs')
const path = require('node:path')

const INSTALL_HINT = 'apt-get update && apt-get install -y nginx-light wrk'

function findBinary (name) {
  const dirs = (process.env.PATH || '').split(path.delimiter).concat(['/usr/sbin', '/usr/local/sbin', '/sbin'])
  for (const dir of dirs) {
    if (!dir) continue
    const candidate = path.join(dir, name)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      return candidate
    } catch {}
  }
  return null
}

module.exports = { findBinary, INSTALL_HINT }
