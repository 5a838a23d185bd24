/// <reference types="node" />
import * as http from 'node:http'
import * as https from 'node:https'
import * as net from 'node:net'
import { Readable } from 'node:stream'

/** Options accepted by `new Agent()`; names and meanings follow Node's `http.Agent` and agentkeepalive. */
interface AgentOptions extends ConnectOptions {
  /**
   * Keep connections open between requests. Default `true`. `false` keeps nothing idle; with a finite
   * `maxSockets` a freed connection still goes to a waiting request, as with Node's agent.
   */
  keepAlive?: boolean
  /** Initial delay of TCP keep-alive probes, in ms. Default 1000. */
  keepAliveMsecs?: number
  /** Connections per origin (active + idle + being connected + being closed). Default `Infinity`. */
  maxSockets?: number
  /** Connections across all origins. Default `Infinity`. */
  maxTotalSockets?: number
  /** Idle connections kept per origin. Default 256. */
  maxFreeSockets?: number
  /** Which idle connection is reused first. Default `'lifo'`. */
  scheduling?: 'lifo' | 'fifo'
  /**
   * Ms taken off a server's `Keep-Alive: timeout=N` hint, so that the agent closes an idle connection
   * before the server does; a hint it leaves nothing of is not pooled. Default 1000. Node 22+'s option
   * (Node 20's agent keeps 1000), read on every Node; a value Node does not take counts as 1000.
   */
  agentKeepAliveTimeoutBuffer?: number
  /**
   * Inactivity limit in ms while a request is active. Default none. On the Promise face it covers
   * connecting, waiting for the head and the body both ways; every byte that moves starts it again
   * (`ETIMEDOUT`). On the socket face, when it passes and nobody listens for the request's `'timeout'`,
   * the request fails with `ERR_SOCKET_TIMEOUT`.
   */
  timeout?: number | string
  /**
   * Idle deadline in ms of a pooled connection (lowered by a server's `Keep-Alive: timeout=N`). `0`: no
   * idle deadline of its own, so an idle connection keeps `timeout` if one is set. Default 4000.
   */
  freeSocketTimeout?: number | string
  /** agentkeepalive's older names for `freeSocketTimeout` (they win over it, as there). */
  keepAliveTimeout?: number | string
  freeSocketKeepAliveTimeout?: number | string
  /** Maximum age in ms of a connection; it is closed when next freed after that. Default none. */
  socketActiveTTL?: number | string
  /** Limit in ms on DNS + TCP + TLS connection set-up. Default 10000; 0: none. */
  connectTimeout?: number
  /** Limit in ms on waiting in the queue for a connection (`ERR_POOL_TIMEOUT`). Default none. */
  queueTimeout?: number
  /** Maximum number of requests waiting for a connection per origin (`ERR_POOL_QUEUE_FULL`). Default none. */
  maxQueueSize?: number
  /** undici 6's Agent option: redirects the dispatcher face follows where a dispatch gives no `maxRedirections`. Default 0. */
  maxRedirections?: number
  /**
   * Makes every connection of this agent instead of the Rust pipeline (as a subclass overriding
   * `createConnection` does): the socket returned (or given to `callback`) carries the bytes, TLS
   * included; the pool still counts and caps it.
   */
  createConnection?: (options: Record<string, unknown>, callback: (err: Error | null, socket?: import('node:stream').Duplex) => void) => import('node:stream').Duplex | undefined | void
  /**
   * undici's Agent option: connect and TLS options (`lookup`, `ca`, `rejectUnauthorized`, ...; `timeout` is
   * `connectTimeout`, 0 for none), which win over the same options given beside them and `tls`'s; or undici's
   * connector (`undici.buildConnector(...)`), which makes every connection as `createConnection` does and
   * keeps to its own time limit unless `connectTimeout` is given.
   */
  connect?: ConnectOptions & { timeout?: number, keepAliveInitialDelay?: number, keepAlive?: boolean } | UndiciConnector
  /** undici's Agent option: TLS options, read as `connect`'s (which win over them). */
  tls?: ConnectOptions
  /** undici 6's Agent option: `Agent` interceptors (`dispatch => dispatch`) run around every dispatch, the first outermost. */
  interceptors?: { Agent?: Array<(dispatch: (opts: object, handler: object) => boolean) => (opts: object, handler: object) => boolean> }
  /** undici's Agent option: connections per origin, as `maxSockets` (which wins where both are given); 0 or null: no cap. */
  connections?: number | null
  /** undici's Agent option: the dispatcher face's limit (ms) on waiting for a response head, where a dispatch gives none. Default 300000; 0: none. */
  headersTimeout?: number
  /** undici's Agent option: the dispatcher face's limit (ms) between response body bytes, where a dispatch gives none. Default 300000; 0: none. */
  bodyTimeout?: number
  /** undici's Agent option: the most bytes of a response body the dispatcher face hands on; a longer one fails with `UND_ERR_RES_EXCEEDED_MAX_SIZE`. Default -1: no limit. */
  maxResponseSize?: number
  /** undici's Agent option: `agentKeepAliveTimeoutBuffer` (which wins where both are given). */
  keepAliveTimeoutThreshold?: number
  /** undici's Agent option: the longest (ms) a server's Keep-Alive hint keeps a connection idle. */
  keepAliveMaxTimeout?: number
  /** undici's Agent option: the dispatcher face's limit on a response head's header names and values, in bytes (`UND_ERR_HEADERS_OVERFLOW`). Default Node's `--max-http-header-size`, 16 KiB; no head over 64 KiB is read. */
  maxHeaderSize?: number
  /** undici's Agent option: a connection of the dispatcher and Promise faces closes after serving this many requests. Default none (0). */
  maxRequestsPerClient?: number | null
  /** undici's Agent option: false lets a dispatched body differ from its Content-Length, with a warning (what is past it is not sent). Default true: `UND_ERR_REQ_CONTENT_LENGTH_MISMATCH`. */
  strictContentLength?: boolean
  /** undici's Agent option: 0 is `keepAlive: false` (which wins where both are given); above 1 taken as 1 (no HTTP/1.1 pipelining). */
  pipelining?: number
}

