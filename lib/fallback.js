'use strict'
// Requests the Rust pool cannot serve as asked, which Node's own Agent logic then serves with a Node
// socket: TLS options rustls cannot take. Honouring them matters more than pooling that request in
// Rust: ignoring them would silently make another connection than the one asked for.

const UNSUPPORTED = ['pfx', 'passphrase', 'ciphers', 'ecdhCurve', 'secureContext', 'secureOptions',
  'secureProtocol', 'crl', 'sigalgs', 'dhparam', 'honorCipherOrder', 'sessionIdContext',
  'privateKeyEngine', 'privateKeyIdentifier']

/** Returns the option that makes Node's own Agent serve this request, or null when the Rust pool can. */
function servedByNode (options, secure) {
  if (!secure) return null
  for (const name of UNSUPPORTED) {
    if (options[name] !== undefined) return name
  }
  return null
}

module.exports = { servedByNode }
