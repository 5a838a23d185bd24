'use strict'
// Trust as Node trusts, on both faces: Node's default set (NODE_EXTRA_CA_CERTS, in a child process), a
// certificate named by its CN only (a bare `openssl req -x509 -subj /CN=localhost`), the caller's
// checkServerIdentity, and TLS options given per request, served by the Rust pool on routes of their own
// so that trust never leaks between them. Every server is on 127.0.0.1.

const { test } = require('node:test')
const assert = require('node:assert')
const https = require('node:https')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile, execFileSync } = require('node:child_process')
const { HttpsAgent } = require('..')
const { selfSigned, issued, versionOne, expired, chained } = require('../examples/certs')
const { listenCounting } = require('./helpers/faces')

const cnOnly = selfSigned({ san: false })
const company = issued()
const withSan = selfSigned()

async function serve (cert, run, { options, handler } = {}) {
  let requests = 0
  const srv = await listenCounting(https.createServer({ key: cert.key, cert: cert.cert, ...options }, (req, res) => {
    requests++
    if (handler) handler(req, res)
    else res.end('secure hello')
  }))
  srv.requests = () => requests
  try {
    await run(srv)
  } finally {
    await srv.close()
  }
}

/** GET through the socket face; resolves with the body or rejects with the request's error. */
function get (url, options) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, options, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve(body))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

test('a certificate with its name in the CN only is matched by the CN, as Node does (both faces)', async () => {
  await serve(cnOnly, async srv => {
    const agent = new HttpsAgent({ ca: cnOnly.cert })
    try {
      assert.strictEqual(await (await agent.request(`https://localhost:${srv.port}/`)).text(), 'secure hello')
      assert.strictEqual(await get(`https://localhost:${srv.port}/`, { agent }), 'secure hello')
      // An IP address needs an IP altname, and another name does not match the CN.
      await assert.rejects(agent.request(`https://127.0.0.1:${srv.port}/`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
      await assert.rejects(agent.request(`https://127.0.0.1:${srv.port}/`, { servername: 'other.localhost' }),
        { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
    } finally {
      agent.destroy()
    }
  })
})

test('servername \'\' sends no server name (SNI), and the host\'s name is checked, as Node\'s agent does (both faces)', async () => {
  const handler = (req, res) => res.end(`sni: ${req.socket.servername}`)
  const outcome = (url, agent, options) => new Promise(resolve => {
    https.get(url, { agent, ...options }, res => {
      const servername = res.socket.servername
      let body = ''
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve(`${body}, socket.servername ${servername}`))
    }).on('error', err => resolve(err.code))
  })
  const seen = new Set()
  for (const cert of [withSan, cnOnly]) {
    await serve(cert, async srv => {
      for (const host of ['localhost', '127.0.0.1']) {
        const url = `https://${host}:${srv.port}/`
        for (const options of [{ servername: '' }, { servername: 'localhost' }, {}]) {
          const node = new https.Agent({ ca: cert.cert })
          const ours = new HttpsAgent({ ca: cert.cert })
          try {
            const expected = await outcome(url, node, options)
            assert.strictEqual(await outcome(url, ours, options), expected, `${host} ${JSON.stringify(options)}`)
            const promised = await ours.request(url, options).then(res => res.text(), err => err.code)
            assert.strictEqual(promised, expected.split(',')[0], `${host} ${JSON.stringify(options)} (Promise face)`)
            seen.add(expected)
          } finally {
            node.destroy()
            ours.destroy()
          }
        }
      }
    }, { handler })
  }
  assert.ok(seen.has('sni: false, socket.servername false'))
  assert.ok(seen.has('ERR_TLS_CERT_ALTNAME_INVALID'))
  assert.ok(seen.has('sni: localhost, socket.servername localhost'))
})

test('a name that does not match fails as Node\'s tls fails it: its message, reason, host and cert (both faces)', async () => {
  await serve(cnOnly, async srv => {
    const agent = new HttpsAgent({ ca: cnOnly.cert })
    const shape = err => ({
      code: err.code,
      message: err.message,
      reason: err.reason,
      host: err.host,
      subject: err.cert?.subject?.CN,
      fingerprint: err.cert?.fingerprint256
    })
    try {
      for (const [url, options] of [[`https://127.0.0.1:${srv.port}/`, {}], [`https://localhost:${srv.port}/`, { servername: 'other.localhost' }]]) {
        const node = await get(url, { ...options, ca: cnOnly.cert, agent: false }).then(() => null, shape)
        assert.strictEqual(node.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
        assert.ok(node.reason.length > 0 && node.fingerprint)
        assert.deepStrictEqual(await get(url, { ...options, agent }).then(() => null, shape), node)
        assert.deepStrictEqual(await agent.request(url, options).then(() => null, shape), node)
      }
    } finally {
      agent.destroy()
    }
  })
})

test('socket face: a request\'s own Host header names the server for SNI and the certificate check, as with Node\'s agent', async () => {
  const named = selfSigned({ cn: 'agent1.test', san: false })
  await serve(named, async srv => {
    const agent = new HttpsAgent({ ca: named.cert })
    try {
      const url = `https://127.0.0.1:${srv.port}/`
      assert.strictEqual(await get(url, { agent, headers: { host: `agent1.test:${srv.port}` } }), 'agent1.test')
      // Without it, the address is what the certificate must name (it does not).
      await assert.rejects(get(url, { agent }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
      // A name from the header never serves a request for another: the connections are not shared.
      assert.strictEqual(await get(url, { agent, headers: { host: 'agent1.test' } }), 'agent1.test')
      assert.throws(() => https.get(url, { agent, headers: { host: ['a', 'b'] } }), { code: 'ERR_INVALID_ARG_TYPE' })
      // A header that is no name rustls can send (agentkeepalive's test sends one): the host dialled is
      // named instead, so without a name check the request is answered, as with Node's agent.
      const lax = new HttpsAgent({ rejectUnauthorized: false })
      try {
        assert.strictEqual(await get(url, { agent: lax, headers: { host: `[::1:${srv.port}` } }), 'false')
      } finally {
        lax.destroy()
      }
    } finally {
      agent.destroy()
    }
  }, { handler: (req, res) => res.end(String(req.socket.servername)) })
})

/** Runs `script` in a child Node with `env`; resolves with its stdout. */
function child (script, env) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { env: { ...process.env, ...env }, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr }))
      else resolve(stdout.trim())
    })
  })
}