/** undici's connector: makes a connection (TLS included for `https:`) and gives it to `callback` once connected. */
type UndiciConnector = (
  options: { host: string, hostname: string, protocol: string, port: string, servername: string | null, localAddress: string | null, httpSocket?: undefined },
  callback: (err: Error | null, socket?: import('node:stream').Duplex) => void
) => unknown

/** Node's `lookup` signature (`dns.lookup`): called with `all: true`; either answer shape is taken. */
type LookupFunction = (
  hostname: string,
  options: { family: number, hints: number, all: boolean },
  callback: (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string, family: number }>, family?: number) => void
) => void

/**
 * How connections are made: agent-level or per request (both faces), all served by the Rust pool and
 * part of its route key, so a connection made one way never serves a request that asked for another.
 */
interface ConnectOptions {
  /** Resolves host names instead of the system resolver, once per new connection (not for IP literals). */
  lookup?: LookupFunction
  /** Addresses never dialled (checked for each new connection); all blocked fails with `ERR_IP_BLOCKED`. */
  blockList?: net.BlockList
  /** Address family to resolve: 0 (both), 4 or 6. Default 0. */
  family?: 0 | 4 | 6
  /** getaddrinfo flags (`dns.ADDRCONFIG`...). */
  hints?: number
  /** Local IP address to connect from. */
  localAddress?: string
  /** Local port to connect from. */
  localPort?: number
  /** A Unix domain socket to connect to instead of TCP (pooled like any other route). */
  socketPath?: string
  /** Try every resolved address, the next after `autoSelectFamilyAttemptTimeout` (Happy Eyeballs). Default `true`. */
  autoSelectFamily?: boolean
  /** Default 250 ms (at least 10). */
  autoSelectFamilyAttemptTimeout?: number
  /** Trusted CA certificates (PEM). Default: what Node trusts (its roots plus `NODE_EXTRA_CA_CERTS`). */
  ca?: string | Buffer | Array<string | Buffer>
  /** Client certificate chain (PEM). */
  cert?: string | Buffer | Array<string | Buffer>
  /** Client private key (PEM). */
  key?: string | Buffer | Array<string | Buffer>
  /** Client certificate chain and key as PKCS#12, with its `passphrase`. */
  pfx?: string | Buffer
  passphrase?: string
  /** An OpenSSL cipher string (`HIGH:!aNULL`, `ECDHE-RSA-AES128-GCM-SHA256`, `TLS_AES_128_GCM_SHA256`...), read over the suites rustls has. */
  ciphers?: string
  /** Protocols offered by ALPN (names, or a Buffer in wire format). Default `['http/1.1']`. */
  ALPNProtocols?: string[] | Uint8Array[] | Uint8Array
  /** Socket face: each new TLS socket emits `'OCSPResponse'` (what the server stapled, or `null`) before `'secureConnect'`. */
  requestOCSP?: boolean
  /** Least finite-field DH group size a server may choose (at least 1). rustls offers no finite-field DH, so any value is met. */
  minDHSize?: number
  /** TLS sessions this agent keeps for resumption (its own cache, as Node's). Default 100; 0: none. */
  maxCachedSessions?: number
  /** Verify the server certificate. Default `true`. */
  rejectUnauthorized?: boolean
  /** Server name for SNI and certificate verification. Default: the URL's host. */
  servername?: string
  /** Lowest TLS version. Default `'TLSv1.2'`; an older one is met as it is (rustls speaks 1.2 and 1.3). */
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'
  /** Highest TLS version. Default `'TLSv1.3'`. */
  maxVersion?: 'TLSv1.2' | 'TLSv1.3'
  /** An OpenSSL method name read as the versions it allows (`'TLS_method'`, `'TLSv1_2_method'`, ...). */
  secureProtocol?: string
  /** `crypto.constants.SSL_OP_NO_TLSv1*` bits (and the few others rustls meets as they are). */
  secureOptions?: number
  /** Curves offered, in order: `'X25519:P-256:P-384'` (OpenSSL's names too); `'auto'`: rustls's choice. */
  ecdhCurve?: string
  /** Handshake signature schemes offered, in order: `'RSA-PSS+SHA256:ECDSA+SHA256'` (TLS's names too). */
  sigalgs?: string
  /** Taken and ignored: an OpenSSL session, which rustls cannot resume from. */
  session?: Buffer
  /** Taken and ignored: OpenSSL's trace. */
  enableTrace?: boolean
  /**
   * An HTTP proxy for every request (`http://user:pass@host:port` or an `https:` URL), or `'env'` for
   * Node's environment semantics on `process.env` (HTTPS_PROXY / HTTP_PROXY by target, NO_PROXY).
   */
  proxy?: string | URL | 'env'
  /** Node 24's option: the environment to read HTTP_PROXY / HTTPS_PROXY / NO_PROXY from. */
  proxyEnv?: Record<string, string | undefined>
  /** Replaces the host name check, as in `tls.connect`: return an Error to refuse the server. */
  checkServerIdentity?: (hostname: string, cert: import('node:tls').PeerCertificate) => Error | undefined
}

