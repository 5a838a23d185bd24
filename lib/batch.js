'use strict'
// Reads the batches of events Rust sends (src/binding/events.rs, `JsBatch`): STRIDE numbers per event in
// `meta`, texts and small data back to back in `bytes`, larger data in `large`.

const { EVENT_STRIDE } = require('../binding.js')

const STRIDE = 8
if (EVENT_STRIDE !== STRIDE) {
  throw new Error(`keepalive-agent: the native addon reads events with stride ${EVENT_STRIDE}, this JS with ${STRIDE}: ` +
    'it was built from other sources; rebuild it with `npm run build`')
}

const Kind = {
  CONNECTED: 1,
  DATA: 2,
  END: 3,
  DRAIN: 4,
  CLOSED: 5,
  GRANTED: 6,
  REFUSED: 7,
  ANSWERED: 8,
  FAILED: 9,
  /** A connection opened for a Promise-face request got on (lib/diagnostics.js ConnectEvents). */
  CONNECT: 10,
  /** A request received a 1xx head before its answer (lib/requests.js). */
  INFORMATIONAL: 11,
  /** A connection of the hyper client ended (lib/diagnostics.js ConnectEvents). */
  ENDED: 12
}

/** The reused flag rides on the event's number as +1000. */
const REUSED = 1000

/** The event's text ('' when it has none). */
function text ({ meta, bytes }, at) {
  const start = meta[at + 4]
  const end = meta[at + 5]
  return start === end ? '' : bytes.utf8Slice(start, end)
}

/**
 * The event's data, or null. Data shared in `bytes` is copied out into memory of its own, so that no
 * Buffer handed to users exposes other connections' bytes through `.buffer`.
 */
function data ({ meta, bytes, large }, at) {
  const start = meta[at + 6]
  if (start === -1) return null
  if (start < -1) return large[-start - 2]
  const copy = Buffer.allocUnsafeSlow(meta[at + 7] - start)
  bytes.copy(copy, 0, start, meta[at + 7])
  return copy
}

/** What the server stapled, when `requestOCSP` asked: a Buffer, null for nothing; undefined: not asked. */
function stapledResponse (field) {
  if (field === '') return undefined
  return field === '-' ? null : Buffer.from(field, 'hex')
}

/**
 * Where a connection leads, from a connected event's text (`|`-separated: remote address, port and
 * family, the same locally, the ALPN protocol, then for TLS the protocol version, cipher suite, key
 * exchange group, '1' for a resumed session, the stapled OCSP response (hex, '-' for none, '' when not
 * asked), how the chain was judged where the route accepts any certificate ('OK' or Node's code, '' when
 * the route verifies) and the key log lines), as a net.Socket names it; `undefined` where unknown, `alpn`
 * '' without ALPN, `tls` null over plain TCP (see lib/tls-socket.js). `tls.chainError`: null for a chain
 * that stands, the code otherwise, undefined where not judged.
 */
function connectionInfo (info) {
  const [rAddr, rPort, rFamily, lAddr, lPort, , alpn, protocol, suite, group, resumed, stapled, chain, keyLog] = info.split('|')
  return {
    addresses: {
      remoteAddress: rAddr || undefined,
      remotePort: rPort ? Number(rPort) : undefined,
      remoteFamily: rFamily || undefined,
      localAddress: lAddr || undefined,
      localPort: lPort ? Number(lPort) : undefined
    },
    alpn,
    tls: protocol
      ? { protocol, suite, group, resumed: resumed === '1', stapled: stapledResponse(stapled), chainError: chain === '' ? undefined : chain === 'OK' ? null : chain, keyLog }
      : null
  }
}

module.exports = { STRIDE, Kind, REUSED, text, data, connectionInfo }
