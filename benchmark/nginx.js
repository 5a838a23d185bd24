'use strict'
// nginx as the server under load: Debian's build, one worker, its own config and every path in a temp
// folder (so it runs as any user and touches nothing system-wide), run as a foreground child process.

const fs = require('node:fs')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { track } = require('./processes')
const { childPids } = require('./proc')
const { SMALL_BODY, POST_REPLY, largeBody } = require('./payloads')
const { sleep, waitForPort } = require('./net')

/** nginx's `return` text: a double-quoted string where \n is a newline escape. */
function quoted (text) {
  return JSON.stringify(text)
}

function config ({ dir, httpPort, httpsPort }) {
  const p = name => path.join(dir, name)
  return `
worker_processes 1;
daemon off;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;

events {
  # enough for the concurrency of 64 with room for the connection-per-request contender's churn
  worker_connections 4096;
}

http {
  access_log off;
  client_body_temp_path ${p('tmp/body')};
  proxy_temp_path ${p('tmp/proxy')};
  fastcgi_temp_path ${p('tmp/fastcgi')};
  uwsgi_temp_path ${p('tmp/uwsgi')};
  scgi_temp_path ${p('tmp/scgi')};
  default_type application/octet-stream;
  sendfile on;
  # a client may keep one connection for the whole run
  keepalive_requests 1000000;
  keepalive_timeout 65;

  server {
    listen 127.0.0.1:${httpPort};
    listen 127.0.0.1:${httpsPort} ssl;
    ssl_certificate ${p('cert.pem')};
    ssl_certificate_key ${p('key.pem')};
    ssl_protocols TLSv1.2 TLSv1.3;
    root ${p('www')};

    location = /small { return 200 ${quoted(SMALL_BODY)}; }
    location = /64k { }
    # \`return\` makes nginx read and discard the request body, so the connection stays usable
    location = /post {
      client_body_buffer_size 16k;
      client_max_body_size 1m;
      return 200 ${quoted(POST_REPLY)};
    }
  }
}
`
}

function version (binary) {
  // `nginx -v` prints "nginx version: nginx/1.22.1" to stderr
  const out = spawnSync(binary, ['-v'], { encoding: 'utf8' })
  return ((out.stderr || '') + (out.stdout || '')).trim().replace(/^nginx version: /, '') || 'nginx'
}

/** Starts nginx; resolves once both ports accept connections and its worker process is known. */
async function startNginx (binary, { dir, httpPort, httpsPort }) {
  // Started as root, nginx's worker drops to `nobody`: it must be able to read the static file.
  fs.chmodSync(dir, 0o755)
  for (const sub of ['www', 'tmp']) fs.mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o755 })
  fs.writeFileSync(path.join(dir, 'www', '64k'), largeBody())
  fs.writeFileSync(path.join(dir, 'nginx.conf'), config({ dir, httpPort, httpsPort }))
  const child = track(spawn(binary, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf')],
    { stdio: ['ignore', 'inherit', 'inherit'] }), 'SIGTERM')
  let exited = null
  child.once('exit', code => { exited = code })
  await waitForPort(httpPort, () => exited !== null)
  await waitForPort(httpsPort, () => exited !== null)
  if (exited !== null) throw new Error(`nginx exited with code ${exited}; see ${path.join(dir, 'error.log')}`)

  // nginx's master only supervises; the single worker does the serving, so that is the process to meter.
  let workers = []
  for (let i = 0; i < 50 && workers.length === 0; i++) {
    workers = childPids(child.pid)
    if (workers.length === 0) await sleep(20)
  }
  if (workers.length !== 1) throw new Error(`expected one nginx worker process, found ${workers.length}`)

  return {
    kind: 'nginx',
    label: `${version(binary)}, 1 worker`,
    meteredPid: workers[0],
    async stop () {
      if (exited !== null) return
      const gone = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      const stopped = await Promise.race([gone.then(() => true), sleep(5000).then(() => false)])
      if (!stopped) child.kill('SIGKILL')
    }
  }
}

module.exports = { startNginx }
