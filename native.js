'use strict'
// Loads the addon through napi-rs's generated loader (binding.js), which looks for
// `keepalive-agent.<platform>.node` beside it, then for the package `keepalive-agent-<platform>`. When
// neither loads, the error says which platform that was and how to build the binary from source.

const path = require('node:path')

function noBinaryError (cause) {
  const { platformName } = require('./scripts/platform.js')
  const { optionalDependencies } = require('./package.json')
  const name = platformName()
  const prebuilt = Object.keys(optionalDependencies).map(pkg => pkg.replace('keepalive-agent-', '')).join(', ')
  const build = path.join(__dirname, 'scripts', 'build-native.js')
  const error = new Error(
    `keepalive-agent: no native binary loads on this platform (${name}). ` +
    `Looked for ${path.join(__dirname, `keepalive-agent.${name}.node`)} and the package keepalive-agent-${name}. ` +
    `Prebuilt packages exist for: ${prebuilt}; if yours is one, reinstall without --no-optional/--omit=optional. ` +
    `To build it from source, install Rust 1.88+ (https://rustup.rs) and a C compiler, then run: node ${build} ` +
    '(in a clone of the repository: npm install, which runs npm run build)'
  )
  error.code = 'ERR_DLOPEN_FAILED'
  error.cause = cause
  return error
}

try {
  module.exports = require('./binding.js')
} catch (err) {
  throw noBinaryError(err)
}
