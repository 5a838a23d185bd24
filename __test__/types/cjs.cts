// Type-checked by `npm test` with --strict --module nodenext (tsconfig.nodenext.json): a CommonJS
// consumer importing the package by name, through its `exports` map, in every form.
import Agent = require('keepalive-agent')
import { Agent as Named, HttpsAgent, type AgentOptions, type AgentStatus } from 'keepalive-agent'
import DefaultAgent from 'keepalive-agent'
import * as https from 'node:https'

const options: Agent.AgentOptions = { keepAlive: true }
const sameOptions: AgentOptions = options
const agent: Agent = new Agent(sameOptions)
const named: Agent = new Named()
const viaDefault: Agent = new DefaultAgent()
const viaProperty: Agent = new Agent.HttpAgent()
const secure: https.Agent = new HttpsAgent()
const status: AgentStatus = agent.getCurrentStatus()
const restore: () => void = Agent.install()
void [named, viaDefault, viaProperty, secure, status, restore]
