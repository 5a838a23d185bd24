'use strict'
// Which HTTP proxy carries a request, decided per target: the `proxy` option (a URL for every request),
// or Node's environment semantics, opted in as Node 24 does (`proxyEnv: process.env`) or with
// `proxy: 'env'`: HTTPS_PROXY for https targets, HTTP_PROXY for http ones, lowercase names first, and
// NO_PROXY entries (host or subdomain, optional port, `*` for all) going direct. The chosen proxy becomes
// part of the request's connect profile, so tunnels are pooled by target + proxy + credentials + TLS.

const net = require('node:net')
const { codedError, describe } = require('./errors')

function invalidProxy (name, value) {
  return codedError(TypeError, 'ERR_INVALID_ARG_VALUE',
    `The property 'options.${name}' must be an http: or https: URL. Received ${typeof value === 'string' ? `'${value}'` : describe(value)}`)
}

/** A proxy URL as the native side takes it: { secure, host, port, authorization, url }. */
function parseProxyUrl (value, name) {
  let url
  try {
    url = value instanceof URL ? value : new URL(String(value))
  } catch {
    throw invalidProxy(name, value)
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') throw invalidProxy(name, value)
  const secure = url.protocol === 'https:'
  let authorization
  if (url.username || url.password) {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
    authorization = `Basic ${Buffer.from(credentials).toString('base64')}`
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  return { secure, host, port: Number(url.port) || (secure ? 443 : 80), authorization, url: url.href }
}

function fromEnv (env, name) {
  const value = env[name.toLowerCase()] ?? env[name]
  return value === undefined || value === '' ? undefined : value
}

/**
 * The proxy setting of an agent or a request: undefined (direct), `{ fixed }` or `{ http, https,
 * noProxy }` from an environment. Throws ERR_INVALID_ARG_* for a malformed value.
 */
function proxySetting (options) {
  const { proxy, proxyEnv } = options
  if (proxy !== undefined && proxy !== null && proxy !== 'env') {
    if (typeof proxy !== 'string' && !(proxy instanceof URL)) {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE',
        `The "options.proxy" property must be of type string or an instance of URL. ${describe(proxy)}`)
    }
    return { fixed: parseProxyUrl(proxy, 'proxy') }
  }
  let env = proxy === 'env' ? process.env : undefined
  if (proxyEnv !== undefined && proxyEnv !== null) {
    if (typeof proxyEnv !== 'object') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "options.proxyEnv" property must be of type object. ${describe(proxyEnv)}`)
    }
    env = proxyEnv
  }
  if (env === undefined) return undefined
  const http = fromEnv(env, 'HTTP_PROXY')
  const https = fromEnv(env, 'HTTPS_PROXY')
  return {
    http: http && parseProxyUrl(http, 'proxyEnv.HTTP_PROXY'),
    https: https && parseProxyUrl(https, 'proxyEnv.HTTPS_PROXY'),
    noProxy: String(fromEnv(env, 'NO_PROXY') ?? '').toLowerCase().split(/[\s,]+/).filter(Boolean)
  }
}

/** Whether a NO_PROXY entry sends `host:port` direct. */
function bypasses (entry, host, port) {
  if (entry === '*') return true
  let name = entry
  let entryPort
  const bracketed = /^\[(.*)\](?::(\d+))?$/.exec(entry)
  if (bracketed) {
    name = bracketed[1]
    entryPort = bracketed[2]
  } else if (net.isIPv6(entry) === false && entry.includes(':')) {
    [name, entryPort] = entry.split(':')
  }
  if (entryPort !== undefined && Number(entryPort) !== port) return false
  name = name.replace(/^\*/, '').replace(/^\./, '')
  return host === name || host.endsWith(`.${name}`)
}

/** The proxy for a request to `target` ({ secure, host, port }) under `setting`, or undefined. */
function proxyFor (setting, target) {
  if (setting === undefined) return undefined
  if (setting.fixed) return setting.fixed
  const proxy = target.secure ? setting.https : setting.http
  if (proxy === undefined) return undefined
  const host = target.host.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (setting.noProxy.some(entry => bypasses(entry, host, target.port))) return undefined
  return proxy
}

module.exports = { proxySetting, proxyFor }
