'use strict'
// The platform name napi-rs gives this machine's binary (`keepalive-agent.<name>.node`, package
// `keepalive-agent-<name>`), for the load error in native.js and for scripts/build-native.js.

/** glibc or musl, as napi-rs's loader tells them apart (the C library Node itself runs on). */
function linuxLibc () {
  const header = process.report?.getReport?.().header
  return header?.glibcVersionRuntime ? 'gnu' : 'musl'
}

/** e.g. `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`. */
function platformName () {
  const { platform, arch } = process
  if (platform === 'linux') return arch === 'arm' ? `linux-arm-${linuxLibc()}eabihf` : `linux-${arch}-${linuxLibc()}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform === 'android') return arch === 'arm' ? 'android-arm-eabi' : `android-${arch}`
  return `${platform}-${arch}`
}

module.exports = { platformName }
