'use strict'
// How an agent's connections are made, on the JS side: the connect profiles (the agent's own, and those
// of requests with connect or TLS options of their own, which the Rust pool keys apart), the caller's
// functions Rust asks for while connecting (`lookup`, `checkServerIdentity`, `createConnection`, and a
// `blockList`'s check), and Node's default trust, handed to Rust once. A socket made by
// `createConnection` (a subclass's override, or the option) is the one case where a Node socket carries
// the bytes: it stays here, and Rust reads and writes it through the same asks; the pool counts and caps
// it like any other connection.

const dns = require('node:dns')
const http = require('node:http')
const https = require('node:https')
const fs = require('node:fs')
const net = require('node:net')
const tls = require('node:tls')
const { X509Certificate } = require('node:crypto')
const { NativeAgent } = require('../native.js')
const { codedError, fromNative } = require('./errors')
const { hold } = require('./held')
const { connectOptions, verifiesByDefault, CONNECT_OPTIONS } = require('./options')

const IS_CONNECT_OPTION = new Set(CONNECT_OPTIONS)
const { proxyFor } = require('./proxy')

const ASK_LOOKUP = 1
const ASK_CHECK_SERVER_IDENTITY = 2
const ASK_CREATE_CONNECTION = 3
const SOCKET_WRITE = 4
const SOCKET_END = 5
const SOCKET_DESTROY = 6
const ASK_ALLOWED = 7
// The function id for Node's own tls.checkServerIdentity (src/connect/resolve.rs); the caller's start at 1.
const NODE_CHECK_SERVER_IDENTITY = 0
// Requests with options of their own are few shapes in practice; a program that makes a new shape per
// request (a fresh lookup closure each time) still stays bounded.
const PROFILES_MAX = 256
// Sets of a request's own options whose profile is recalled without checking them again (see RecentProfiles).
const RECENT_KEPT = 8

let defaultCaGiven = false

/**
 * What Node trusts without `ca`: tls.getCACertificates('default') where Node has it (it follows
 * --use-system-ca / --use-openssl-ca), else the bundled roots plus the NODE_EXTRA_CA_CERTS file, which
 * Node reads the same way (an unreadable file is ignored with a warning by Node, silently here).
 */
function defaultCa () {
  if (typeof tls.getCACertificates === 'function') return tls.getCACertificates('default')
  const pems = [...tls.rootCertificates]
  const extra = process.env.NODE_EXTRA_CA_CERTS
  if (extra) {
    try {
      pems.push(fs.readFileSync(extra, 'latin1'))
    } catch {}
  }
  return pems
}

function giveDefaultCa () {
  if (defaultCaGiven) return
  defaultCaGiven = true
  NativeAgent.setDefaultCa(Buffer.from(defaultCa().join('\n'), 'latin1'))
}

/**
 * Certificates (X509Certificates, leaf first) in the shape of Node's `getPeerCertificate(true)`: each
 * with its issuer's, the last its own issuer; {} for none.
 */
function certificateChain (certs) {
  const objects = certs.map(x => x.toLegacyObject())
  for (let i = 0; i < objects.length; i++) objects[i].issuerCertificate = objects[i + 1] ?? objects[i]
  return objects[0] ?? {}
}

/** A stable text for a checked value, so that equal options make equal profile keys. */
function keyPart (value, functionId) {
  if (value === undefined) return ''
  // A function or a BlockList is its own identity (their ids are kept with the caller's functions).
  if (typeof value === 'function' || value instanceof net.BlockList) return `f${functionId(value)}`
  if (Buffer.isBuffer(value)) return value.toString('latin1')
  if (Array.isArray(value)) return value.map(v => keyPart(v, functionId)).join('\u0001')
  // Marked, so that '' (servername '': no SNI) differs from an option not given.
  if (typeof value === 'string') return `'${value}`
  return String(value)
}

/** Whether options `own` (see `Connections.differing`) set a proxy of their own. */
function namesProxy (own) {
  if (own === null) return false
  for (let i = 0; i < own.length; i += 2) {
    if (own[i] === 'proxy' || own[i] === 'proxyEnv') return true
  }
  return false
}

/** A copy of option value `value` as `sameValue` compares it: the bytes of a view, each item of an array. */
function kept (value) {
  if (ArrayBuffer.isView(value)) return Buffer.from(Buffer.from(value.buffer, value.byteOffset, value.byteLength))
  if (Array.isArray(value)) return value.map(kept)
  return value
}