/** Options of one request on the Promise face. */
interface RequestOptions extends ConnectOptions {
  /** Default `'GET'`. */
  method?: string
  headers?: Record<string, string | number | ReadonlyArray<string>> | ReadonlyArray<[string, string]>
  /**
   * A string or bytes are sent with `Content-Length`; a Readable, web ReadableStream or async iterable is
   * streamed chunked, as fast as the connection takes it. If it fails, the request rejects with its error.
   */
  body?: string | Uint8Array | Readable | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string> | null
  signal?: AbortSignal
  /** Inactivity limit in ms while this request is active (overrides the agent's `timeout`). */
  timeout?: number
}

interface Response {
  status: number
  /** Same value as `status`, as Node's `IncomingMessage`. */
  statusCode: number
  statusText: string
  /** Lower-cased names; repeated headers as arrays; `set-cookie` always an array. */
  headers: http.IncomingHttpHeaders
  /** Names (in the case received) and values (latin1), alternating, in the order received. */
  rawHeaders: string[]
  /** Trailers as `headers`; `null` until the body has ended, `{}` when there were none. */
  readonly trailers: http.IncomingHttpHeaders | null
  /** Trailer names and values alternating; `null` until the body has ended. */
  readonly rawTrailers: string[] | null
  url: string
  /** Whether the request rode a connection that had served an earlier request. */
  reused: boolean
  /** The body as a Node stream. Reading it and the helpers below are mutually exclusive. */
  readonly body: Readable
  /** Whether the body was taken (as a stream or by a helper). */
  readonly bodyUsed: boolean
  text(): Promise<string>
  json<T = unknown>(): Promise<T>
  arrayBuffer(): Promise<ArrayBuffer>
  bytes(): Promise<Uint8Array>
}

