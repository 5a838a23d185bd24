'use strict'
// The Promise face's response: head and small body arrive together from Rust; a larger body is pulled
// from Rust chunk by chunk as the stream is read, so backpressure reaches the socket.

const { Readable } = require('node:stream')
const { fromNative } = require('./errors')

const kNative = Symbol('native')
const kPrefix = Symbol('prefix')
const kStream = Symbol('stream')
const kHeaders = Symbol('headers')
const kBody = Symbol('body')

class Response {
  /** `event` is Rust's "answered" event: status, statusText, headers in `text`, body in `data`. */
  constructor (native, event, url) {
    this.status = event.status
    this.statusCode = event.status
    this.statusText = event.statusText
    this.rawHeaders = event.text === '' ? [] : event.text.split('\n')
    this.url = url
    this.reused = event.flag
    this[kNative] = native
    this[kPrefix] = event.data
    this[kStream] = event.ticket ?? null
    this[kHeaders] = null
    this[kBody] = null
  }

  /** Lower-cased names as Node's IncomingMessage; repeated headers and `set-cookie` as arrays. */
  get headers () {
    if (this[kHeaders] === null) {
      const headers = {}
      const raw = this.rawHeaders
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]
        const value = raw[i + 1]
        const seen = headers[name]
        if (seen === undefined) headers[name] = name === 'set-cookie' ? [value] : value
        else if (Array.isArray(seen)) seen.push(value)
        else headers[name] = [seen, value]
      }
      this[kHeaders] = headers
    }
    return this[kHeaders]
  }

  get body () {
    if (this[kBody] === null) this[kBody] = bodyStream(this)
    return this[kBody]
  }

  get bodyUsed () {
    return this[kBody] !== null
  }

  async bytes () {
    if (this[kBody] === null && this[kStream] === null) {
      this[kBody] = Readable.from([])
      const prefix = this[kPrefix]
      return new Uint8Array(prefix.buffer, prefix.byteOffset, prefix.byteLength)
    }
    const chunks = []
    for await (const chunk of this.body) chunks.push(chunk)
    const all = Buffer.concat(chunks)
    return new Uint8Array(all.buffer, all.byteOffset, all.byteLength)
  }

  async arrayBuffer () {
    const bytes = await this.bytes()
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
  }

  async text () {
    return Buffer.from(await this.bytes()).toString('utf8')
  }

  async json () {
    return JSON.parse(await this.text())
  }
}

function bodyStream (response) {
  const native = response[kNative]
  const id = response[kStream]
  let prefix = response[kPrefix]
  response[kStream] = null
  return new Readable({
    read () {
      if (prefix !== null) {
        const first = prefix
        prefix = null
        if (first.length > 0) this.push(first)
        if (id === null) { this.push(null); return }
        if (first.length > 0) return
      }
      native.readBody(id).then(chunk => this.push(chunk), err => this.destroy(fromNative(err)))
    },
    destroy (err, callback) {
      if (id !== null) native.cancelBody(id)
      callback(err)
    }
  })
}

module.exports = { Response }