/**
 * Whether option value `value` makes the profile key that value `copy` (see `kept`) made: the same bytes
 * for a view (the key holds its bytes), the same items for an array, the same string, number, boolean,
 * function or BlockList (a function is its identity in the key) otherwise.
 */
function sameValue (value, copy) {
  if (ArrayBuffer.isView(value)) {
    if (!Buffer.isBuffer(copy)) return false
    return copy.equals(value instanceof Uint8Array ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength))
  }
  if (Array.isArray(value)) {
    if (!Array.isArray(copy) || copy.length !== value.length) return false
    for (let i = 0; i < value.length; i++) {
      if (!sameValue(value[i], copy[i])) return false
    }
    return true
  }
  return value === copy
}

/**
 * The profiles of the last few sets of a request's own options, found again by comparing the options:
 * a caller that repeats its options on every request (a `ca` read once, `rejectUnauthorized: false`)
 * skips checking them and building their key, 12-17 µs a request, more than the rest of our work at 64
 * in flight. The options are compared as the key is made of them (see `sameValue`), against copies, so
 * a Buffer or array changed in place since makes its own profile, as Node's agent's name would. Whether
 * certificates are verified by default (NODE_TLS_REJECT_UNAUTHORIZED) is part of each entry.
 */
class RecentProfiles {
  constructor () {
    this.entries = []
  }

  find (own, later, verifies) {
    for (const entry of this.entries) {
      if (entry.later === later && entry.verifies === verifies && sameValue(own, entry.own)) return entry.id
    }
    return undefined
  }

  keep (own, later, verifies, id) {
    if (this.entries.length === RECENT_KEPT) this.entries.pop()
    this.entries.unshift({ own: kept(own), later, verifies, id })
  }

  clear () {
    this.entries = []
  }
}

/** Node's own `createConnection`s, as this module found them (code may patch Node's prototypes later). */
const NODE_CREATE_CONNECTION = new Set([http.Agent.prototype.createConnection, https.Agent.prototype.createConnection])

/** The agent's own `createConnection` when a subclass (or a patch) replaces Node's, bound to the agent. */
function overriddenCreateConnection (agent) {
  const own = agent.createConnection
  if (typeof own !== 'function' || NODE_CREATE_CONNECTION.has(own)) return undefined
  return (options, callback) => own.call(agent, options, callback)
}

class Connections {
  /** `agentOptions` are the options `agent` was made with, `checked` their connect options. */
  constructor (agent, agentOptions, checked) {
    giveDefaultCa()
    this.agent = agent
    /** The `createConnection` the agent was made with, and the wrapper of a later one (`laterCreateConnection`). */
    this.madeWith = agent.createConnection
    this.later = null
    const override = overriddenCreateConnection(agent)
    if (override !== undefined) {
      agentOptions = { ...agentOptions, createConnection: override }
      checked = { ...checked, createConnection: override }
    }
    this.agentOptions = agentOptions
    /** Sockets made by `createConnection`, by the id Rust knows them by. */
    this.sockets = new Map()
    this.functions = new Map()
    this.functionIds = new WeakMap()
    this.nextFunction = 1
    this.profiles = new Map()
    this.recent = new RecentProfiles()
    /** The proxy of each registered profile that has one. */
    this.proxies = new Map()
    /** Registered profiles that dial a Unix socket. */
    this.unixRoutes = new Set()
    this.nextProfile = 1
    this.native = null
    this.agentChecked = checked
    // The agent's own profile goes direct; with a proxy setting, each request picks its route.
    this.agentKey = this.key(checked, undefined)
    this.agentNative = this.toNative(checked, undefined)
    // The agent's functions keep their ids for its life; requests' own functions are forgotten with
    // their profiles (a fresh closure per request must not pile up), one generation late, because a
    // connection of a forgotten profile's route may still be asking.
    this.agentFunctions = new Map(this.functions)
    this.retiredFunctions = new Map()
    /** What `createConnection` gets for each profile of a request with options of its own. */
    this.createOptions = new Map()
    this.retiredCreateOptions = new Map()
  }

  /** Starts a new generation of profiles and of request functions. */
  forgetProfiles () {
    this.profiles.clear()
    this.recent.clear()
    this.proxies.clear()
    this.unixRoutes.clear()
    this.native.clearProfiles()
    this.retiredCreateOptions = this.createOptions
    this.createOptions = new Map()
    this.retiredFunctions = this.functions
    this.functions = new Map(this.agentFunctions)
    this.functionIds = new WeakMap()
    for (const [id, fn] of this.agentFunctions) this.functionIds.set(fn, id)
  }

