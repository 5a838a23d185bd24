'use strict'
// A self-signed certificate for localhost and 127.0.0.1, made by a plain `openssl req -x509` (which marks
// it as a CA, as most hand-made certificates are): the case `ca` must accept as Node's https.Agent does.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const SAN = 'subjectAltName=DNS:localhost,IP:127.0.0.1'

/** Runs `make(dir, openssl)` in a temporary folder and returns its key.pem and cert.pem. */
function inTempDir (make) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keepalive-agent-tls-'))
  const openssl = args => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
  try {
    make(openssl, dir)
    return { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * `san: false` makes what a bare `openssl req -x509 -subj /CN=localhost` makes: a name in the CN only;
 * `ec: true` a P-256 key instead of RSA; `bits` the RSA key's size (2048).
 */
function selfSigned ({ days = 2, cn = 'localhost', san = true, ec = false, bits = 2048 } = {}) {
  const key = ec ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', `rsa:${bits}`]
  return inTempDir(openssl => openssl(['req', '-x509', ...key, '-nodes', '-sha256',
    '-keyout', 'key.pem', '-out', 'cert.pem', '-subj', `/CN=${cn}`, ...(san ? ['-addext', SAN] : []), '-days', String(days)]))
}

/** Writes what `openssl ca` needs in `dir`: its config (extensions copied from the request), database and serial. */
function caFiles (dir) {
  fs.writeFileSync(path.join(dir, 'index.txt'), '')
  fs.writeFileSync(path.join(dir, 'serial'), '01\n')
  fs.writeFileSync(path.join(dir, 'ca.cnf'), [
    '[ ca ]', 'default_ca = CA_default', '[ CA_default ]', 'database = index.txt', 'new_certs_dir = .',
    'serial = serial', 'default_md = sha256', 'policy = policy_any', 'copy_extensions = copy',
    '[ policy_any ]', 'commonName = supplied', ''
  ].join('\n'))
}

/** Dates of 2020 for `openssl ca` (the command that takes explicit dates). */
const IN_2020 = ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z']

/**
 * A CA and a certificate for localhost and 127.0.0.1 signed by it, as a company CA issues them.
 * - `versionOne: true` leaves the leaf without extensions, which makes it X.509 v1 with its name in the CN
 *   only (what the usual `openssl x509 -req -CA ca.pem -CAkey ca-key.pem` recipe makes);
 * - `leafExtensions`: more extension lines for the leaf (`'extendedKeyUsage=clientAuth'`);
 * - `ca: 'v1'` makes the CA a self-signed X.509 v1 root, `ca: 'expired'` one that expired in 2020;
 * - `caExtensions`: `-addext` values for the CA (`'basicConstraints=critical,CA:FALSE'` makes it no CA);
 * - `cn`, and `san: false` to leave the leaf's name in its CN alone;
 * - `digest`: what the CA signs the leaf with (`'sha1'`, which OpenSSL refuses in chains; `'sha256'`).
 */
function issued ({ versionOne = false, leafExtensions = [], ca: kind = 'v3', caExtensions = [], cn = 'localhost', san = true, digest = 'sha256' } = {}) {
  let ca
  const leaf = inTempDir((openssl, dir) => {
    const caRequest = ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca-csr.pem', '-subj', '/CN=Test Company CA']
    if (kind === 'v1') {
      openssl(caRequest)
      openssl(['x509', '-req', '-in', 'ca-csr.pem', '-signkey', 'ca-key.pem', '-sha256', '-days', '2', '-out', 'ca.pem'])
    } else if (kind === 'expired') {
      caFiles(dir)
      openssl([...caRequest, '-addext', 'basicConstraints=critical,CA:TRUE'])
      openssl(['ca', '-batch', '-config', 'ca.cnf', '-selfsign', '-keyfile', 'ca-key.pem', '-in', 'ca-csr.pem', '-out', 'ca.pem', ...IN_2020])
    } else {
      openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-keyout', 'ca-key.pem', '-out', 'ca.pem',
        '-subj', '/CN=Test Company CA', '-days', '2', ...caExtensions.flatMap(ext => ['-addext', ext])])
    }
    openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'csr.pem', '-subj', `/CN=${cn}`])
    fs.writeFileSync(path.join(dir, 'leaf.cnf'), [...(san ? [SAN] : []), ...leafExtensions, ''].join('\n'))
    openssl(['x509', '-req', '-in', 'csr.pem', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', `-${digest}`,
      '-days', '2', ...(versionOne ? [] : ['-extfile', 'leaf.cnf']), '-out', 'cert.pem'])
    ca = fs.readFileSync(path.join(dir, 'ca.pem'))
  })
  return { ...leaf, ca }
}

/**
 * A root CA, an intermediate CA it issued, and a certificate for localhost and 127.0.0.1 the intermediate
 * issued, as public CAs issue them: `key` and `cert` (the leaf), `intermediate` and `root` (PEM).
 */
function chained () {
  let intermediate
  let root
  const leaf = inTempDir((openssl, dir) => {
    fs.writeFileSync(path.join(dir, 'ext.cnf'), ['[ca]', 'basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign',
      '[leaf]', SAN, ''].join('\n'))
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-keyout', 'root-key.pem', '-out', 'root.pem',
      '-subj', '/CN=Test Root CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE'])
    const issue = (name, cn, ca, extensions) => {
      openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name === 'cert' ? '' : `${name}-`}key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`])
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`, '-CAcreateserial', '-sha256',
        '-days', '2', '-extfile', 'ext.cnf', '-extensions', extensions, '-out', `${name}.pem`])
    }
    issue('intermediate', 'Test Intermediate CA', 'root', 'ca')
    issue('cert', 'localhost', 'intermediate', 'leaf')
    intermediate = fs.readFileSync(path.join(dir, 'intermediate.pem'))
    root = fs.readFileSync(path.join(dir, 'root.pem'))
  })
  return { ...leaf, intermediate, root }
}

/**
 * A self-signed certificate that expired in 2020 (`notYet: true`: one valid from 2099 on; `versionOne:
 * true`: X.509 v1, without extensions, its name in the CN only).
 */
function expired ({ notYet = false, versionOne = false } = {}) {
  return inTempDir((openssl, dir) => {
    caFiles(dir)
    openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'csr.pem',
      '-subj', '/CN=localhost', ...(versionOne ? [] : ['-addext', SAN])])
    openssl(['ca', '-batch', '-config', 'ca.cnf', '-selfsign', '-keyfile', 'key.pem', '-in', 'csr.pem',
      '-out', 'cert.pem', ...(notYet ? ['-startdate', '20990101000000Z', '-enddate', '20990102000000Z'] : IN_2020)])
  })
}

/**
 * An X.509 version 1 certificate (no extensions, so the name is in the CN only), self-signed, as
 * `openssl x509 -req -signkey` makes one and older tutorials and devices still do.
 */
function versionOne ({ cn = 'localhost' } = {}) {
  return inTempDir(openssl => {
    openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'csr.pem', '-subj', `/CN=${cn}`])
    openssl(['x509', '-req', '-in', 'csr.pem', '-signkey', 'key.pem', '-sha256', '-days', '2', '-out', 'cert.pem'])
  })
}

module.exports = { selfSigned, issued, expired, versionOne, chained }
