'use strict'
// Every child process the benchmark starts is recorded here and signalled when the run ends, however it
// ends (normal exit, a thrown error, Ctrl-C), so no nginx, server or worker outlives the run.

const children = new Map()
const cleanups = []

/** Registers a synchronous clean-up (e.g. removing the temp folder) that also runs on Ctrl-C. */
function atExit (fn) {
  cleanups.push(fn)
}

/** Records `child`; `signal` is what stops it (nginx wants SIGTERM so its master also stops its worker). */
function track (child, signal = 'SIGKILL') {
  children.set(child, signal)
  child.once('exit', () => children.delete(child))
  return child
}

function killAll () {
  for (const [child, signal] of children) {
    try { child.kill(signal) } catch {}
  }
  children.clear()
  for (const fn of cleanups.splice(0)) {
    try { fn() } catch {}
  }
}

function installExitHandlers () {
  process.once('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping child processes\n`)
      killAll()
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1))
    })
  }
}

module.exports = { track, atExit, killAll, installExitHandlers }
