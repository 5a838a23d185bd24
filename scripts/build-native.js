#!/usr/bin/env node
'use strict'
// Builds the native addon from the Rust sources shipped in the package, for a platform without a
// prebuilt binary: `cargo build --release`, then the library is copied to `keepalive-agent.<platform>.node`
// beside binding.js, where napi-rs's loader looks first. Needs Rust (cargo) and a C compiler; no npm
// package. In a clone of the repository, `npm run build` does the same through @napi-rs/cli.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { platformName } = require('./platform.js')

const root = path.join(__dirname, '..')
const cargo = spawnSync('cargo', ['build', '--release', '--lib', '--message-format=json-render-diagnostics'], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024
})
if (cargo.error) {
  console.error(`keepalive-agent: cannot run cargo (${cargo.error.message}); install Rust from https://rustup.rs`)
  process.exit(1)
}
if (cargo.status !== 0) process.exit(cargo.status ?? 1)

// cargo names the built library in its `compiler-artifact` message (libkeepalive_agent.so, .dylib, .dll).
const library = cargo.stdout.split('\n')
  .filter(line => line.startsWith('{'))
  .map(line => JSON.parse(line))
  .filter(msg => msg.reason === 'compiler-artifact' && msg.target.kind.includes('cdylib'))
  .flatMap(msg => msg.filenames)
  .find(file => /\.(so|dylib|dll)$/.test(file))
if (!library) {
  console.error('keepalive-agent: cargo reported no cdylib artifact')
  process.exit(1)
}
const target = path.join(root, `keepalive-agent.${platformName()}.node`)
fs.copyFileSync(library, target)
console.log(`keepalive-agent: built ${target}`)
