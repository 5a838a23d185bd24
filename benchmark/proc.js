'use strict'
// CPU time of other processes from /proc (Linux): the server's share during a measurement, and wrk's own
// CPU from its parent shell's cutime/cstime.

const fs = require('node:fs')
const { execFileSync } = require('node:child_process')

let ticksPerSecond = null

function clockTicks () {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/** Fields of a /proc/<pid>/stat line after the command name (which may hold spaces): [0] is field 3. */
function statFields (line) {
  return line.slice(line.lastIndexOf(')') + 2).trim().split(' ')
}

/** utime+stime of `pid` in seconds, or null when it cannot be read (not Linux, process gone). */
function cpuSeconds (pid) {
  try {
    const f = statFields(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))
    return (Number(f[11]) + Number(f[12])) / clockTicks()
  } catch {
    return null
  }
}

/** cutime+cstime (CPU of waited-for children) in seconds from a stat line. */
function childrenCpuSeconds (statLine) {
  const f = statFields(statLine)
  return (Number(f[13]) + Number(f[14])) / clockTicks()
}

/** Pids whose parent is `pid` (nginx's workers), found by scanning /proc. */
function childPids (pid) {
  const found = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const f = statFields(fs.readFileSync(`/proc/${entry}/stat`, 'utf8'))
      if (Number(f[1]) === pid) found.push(Number(entry))
    } catch {}
  }
  return found
}

/** Samples a process's CPU now; `.share()` later gives its CPU as % of one core over the wall time between. */
function cpuMeter (pid) {
  const cpu0 = cpuSeconds(pid)
  const t0 = process.hrtime.bigint()
  return {
    share () {
      const cpu1 = cpuSeconds(pid)
      if (cpu0 === null || cpu1 === null) return null
      const wall = Number(process.hrtime.bigint() - t0) / 1e9
      return wall > 0 ? (100 * (cpu1 - cpu0)) / wall : null
    }
  }
}

module.exports = { childrenCpuSeconds, childPids, cpuMeter }
