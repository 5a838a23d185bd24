'use strict'
// The Promise face's in-flight requests: each waits for one Rust event (answered or failed) under its id.
// Rust batches those events, so many completions cost one crossing into JS.

const { Response } = require('./response')
const { pump } = require('./request')
const { abortError, fromNative } = require('./errors')
const { ConnectEvents } = require('./diagnostics')
const { Kind, STRIDE, text } = require('./batch')

class PendingRequests {
  /**
   * `options`: the agent's (for undici's connect events); `events`: its ConnectionEvents (its dispatcher
   * events, lib/connection-events.js).
   */
  constructor (native, liveness, options, events) {
    this.native = native
    this.liveness = liveness
    this.pending = new Map()
    this.nextId = 1
    this.connects = new ConnectEvents(native, options, events)
    /** Requests in flight that take 1xx heads. */
    this.informed = 0
  }

  /**
   * Reads a batch of Rust events ahead of the socket face, for what only requests in flight want: connect
   * events (while their channels have subscribers or the agent's dispatcher events listeners) and 1xx
   * heads, both before their request's answer; and the ends of the connections they were told of.
   */
  onEvents (batch) {
    if (!this.connects.told && this.informed === 0) return
    const meta = batch.meta
    for (let at = 0; at < meta.length; at += STRIDE) {
      const kind = meta[at]
      if (kind === Kind.ENDED) {
        this.connects.ended(meta[at + 1], meta[at + 3], text(batch, at))
        continue
      }
      if (kind !== Kind.CONNECT && kind !== Kind.INFORMATIONAL) continue
      const entry = this.pending.get(meta[at + 1])
      if (entry === undefined) continue
      if (kind === Kind.CONNECT) {
        if (this.connects.told) this.connects.publish(batch, at, entry)
      } else {
        const head = text(batch, at)
        const cut = head.indexOf('\n')
        entry.informational(meta[at + 3], head.slice(0, cut), cut + 1 < head.length ? head.slice(cut + 1).split('\n') : [])
      }
    }
  }

  /**
   * Starts a request; `start(id)` hands it to Rust. A streamed body (`upload`: its source and native
   * sender) is fed with backpressure; if the source fails, the request fails with the source's error.
   * `informational(status, statusText, rawHeaders)`, if given, is told each 1xx head. Resolves with a
   * Response.
   */
  add (url, signal, start, upload, informational) {
    const id = this.nextId
    this.nextId = this.nextId === 0x7fffffff ? 1 : this.nextId + 1
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, url, signal, onAbort: null, uploadError: null, connectFailure: null, informational }
      this.connects.watch()
      try {
        start(id)
      } catch (err) {
        reject(fromNative(err))
        return
      }
      this.pending.set(id, entry)
      if (informational) this.informed++
      this.liveness.busy(1)
      if (signal) {
        entry.onAbort = () => this.native.abort(id)
        signal.addEventListener('abort', entry.onAbort, { once: true })
      }
      // A source that fails (or is not its declared length) fails the request with its error, as an
      // exchange's does, even once hyper has all it asked for.
      if (upload) {
        pump(upload.stream, upload.sender, err => {
          entry.uploadError = err
          this.native.abort(id)
        })
      }
    })
  }

  take (id) {
    const entry = this.pending.get(id)
    if (entry === undefined) return undefined
    this.pending.delete(id)
    if (entry.informational) this.informed--
    this.liveness.busy(-1)
    if (entry.onAbort) entry.signal.removeEventListener('abort', entry.onAbort)
    return entry
  }

  /** Request `id` was answered: its head and first bytes are the event at `at` of `batch`. */
  answered (id, batch, at) {
    const entry = this.take(id)
    if (entry === undefined) return
    entry.resolve(Response.answered(this.native, batch, at, entry.url, entry.signal))
  }

  failed (id, reason) {
    const entry = this.take(id)
    if (entry === undefined) return
    const err = entry.connectFailure?.reason === reason ? entry.connectFailure.error : fromNative(new Error(reason))
    if (err.code === 'ABORT_ERR' && entry.uploadError === null) entry.reject(abortError(entry.signal))
    else entry.reject(entry.uploadError ?? err)
    // After the request it was for has failed (its handler hears it a microtask later), as undici tells it.
    const failure = entry.connectFailure
    if (failure !== null) queueMicrotask(() => this.connects.events.failed(entry.url, failure.error))
  }
}

module.exports = { PendingRequests }