test('NODE_EXTRA_CA_CERTS is trusted without `ca` (or with `ca: \'\'`), as by Node; without it, or with `ca: []`, the same server is refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keepalive-agent-extra-ca-'))
  const caFile = path.join(dir, 'company-ca.pem')
  fs.writeFileSync(caFile, company.ca)
  try {
    await serve(company, async srv => {
      const script = `
        const { HttpsAgent } = require(${JSON.stringify(path.join(__dirname, '..'))})
        const https = require('node:https')
        const agent = new HttpsAgent()
        const url = 'https://localhost:${srv.port}/'
        const viaSocket = () => new Promise((resolve, reject) => https.get(url, { agent }, res => {
          res.resume(); res.on('end', () => resolve(res.statusCode))
        }).on('error', reject))
        Promise.all([agent.request(url).then(r => r.status), viaSocket()])
          .then(s => console.log(s.join(' ')), e => console.log(e.code))
          .finally(() => agent.destroy())`
      assert.strictEqual(await child(script, { NODE_EXTRA_CA_CERTS: caFile }), '200 200')
      assert.strictEqual(await child(script, { NODE_EXTRA_CA_CERTS: '' }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
      // `ca: ''` is the default trust; `ca: []` trusts nothing, not the defaults: as Node's agent, both faces.
      const withCa = ca => `
        const { HttpsAgent } = require(${JSON.stringify(path.join(__dirname, '..'))})
        const https = require('node:https')
        const url = 'https://localhost:${srv.port}/'
        const outcome = agent => Promise.all([
          new Promise(resolve => https.get(url, { agent }, res => { res.resume(); res.on('end', () => resolve(res.statusCode)) })
            .on('error', err => resolve(err.code))),
          agent.request ? agent.request(url).then(r => r.status, err => err.code) : 'none'
        ])
        Promise.all([outcome(new https.Agent({ ca: ${ca} })), outcome(new HttpsAgent({ ca: ${ca} }))])
          .then(([node, ours]) => console.log(node[0] + ' ' + ours.join(' ')), e => console.log('failed ' + e.message))
          .finally(() => process.exit())`
      assert.strictEqual(await child(withCa("''"), { NODE_EXTRA_CA_CERTS: caFile }), '200 200 200')
      assert.strictEqual(await child(withCa('[]'), { NODE_EXTRA_CA_CERTS: caFile }),
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE UNABLE_TO_VERIFY_LEAF_SIGNATURE UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('checkServerIdentity gets the host and the peer certificate in Node\'s shape; its Error fails the request before it is sent (both faces)', async () => {
  await serve(withSan, async srv => {
    const seen = []
    const refusal = new Error('pinned fingerprint does not match')
    const agent = new HttpsAgent({
      ca: withSan.cert,
      checkServerIdentity (host, cert) {
        seen.push({ host, cert })
        return refusal
      }
    })
    try {
      await assert.rejects(agent.request(`https://localhost:${srv.port}/`), err => err === refusal)
      await assert.rejects(get(`https://localhost:${srv.port}/`, { agent }), err => err === refusal)
      assert.strictEqual(srv.requests(), 0)
      const [{ host, cert }] = seen
      assert.strictEqual(host, 'localhost')
      assert.strictEqual(cert.subject.CN, 'localhost')
      assert.strictEqual(cert.subjectaltname, 'DNS:localhost, IP Address:127.0.0.1')
      assert.ok(Buffer.isBuffer(cert.raw))
      assert.match(cert.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
      assert.strictEqual(cert.issuerCertificate, cert)
    } finally {
      agent.destroy()
    }
  })
})

test('checkServerIdentity replaces the name check: it may accept a name the certificate lacks (per request, both faces)', async () => {
  await serve(withSan, async srv => {
    const agent = new HttpsAgent({ ca: withSan.cert })
    const url = `https://127.0.0.1:${srv.port}/`
    const options = { servername: 'elsewhere.example', checkServerIdentity: () => undefined }
    try {
      await assert.rejects(agent.request(url, { servername: 'elsewhere.example' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
      assert.strictEqual(await (await agent.request(url, options)).text(), 'secure hello')
      assert.strictEqual(await get(url, { agent, ...options }), 'secure hello')
    } finally {
      agent.destroy()
    }
  })
})

test('checkServerIdentity refuses with any truthy answer, as tls.connect does: a string, an object, an Error of another realm, a Promise (an async function); a falsy one accepts (both faces)', async () => {
  const otherRealm = require('node:vm').runInNewContext('new Error("other realm")')
  await serve(withSan, async srv => {
    const url = `https://localhost:${srv.port}/`
    for (const answer of ['a string', true, { code: 'PLAIN', message: 'plain object' }, otherRealm, Promise.resolve(undefined)]) {
      const checkServerIdentity = () => answer
      const node = new https.Agent({ ca: withSan.cert, checkServerIdentity })
      const ours = new HttpsAgent({ ca: withSan.cert, checkServerIdentity })
      try {
        // (Boxed: a Promise returned from a handler would be awaited.)
        const refused = through => through.then(() => ['answered'], err => [err])
        assert.deepStrictEqual(await refused(get(url, { agent: node })), [answer])
        assert.strictEqual((await refused(get(url, { agent: ours })))[0], answer)
        assert.strictEqual((await refused(ours.request(url)))[0], answer)
        assert.strictEqual(srv.requests(), 0)
      } finally {
        node.destroy()
        ours.destroy()
      }
    }
    for (const answer of [undefined, null, 0, '', false]) {
      const ours = new HttpsAgent({ ca: withSan.cert, checkServerIdentity: () => answer })
      try {
        assert.strictEqual(await (await ours.request(url)).text(), 'secure hello')
      } finally {
        ours.destroy()
      }
    }
  })
})

test('per-request TLS options are served by the pool on routes of their own: trust never leaks (both faces)', async () => {
  await serve(withSan, async srv => {
    const agent = new HttpsAgent()
    const url = `https://localhost:${srv.port}/`
    try {
      // rejectUnauthorized: false first, then a strict request to the same server: still refused.
      assert.strictEqual(await (await agent.request(url, { rejectUnauthorized: false })).text(), 'secure hello')
      await assert.rejects(agent.request(url), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
      assert.strictEqual(await get(url, { agent, rejectUnauthorized: false }), 'secure hello')
      await assert.rejects(get(url, { agent }), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
      // The unverified connection says so, as a Node TLS socket does.
      const authorized = await new Promise((resolve, reject) => {
        https.get(url, { agent, rejectUnauthorized: false }, res => {
          res.resume()
          resolve(res.socket.authorized)
        }).on('error', reject)
      })
      assert.strictEqual(authorized, false)
      // A per-request `ca` is pooled and reused: 5 requests per face, one connection each.
      for (let i = 0; i < 5; i++) await (await agent.request(url, { ca: withSan.cert })).text()
      for (let i = 0; i < 5; i++) await get(url, { agent, ca: withSan.cert })
      const status = agent.getCurrentStatus()
      // Four connections made, two refused by TLS: six created, the two an error each (agentkeepalive's count).
      assert.strictEqual(status.createSocketCount, 6)
      assert.strictEqual(status.errorSocketCount, 2)
      // Four routes to one origin, summed in the status maps (keyed by origin, as Node's are).
      assert.strictEqual(status.stats[`https://localhost:${srv.port}`].connected, 4)
      assert.strictEqual(status.freeSockets[`localhost:${srv.port}:`], 4)
      assert.strictEqual(status.requestCount, 13)
      assert.strictEqual(srv.requests(), 13)
    } finally {
      agent.destroy()
    }
  })
})

test('a request\'s own TLS options are read anew each time: a `ca` changed in place, and NODE_TLS_REJECT_UNAUTHORIZED set meanwhile, are obeyed (both faces)', async () => {
  await serve(withSan, async srv => {
    const agent = new HttpsAgent()
    const url = `https://localhost:${srv.port}/`
    const both = options => Promise.all([agent.request(url, options).then(res => res.text()), get(url, { agent, ...options })])
    const refused = async options => {
      await assert.rejects(agent.request(url, options), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
      await assert.rejects(get(url, { agent, ...options }), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
    }
    // One Buffer and one array, given on every request, trusting the server's certificate...
    const pem = Buffer.alloc(withSan.cert.length + cnOnly.cert.length, '\n')
    pem.write(withSan.cert.toString())
    const list = [withSan.cert]
    try {
      for (let i = 0; i < 3; i++) {
        assert.deepStrictEqual(await both({ ca: pem }), ['secure hello', 'secure hello'])
        assert.deepStrictEqual(await both({ ca: list }), ['secure hello', 'secure hello'])
      }
      // ...then changed in place to trust another one: the pooled connections are not theirs any more.
      pem.fill('\n')
      pem.write(cnOnly.cert.toString())
      list[0] = cnOnly.cert
      await refused({ ca: pem })
      await refused({ ca: list })
      // The same options while the process turns verification off, then on again.
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
      try {
        assert.deepStrictEqual(await both({ ca: list }), ['secure hello', 'secure hello'])
      } finally {
        delete process.env.NODE_TLS_REJECT_UNAUTHORIZED
      }
      await refused({ ca: list })
    } finally {
      agent.destroy()
    }
  })
})

test('a bad per-request TLS option fails that request with Node\'s code', async () => {
  const agent = new HttpsAgent()
  try {
    await assert.rejects(agent.request('https://127.0.0.1:1/', { ca: 42 }), { code: 'ERR_INVALID_ARG_TYPE' })
    await assert.rejects(agent.request('https://127.0.0.1:1/', { checkServerIdentity: true }), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => https.get('https://127.0.0.1:1/', { agent, maxVersion: 'TLSv1' }), { code: 'ERR_INVALID_ARG_VALUE' })
  } finally {
    agent.destroy()
  }
})

test('minDHSize is checked as Node 22+ checks it, on both faces; a valid one is met and shares the agent\'s connections', async () => {
  const bad = [
    ['x', TypeError, 'ERR_INVALID_ARG_TYPE', 'The "options.minDHSize" property must be of type number. Received type string (\'x\')'],
    [null, TypeError, 'ERR_INVALID_ARG_TYPE', 'The "options.minDHSize" property must be of type number. Received null'],
    [0, RangeError, 'ERR_OUT_OF_RANGE', 'The value of "options.minDHSize" is out of range. It must be >= 1. Received 0'],
    [NaN, RangeError, 'ERR_OUT_OF_RANGE', 'The value of "options.minDHSize" is out of range. It must be >= 1. Received NaN']
  ]
  // Node 20 fails these with an internal assertion instead ("This is caused by either a bug in Node.js").
  const nodeChecks = Number(process.versions.node.split('.')[0]) >= 22
  await serve(withSan, async srv => {
    const url = `https://localhost:${srv.port}/`
    const agent = new HttpsAgent({ ca: withSan.cert })
    const nodes = new https.Agent({ ca: withSan.cert })
    try {
      for (const [value, type, code, message] of bad) {
        const expected = err => err instanceof type && err.code === code && err.message === message
        assert.throws(() => https.get(url, { agent, minDHSize: value }), expected)
        await assert.rejects(agent.request(url, { minDHSize: value }), expected)
        assert.throws(() => new HttpsAgent({ minDHSize: value }), expected)
        if (nodeChecks) assert.throws(() => https.get(url, { agent: nodes, minDHSize: value }), expected)
      }
      // rustls offers no finite-field DH, so any size is met: the connection of a request without it serves
      // one with it, on each face (the two faces hold connections of their own).
      assert.strictEqual(await get(url, { agent }), 'secure hello')
      assert.strictEqual(await get(url, { agent, minDHSize: 4096 }), 'secure hello')
      assert.strictEqual(srv.counts.opened, 1)
      assert.strictEqual(await (await agent.request(url)).text(), 'secure hello')
      assert.strictEqual(await (await agent.request(url, { minDHSize: 2048 })).text(), 'secure hello')
      assert.strictEqual(srv.counts.opened, 2)
    } finally {
      agent.destroy()
      nodes.destroy()
    }
  })
})

/** `cert` and `key` as a PKCS#12 bundle, as `openssl pkcs12 -export` makes it. */
function pkcs12 ({ cert, key }, passphrase) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keepalive-agent-pfx-'))
  try {
    fs.writeFileSync(path.join(dir, 'cert.pem'), cert)
    fs.writeFileSync(path.join(dir, 'key.pem'), key)
    execFileSync('openssl', ['pkcs12', '-export', '-in', 'cert.pem', '-inkey', 'key.pem', '-out', 'client.p12',
      '-passout', `pass:${passphrase}`], { cwd: dir, stdio: 'ignore' })
    return fs.readFileSync(path.join(dir, 'client.p12'))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

test('pfx + passphrase: the server that requires a client certificate sees ours (both faces); a wrong passphrase fails with a code', async () => {
  const client = selfSigned({ cn: 'pfx-client' })
  const pfx = pkcs12(client, 'sesame')
  const handler = (req, res) => res.end(`${req.socket.authorized} ${req.socket.getPeerCertificate().subject.CN}`)
  await serve(withSan, async srv => {
    const agent = new HttpsAgent({ ca: withSan.cert, pfx, passphrase: 'sesame' })
    const plain = new HttpsAgent({ ca: withSan.cert })
    const url = `https://localhost:${srv.port}/`
    try {
      assert.strictEqual(await (await agent.request(url)).text(), 'true pfx-client')
      assert.strictEqual(await get(url, { agent }), 'true pfx-client')
      assert.strictEqual(await (await plain.request(url, { pfx, passphrase: 'sesame' })).text(), 'true pfx-client')
      await assert.rejects(plain.request(url, { pfx, passphrase: 'wrong' }), { code: 'ERR_INVALID_ARG_VALUE' })
      assert.throws(() => new HttpsAgent({ pfx, passphrase: 'wrong' }), { code: 'ERR_INVALID_ARG_VALUE' })
    } finally {
      agent.destroy()
      plain.destroy()
    }
  }, { options: { requestCert: true, rejectUnauthorized: true, ca: client.cert }, handler })
})

test('key + passphrase: an encrypted PEM key (PKCS#8, or OpenSSL\'s traditional) is opened as Node opens it; the server that requires a client certificate sees ours (both faces); a wrong or missing passphrase fails as through Node\'s agent (ERR_OSSL_BAD_DECRYPT)', async () => {
  const { createPrivateKey } = require('node:crypto')
  const client = selfSigned({ cn: 'key-client' })
  const plainKey = createPrivateKey(client.key)
  const keys = {
    pkcs8: plainKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'sesame' }),
    traditional: plainKey.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'sesame' })
  }
  assert.match(keys.traditional, /Proc-Type: 4,ENCRYPTED/)
  const handler = (req, res) => res.end(`${req.socket.authorized} ${req.socket.getPeerCertificate().subject.CN}`)
  await serve(withSan, async srv => {
    const url = `https://localhost:${srv.port}/`
    const plain = new HttpsAgent({ ca: withSan.cert })
    try {
      for (const [kind, key] of Object.entries(keys)) {
        const agent = new HttpsAgent({ ca: withSan.cert, cert: client.cert, key, passphrase: 'sesame' })
        try {
          assert.strictEqual(await (await agent.request(url)).text(), 'true key-client', kind)
          assert.strictEqual(await get(url, { agent }), 'true key-client', kind)
        } finally {
          agent.destroy()
        }
        assert.strictEqual(await (await plain.request(url, { cert: client.cert, key, passphrase: 'sesame' })).text(), 'true key-client', kind)
        for (const passphrase of ['wrong', undefined]) {
          // What Node's OpenSSL says of this key and passphrase: almost always that the decryption's
          // padding is bad; once in a few hundred keys the wrong key's output pads well by chance and
          // the decoder then finds no key in it (ERR_OSSL_UNSUPPORTED). Ours is the same call.
          let expected
          assert.throws(() => https.get(url, { agent: new https.Agent({ ca: withSan.cert }), cert: client.cert, key, passphrase }), err => {
            expected = { code: err.code }
            return ['ERR_OSSL_BAD_DECRYPT', 'ERR_OSSL_UNSUPPORTED'].includes(err.code)
          })
          await assert.rejects(plain.request(url, { cert: client.cert, key, passphrase }), expected)
          assert.throws(() => https.get(url, { agent: plain, cert: client.cert, key, passphrase }), expected)
        }
      }
    } finally {
      plain.destroy()
    }
  }, { options: { requestCert: true, rejectUnauthorized: true, ca: client.cert }, handler })
})

test('an X.509 v1 client certificate (the usual openssl x509 -req recipe) is sent as Node sends it (both faces); a key that is not its own is refused', async () => {
  const client = versionOne({ cn: 'v1-client' })
  const handler = (req, res) => res.end(`${req.socket.authorized} ${req.socket.getPeerCertificate().subject.CN}`)
  await serve(withSan, async srv => {
    const url = `https://localhost:${srv.port}/`
    const agent = new HttpsAgent({ ca: withSan.cert, cert: client.cert, key: client.key })
    try {
      assert.strictEqual(await (await agent.request(url)).text(), 'true v1-client')
      assert.strictEqual(await get(url, { agent }), 'true v1-client')
      assert.strictEqual(await get(url, { agent: new https.Agent({ ca: withSan.cert, cert: client.cert, key: client.key }) }), 'true v1-client')
      // Refused with Node's code and message (Node's agent at the request, ours at once).
      const refused = { code: 'ERR_OSSL_X509_KEY_VALUES_MISMATCH', message: 'error:05800074:x509 certificate routines::key values mismatch' }
      assert.throws(() => new HttpsAgent({ cert: client.cert, key: withSan.key }), refused)
      assert.throws(() => new HttpsAgent({ cert: withSan.cert, key: client.key }), refused)
      assert.throws(() => https.get(url, { agent: new https.Agent(), cert: client.cert, key: withSan.key }), refused)
    } finally {
      agent.destroy()
    }
  }, { options: { requestCert: true, rejectUnauthorized: true, ca: client.cert }, handler })
})

test('ciphers: names rustls has are honoured (both faces); a string naming none of its suites, and OpenSSL-only options, are refused with a clear code', async () => {
  const handler = (req, res) => res.end(req.socket.getCipher().name)
  await serve(withSan, async srv => {
    const agent = new HttpsAgent({ ca: withSan.cert, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' })
    const url = `https://localhost:${srv.port}/`
    try {
      assert.strictEqual(await (await agent.request(url)).text(), 'ECDHE-RSA-AES256-GCM-SHA384')
      assert.strictEqual(await get(url, { agent }), 'ECDHE-RSA-AES256-GCM-SHA384')
      const chacha = await agent.request(url, { ciphers: 'ECDHE-RSA-CHACHA20-POLY1305' })
      assert.strictEqual(await chacha.text(), 'ECDHE-RSA-CHACHA20-POLY1305')
      await assert.rejects(agent.request(url, { ciphers: 'AES256-SHA:FOO' }), err => {
        assert.strictEqual(err.code, 'ERR_SSL_NO_CIPHER_MATCH')
        assert.match(err.message, /selects none of the cipher suites rustls implements: TLS_AES_256_GCM_SHA384, /)
        return true
      })
      assert.throws(() => new HttpsAgent({ secureContext: require('node:tls').createSecureContext() }),
        { code: 'ERR_INVALID_ARG_VALUE', message: /options\.secureContext' is not supported/ })
      // The agent's maxVersion merged in conflicts with a method, as Node's tls.connect says.
      assert.throws(() => https.get(url, { agent, secureProtocol: 'TLSv1_2_method' }), { code: 'ERR_TLS_PROTOCOL_VERSION_CONFLICT' })
      // A pre-shared key rustls cannot offer: refused, not a certificate handshake instead.
      assert.throws(() => new HttpsAgent({ pskCallback: () => null }), { code: 'ERR_INVALID_ARG_VALUE', message: /options\.pskCallback' is not supported/ })
    } finally {
      agent.destroy()
    }
  }, { handler })
})

test('ciphers as OpenSSL reads them (keywords, !, -, +, TLS 1.3 names, suites only OpenSSL has): the same suite and version are negotiated as through Node\'s agent', async () => {
  const tls = require('node:tls')
  const handler = (req, res) => res.end(`${req.socket.getProtocol()} ${req.socket.getCipher().name}`)
  await serve(withSan, async srv => {
    const url = `https://localhost:${srv.port}/`
    const strings = [tls.DEFAULT_CIPHERS, 'HIGH:!aNULL:!eNULL', 'ALL@SECLEVEL=0', 'ECDHE+AESGCM:!SHA384', 'CHACHA20:AES128:+CHACHA20',
      '-aRSA:ECDHE-RSA-AES128-GCM-SHA256', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES256-GCM-SHA384',
      // Suites Node's OpenSSL has and rustls lacks: TLS 1.3 keeps its own, as in Node.
      'AES256-SHA', 'ECDHE-RSA-AES128-SHA:FOO']
    for (const ciphers of strings) {
      const ours = new HttpsAgent({ ca: withSan.cert, ciphers })
      const node = new https.Agent({ ca: withSan.cert, ciphers })
      try {
        const expected = await get(url, { agent: node })
        assert.strictEqual(await get(url, { agent: ours }), expected, ciphers)
        assert.strictEqual(await (await ours.request(url)).text(), expected, ciphers)
      } finally {
        ours.destroy()
        node.destroy()
      }
    }
  }, { handler })
})

test('an X.509 v1 server certificate is taken as Node takes it: with rejectUnauthorized false, or given in ca itself (name from its CN); otherwise refused (both faces, TLS 1.2 and 1.3)', async () => {
  const v1 = versionOne()
  const other = versionOne({ cn: 'elsewhere.example' })
  const handler = (req, res) => res.end(req.socket.getProtocol())
  await serve(v1, async srv => {
    const url = `https://localhost:${srv.port}/`
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3']) {
      for (const [options, authorized] of [[{ rejectUnauthorized: false }, false], [{ ca: v1.cert }, true]]) {
        const agent = new HttpsAgent({ ...options, maxVersion })
        const node = new https.Agent({ ...options, maxVersion })
        try {
          assert.strictEqual(await (await agent.request(url)).text(), maxVersion)
          const seen = await new Promise((resolve, reject) => {
            https.get(url, { agent }, res => { res.resume(); resolve(res.socket.authorized) }).on('error', reject)
          })
          assert.strictEqual(seen, authorized)
          assert.strictEqual(await get(url, { agent: node }), maxVersion)
        } finally {
          agent.destroy()
          node.destroy()
        }
      }
    }
    // Not trusted, or trusted for another name: refused, as by Node's agent.
    for (const ca of [undefined, other.cert]) {
      const agent = new HttpsAgent({ ca })
      try {
        // (Node 24 adds a hint about --use-system-ca to the message.)
        const refused = { code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: /^self-signed certificate/ }
        await assert.rejects(agent.request(url), refused)
        await assert.rejects(get(url, { agent }), refused)
        await assert.rejects(get(url, { agent: new https.Agent({ ca }) }), refused)
      } finally {
        agent.destroy()
      }
    }
    const named = new HttpsAgent({ ca: v1.cert })
    try {
      await assert.rejects(named.request(`https://127.0.0.1:${srv.port}/`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
    } finally {
      named.destroy()
    }
  }, { handler })
})

test('a certificate issued by one given in ca is checked as Node checks it: an X.509 v1 leaf is verified (both faces, TLS 1.2 and 1.3); an issuer that is no CA, may not sign certificates, did not sign it or has expired, and a leaf for clients only, are refused with Node\'s code', async () => {
  const handler = (req, res) => res.end(req.socket.getProtocol())
  /** 'ok <authorized>' or the error's code and the start of its message (Node 24 adds hints after it). */
  const outcome = (url, agent) => new Promise(resolve => {
    https.get(url, { agent }, res => {
      const authorized = res.socket.authorized
      res.resume()
      res.on('end', () => resolve(`ok ${authorized}`))
    }).on('error', err => resolve(`${err.code}: ${err.message.split(/[:;]/)[0]}`))
  })
  const promised = (url, agent) => agent.request(url).then(async res => `ok ${await res.text()}`,
    err => `${err.code}: ${err.message.split(/[:;]/)[0]}`)
  const v1 = issued({ versionOne: true })
  const sameName = issued({ versionOne: true }) // another CA of the same name: its key did not sign v1
  const servers = {
    'v1 leaf': v1,
    'v1 leaf under a v1 root': issued({ versionOne: true, ca: 'v1' }),
    'v1 leaf under an expired CA': issued({ versionOne: true, ca: 'expired' }),
    'v3 leaf under an expired CA': issued({ ca: 'expired' }),
    'v3 leaf for clients only': issued({ leafExtensions: ['extendedKeyUsage=clientAuth'] }),
    'v1 leaf under a CA:FALSE issuer': issued({ versionOne: true, caExtensions: ['basicConstraints=critical,CA:FALSE'] }),
    'v1 leaf under an issuer without keyCertSign': issued({ versionOne: true, caExtensions: ['keyUsage=critical,digitalSignature'] }),
    'v3 leaf under a CA:FALSE issuer': issued({ caExtensions: ['basicConstraints=critical,CA:FALSE'] })
  }
  const seen = new Set()
  for (const [name, cert] of Object.entries(servers)) {
    await serve(cert, async srv => {
      const url = `https://localhost:${srv.port}/`
      for (const [trust, ca] of [['its issuer', cert.ca], ['a same-named CA', sameName.ca]]) {
        for (const maxVersion of ['TLSv1.2', 'TLSv1.3']) {
          const ours = new HttpsAgent({ ca, maxVersion })
          const node = new https.Agent({ ca, maxVersion })
          try {
            const expected = await outcome(url, node)
            const label = `${name}, ca: ${trust}, ${maxVersion}`
            assert.strictEqual(await outcome(url, ours), expected, label)
            assert.strictEqual(await promised(url, ours), expected.startsWith('ok') ? `ok ${maxVersion}` : expected, label)
            seen.add(expected)
          } finally {
            ours.destroy()
            node.destroy()
          }
        }
      }
    }, { handler })
  }
  // Each check was met at least once: a verified leaf, and each refusal Node gives (a v3 leaf names its
  // issuer's key, so a same-named CA is not taken for its issuer at all).
  assert.deepStrictEqual([...seen].sort(), ['CERT_HAS_EXPIRED: certificate has expired', 'CERT_SIGNATURE_FAILURE: certificate signature failure', 'INVALID_PURPOSE: unsuitable certificate purpose',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate', 'UNSPECIFIED: key usage does not include certificate signing', 'ok true'])
  // Where two trusted certificates carry the issuer's name, the one that signed is found (OpenSSL tries
  // the first only, and fails with CERT_SIGNATURE_FAILURE); the name is still checked.
  await serve(v1, async srv => {
    const agent = new HttpsAgent({ ca: [sameName.ca, v1.ca] })
    try {
      assert.strictEqual(await outcome(`https://localhost:${srv.port}/`, agent), 'ok true')
      assert.strictEqual(await outcome(`https://127.0.0.1:${srv.port}/`, agent), 'ERR_TLS_CERT_ALTNAME_INVALID: Hostname/IP does not match certificate\'s altnames')
    } finally {
      agent.destroy()
    }
  }, { handler })
})

test('a chain stands only up to a trusted root, as in Node: a trusted intermediate, or a trusted leaf that another issued, ends none; a chain that reaches no root fails with OpenSSL\'s code for where it stopped (both faces)', async () => {
  const pki = chained()
  const servers = {
    'leaf and intermediate': Buffer.concat([pki.cert, pki.intermediate]),
    'leaf, intermediate and root': Buffer.concat([pki.cert, pki.intermediate, pki.root]),
    'leaf alone': pki.cert
  }
  const trusts = {
    'the default roots': undefined,
    'another root': withSan.cert,
    'the root': pki.root,
    'the intermediate': pki.intermediate,
    'root and intermediate': [pki.root, pki.intermediate],
    'the leaf': pki.cert,
    'leaf and intermediate': [pki.cert, pki.intermediate],
    'leaf and root': [pki.cert, pki.root]
  }
  /** 'ok' or the error's code and the start of its message (Node 24 adds hints after it). */
  const outcome = (url, agent) => new Promise(resolve => {
    https.get(url, { agent }, res => {
      res.resume()
      res.on('end', () => resolve('ok'))
    }).on('error', err => resolve(`${err.code}: ${err.message.split(/[:;]/)[0]}`))
  })
  const promised = (url, agent) => agent.request(url).then(async res => { await res.text(); return 'ok' },
    err => `${err.code}: ${err.message.split(/[:;]/)[0]}`)
  const seen = new Set()
  for (const [name, chain] of Object.entries(servers)) {
    await serve({ key: pki.key, cert: chain }, async srv => {
      const url = `https://localhost:${srv.port}/`
      for (const [trust, ca] of Object.entries(trusts)) {
        const options = ca === undefined ? {} : { ca }
        const node = new https.Agent(options)
        const ours = new HttpsAgent(options)
        try {
          const expected = await outcome(url, node)
          assert.strictEqual(await outcome(url, ours), expected, `${name}, trusting ${trust}`)
          assert.strictEqual(await promised(url, ours), expected, `${name}, trusting ${trust} (Promise face)`)
          seen.add(expected)
        } finally {
          node.destroy()
          ours.destroy()
        }
      }
    })
  }
  assert.deepStrictEqual([...seen].sort(), [
    'SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain',
    'UNABLE_TO_GET_ISSUER_CERT: unable to get issuer certificate',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY: unable to get local issuer certificate',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate',
    'ok'
  ])
})

test('rejectUnauthorized: false: socket.authorized and authorizationError say what Node\'s agent says of the same chain and name, the caller\'s checkServerIdentity included, on a new and a resumed session (TLS 1.2 and 1.3)', async () => {
  const stale = expired()
  const coded = () => Object.assign(new Error('pinned key differs'), { code: 'PIN_MISMATCH' })
  const cases = [
    ['self-signed, not trusted', withSan, {}],
    ['self-signed, in ca', withSan, { ca: withSan.cert }],
    ['self-signed, in ca, another name', withSan, { ca: withSan.cert, servername: 'other.example' }],
    ['issued, its CA in ca', company, { ca: company.ca }],
    ['issued, not trusted', company, {}],
    ['expired, in ca', stale, { ca: stale.cert }],
    ['checkServerIdentity accepts', withSan, { ca: withSan.cert, checkServerIdentity: () => undefined }],
    ['checkServerIdentity gives a coded Error', withSan, { ca: withSan.cert, checkServerIdentity: coded }],
    ['checkServerIdentity gives an Error', withSan, { ca: withSan.cert, checkServerIdentity: () => new Error('not ours') }]
  ]
  /** For each of two connections (the second may resume the first's session): authorized, error, resumed. */
  const outcomes = async (Agent, port, options, maxVersion) => {
    const agent = new Agent({ keepAlive: false, maxVersion })
    const seen = []
    try {
      for (let i = 0; i < 2; i++) {
        seen.push(await new Promise((resolve, reject) => {
          https.get({ host: 'localhost', port, agent, rejectUnauthorized: false, ...options }, res => {
            const { authorized, authorizationError } = res.socket
            const resumed = res.socket.isSessionReused()
            res.resume()
            res.on('end', () => resolve(`${authorized} ${authorizationError} ${resumed ? 'resumed' : 'new'}`))
          }).on('error', reject)
        }))
      }
    } finally {
      agent.destroy()
    }
    return seen
  }
  // Node 22+ resumes no session for a request's own checkServerIdentity (Node 20 did, and then skipped
  // the check): ours is Node 22's, compared in full there and on the first connection elsewhere.
  const modernNode = Number(process.versions.node.split('.')[0]) >= 22
  const seen = new Set()
  for (const [name, cert, options] of cases) {
    await serve(cert, async srv => {
      for (const maxVersion of ['TLSv1.2', 'TLSv1.3']) {
        const expected = await outcomes(https.Agent, srv.port, options, maxVersion)
        const ours = await outcomes(HttpsAgent, srv.port, options, maxVersion)
        const compared = modernNode || options.checkServerIdentity === undefined ? 2 : 1
        assert.deepStrictEqual(ours.slice(0, compared), expected.slice(0, compared), `${name}, ${maxVersion}`)
        seen.add(ours.join(', '))
      }
    })
  }
  // Each verdict was met: a chain that stands, each fault of the chain and of the name, a resumed session
  // (whose name Node does not check again), and a caller's check on every connection.
  assert.deepStrictEqual([...seen].sort(), [
    'false CERT_HAS_EXPIRED new, false CERT_HAS_EXPIRED resumed',
    'false DEPTH_ZERO_SELF_SIGNED_CERT new, false DEPTH_ZERO_SELF_SIGNED_CERT resumed',
    'false ERR_TLS_CERT_ALTNAME_INVALID new, true null resumed',
    'false PIN_MISMATCH new, false PIN_MISMATCH new',
    'false UNABLE_TO_VERIFY_LEAF_SIGNATURE new, false UNABLE_TO_VERIFY_LEAF_SIGNATURE resumed',
    'false not ours new, false not ours new',
    'true null new, true null new',
    'true null new, true null resumed'
  ])
  // A check that throws: Node's TLSSocket lets the exception escape (uncaught); ours counts it as given.
  await serve(withSan, async srv => {
    const options = { ca: withSan.cert, checkServerIdentity: () => { throw coded() } }
    assert.deepStrictEqual(await outcomes(HttpsAgent, srv.port, options, 'TLSv1.3'), ['false PIN_MISMATCH new', 'false PIN_MISMATCH new'])
  })
})

test('a name found in the CN under a CA with name constraints: refused where it has a dot (OpenSSL checks it against them; webpki cannot), taken where it has none, as Node (v3 and v1 leaves, both faces)', async () => {
  const constraint = ['nameConstraints=critical,permitted;DNS:example.com']
  const cases = [
    [issued({ caExtensions: constraint, cn: 'host.localhost', san: false, leafExtensions: ['basicConstraints=CA:FALSE'] }), 'host.localhost'],
    [issued({ caExtensions: constraint, cn: 'host.localhost', versionOne: true }), 'host.localhost'],
    [issued({ caExtensions: constraint, san: false, leafExtensions: ['basicConstraints=CA:FALSE'] }), 'localhost']
  ]
  const seen = []
  for (const [cert, servername] of cases) {
    await serve(cert, async srv => {
      const url = `https://localhost:${srv.port}/`
      const node = new https.Agent({ ca: cert.ca, servername })
      const ours = new HttpsAgent({ ca: cert.ca, servername })
      try {
        const expected = await get(url, { agent: node }).then(() => 'ok', err => err.code)
        assert.strictEqual(await get(url, { agent: ours }).then(() => 'ok', err => err.code), expected, servername)
        assert.strictEqual(await ours.request(url).then(() => 'ok', err => err.code), expected, servername)
        seen.push(expected)
      } finally {
        node.destroy()
        ours.destroy()
      }
    })
  }
  assert.deepStrictEqual(seen, ['UNSPECIFIED', 'UNSPECIFIED', 'ok'])
})

test('ALPNProtocols is offered as given (an array, or a Buffer in wire format), per agent or request, as by Node\'s agent; no common protocol fails the handshake', async () => {
  await serve(withSan, async srv => {
    const url = `https://localhost:${srv.port}/`
    const alpn = async (agent, options) => new Promise((resolve, reject) => {
      https.get(url, { agent, ...options }, res => { res.resume(); resolve(res.socket.alpnProtocol) }).on('error', reject)
    })
    const agent = new HttpsAgent({ ca: withSan.cert, ALPNProtocols: ['x-other', 'http/1.1'] })
    const plain = new HttpsAgent({ ca: withSan.cert })
    try {
      assert.strictEqual(await alpn(agent), 'http/1.1')
      assert.strictEqual(await (await agent.request(url)).text(), 'secure hello')
      // Per request (the agent's own options would win, as Node merges them).
      const wire = Buffer.from('\u0007x-other\u0008http/1.1', 'latin1')
      assert.strictEqual(await alpn(plain, { ALPNProtocols: wire }), 'http/1.1')
      assert.strictEqual(await alpn(new https.Agent(), { ca: withSan.cert, ALPNProtocols: wire }), 'http/1.1')
      // The server speaks neither: it ends the handshake (no_application_protocol), with Node's agent too.
      await assert.rejects(alpn(plain, { ALPNProtocols: ['x-other'] }), { code: 'EPROTO' })
      await assert.rejects(alpn(new https.Agent(), { ca: withSan.cert, ALPNProtocols: ['x-other'] }), { code: 'EPROTO' })
      await assert.rejects(plain.request(url, { ALPNProtocols: ['x-other'] }), { code: 'EPROTO' })
      // Without the option: http/1.1 is offered (Node's agent offers none).
      assert.strictEqual(await alpn(plain), 'http/1.1')
      assert.throws(() => new HttpsAgent({ ALPNProtocols: [''] }), { code: 'ERR_INVALID_ARG_VALUE' })
      assert.throws(() => new HttpsAgent({ ALPNProtocols: 'http/1.1' }), { code: 'ERR_INVALID_ARG_TYPE' })
    } finally {
      agent.destroy()
      plain.destroy()
    }
  }, { options: { ALPNProtocols: ['h2', 'http/1.1'] } })
})

test('createConnection on an https agent: the TLS socket it makes is used as it is (Node\'s own TLS), both faces', async () => {
  const tls = require('node:tls')
  await serve(withSan, async srv => {
    class Tunnelled extends HttpsAgent {
      createConnection (options) {
        return tls.connect({ host: '127.0.0.1', port: srv.port, servername: options.servername, ca: withSan.cert })
      }
    }
    const agent = new Tunnelled()
    try {
      assert.strictEqual(await (await agent.request('https://localhost/')).text(), 'secure hello')
      assert.strictEqual(await get('https://localhost/', { agent }), 'secure hello')
      assert.strictEqual(srv.requests(), 2)
    } finally {
      agent.destroy()
    }
  })
})

test('per-request cert + key and maxVersion on both faces, each on a route of its own', async () => {
  const client = selfSigned({ cn: 'per-request-client' })
  const handler = (req, res) => res.end(`${req.socket.getProtocol()} ${req.socket.getPeerCertificate().subject?.CN ?? 'anonymous'}`)
  await serve(withSan, async srv => {
    const agent = new HttpsAgent({ ca: withSan.cert })
    const url = `https://localhost:${srv.port}/`
    const identity = { cert: client.cert, key: client.key }
    try {
      assert.strictEqual(await (await agent.request(url)).text(), 'TLSv1.3 anonymous')
      assert.strictEqual(await (await agent.request(url, identity)).text(), 'TLSv1.3 per-request-client')
      assert.strictEqual(await get(url, { agent, ...identity }), 'TLSv1.3 per-request-client')
      assert.strictEqual(await get(url, { agent }), 'TLSv1.3 anonymous')
      assert.strictEqual(await (await agent.request(url, { maxVersion: 'TLSv1.2' })).text(), 'TLSv1.2 anonymous')
      assert.strictEqual(await get(url, { agent, maxVersion: 'TLSv1.2', ...identity }), 'TLSv1.2 per-request-client')
    } finally {
      agent.destroy()
    }
  }, { options: { requestCert: true, rejectUnauthorized: false }, handler })
})
