'use strict'
// Requests the Rust pool cannot serve as asked, which Node's own Agent logic then serves with a Node
// socket: a Unix socket path, or TLS options given per request that differ from the agent's. Honouring a
// per-request `ca` or `rejectUnauthorized: false` matters more than pooling that request in Rust: using
// the agent's trust instead would silently accept or refuse what the caller asked otherwise.

// TLS options Node passes to tls.connect that the Rust pool takes only per agent, or not at all.
const PER_AGENT = ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername', 'minVersion', 'maxVersion']
const UNSUPPORTED = ['pfx', 'passphrase', 'ciphers', 'ecdhCurve', 'secureContext', 'secureOptions',
  'secureProtocol', 'checkServerIdentity', 'crl', 'sigalgs', 'dhparam', 'honorCipherOrder', 'sessionIdContext',
  'privateKeyEngine', 'privateKeyIdentifier']

function sameBytes (a, b) {
  const list = v => (Array.isArray(v) ? v : [v]).map(x => (typeof x === 'string' ? Buffer.from(x) : Buffer.from(x.buffer, x.byteOffset, x.byteLength)))
  const x = list(a)
  const y = list(b)
  return x.length === y.length && x.every((item, i) => item.equals(y[i]))
}

/** Whether a request option (merged as Node merges: the agent's options win) asks for something else. */
function differs (name, requested, agent, normalized, host) {
  if (requested === undefined || requested === null) return false
  switch (name) {
    case 'rejectUnauthorized': return (requested !== false) !== normalized.rejectUnauthorized
    // SNI and verification use the host unless told otherwise: naming the host changes nothing.
    case 'servername': return requested !== (normalized.servername ?? host)
    case 'minVersion': case 'maxVersion': return requested !== normalized[name]
    default: return agent[name] === undefined || !sameBytes(requested, agent[name])
  }
}

/**
 * Returns why Node's own Agent must serve this request (`options` merged as Node merges them), or null
 * when the Rust pool can. `agentOptions` are the options the agent was made with, `normalized` theirs
 * after validation.
 */
function servedByNode (options, agentOptions, normalized, secure) {
  if (options.socketPath) return 'socketPath'
  // Local binding and custom DNS also change what connection is made.
  for (const name of ['lookup', 'family', 'hints', 'localAddress', 'localPort']) {
    if (options[name] !== undefined && options[name] !== agentOptions[name]) return name
  }
  if (!secure) return null
  const host = options.host || options.hostname || 'localhost'
  for (const name of PER_AGENT) {
    if (agentOptions[name] === undefined && differs(name, options[name], agentOptions, normalized, host)) return name
  }
  for (const name of UNSUPPORTED) {
    if (options[name] !== undefined) return name
  }
  return null
}

module.exports = { servedByNode }