  functionId (fn) {
    let id = this.functionIds.get(fn)
    if (id === undefined) {
      id = this.nextFunction++
      this.functionIds.set(fn, id)
      this.functions.set(id, fn)
    }
    return id
  }

  key (checked, proxy) {
    // The proxy setting itself is not in the key: the proxy it picks (URL with credentials) is. Nor is
    // minDHSize, which every rustls connection meets (lib/options.js).
    const id = fn => this.functionId(fn)
    const parts = CONNECT_OPTIONS.map(name => name === 'proxy' || name === 'minDHSize' ? '' : keyPart(checked[name], id))
    return `${parts.join('\u0000')}\u0000${proxy?.url ?? ''}\u0000${keyPart(checked.createConnection, id)}`
  }

  /** Checked options as the native side takes them: functions as ids, the chosen proxy. */
  toNative (checked, proxy, profileId) {
    return {
      ...checked,
      profileId,
      proxy: proxy && { secure: proxy.secure, host: proxy.host, port: proxy.port, authorization: proxy.authorization },
      lookup: checked.lookup && this.functionId(checked.lookup),
      blockList: checked.blockList && this.functionId(checked.blockList),
      checkServerIdentity: checked.checkServerIdentity && this.functionId(checked.checkServerIdentity),
      createConnection: checked.createConnection && this.functionId(checked.createConnection)
    }
  }

  /**
   * The connect profile of a request: 0 (the agent's) unless `options` set connect or TLS options the
   * agent's options do not, or a proxy carries it. Where both set one, `options` win here; the socket
   * face passes options merged as Node merges them (the agent's win). `target()` tells where the request
   * goes ({ secure, host, port }), asked only when a proxy setting must choose. `names`: the option names
   * to look at, by default the request's own (a few, on the Promise face: cheaper than a lookup of each
   * of thirty names); the socket face passes `CONNECT_OPTIONS`, since Node's merged options are a
   * null-prototype object that V8 keeps as a dictionary, slow to enumerate. Throws Node's codes for
   * invalid values.
   */
  profileFor (options, target, names = null) {
    let own = null
    if (names === null) {
      for (const name in options) {
        if (IS_CONNECT_OPTION.has(name)) own = this.differing(own, name, options[name])
      }
    } else {
      for (let i = 0; i < names.length; i++) own = this.differing(own, names[i], options[names[i]])
    }
    const later = this.laterCreateConnection()
    if (own === null && later === undefined && this.agentChecked.proxy === undefined) {
      if (!this.defaultTrustChanged(target)) return 0
      own = ['rejectUnauthorized', !this.agentChecked.rejectUnauthorized]
    }
    // A proxy setting picks its proxy by target: such profiles are not recalled.
    if (this.agentChecked.proxy !== undefined || namesProxy(own)) return this.profileOf(own, later, target)
    const verifies = verifiesByDefault()
    let id = this.recent.find(own, later, verifies)
    if (id === undefined) {
      id = this.profileOf(own, later, target)
      this.recent.keep(own, later, verifies, id)
    }
    return id
  }

  /**
   * Whether a TLS request to `target()` on an agent not told `rejectUnauthorized` must be checked
   * otherwise than the agent's own connections are: NODE_TLS_REJECT_UNAUTHORIZED changed since the agent
   * was made. Node reads it at each connection, so a program (or its tests) may set it after its agents
   * were made; the agent's connections keep being checked as they were, and never serve such requests.
   */
  defaultTrustChanged (target) {
    return this.agentOptions.rejectUnauthorized === undefined && target().secure &&
      verifiesByDefault() !== this.agentChecked.rejectUnauthorized
  }

  /** `own` (the request's options that differ from the agent's, `[name, value, ...]`; null: none yet) with `name`'s `value`, where it differs. */
  differing (own, name, value) {
    if (value === undefined || value === this.agentOptions[name]) return own
    own ??= []
    own.push(name, value)
    return own
  }