/** undici's pool statistics shape, per origin. */
interface OriginStats {
  /** Open connections (active + idle). */
  connected: number
  /** Idle connections. */
  free: number
  /** Requests holding a connection that is still being set up. */
  pending: number
  /** Requests waiting for a connection. */
  queued: number
  /** Requests with a connection. */
  running: number
  /** pending + queued + running. */
  size: number
}

/** agentkeepalive's counters, read from the pool. */
interface Counters {
  createSocketCount: number
  createSocketErrorCount: number
  closeSocketCount: number
  errorSocketCount: number
  timeoutSocketCount: number
  requestCount: number
}

/** agentkeepalive's `getCurrentStatus()` keys, plus our own counters and per-origin stats. */
interface AgentStatus extends Counters {
  freeSockets: Record<string, number>
  sockets: Record<string, number>
  requests: Record<string, number>
  /** Requests served by a connection that had served an earlier one. */
  reusedCount: number
  /** Requests re-sent on a fresh connection after a reused one failed before any response byte. */
  retryCount: number
  stats: Record<string, OriginStats>
}

/** What undici passes to `dispatch()` (the dispatcher face); fetch and undici's helpers fill it in. */
interface DispatchOptions {
  origin: string | URL
  /** Path and query (`/a?b=1`), or `host:port` for CONNECT. */
  path: string
  method?: string
  /** An object, a flat `[name, value, ...]` array, `[name, value]` pairs or an iterable of them. */
  headers?: Record<string, string | string[] | undefined> | Array<string | Buffer | string[]> | Iterable<[string, string]> | null
  body?: string | Buffer | Uint8Array | ArrayBuffer | Readable | AsyncIterable<Uint8Array | string> | Blob | FormData | null
  query?: Record<string, unknown>
  /** `'websocket'` and the like: the request asks for an upgrade (served through the socket face). */
  upgrade?: string | null
  /** `true`: the connection is not reused after this request. */
  reset?: boolean
  /** ms from the end of the request until the whole response head (`UND_ERR_HEADERS_TIMEOUT`); default 300 000, 0: none. */
  headersTimeout?: number | null
  /** Longest wait in ms for response body bytes (`UND_ERR_BODY_TIMEOUT`); default 300 000, 0: none. */
  bodyTimeout?: number | null
  /** Whether the request may be sent again after the keep-alive race; default: by its method. */
  idempotent?: boolean | null
  /** Redirects followed, as undici 6 follows them (v1 handlers); refused above 0 for v2 handlers, as undici 7 and 8 refuse it. */
  maxRedirections?: number
  /** With `maxRedirections`: a redirect beyond the limit fails with Error('max redirects') instead of being the answer. */
  throwOnMaxRedirect?: boolean
}

/** An undici handler, v1 (`onConnect`, `onHeaders`, `onData`, `onComplete`, `onError`, ...) or v2 (`onRequestStart`, `onResponseStart`, ...). */
type DispatchHandler = object

/** undici's dispatch function, as an interceptor takes and returns it. */
type DispatchFunction = (options: DispatchOptions, handler: DispatchHandler) => boolean | void

/** What `compose()` returns: a dispatcher running the interceptors over the agent; `close`/`destroy` are the agent's. */
interface ComposedDispatcher {
  dispatch: DispatchFunction
  compose(...interceptors: Array<DispatchInterceptor | DispatchInterceptor[] | null | undefined>): ComposedDispatcher
  close(): Promise<void>
  destroy(err?: Error | null): Promise<void>
}

/** An undici interceptor (`undici.interceptors.redirect()`, `retry()`, ... or one's own). */
type DispatchInterceptor = (dispatch: DispatchFunction) => DispatchFunction

/**
 * agentkeepalive's counters (as in `getCurrentStatus()`) are properties of the agent too; assigning one
 * (a reset) moves it from the pool's count.
 */
interface Agent extends Counters {}

