'use strict'
// The socket face's socket over TLS: what Node code reads on a tls.TLSSocket, told from what rustls
// settled in Rust (the handshake, the session and the certificates stay there; lib/socket.js carries the
// plaintext). Names are Node's (OpenSSL's): a cipher suite is `ECDHE-RSA-AES128-GCM-SHA256` as Node
// names it, not `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256` as rustls does (that one is `standardName`).
//
// What only OpenSSL has is reported as Node reports it before a handshake: no session or ticket object
// (`getSession()`, `getTLSTicket()`: rustls keeps its own resumption store), no Finished messages, and
// `exportKeyingMaterial()` is not offered.

const { X509Certificate } = require('node:crypto')
const net = require('node:net')
const tls = require('node:tls')
const { RustSocket } = require('./socket')
const { certificateChain, defaultCa } = require('./connect')

/** What this socket knows of its TLS: see the constructor. */
const kTls = Symbol('tls')

/** OpenSSL's names of the TLS 1.2 suites rustls speaks (TLS 1.3 suites have one name in both). */
const OPENSSL_SUITES = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305'
}

/** `getEphemeralKeyInfo()` for each key exchange group rustls (with ring) speaks, as Node gives it. */
const EPHEMERAL_KEYS = {
  X25519: { type: 'ECDH', name: 'X25519', size: 253 },
  secp256r1: { type: 'ECDH', name: 'prime256v1', size: 256 },
  secp384r1: { type: 'ECDH', name: 'secp384r1', size: 384 }
}

/** The certificates of a DER chain sent one after the other (each a SEQUENCE that says its length). */
function derChain (bytes) {
  const certs = []
  for (let at = 0; at + 2 <= bytes.length;) {
    let length = bytes[at + 1]
    let header = 2
    if (length & 0x80) {
      const octets = length & 0x7f
      length = 0
      for (let k = 0; k < octets; k++) length = length * 256 + bytes[at + 2 + k]
      header += octets
    }
    certs.push(new X509Certificate(bytes.subarray(at, at + header + length)))
    at += header + length
  }
  return certs
}

/** Node's default trust, parsed once a chain must be completed up to it. */
let defaultAnchors = null

/** The certificates of a `ca` option (PEM, several to a string or Buffer, or DER; or a list of them). */
function certificatesOf (ca) {
  const anchors = []
  for (const item of Array.isArray(ca) ? ca : [ca]) {
    const text = Buffer.isBuffer(item) || typeof item === 'string' ? item.toString() : ''
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [item]
    for (const block of blocks) {
      try {
        anchors.push(new X509Certificate(block))
      } catch {}
    }
  }
  return anchors
}

/**
 * `getPeerCertificate(true)` as Node gives it: each certificate with its issuer's, up to the trust
 * anchor (found in `ca`, or Node's default trust, when the server did not send it).
 */
function detailedChain (chain, ca) {
  const certs = [...chain]
  const last = certs[certs.length - 1]
  if (!last.checkIssued(last)) {
    const anchors = ca === undefined || ca === null ? (defaultAnchors ??= certificatesOf(defaultCa())) : certificatesOf(ca)
    const anchor = anchors.find(candidate => last.checkIssued(candidate))
    if (anchor !== undefined) certs.push(anchor)
  }
  return certificateChain(certs)
}

/** The first certificate of a `cert` option (PEM or DER, or a list of them), as Node's context loads it. */
function firstCertificate (cert) {
  const first = Array.isArray(cert) ? cert[0] : cert
  if (first === undefined || first === null) return undefined
  try {
    return new X509Certificate(first)
  } catch {
    return undefined
  }
}

class TlsSocket extends RustSocket {
  /**
   * `verified`: rustls checks the chain and name (rejectUnauthorized); `servername`: the name sent (SNI)
   * and checked, false for none (an IP address); `cert`: the client certificate option, if any; `ca`:
   * the trust option, if any; `hostname` and `checkServerIdentity` (the caller's, if any): how the name
   * is judged where rustls does not check it (see `_judged`).
   */
  constructor (owner, native, id, { connecting, verified, fd, servername, cert, ca, hostname, checkServerIdentity }) {
    super(owner, native, id, { connecting, fd })
    this.encrypted = true
    this.authorized = false
    this.authorizationError = null
    this.alpnProtocol = false
    this.servername = servername
    this[kTls] = {
      verified,
      /** What the handshake settled (lib/batch.js `connectionInfo`'s `tls`). */
      negotiated: null,
      /** The server's certificates: their DER bytes until first asked for, then X509Certificates. */
      chain: null,
      /** The client certificate option, then its X509Certificate once asked for. */
      cert,
      ca,
      hostname,
      checkServerIdentity
    }
  }