  /** The profile of a request with options `own` (see `differing`), checked, keyed and registered. */
  profileOf (own, later, target) {
    let merged = null
    if (own !== null) {
      merged = { ...this.agentOptions }
      for (let i = 0; i < own.length; i += 2) merged[own[i]] = own[i + 1]
      // As Node 22+: a request's own checkServerIdentity resumes no TLS session, so that it judges every
      // server it is given (a resumed one would not be shown to it by Node, nor to `authorized` here).
      if (merged.checkServerIdentity !== this.agentOptions.checkServerIdentity && merged.checkServerIdentity !== tls.checkServerIdentity) {
        merged.maxCachedSessions = 0
      }
    }
    if (later !== undefined && merged?.createConnection === undefined) merged = this.override(merged, 'createConnection', later)
    if (merged === null && this.agentChecked.proxy === undefined) return 0
    const checked = merged === null ? this.agentChecked : connectOptions(merged)
    const proxy = checked.proxy === undefined ? undefined : proxyFor(checked.proxy, target())
    const key = this.key(checked, proxy)
    if (key === this.agentKey) return 0
    let id = this.profiles.get(key)
    if (id === undefined) {
      if (this.profiles.size >= PROFILES_MAX) this.forgetProfiles()
      id = this.nextProfile++
      try {
        this.native.addProfile(id, this.toNative(checked, proxy, id))
      } catch (err) {
        throw fromNative(err)
      }
      this.profiles.set(key, id)
      if (proxy !== undefined) this.proxies.set(id, proxy)
      if (checked.socketPath !== undefined) this.unixRoutes.add(id)
      if (checked.createConnection !== undefined) this.createOptions.set(id, merged ?? this.agentOptions)
    }
    return id
  }

  /**
   * The agent's `createConnection` when it is no longer the one the agent was made with: Node's agent
   * calls whatever `agent.createConnection` is when it makes a socket, so code assigns one to a made
   * agent, declares one as a class field (set after the constructor ran), or patches Node's prototype.
   * One wrapper per function, so that its requests share a route.
   */
  laterCreateConnection () {
    const own = this.agent.createConnection
    if (own === this.madeWith || typeof own !== 'function') return undefined
    if (this.later?.own !== own) {
      const agent = this.agent
      this.later = { own, wrapper: (options, callback) => own.call(agent, options, callback) }
    }
    return this.later.wrapper
  }

  /**
   * Whether connections of `profile` are TCP straight from the pool, so that libuv can take their fd: no
   * proxy (whose http: requests go in absolute form), no caller's `createConnection`, no Unix socket.
   */
  plain (profile) {
    if (profile === 0) return this.agentChecked.createConnection === undefined && this.agentChecked.socketPath === undefined
    return !this.proxies.has(profile) && !this.unixRoutes.has(profile) && !this.createOptions.has(profile) &&
      !this.retiredCreateOptions.has(profile)
  }

  /** `merged` (null: nothing yet), with the request's `value` for option `name` where it differs from the agent's. */
  override (merged, name, value) {
    if (value === undefined || value === this.agentOptions[name]) return merged
    merged ??= { ...this.agentOptions }
    merged[name] = value
    return merged
  }

  /**
   * Socket face: a request for an http: target through a proxy is sent to the proxy in absolute form,
   * with the proxy's credentials (an https: target goes through a CONNECT tunnel instead, in Rust).
   */
  forward (req, profile, { secure, host, port }) {
    const proxy = this.proxies.get(profile)
    if (proxy === undefined || secure || req._header) return
    const name = net.isIPv6(host) ? `[${host}]` : host
    req.path = `http://${port === 80 ? name : `${name}:${port}`}${req.path}`
    if (proxy.authorization && !req.hasHeader('proxy-authorization')) req.setHeader('Proxy-Authorization', proxy.authorization)
  }

  /** Rust asks while it connects (src/binding/hooks.rs). */
  onAsk (ask) {
    // Function 0 is Node's own name check, which tells a name that did not match (src/connect/mod.rs).
    const fn = ask.func === NODE_CHECK_SERVER_IDENTITY
      ? tls.checkServerIdentity
      : this.functions.get(ask.func) ?? this.retiredFunctions.get(ask.func)
    switch (ask.kind) {
      case ASK_LOOKUP: this.lookup(fn, ask); break
      case ASK_CHECK_SERVER_IDENTITY: this.checkServerIdentity(fn, ask); break
      case ASK_CREATE_CONNECTION: this.createConnection(fn, ask); break
      case ASK_ALLOWED: this.allowed(fn, ask); break
      case SOCKET_WRITE: this.sockets.get(ask.ticket)?.write(ask.certs[0]); break
      case SOCKET_END: this.sockets.get(ask.ticket)?.end(); break
      case SOCKET_DESTROY: this.sockets.get(ask.ticket)?.destroy(); break
    }
  }

  fail (ticket, err) {
    this.native.answerError(ticket, hold(err), String(err?.message ?? err))
  }

