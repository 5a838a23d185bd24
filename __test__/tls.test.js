'use strict'
// TLS in rustls on the Promise face: trust (`ca`, default roots, `rejectUnauthorized`), names
// (`servername`), client certificates, reuse and session resumption, against Node https servers whose
// certificates are made at run time by a plain `openssl req -x509`.

const { test } = require('node:test')
const assert = require('node:assert')
const https = require('node:https')
const http = require('node:http')
const net = require('node:net')
const tls = require('node:tls')
const { once } = require('node:events')
const { HttpsAgent } = require('..')
const { selfSigned, issued } = require('../examples/certs')
const { listenCounting } = require('./helpers/faces')

const serverCert = selfSigned()
const clientCert = selfSigned({ cn: 'test-client' })

async function withHttps (serverOptions, handler, run) {
  const srv = await listenCounting(https.createServer({ key: serverCert.key, cert: serverCert.cert, ...serverOptions }, handler))
  const agents = []
  try {
    await run(srv, options => { const agent = new HttpsAgent(options); agents.push(agent); return agent })
  } finally {
    for (const agent of agents) agent.destroy()
    await srv.close()
  }
}

const hello = (req, res) => res.end('secure hello')

test('ca as a string, a Buffer or an array trusts an openssl self-signed certificate; 50 requests, 1 connection', async () => {
  await withHttps({}, hello, async (srv, agent) => {
    for (const ca of [serverCert.cert.toString(), serverCert.cert, [serverCert.cert]]) {
      const a = agent({ ca })
      const res = await a.request(`https://localhost:${srv.port}/`)
      assert.strictEqual(await res.text(), 'secure hello')
    }
    const a = agent({ ca: serverCert.cert })
    for (let i = 0; i < 50; i++) await (await a.request(`https://localhost:${srv.port}/`)).text()
    assert.strictEqual(a.getCurrentStatus().createSocketCount, 1)
    assert.strictEqual(srv.counts.opened, 4)
  })
})