/** A keep-alive `http.Agent` whose connections live in a Rust pool. */
declare class Agent extends http.Agent {
  constructor(options?: AgentOptions)
  /** The Promise face: one request over a pooled connection, spoken on the JS thread (hyper for the few it does not take). */
  request(url: string | URL, options?: RequestOptions): Promise<Response>
  getCurrentStatus(): AgentStatus
  /** agentkeepalive's: whether a counter moved since it was last read here. */
  readonly statusChanged: boolean
  /** Node 22+'s: ms taken off a server's Keep-Alive hint; assignable, as the caps are. */
  agentKeepAliveTimeoutBuffer: number
  /** agentkeepalive's views of its options, in ms. */
  readonly timeout: number | undefined
  readonly freeSocketKeepAliveTimeout: number
  readonly socketActiveTTL: number
  /** Per origin (`http://host:port`), undici's shape. */
  readonly stats: Record<string, OriginStats>
  /**
   * undici's Dispatcher interface (the dispatcher face): `fetch(url, { dispatcher: agent })`, undici's
   * request/stream/pipeline and WebSocket call it. Node's types need a cast there (README, dispatcher face).
   * false: the origin is full (a finite `maxSockets`); `'drain'` tells when it takes requests again.
   */
  dispatch(options: DispatchOptions, handler: DispatchHandler): boolean
  /** undici's `compose()`: a dispatcher running undici's interceptors (redirect, retry, ...) over this agent. */
  compose(...interceptors: Array<DispatchInterceptor | DispatchInterceptor[] | null | undefined>): ComposedDispatcher
  /** undici's `close()`: takes no new dispatches, lets those in flight finish, then destroys the agent. */
  close(): Promise<void>
  close(callback: (err: Error | null) => void): void
  /**
   * Closes every connection and rejects queued and in-flight requests (dispatches in flight with `err`,
   * when given); the Promise and dispatcher faces refuse from then on, the socket face (`http.request`)
   * goes on as with Node's Agent. Returns a Promise, or calls `callback`, as undici's `destroy()`.
   */
  destroy(err?: Error | null): Promise<void>
  destroy(callback: (err: Error | null) => void): void
  destroy(err: Error | null, callback: (err: Error | null) => void): void
  /** undici's: `close()` was called (`destroy()` alone leaves it false, as undici's). */
  readonly closed: boolean
  /** undici's: `destroy()` was called (`close()` calls it once the requests in flight are done). */
  readonly destroyed: boolean
  /**
   * undici's dispatcher events for the connections the Promise and dispatcher faces open: `targets` holds
   * the agent; `err` is undici's (`SocketError` 'other side closed', `InformationalError` 'reset' or
   * 'socket idle timeout', `ClientDestroyedError`, or what failed). `'drain'`: an origin that `dispatch()`
   * said was full (a finite `maxSockets`) takes requests again.
   */
  on(event: 'connect' | 'drain', listener: (origin: URL, targets: Agent[]) => void): this
  on(event: 'disconnect' | 'connectionError', listener: (origin: URL, targets: Agent[], err: Error) => void): this
  once(event: 'connect' | 'drain', listener: (origin: URL, targets: Agent[]) => void): this
  once(event: 'disconnect' | 'connectionError', listener: (origin: URL, targets: Agent[], err: Error) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

/** The same Agent for `https.request`: `instanceof https.Agent` and of `Agent`. */
declare class HttpsAgent extends Agent implements https.Agent {
  options: https.AgentOptions
  constructor(options?: AgentOptions)
}

/** agentkeepalive's `constants`: the Symbols of the fields it sets on its sockets, set here too. */
declare const constants: {
  readonly SOCKET_CREATED_TIME: unique symbol
  readonly SOCKET_NAME: unique symbol
  readonly SOCKET_REQUEST_COUNT: unique symbol
  readonly SOCKET_REQUEST_FINISHED_COUNT: unique symbol
}

/**
 * Routes the whole process through `agent` (default: a new Agent): `http.globalAgent`, `https.globalAgent`
 * (the agent for the other scheme is a view of the same pool) and the global dispatcher of fetch,
 * WebSocket and undici. Returns a function that restores them.
 */
declare function install(agent?: Agent): () => void

// `module.exports` is the Agent class; the names below are its properties, and ESM/TypeScript named imports.
// Declarations above stay module-local (no `export`, which `export =` forbids); list new public names here.
declare namespace Agent {
  export {
    Agent,
    Agent as HttpAgent,
    HttpsAgent,
    constants,
    install,
    Agent as default,
    AgentOptions,
    AgentOptions as HttpOptions,
    AgentOptions as HttpsOptions,
    ConnectOptions,
    LookupFunction,
    RequestOptions,
    Response,
    OriginStats,
    AgentStatus,
    DispatchOptions,
    DispatchHandler,
    DispatchFunction,
    DispatchInterceptor,
    ComposedDispatcher,
  }
}
export = Agent
