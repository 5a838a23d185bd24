'use strict'
// The pipe carrier: a connection whose bytes stay in Rust, moved by the pool's tasks on the tokio thread
// (src/faces/transport.rs). Used for TLS (rustls runs there), for non-TCP streams, on platforms that
// cannot hand an fd to libuv, and under load, where the tokio thread takes the syscalls off the JS thread.
// Each call crosses into Rust; what comes back (data, end, drain, close) arrives as the agent's batched
// events, which lib/sockets.js hands to the socket.

/** Encodings whose strings go to Rust as they are (`calls.write` reads a string's latin1 bytes). */
const LATIN1 = new Set(['latin1', 'binary', 'ascii'])

class PipeCarrier {
  /** `calls`: the agent's hand-written N-API functions (src/binding/calls.rs), `write` among them. */
  constructor (native, calls, id) {
    this.native = native
    this.calls = calls
    this.id = id
    /** False once Rust closed the connection itself, or the socket let go of it. */
    this.open = true
  }

  /** A Buffer, or a string in `encoding`; false: wait for the socket's `_drained()`. */
  write (chunk, encoding) {
    if (typeof chunk === 'string' && !LATIN1.has(encoding)) chunk = Buffer.from(chunk, encoding)
    return this.calls.write(this.id, chunk) === 1
  }

  end () {
    if (this.open) this.native.socketEnd(this.id)
  }

  pause () {
    this.native.socketPause(this.id)
  }

  resume () {
    this.native.socketResume(this.id)
  }

  /** Now serving another socket (a replay): its events find that socket by the connection's id. */
  adopt () {}

  /** Rust closed the connection (its CLOSED event): there is nothing left to tell it. */
  lost () {
    this.open = false
  }

  /** The socket is done with the connection: Rust closes it (its reader counted any stray bytes itself). */
  close () {
    if (!this.open) return
    this.open = false
    this.native.socketDestroy(this.id)
  }
}

PipeCarrier.prototype.kind = 'pipe'

module.exports = { PipeCarrier, LATIN1 }
