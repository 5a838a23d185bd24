'use strict'
// A self-signed certificate for localhost and 127.0.0.1, made by a plain `openssl req -x509` (which marks
// it as a CA, as most hand-made certificates are): the case `ca` must accept as Node's https.Agent does.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

function selfSigned ({ days = 2, cn = 'localhost' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keepalive-agent-tls-'))
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', String(days)],
    { stdio: 'ignore' })
    return {
      key: fs.readFileSync(path.join(dir, 'key.pem')),
      cert: fs.readFileSync(path.join(dir, 'cert.pem'))
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

module.exports = { selfSigned }