  /**
   * The handshake is done (on each new connection: a replay's too). Its key material, when the agent
   * asked for it, comes as Node's 'keylog' events, one NSS line each, and the stapled OCSP response,
   * when the request asked (`requestOCSP`), as 'OCSPResponse', both before 'secureConnect'.
   */
  _secured (alpn, negotiated, peerChain) {
    if (negotiated?.keyLog) {
      for (const line of negotiated.keyLog.split(/(?<=\n)/)) this.emit('keylog', Buffer.from(line, 'latin1'))
    }
    // As Node's with `requestOCSP`: what the server stapled (a Buffer, or null), before 'secureConnect'.
    if (negotiated?.stapled !== undefined) this.emit('OCSPResponse', negotiated.stapled)
    const state = this[kTls]
    this.alpnProtocol = alpn || false
    state.negotiated = negotiated
    state.chain = peerChain ?? null
    // rustls verified the chain and name unless `rejectUnauthorized: false` switched that off.
    this.authorized = state.verified
    if (!state.verified && negotiated?.chainError !== undefined) this._judged(negotiated)
  }

  /**
   * `rejectUnauthorized: false`: the connection stands, and `authorized` and `authorizationError` say
   * what Node's TLSSocket says of it: the chain as Rust judged it, then (a new session only, as Node) the
   * name by the caller's `checkServerIdentity` or Node's own. An error's `code`, else its message, is
   * the `authorizationError`; a check that throws counts as one that returns its error.
   */
  _judged ({ chainError, resumed }) {
    const state = this[kTls]
    let error = chainError
    if (error === null && !resumed) {
      let refused
      try {
        refused = (state.checkServerIdentity ?? tls.checkServerIdentity)(state.hostname, this.getPeerCertificate(true))
      } catch (err) {
        refused = err
      }
      if (refused) error = refused.code || refused.message
    }
    this.authorized = error === null
    this.authorizationError = error
  }

  /** The server's certificates, parsed once asked for (most code never asks). */
  _peerChain () {
    const state = this[kTls]
    if (state.chain === null) return []
    if (!Array.isArray(state.chain)) state.chain = derChain(state.chain)
    return state.chain
  }

  getPeerCertificate (detailed) {
    const chain = this._peerChain()
    if (chain.length === 0) return {}
    return detailed ? detailedChain(chain, this[kTls].ca) : chain[0].toLegacyObject()
  }

  getPeerX509Certificate () {
    return this._peerChain()[0]
  }

  /** The client certificate this socket presents ({} for none). */
  getCertificate () {
    return this.getX509Certificate()?.toLegacyObject() ?? {}
  }

  getX509Certificate () {
    const state = this[kTls]
    if (state.cert !== undefined && !(state.cert instanceof X509Certificate)) state.cert = firstCertificate(state.cert)
    return state.cert
  }

  getProtocol () {
    return this[kTls].negotiated?.protocol ?? null
  }

  getCipher () {
    const { negotiated } = this[kTls]
    if (negotiated === null) return undefined
    const standardName = negotiated.suite.replace(/^TLS13_/, 'TLS_')
    return { name: OPENSSL_SUITES[standardName] ?? standardName, standardName, version: negotiated.protocol }
  }

  getEphemeralKeyInfo () {
    const group = this[kTls].negotiated?.group
    return group ? { ...EPHEMERAL_KEYS[group] } : {}
  }

  isSessionReused () {
    return this[kTls].negotiated?.resumed ?? false
  }

  getSession () {
    return undefined
  }

  getTLSTicket () {
    return undefined
  }

  getFinished () {
    return undefined
  }

  getPeerFinished () {
    return undefined
  }

  getSharedSigalgs () {
    return []
  }
}

/** The name a socket-face connection to `host` sends and checks, as `socket.servername` shows it. */
function sentServerName (options, host) {
  // servername '' sends none, as in Node (the name checked is then the host).
  if (options.servername !== undefined && options.servername !== null) return options.servername || false
  return net.isIP(host) ? false : host
}

module.exports = { TlsSocket, sentServerName }
