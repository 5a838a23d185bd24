// Type-checked by `npm test` with --strict --module nodenext (tsconfig.nodenext.json): an ES module
// consumer importing the package by name, through its `exports` map, in every form.
import Agent from 'keepalive-agent'
import { Agent as Named, HttpAgent, HttpsAgent, constants, install, type AgentOptions, type Response } from 'keepalive-agent'
import * as ka from 'keepalive-agent'
import * as http from 'node:http'
import * as https from 'node:https'

const options: AgentOptions = { maxSockets: 4, freeSocketTimeout: 1000 }
const agent: Agent = new Agent(options)
const named: Named = new Named()
const viaAlias: Agent = new HttpAgent()
const secure: https.Agent = new HttpsAgent({ ca: 'pem' })
const viaNamespace: http.Agent = new ka.Agent()
const viaNamespaceDefault: Agent = new ka.default()
const secureIsAgent: Agent = new ka.HttpsAgent()
const socketName: symbol = constants.SOCKET_NAME
const restore: () => void = install(agent)

async function get (): Promise<number> {
  const res: Response = await agent.request('http://127.0.0.1/')
  return res.status
}
void [named, viaAlias, secure, viaNamespace, viaNamespaceDefault, secureIsAgent, socketName, restore, get]