test('without ca the default roots reject it with Node\'s code; rejectUnauthorized: false accepts it', async () => {
  await withHttps({}, hello, async (srv, agent) => {
    await assert.rejects(agent({}).request(`https://localhost:${srv.port}/`), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
    const lax = agent({ rejectUnauthorized: false })
    assert.strictEqual(await (await lax.request(`https://localhost:${srv.port}/`)).text(), 'secure hello')
  })
})

test('servername: a name the certificate lacks fails; the right one works over an IP address', async () => {
  await withHttps({}, hello, async (srv, agent) => {
    await assert.rejects(agent({ ca: serverCert.cert, servername: 'elsewhere.example' }).request(`https://127.0.0.1:${srv.port}/`),
      { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
    const named = agent({ ca: serverCert.cert, servername: 'localhost' })
    assert.strictEqual(await (await named.request(`https://127.0.0.1:${srv.port}/`)).text(), 'secure hello')
  })
})

test('cert + key: the server that requires a client certificate sees ours and trusts it', async () => {
  const handler = (req, res) => res.end(`${req.socket.authorized} ${req.socket.getPeerCertificate().subject.CN}`)
  await withHttps({ requestCert: true, rejectUnauthorized: true, ca: clientCert.cert }, handler, async (srv, agent) => {
    const a = agent({ ca: serverCert.cert, cert: clientCert.cert, key: clientCert.key })
    assert.strictEqual(await (await a.request(`https://localhost:${srv.port}/`)).text(), 'true test-client')
    const anonymous = agent({ ca: serverCert.cert })
    await assert.rejects(anonymous.request(`https://localhost:${srv.port}/`), err => typeof err.code === 'string')
  })
})

test('new connections resume the TLS session of an earlier one (one shared rustls config)', async () => {
  const resumed = []
  await withHttps({}, (req, res) => { resumed.push(req.socket.isSessionReused()); res.end('x') }, async (srv, agent) => {
    const a = agent({ ca: serverCert.cert, keepAlive: false })
    for (let i = 0; i < 4; i++) await (await a.request(`https://localhost:${srv.port}/`)).text()
    assert.strictEqual(srv.counts.opened, 4)
    // rustls uses each TLS 1.3 ticket once (RFC 8446 §4.6.1 advice, unlike OpenSSL's client), and Node's
    // server sends two per full handshake and none per resumed one: every third connection is full.
    assert.deepStrictEqual(resumed, [false, true, true, false])
  })
})

test('each agent resumes only its own TLS sessions, as Node\'s; maxCachedSessions: 0 resumes none (both faces, compared with Node\'s agent)', async () => {
  await withHttps({}, hello, async srv => {
    const viaSocket = agent => new Promise((resolve, reject) => {
      https.get(`https://localhost:${srv.port}/`, { agent }, res => {
        const reused = res.socket.isSessionReused()
        res.resume()
        res.on('end', () => resolve(reused))
      }).on('error', reject)
    })
    const seen = async Make => {
      const options = { keepAlive: false, ca: serverCert.cert, maxVersion: 'TLSv1.2' }
      const [a, b, none] = [new Make(options), new Make(options), new Make({ ...options, maxCachedSessions: 0 })]
      try {
        return [await viaSocket(a), await viaSocket(a), await viaSocket(b), await viaSocket(none), await viaSocket(none)]
      } finally {
        for (const agent of [a, b, none]) agent.destroy()
      }
    }
    const expected = [false, true, false, false, false]
    assert.deepStrictEqual(await seen(https.Agent), expected)
    assert.deepStrictEqual(await seen(HttpsAgent), expected)
    // The Promise face shares its agent's cache.
    const agent = new HttpsAgent({ keepAlive: false, ca: serverCert.cert, maxVersion: 'TLSv1.2' })
    try {
      await viaSocket(agent)
      const resumed = []
      srv.server.once('request', req => resumed.push(req.socket.isSessionReused()))
      await (await agent.request(`https://localhost:${srv.port}/`)).text()
      assert.deepStrictEqual(resumed, [true])
    } finally {
      agent.destroy()
    }
  })
})

test('session and enableTrace are taken and ignored: a session from Node\'s OpenSSL gives a full handshake, and the route is the same', async () => {
  const reused = (req, res) => res.end(String(req.socket.isSessionReused()))
  await withHttps({ maxVersion: 'TLSv1.2' }, reused, async (srv, agent) => {
    const url = `https://localhost:${srv.port}/`
    const get = (through, extra) => new Promise((resolve, reject) => {
      https.get(url, { agent: through, ...extra }, res => {
        const session = res.socket.getSession()
        let text = ''
        res.on('data', chunk => { text += chunk })
        res.on('end', () => resolve({ text, session }))
      }).on('error', reject)
    })
    const nodeAgent = new https.Agent({ ca: serverCert.cert, keepAlive: false })
    const { session } = await get(nodeAgent)
    nodeAgent.destroy()
    assert.ok(Buffer.isBuffer(session) && session.length > 0, 'Node gave a session')
    const a = agent({ ca: serverCert.cert })
    assert.strictEqual((await get(a, { session, enableTrace: true })).text, 'false')
    assert.strictEqual((await get(a)).text, 'false')
    assert.strictEqual(a.getCurrentStatus().createSocketCount, 1, 'one route: the connection served the request without them')
    assert.strictEqual(await (await a.request(url, { session, enableTrace: true })).text(), 'true', 'rustls resumed its own session')
    assert.strictEqual((await get(agent({ ca: serverCert.cert, session, enableTrace: true }))).text, 'false')
  })
})

test('TLS versions: minVersion TLSv1.3 against a TLSv1.2-only server fails with a code', async () => {
  await withHttps({ maxVersion: 'TLSv1.2' }, (req, res) => res.end(req.socket.getProtocol()), async (srv, agent) => {
    assert.strictEqual(await (await agent({ ca: serverCert.cert }).request(`https://localhost:${srv.port}/`)).text(), 'TLSv1.2')
    await assert.rejects(agent({ ca: serverCert.cert, minVersion: 'TLSv1.3' }).request(`https://localhost:${srv.port}/`),
      err => typeof err.code === 'string')
  })
})

test('Node\'s version options (minVersion below 1.2, secureProtocol, secureOptions) and ecdhCurve \'auto\' negotiate what Node\'s agent does, both faces; what leaves no version rustls speaks is refused', async () => {
  const { constants } = require('node:crypto')
  await withHttps({}, (req, res) => res.end(req.socket.getProtocol()), async (srv, agent) => {
    const url = `https://localhost:${srv.port}/`
    const viaSocket = (through, options) => new Promise((resolve, reject) => {
      https.get(url, { agent: through, ...options }, res => {
        let text = ''
        res.on('data', chunk => { text += chunk })
        res.on('end', () => resolve(text))
      }).on('error', reject)
    })
    const cases = [
      { minVersion: 'TLSv1' },
      { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.2' },
      { secureProtocol: 'TLSv1_2_method' },
      { secureProtocol: 'TLS_client_method' },
      { secureOptions: constants.SSL_OP_NO_TLSv1_3 | constants.SSL_OP_NO_SSLv3 },
      { secureOptions: constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1 | constants.SSL_OP_NO_TLSv1_2 },
      { ecdhCurve: 'auto' }
    ]
    const nodeAgent = new https.Agent({ ca: serverCert.cert })
    const ours = agent({ ca: serverCert.cert })
    try {
      for (const options of cases) {
        const expected = await viaSocket(nodeAgent, options)
        assert.strictEqual(await viaSocket(ours, options), expected, JSON.stringify(options))
        assert.strictEqual(await (await ours.request(url, options)).text(), expected, JSON.stringify(options))
        assert.strictEqual(await (await agent({ ca: serverCert.cert, ...options }).request(url)).text(), expected, JSON.stringify(options))
      }
    } finally {
      nodeAgent.destroy()
    }
    assert.throws(() => agent({ secureProtocol: 'TLSv1_1_method' }),
      { code: 'ERR_INVALID_ARG_VALUE', message: "The property 'options.secureProtocol' leaves no TLS version rustls speaks (TLS 1.2 and 1.3). Received 'TLSv1_1_method'" })
    assert.throws(() => agent({ secureOptions: constants.SSL_OP_NO_TLSv1_2 | constants.SSL_OP_NO_TLSv1_3 }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => agent({ secureOptions: constants.SSL_OP_NO_TICKET }), { code: 'ERR_INVALID_ARG_VALUE', message: /cannot honour \(0x4000;/ })
    assert.throws(() => agent({ secureProtocol: 'TLSv1_2_method', minVersion: 'TLSv1.2' }),
      { code: 'ERR_TLS_PROTOCOL_VERSION_CONFLICT', message: 'TLS protocol version "TLSv1.2" conflicts with secureProtocol "TLSv1_2_method"' })
    assert.throws(() => tls.createSecureContext({ secureProtocol: 'TLSv1_2_method', minVersion: 'TLSv1.2' }), { code: 'ERR_TLS_PROTOCOL_VERSION_CONFLICT' })
  })
})

test('ecdhCurve: the curves offered, as Node\'s agent offers them (the group negotiated over TLS 1.2, socket face); the Promise face offers only those; a list of none rustls has is refused', async () => {
  await withHttps({ maxVersion: 'TLSv1.2' }, hello, async (srv, agent) => {
    const url = `https://localhost:${srv.port}/`
    const keyInfo = through => new Promise((resolve, reject) => {
      https.get(url, { agent: through }, res => {
        const info = res.socket.getEphemeralKeyInfo()
        res.resume()
        res.on('end', () => resolve(info))
      }).on('error', reject)
    })
    for (const ecdhCurve of ['secp384r1', 'P-256', 'X25519:P-384', 'prime256v1:X25519', 'auto']) {
      const nodeAgent = new https.Agent({ ca: serverCert.cert, ecdhCurve })
      try {
        assert.deepStrictEqual(await keyInfo(agent({ ca: serverCert.cert, ecdhCurve })), await keyInfo(nodeAgent), ecdhCurve)
      } finally {
        nodeAgent.destroy()
      }
    }
    assert.throws(() => agent({ ecdhCurve: 'secp521r1:X448' }),
      { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.ecdhCurve' names no curve rustls offers/ })
    assert.throws(() => agent({ ecdhCurve: 384 }), { code: 'ERR_INVALID_ARG_TYPE' })
  })
  // A server that takes P-384 alone: a request offering X25519 only fails, one offering P-384 too is answered.
  await withHttps({ ecdhCurve: 'P-384' }, hello, async (srv, agent) => {
    const url = `https://localhost:${srv.port}/`
    const ours = agent({ ca: serverCert.cert })
    // Node's agent fails the same way: EPROTO, the server's handshake_failure alert.
    await assert.rejects(ours.request(url, { ecdhCurve: 'X25519' }), { code: 'EPROTO', message: /alert handshake failure:SSL alert number 40$/ })
    assert.strictEqual(await (await ours.request(url, { ecdhCurve: 'X25519:P-384' })).text(), 'secure hello')
  })
})

test('sigalgs: the handshake signatures offered, as by Node\'s agent (an RSA and a P-256 server, TLS 1.2 and 1.3, both faces); names rustls lacks offer nothing, a list of only those or an unknown name is refused; part of the route', async () => {
  const outcome = (url, agent) => new Promise(resolve => {
    https.get(url, { agent }, res => {
      const protocol = res.socket.getProtocol()
      res.resume()
      res.on('end', () => resolve(`ok ${protocol}`))
    }).on('error', err => resolve(err.code))
  })
  const lists = ['RSA-PSS+SHA256', 'PSS+SHA384', 'RSA+SHA256', 'rsa_pkcs1_sha512:ECDSA+SHA384', 'ECDSA+SHA256',
    'ecdsa_secp384r1_sha384', 'rsa_pss_rsae_sha512:ed25519', 'ed448:ECDSA+SHA256']
  const seen = new Set()
  for (const cert of [serverCert, selfSigned({ ec: true })]) {
    const srv = await listenCounting(https.createServer({ key: cert.key, cert: cert.cert }, hello))
    const url = `https://localhost:${srv.port}/`
    try {
      for (const sigalgs of lists) {
        for (const maxVersion of ['TLSv1.2', 'TLSv1.3']) {
          const options = { ca: cert.cert, sigalgs, maxVersion }
          const ours = new HttpsAgent(options)
          const node = new https.Agent(options)
          try {
            const expected = await outcome(url, node)
            assert.strictEqual(await outcome(url, ours), expected, `${sigalgs} ${maxVersion}`)
            const promised = await ours.request(url).then(res => res.text().then(() => `ok ${maxVersion}`), err => err.code)
            assert.strictEqual(promised, expected, `${sigalgs} ${maxVersion}, Promise face`)
            seen.add(expected)
          } finally {
            ours.destroy()
            node.destroy()
          }
        }
      }
      // Per request, on one agent: a route of its own each.
      const agent = new HttpsAgent({ ca: cert.cert })
      try {
        const other = cert === serverCert ? 'ECDSA+SHA256' : 'RSA-PSS+SHA256'
        await assert.rejects(agent.request(url, { sigalgs: other }), { code: 'EPROTO' })
        assert.strictEqual(await (await agent.request(url)).text(), 'secure hello')
        assert.strictEqual(await outcome(url, agent), 'ok TLSv1.3')
      } finally {
        agent.destroy()
      }
    } finally {
      await srv.close()
    }
  }
  assert.deepStrictEqual([...seen].sort(), ['EPROTO', 'ok TLSv1.2', 'ok TLSv1.3'])
  assert.throws(() => new HttpsAgent({ sigalgs: 'ed448:rsa_pss_pss_sha256' }),
    { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.sigalgs' names no signature algorithm rustls verifies/ })
  assert.throws(() => new HttpsAgent({ sigalgs: 'RSA+SHA256:FOO' }), { code: 'ERR_INVALID_ARG_VALUE', message: /"FOO"/ })
  assert.throws(() => new HttpsAgent({ sigalgs: 256 }), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('a server\'s RSA key under 2048 bits is refused as Node 24 refuses it (UNSPECIFIED, "EE certificate key too weak") when verified, and taken as Node takes it with rejectUnauthorized: false, over TLS 1.2 and 1.3, both faces', async () => {
  const short = selfSigned({ bits: 1024 })
  const weak = { code: 'UNSPECIFIED', message: 'EE certificate key too weak' }
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3']) {
    // Node 24's OpenSSL serves such a key only below its default security level.
    const srv = await listenCounting(https.createServer({ key: short.key, cert: short.cert, maxVersion, ciphers: 'DEFAULT@SECLEVEL=0' }, hello))
    const url = `https://localhost:${srv.port}/`
    const viaSocket = agent => new Promise((resolve, reject) => {
      https.get(url, { agent }, res => {
        const protocol = res.socket.getProtocol()
        const chunks = []
        res.on('data', chunk => chunks.push(chunk))
        res.on('end', () => resolve({ body: Buffer.concat(chunks).toString(), protocol }))
      }).on('error', reject)
    })
    try {
      const verifying = new HttpsAgent({ ca: short.cert })
      try {
        await assert.rejects(verifying.request(url), weak)
        await assert.rejects(viaSocket(verifying), weak)
      } finally {
        verifying.destroy()
      }
      // The handshake's signature by that key is still checked (src/connect/short_rsa.rs), over 1.2 with
      // PKCS#1 or PSS, over 1.3 with PSS.
      const trusting = new HttpsAgent({ rejectUnauthorized: false })
      const node = new https.Agent({ rejectUnauthorized: false })
      try {
        assert.strictEqual(await (await trusting.request(url)).text(), 'secure hello')
        const ours = await viaSocket(trusting)
        assert.deepStrictEqual(ours, { body: 'secure hello', protocol: maxVersion })
        assert.deepStrictEqual(await viaSocket(node), ours)
      } finally {
        trusting.destroy()
        node.destroy()
      }
      // Node 20 and 22 (OpenSSL security level 1) verify such a key; where Node refuses it, it says the same.
      const verifyingNode = new https.Agent({ ca: short.cert })
      const refusal = await viaSocket(verifyingNode).then(() => null, err => err)
      verifyingNode.destroy()
      if (refusal !== null) assert.deepStrictEqual({ code: refusal.code, message: refusal.message }, weak)
    } finally {
      await srv.close()
    }
  }
})

/**
 * A TCP proxy to `port` that flips the last byte of the server's TLS 1.2 ServerKeyExchange: its signature
 * over the handshake, by the certificate's key. Resolves with the proxy server (`port`).
 */
async function signatureDamagingProxy (port) {
  const proxy = net.createServer(client => {
    const upstream = net.connect(port, '127.0.0.1')
    client.pipe(upstream)
    let pending = Buffer.alloc(0)
    let damaged = false
    upstream.on('data', chunk => {
      if (damaged) return client.write(chunk)
      pending = Buffer.concat([pending, chunk])
      // Whole records only; handshake records (22) are searched for the ServerKeyExchange (12).
      while (!damaged && pending.length >= 5 && pending.length >= 5 + pending.readUInt16BE(3)) {
        const record = Buffer.from(pending.subarray(0, 5 + pending.readUInt16BE(3)))
        pending = pending.subarray(record.length)
        for (let at = 5; record[0] === 22 && at + 4 <= record.length; at += 4 + record.readUIntBE(at + 1, 3)) {
          const end = at + 4 + record.readUIntBE(at + 1, 3)
          if (record[at] === 12 && end <= record.length) {
            record[end - 1] ^= 1
            damaged = true
          }
        }
        client.write(record)
      }
      if (damaged && pending.length > 0) client.write(pending)
    })
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.on('close', () => upstream.destroy())
  })
  await new Promise(resolve => proxy.listen(0, '127.0.0.1', resolve))
  return proxy
}

test('a handshake signature that does not verify fails the request as in Node (EPROTO), with rejectUnauthorized: false, for RSA keys of 1024 and 2048 bits, PKCS#1 and PSS, both faces', async () => {
  for (const bits of [1024, 2048]) {
    const pair = selfSigned({ bits })
    for (const sigalgs of ['RSA+SHA256', 'rsa_pss_rsae_sha256']) {
      const srv = await listenCounting(https.createServer({
        key: pair.key, cert: pair.cert, maxVersion: 'TLSv1.2', sigalgs, ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0'
      }, hello))
      const proxy = await signatureDamagingProxy(srv.port)
      const url = `https://localhost:${proxy.address().port}/`
      const viaSocket = agent => new Promise((resolve, reject) => {
        https.get(url, { agent }, res => { res.resume(); res.on('end', resolve) }).on('error', reject)
      })
      const ours = new HttpsAgent({ rejectUnauthorized: false })
      const node = new https.Agent({ rejectUnauthorized: false })
      const refused = { code: 'EPROTO', message: 'write EPROTO error:0A00007B:SSL routines:tls_process_key_exchange:bad signature' }
      try {
        await assert.rejects(viaSocket(ours), refused, `${bits} ${sigalgs}`)
        await assert.rejects(ours.request(url), refused, `${bits} ${sigalgs}`)
        await assert.rejects(viaSocket(node), { code: 'EPROTO' }, `${bits} ${sigalgs}`)
      } finally {
        ours.destroy()
        node.destroy()
        proxy.close()
        await srv.close()
      }
    }
  }
})

test('a certificate its CA signed with SHA-1 is refused as Node refuses it (UNSPECIFIED, "CA signature digest algorithm too weak"), both faces', async () => {
  const sha1 = issued({ digest: 'sha1' })
  // Node's OpenSSL serves such a chain only below its default security level.
  const srv = await listenCounting(https.createServer({ key: sha1.key, cert: sha1.cert, ciphers: 'DEFAULT@SECLEVEL=0' }, hello))
  const url = `https://localhost:${srv.port}/`
  const viaSocket = agent => new Promise((resolve, reject) => {
    https.get(url, { agent }, res => { res.resume(); res.on('end', resolve) }).on('error', reject)
  })
  const weak = { code: 'UNSPECIFIED', message: 'CA signature digest algorithm too weak' }
  const node = new https.Agent({ ca: sha1.ca })
  const agent = new HttpsAgent({ ca: sha1.ca })
  try {
    await assert.rejects(viaSocket(node), weak)
    await assert.rejects(agent.request(url), weak)
    await assert.rejects(viaSocket(agent), weak)
  } finally {
    node.destroy()
    agent.destroy()
    await srv.close()
  }
})

test('handshake failures carry Node\'s codes and OpenSSL\'s words, as through Node\'s agent: a server that speaks no TLS, alerts (TLS 1.2 handshake failure, TLS 1.3 certificate required), a peer that hangs up (both faces)', async () => {
  const client = selfSigned({ cn: 'client' })
  const servers = {
    'plain HTTP': () => http.createServer((req, res) => res.end('plain')),
    'TLS 1.2, client certificate required': () => https.createServer({ key: serverCert.key, cert: serverCert.cert, requestCert: true, ca: client.cert, maxVersion: 'TLSv1.2' }, hello),
    'TLS 1.3, client certificate required': () => https.createServer({ key: serverCert.key, cert: serverCert.cert, requestCert: true, ca: client.cert }, hello),
    'hangs up at the hello': () => net.createServer(socket => socket.once('data', () => socket.destroy()))
  }
  // Node's message also names the thread and OpenSSL's source file and line: those are left out.
  const essence = err => ({
    code: err.code,
    errno: err.errno,
    syscall: err.syscall,
    library: err.library,
    reason: err.reason,
    message: err.message.replace(/[0-9A-F]+:error:/, 'error:').replace(/:\.\.\/deps\/\S+?\.c:\d+:/, ':').replace(/:?\n$/, '')
  })
  for (const [name, make] of Object.entries(servers)) {
    const srv = await listenCounting(make())
    const url = `https://localhost:${srv.port}/`
    const node = new https.Agent({ ca: serverCert.cert })
    const ours = new HttpsAgent({ ca: serverCert.cert })
    try {
      const viaSocket = agent => new Promise((resolve, reject) => {
        https.get(url, { agent }, res => { res.resume(); res.on('end', resolve) }).on('error', reject)
      })
      const nodeErr = await viaSocket(node).then(() => assert.fail(`${name}: Node's agent got an answer`), err => err)
      const oursErr = await viaSocket(ours).then(() => assert.fail(name), err => err)
      const expected = essence(nodeErr)
      assert.deepStrictEqual(essence(oursErr), expected, name)
      // Where it was going, on the error of a peer that hung up (socket face).
      assert.deepStrictEqual([oursErr.host, oursErr.port, oursErr.path], [nodeErr.host, nodeErr.port, nodeErr.path], name)
      assert.deepStrictEqual(essence(await ours.request(url).then(() => assert.fail(name), err => err)), expected, name)
    } finally {
      node.destroy()
      ours.destroy()
      await srv.close()
    }
  }
})

test('NODE_TLS_REJECT_UNAUTHORIZED=0 turns verification off where the options do not say, as Node\'s tls does (with its warning); an explicit rejectUnauthorized still rules', async () => {
  const warnings = []
  const onWarning = warning => warnings.push(warning.message)
  process.on('warning', onWarning)
  const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED
  try {
    await withHttps({}, hello, async (srv, agent) => {
      const url = `https://localhost:${srv.port}/`
      const viaSocket = agent => new Promise((resolve, reject) => {
        https.get(url, { agent }, res => { resolve(res.socket.authorized); res.resume() }).on('error', reject)
      })
      const made = agent()
      await assert.rejects(made.request(url), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
      const lax = agent()
      assert.strictEqual(await (await lax.request(url)).text(), 'secure hello')
      assert.strictEqual(await viaSocket(lax), false)
      await assert.rejects(agent({ rejectUnauthorized: true }).request(url), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
      // Read at each connection, as Node reads it: an agent made before it was set obeys it too (both faces).
      assert.strictEqual(await (await made.request(url)).text(), 'secure hello')
      assert.strictEqual(await viaSocket(made), false)
      // Taken away again: no connection made meanwhile serves a request, and both agents check again.
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED
      for (const a of [made, lax]) {
        await assert.rejects(a.request(url), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
        await assert.rejects(viaSocket(a), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
      }
    })
    await new Promise(resolve => setImmediate(resolve))
    assert.ok(warnings.some(m => m.startsWith('Setting the NODE_TLS_REJECT_UNAUTHORIZED environment variable to \'0\'')), warnings.join())
  } finally {
    if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before
    process.off('warning', onWarning)
  }
})

test('requestOCSP: the socket emits \'OCSPResponse\' with what the server stapled (or null) before \'secureConnect\', as through Node\'s agent (TLS 1.2 and 1.3)', async () => {
  const staple = Buffer.from('a stapled OCSP response')
  /** What a request's socket emits of the two, in order, through `agent`. */
  const seen = (agent, url, requestOCSP) => new Promise((resolve, reject) => {
    const events = []
    const req = https.get(url, { agent, requestOCSP }, res => {
      res.resume()
      res.on('end', () => resolve(events))
    })
    req.on('socket', socket => {
      socket.on('OCSPResponse', response => events.push(response === null ? 'OCSPResponse null' : `OCSPResponse ${response.toString()}`))
      socket.on('secureConnect', () => events.push('secureConnect'))
    })
    req.on('error', reject)
  })
  for (const stapling of [true, false]) {
    const server = https.createServer({ key: serverCert.key, cert: serverCert.cert }, hello)
    if (stapling) server.on('OCSPRequest', (cert, issuer, callback) => callback(null, staple))
    const srv = await listenCounting(server)
    try {
      for (const maxVersion of ['TLSv1.2', 'TLSv1.3']) {
        const url = `https://localhost:${srv.port}/`
        const options = { ca: serverCert.cert, maxVersion, keepAlive: false }
        const ours = new HttpsAgent(options)
        const nodes = new https.Agent(options)
        try {
          const expected = await seen(nodes, url, true)
          assert.deepStrictEqual(expected, [stapling ? `OCSPResponse ${staple}` : 'OCSPResponse null', 'secureConnect'])
          assert.deepStrictEqual(await seen(ours, url, true), expected, `${maxVersion}, stapling: ${stapling}`)
          // Not asked: no event, from either.
          assert.deepStrictEqual(await seen(nodes, url, undefined), ['secureConnect'])
          assert.deepStrictEqual(await seen(ours, url, undefined), ['secureConnect'])
        } finally {
          ours.destroy()
          nodes.destroy()
        }
      }
    } finally {
      await srv.close()
    }
  }
})

test('a servername rustls cannot send as a DNS name (a last label all digits) fails the request with ERR_INVALID_ARG_VALUE, on both faces, before anything is sent', async () => {
  const srv = await listenCounting(https.createServer({ key: serverCert.key, cert: serverCert.cert }, hello))
  const agent = new HttpsAgent({ rejectUnauthorized: false })
  try {
    const [err] = await once(https.get({ host: '127.0.0.1', port: srv.port, servername: 'sni.0', rejectUnauthorized: false, agent }), 'error')
    assert.strictEqual(err.code, 'ERR_INVALID_ARG_VALUE')
    assert.strictEqual(err.message, 'invalid TLS server name "sni.0"')
    await assert.rejects(agent.request(`https://127.0.0.1:${srv.port}/`, { servername: 'sni.0' }), { code: 'ERR_INVALID_ARG_VALUE', message: 'invalid TLS server name "sni.0"' })
    assert.strictEqual(srv.counts.opened, 0)
  } finally {
    agent.destroy()
    await srv.close()
  }
})
