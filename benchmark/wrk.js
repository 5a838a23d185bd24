'use strict'
// wrk as the ceiling: the same server, scenario and connection count driven by a C load generator. Run
// under a shell that prints its own /proc stat after wrk exits, whose cutime/cstime is wrk's CPU time.

const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { track } = require('./processes')
const { childrenCpuSeconds } = require('./proc')

const TIME_UNITS = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 }

function toMs (text) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text)
  return m ? Number(m[1]) * TIME_UNITS[m[2]] : null
}

function parse (out) {
  const num = re => { const m = re.exec(out); return m ? Number(m[1]) : 0 }
  const requests = num(/(\d+) requests in/)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const errors = num(/Non-2xx or 3xx responses: (\d+)/) +
    (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0)
  const latency = p => { const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out); return m ? toMs(m[1]) : null }
  const durationMatch = /requests in ([\d.]+)(us|ms|s|m|h)/.exec(out)
  const seconds = durationMatch ? Number(durationMatch[1]) * TIME_UNITS[durationMatch[2]] / 1000 : null
  return { requests, errors, seconds, rps: num(/Requests\/sec:\s+([\d.]+)/), p50: latency(50), p99: latency(99) }
}

/** Writes the Lua script that turns wrk's requests into the payload's POST. */
function script (dir, payload) {
  if (!payload.requestBytes) return []
  const file = path.join(dir, `wrk-${payload.id}.lua`)
  fs.writeFileSync(file, [
    `wrk.method = "${payload.method}"`,
    `wrk.body = string.rep("x", ${payload.requestBytes})`,
    'wrk.headers["Content-Type"] = "application/octet-stream"',
    ''
  ].join('\n'))
  return ['-s', file]
}

/** One wrk run; resolves to the same shape as a worker's result (plus wrk's own CPU per request). */
function runWrk (binary, { url, concurrency, seconds, payload, dir }) {
  const args = ['-t1', `-c${concurrency}`, `-d${seconds}s`, '--latency', ...script(dir, payload), url]
  const shell = 'wrk="$1"; shift; "$wrk" "$@"; status=$?; echo "@@stat $(cat /proc/$$/stat)"; exit $status'
  return new Promise((resolve, reject) => {
    const child = track(spawn('sh', ['-c', shell, 'sh', binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }))
    let out = ''
    child.stdout.on('data', d => { out += d })
    child.stderr.on('data', d => { out += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000)
    child.once('error', reject)
    child.once('exit', code => {
      clearTimeout(timer)
      const stat = /@@stat (.*)/.exec(out)
      if (code !== 0 || !stat) return reject(new Error(`wrk failed (exit ${code}): ${out.trim().slice(0, 300)}`))
      const r = parse(out)
      const ok = Math.max(0, r.requests - r.errors)
      resolve({
        ok,
        errors: r.errors,
        firstError: r.errors ? 'non-2xx responses or socket errors (see wrk output)' : undefined,
        seconds: r.seconds,
        rps: r.seconds ? ok / r.seconds : r.rps,
        cpuUsPerReq: ok ? (childrenCpuSeconds(stat[1]) * 1e6) / ok : null,
        p50: r.p50,
        p99: r.p99
      })
    })
  })
}

module.exports = { runWrk }
