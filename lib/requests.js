'use strict'
// The Promise face's in-flight requests: each waits for one Rust event (answered or failed) under its id.
// Rust batches those events, so many completions cost one crossing into JS.

const { Response } = require('./response')
const { pump } = require('./request')
const { abortError, fromNative } = require('./errors')
const { ConnectEvents } = require('./diagnostics')

class PendingRequests {
  /** `options`: the agent's (for undici's connect events). */
  constructor (native, liveness, options) {
    this.native = native
    this.liveness = liveness
    this.pending = new Map()
    this.nextId = 1
    this.connects = new ConnectEvents(native, options)
  }

  /** Publishes the connect events of a batch of Rust events, while their channels have subscribers. */
  onEvents (batch) {
    if (this.connects.on) this.connects.publish(batch, id => this.pending.get(id))
  }

  /**
   * Starts a request; `start(id)` hands it to Rust. A streamed body (`upload`: its source and native
   * sender) is fed with backpressure; if the source fails, the request fails with the source's error.
   * Resolves with a Response.
   */
  add (url, signal, start, upload) {
    const id = this.nextId
    this.nextId = this.nextId === 0x7fffffff ? 1 : this.nextId + 1
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, url, signal, onAbort: null, uploadError: null, connectFailure: null }
      this.connects.watch()
      try {
        start(id)
      } catch (err) {
        reject(fromNative(err))
        return
      }
      this.pending.set(id, entry)
      this.liveness.busy(1)
      if (signal) {
        entry.onAbort = () => this.native.abort(id)
        signal.addEventListener('abort', entry.onAbort, { once: true })
      }
      if (upload) pump(upload.stream, upload.sender, err => { entry.uploadError = err })
    })
  }

  take (id) {
    const entry = this.pending.get(id)
    if (entry === undefined) return undefined
    this.pending.delete(id)
    this.liveness.busy(-1)
    if (entry.onAbort) entry.signal.removeEventListener('abort', entry.onAbort)
    return entry
  }

  /** Request `id` was answered: its head and first bytes are the event at `at` of `batch`. */
  answered (id, batch, at) {
    const entry = this.take(id)
    if (entry === undefined) return
    entry.resolve(new Response(this.native, batch, at, entry.url, entry.signal))
  }

  failed (id, reason) {
    const entry = this.take(id)
    if (entry === undefined) return
    const err = entry.connectFailure?.reason === reason ? entry.connectFailure.error : fromNative(new Error(reason))
    if (err.code === 'ABORT_ERR') entry.reject(abortError(entry.signal))
    else entry.reject(entry.uploadError ?? err)
  }
}

module.exports = { PendingRequests }