  /** Node's call: `lookup(host, { family, hints, all: true }, callback)`; either answer shape is taken. */
  lookup (fn, { ticket, host, family, hints }) {
    let answered = false
    const callback = (err, address, addressFamily) => {
      if (answered) return
      answered = true
      if (err) return this.fail(ticket, err)
      const list = Array.isArray(address) ? address : [{ address, family: addressFamily }]
      const ips = []
      for (const entry of list) {
        const ip = typeof entry === 'string' ? entry : entry?.address
        if (net.isIP(ip) === 0) {
          return this.fail(ticket, codedError(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${ip}`))
        }
        ips.push(ip)
      }
      this.native.answerLookup(ticket, ips)
    }
    // As net.connect: without a family or hints, ask for addresses this machine can reach.
    const options = { family, hints: family === 0 && hints === 0 ? dns.ADDRCONFIG : hints, all: true }
    try {
      fn(host, options, callback)
    } catch (err) {
      callback(err)
    }
  }

  /**
   * Node's call: `createConnection(options, callback)`, the socket returned or given to the callback.
   * Rust is answered once it is connected; then its bytes flow through `streamData`/`streamEnd`/
   * `streamError` under `ticket`, and Rust's writes come back as asks.
   */
  createConnection (fn, { ticket, host, port, profile, secure }) {
    const native = this.native
    let settled = false
    let opened = false
    const open = () => {
      opened = true
      native.answerOk(ticket)
    }
    const use = socket => {
      if (settled) return
      settled = true
      this.sockets.set(ticket, socket)
      socket.on('data', chunk => native.streamData(ticket, chunk))
      socket.on('end', () => native.streamEnd(ticket))
      socket.on('error', err => {
        if (opened) native.streamError(ticket, hold(err), String(err?.message ?? err))
        else this.fail(ticket, err)
      })
      socket.on('close', () => {
        this.sockets.delete(ticket)
        native.streamEnd(ticket)
      })
      // In-flight requests keep the process alive by themselves; an idle pooled socket must not.
      socket.unref?.()
      if (socket.connecting) socket.once('connect', open)
      else open()
    }
    const callback = (err, socket) => {
      if (err) {
        if (!settled) this.fail(ticket, err)
        settled = true
      } else if (socket) {
        use(socket)
      }
    }
    const own = this.createOptions.get(profile) ?? this.retiredCreateOptions.get(profile) ?? this.agentOptions
    // `protocol` as Node's request options carry it: the origin's scheme (an undici connector needs it).
    const options = { ...own, host, port, protocol: secure ? 'https:' : 'http:', encoding: null }
    // As Node's agent gives it: net.connect dials a Unix socket by `path`.
    if (options.socketPath) options.path = options.socketPath
    if (net.isIP(host) === 0) options.servername ??= host
    // As Node's agent asks of its sockets: TCP keep-alive after keepAliveMsecs.
    if (this.agent.keepAlive) {
      options.keepAlive = true
      options.keepAliveInitialDelay = this.agent.keepAliveMsecs
    }
    try {
      const socket = fn(options, callback)
      if (socket) use(socket)
    } catch (err) {
      callback(err)
    }
  }

  /**
   * As net.connect with a `blockList`: the addresses it lets through are dialled (in order); when it
   * blocks them all, Node's ERR_IP_BLOCKED for the first fails the connection.
   */
  allowed (blockList, { ticket, addresses }) {
    let allowed
    try {
      allowed = addresses.filter(ip => !blockList.check(ip, net.isIPv6(ip) ? 'ipv6' : 'ipv4'))
    } catch (err) {
      return this.fail(ticket, err)
    }
    if (allowed.length === 0) return this.fail(ticket, codedError(Error, 'ERR_IP_BLOCKED', `IP(${addresses[0]}) is blocked by net.BlockList`))
    this.native.answerLookup(ticket, allowed)
  }

  /** As tls.connect: what it returns (an Error, or any truthy value) or throws fails the connection before it is used. */
  checkServerIdentity (fn, { ticket, host, certs }) {
    let result
    try {
      result = fn(host, certificateChain(certs.map(der => new X509Certificate(der))))
    } catch (err) {
      result = err
    }
    // Any truthy answer refuses, as tls.connect takes it (an Error of another realm, a string, a Promise).
    if (result) this.fail(ticket, result)
    else this.native.answerOk(ticket)
  }
}

module.exports = { Connections, certificateChain, defaultCa }
