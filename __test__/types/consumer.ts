// Type-checked by `tsc --noEmit` in `npm test`: a consumer written as users will write it, compiled as
// CommonJS with esModuleInterop (tsconfig.json); esm.mts and cjs.cts are the nodenext consumers.
import * as http from 'node:http'
import * as https from 'node:https'
import * as net from 'node:net'
import { Agent, HttpsAgent, install, type AgentOptions, type HttpOptions, type Response, type AgentStatus, type DispatchInterceptor } from '../..'
import DefaultAgent from '../..'
import * as ka from '../..'
import Assigned = require('../..')

const options: AgentOptions = {
  keepAlive: true,
  keepAliveMsecs: 1000,
  maxSockets: 10,
  maxTotalSockets: 100,
  maxFreeSockets: 10,
  scheduling: 'fifo',
  agentKeepAliveTimeoutBuffer: 1500,
  timeout: 30_000,
  freeSocketTimeout: 4000,
  connectTimeout: 5000,
  ca: [Buffer.from('pem')],
  rejectUnauthorized: true,
  servername: 'localhost',
  minDHSize: 2048,
}
const agent = new Agent(options)
// agentkeepalive's spellings: duration strings, its older option names, its counters and statusChanged.
const asAgentkeepalive: HttpOptions = { timeout: '30s', keepAliveTimeout: '4s', socketActiveTTL: '1h' }
const changed: boolean = new Agent(asAgentkeepalive).statusChanged
const created: number = agent.createSocketCount + agent.requestCount
agent.requestCount = 0
agent.agentKeepAliveTimeoutBuffer = 2000
const secure = new HttpsAgent({ ca: 'pem' })
// undici's Agent options, as code moving from `new undici.Agent(...)` writes them.
const asUndici: AgentOptions = {
  connect: { timeout: 5000, rejectUnauthorized: true, lookup: (host, opts, callback) => callback(null, '127.0.0.1', 4) },
  connections: 16,
  headersTimeout: 10_000,
  bodyTimeout: 10_000,
  maxResponseSize: 1 << 20,
  keepAliveTimeoutThreshold: 1000
}
const withConnector = new Agent({ connect: (opts, callback) => callback(null, net.connect({ host: opts.hostname, port: Number(opts.port) })) })
const other: Agent = new DefaultAgent()
const viaNamespace: Agent = new ka.HttpAgent()
const viaAssignment: Agent = new Assigned()

// The agent goes wherever Node takes an agent.
const asHttpAgent: http.Agent = agent
const asHttpsAgent: https.Agent = secure
http.get('http://127.0.0.1/', { agent })
https.request({ host: '127.0.0.1', agent: secure })

async function promiseFace (): Promise<number> {
  const controller = new AbortController()
  const res: Response = await agent.request('http://127.0.0.1/', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ a: 1 }),
    signal: controller.signal,
    timeout: 1000,
  })
  const pairs = await agent.request(new URL('http://127.0.0.1/'), { headers: [['x-a', '1']] })
  const text: string = await pairs.text()
  const json = await res.json<{ a: number }>()
  const bytes: Uint8Array = await res.bytes()
  const cookies: string[] | undefined = res.headers['set-cookie']
  const used: boolean = res.bodyUsed
  res.body.pipe(process.stdout)
  const streamed = await agent.request('http://127.0.0.1/', { method: 'PUT', body: new ReadableStream<Uint8Array>() })
  const checksum: string | string[] | undefined = streamed.trailers?.['x-checksum']
  const rawTrailers: string[] | null = streamed.rawTrailers
  void [checksum, rawTrailers]
  return Number(used) + res.status + res.statusCode + json.a + bytes.length + text.length + (cookies?.length ?? 0)
}

// The dispatcher face: undici's dispatch, compose, close and destroy returning Promises.
async function dispatcherFace (): Promise<boolean> {
  const started: boolean = agent.dispatch({ origin: 'http://127.0.0.1', path: '/', method: 'GET', headers: ['a', 'b'] }, {
    onError (err: Error) { throw err },
  })
  const passThrough: DispatchInterceptor = dispatch => (options, handler) => dispatch(options, handler)
  const composed = agent.compose(passThrough, [passThrough])
  composed.dispatch({ origin: new URL('http://127.0.0.1'), path: '/x', query: { a: 1 }, idempotent: true, headersTimeout: 0, bodyTimeout: 1000 }, {})
  await composed.close()
  await secure.destroy(new Error('done'))
  agent.close(err => { if (err) throw err })
  agent.once('connect', (origin: URL, targets: Agent[]) => { void [origin.host, targets.length] })
  agent.on('disconnect', (origin: URL, _targets: Agent[], err: Error) => { void [origin.port, err.message] })
  const gone: boolean = agent.closed || agent.destroyed
  void gone
  const restore: () => void = install(agent)
  restore()
  return started
}

const status: AgentStatus = agent.getCurrentStatus()
const queued: number = agent.stats['http://127.0.0.1:80']?.queued ?? status.requestCount
void [changed, created, asUndici, withConnector, asHttpAgent, asHttpsAgent, other, viaNamespace, viaAssignment, promiseFace, dispatcherFace, queued]
agent.destroy()
