'use strict'
// The fd carrier: a TCP connection whose fd the Rust pool handed over once connected. libuv reads
// and writes it on the JS thread (a net.Socket over the fd), so a request costs no thread hop; the pool
// still counts the connection (caps, queue, idle list, deadlines, stats). The pool never touches the fd
// again, since it cannot know when libuv closed it and the kernel reused the number: this carrier tells
// it when the socket is done with the connection (`socketDestroy(id, true)`: it leaves the idle list,
// its slot starts closing) and when the fd is closed (`socketDestroy(id)`: the slot is free).
//
// Over TLS, rustls made the handshake in Rust and keeps the session (src/faces/sealed.rs): each chunk
// libuv reads is opened there and each chunk to send is sealed there, one synchronous call each, so an
// https request costs no thread hop either.

const { setTimeout, clearTimeout } = require('../timers')
const net = require('node:net')
const { fromNative } = require('../errors')
const { LATIN1 } = require('./pipe')

/**
 * How long a connection we close waits for the server's FIN, as src/faces/linger.rs: the slot goes to a
 * new connection only once the server has seen this one close (a server counting connections must never
 * see more than the caps allow).
 */
const LINGER_MS = 1000

const READ_BUFFER_SIZE = 64 * 1024
/**
 * Where the reads land that are used up within their callback, one read at a time (see the constructor):
 * an exchange's (parsed within `_data`) and every TLS connection's (records opened at once). Never given
 * away.
 */
const READS = Buffer.allocUnsafe(READ_BUFFER_SIZE)
/** Where the socket face's plain reads land, lent to its sockets; a new one once given away. */
let lentReads = Buffer.allocUnsafe(READ_BUFFER_SIZE)
/**
 * Where rustls puts what TLS records read carry, lent to every owner as plain reads are (a Buffer made in
 * Rust for each chunk cost 2 µs of a 50 µs request over https one at a time); a new one once given away.
 * Room for a read's records and the rest of one begun in an earlier read (16 KiB at most); more spills
 * into a Buffer of its own.
 */
const PLAIN_SIZE = READ_BUFFER_SIZE + 17 * 1024
let plainReads = Buffer.allocUnsafe(PLAIN_SIZE)
/**
 * Where rustls puts the records that seal a chunk to send; a new one once a write holds it (libuv sends
 * from the bytes where they are). More spills into a Buffer of its own.
 */
const SEALED_SIZE = 64 * 1024
let sealedWrites = Buffer.allocUnsafe(SEALED_SIZE)
/** The sockets reading into `lentReads`. */
const lenders = new Set()
/**
 * How often `lentReads` may be given away. Node keeps every buffer a handle was told until the handle
 * closes (each `useUserBuffer` adds a native listener on top of the last), so each give-away costs every
 * lending socket ≈ 40 bytes for the rest of its life and a call: after this many, the socket face copies
 * its plain reads, as it did before reads were lent.
 */
const GIVE_AWAYS_MAX = 16
let giveAwaysLeft = GIVE_AWAYS_MAX

/**
 * A chunk lent to a socket face's socket may have been kept (see lib/socket.js `_data`): the buffer it is
 * a view of becomes that chunk's alone, and what was read into it is read into a new one from the next
 * read on. TLS plaintext is put where each call says; libuv writes where each socket's handle was told
 * (`useUserBuffer`, the internal call net.Socket's `onread` makes once), so each is told again.
 */
function giveAwayReadBuffer (chunk) {
  if (chunk.buffer === plainReads.buffer) {
    plainReads = Buffer.allocUnsafe(PLAIN_SIZE)
    return
  }
  giveAwaysLeft--
  lentReads = Buffer.allocUnsafe(READ_BUFFER_SIZE)
  for (const tcp of lenders) tcp._handle?.useUserBuffer(lentReads)
}

/** Whether chunks can be lent: a socket's handle can be told a new buffer (known from the first handle). */
let lends = null

class FdCarrier {
  /**
   * `owner` (a RustSocket or an exchange's connection) hears `_data`, `_ended`, `_drained` and
   * `_carrierClosed(err)`; `secure`: the connection speaks TLS, its session in Rust. libuv reads every
   * connection's bytes into a shared buffer (net.Socket's `onread`), not into a fresh 64 KiB allocation
   * per read that then goes through the stream's push and 'data' event: -14 % CPU per request on the
   * Promise face at 64 in flight (4 alternated pairs). TLS records are opened at once, into `plainReads`.
   * A chunk is lent in place (`_data(chunk, true)`): a view of a shared buffer, valid until the next read.
   * `keepsChunks`: the owner may keep a chunk after `_data` returns (a RustSocket), so its plain reads
   * land in `lentReads`; it gives the buffer of a chunk it may have kept away (`giveAwayReadBuffer`), and
   * once plain reads' buffer was given away GIVE_AWAYS_MAX times (or cannot be), they are copied for it.
   * An exchange copies what it keeps itself. A chunk given without `true` is the owner's.
   */
  constructor (native, calls, id, fd, owner, secure, keepsChunks) {
    this.native = native
    /** The agent's hand-written N-API functions (src/binding/calls.rs): `tlsSeal` and `tlsOpen` here. */
    this.calls = calls
    this.id = id
    this.owner = owner
    this.secure = secure
    this.error = null
    this.linger = null
    const lending = keepsChunks && !secure
    const onread = lending
      // `lentReads`, not the buffer net.Socket passes: that is the one it was made with.
      ? { buffer: lentReads, callback: n => { this.lend(lentReads.subarray(0, n)) } }
      : secure
        ? { buffer: READS, callback: n => { this.opened(READS.subarray(0, n)) } }
        : { buffer: READS, callback: n => { this.owner?._data(READS.subarray(0, n), true) } }
    // allowHalfOpen: the socket above decides when its side ends (it ends when the peer's does).
    const tcp = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true, onread })
    lends ??= typeof tcp._handle?.useUserBuffer === 'function'
    if (lending) lenders.add(tcp)
    // Liveness is the agent's business (lib/liveness.js): an idle connection never holds the loop.
    tcp.unref()
    tcp.on('end', () => this.owner?._ended())
    tcp.on('drain', () => this.owner?._drained())
    tcp.on('error', err => { this.error = err })
    tcp.on('close', () => this.closed())
    this.tcp = tcp
  }

  /** A plain read for a socket face's socket: lent while buffers may still be given away, else copied. */
  lend (chunk) {
    if (lends && giveAwaysLeft > 0) this.owner?._data(chunk, true)
    else this.owner?._data(Buffer.from(chunk))
  }

  /** TLS records read: what they carry goes up; what rustls must answer (a key update, an alert) goes out. */
  opened (records) {
    const opened = this.tls(this.calls.tlsOpen, records, plainReads)
    if (opened === null) return
    // The usual case: only what the records carried, in `plainReads`.
    if (typeof opened === 'number') {
      if (opened > 0) this.owner?._data(plainReads.subarray(0, opened), true)
      return
    }
    // More than fit there.
    if (ArrayBuffer.isView(opened)) {
      if (opened.length > 0) this.owner?._data(opened)
      return
    }
    if (opened.reply) this.tcp.write(opened.reply)
    // A damaged record: rustls's alert (the reply) went out first, as OpenSSL sends one.
    if (opened.error) return this.failed(new Error(opened.error))
    if (opened.plaintext) this.owner?._data(opened.plaintext)
    if (opened.closed) this.owner?._ended()
  }

  /** A Buffer, or a string in `encoding`; false: wait for the socket's `_drained()`. */
  write (chunk, encoding) {
    if (!this.secure) return this.tcp.write(chunk, encoding)
    if (typeof chunk === 'string' && !LATIN1.has(encoding)) chunk = Buffer.from(chunk, encoding)
    // A write already held (the peer reads slowly): these records will be held too, so they go into a
    // Buffer of their own size; `sealedWrites` given away for each would pin 64 KiB per small write.
    const room = this.tcp.writableLength > 0 ? undefined : sealedWrites
    const sealed = this.tls(this.calls.tlsSeal, chunk, room)
    // Nothing to send (an empty chunk): nothing is written, so no write holds `sealedWrites`.
    if (sealed === null || sealed === 0) return true
    if (typeof sealed !== 'number') return this.tcp.write(sealed)
    const more = this.tcp.write(sealedWrites.subarray(0, sealed))
    // Not all sent at once: the stream or libuv holds the records until they are.
    if (this.tcp.writableLength > 0) sealedWrites = Buffer.allocUnsafe(SEALED_SIZE)
    return more
  }

  /**
   * `call(id, bytes, room)` (`tlsSeal` or `tlsOpen`, with the room for their answer) on the TLS session; null
   * when it threw (a damaged record with no alert to send, a session already gone): the connection is then
   * torn down, and the socket above fails with that error when it closes.
   */
  tls (call, bytes, room) {
    try {
      return call(this.id, bytes, room)
    } catch (err) {
      this.failed(err)
      return null
    }
  }

  /** The TLS session failed (`err` as Rust threw it): the socket above fails with it when this closes. */
  failed (err) {
    this.error = fromNative(err)
    this.tcp.destroy()
  }

  end () {
    this.closeNotify()
    this.tcp.end()
  }

  /** TLS: close_notify goes before the FIN, as rustls sends it over the pipe. */
  closeNotify () {
    if (!this.secure || this.tcp.writableEnded) return
    try {
      this.tcp.write(this.native.tlsClose(this.id))
    } catch {
      // The session is gone (the socket was destroyed): the FIN alone ends it.
    }
  }

  pause () {
    this.tcp.pause()
  }

  resume () {
    this.tcp.resume()
  }

  /** Now serving `owner` (a replay took over this idle connection). */
  adopt (owner) {
    this.owner = owner
  }

  /** Rust's CLOSED event: the pool let go of the connection; the socket closes it (`close`). */
  lost () {}

  /**
   * The socket is done with the connection: FIN, then wait (a little) for the server's, then close.
   * `fault`: it closes an idle connection for bytes nobody asked for (the pool counts an error close).
   */
  close (fault = false) {
    this.owner = null
    const tcp = this.tcp
    // Closing already: 'close' reports it.
    if (tcp.destroyed || this.linger !== null) return
    this.closeNotify()
    this.native.socketDestroy(this.id, true, fault)
    this.linger = setTimeout(() => tcp.destroy(), LINGER_MS).unref()
    // What still arrives is read and dropped; the peer's FIN ends both sides, and 'close' follows.
    tcp.resume()
    tcp.end()
  }

  /** The fd is closed: the pool frees the slot, and a socket still using it learns it is gone. */
  closed () {
    lenders.delete(this.tcp)
    clearTimeout(this.linger)
    this.native.socketDestroy(this.id)
    const owner = this.owner
    this.owner = null
    if (owner !== null) owner._carrierClosed(this.error)
  }
}

FdCarrier.prototype.kind = 'fd'

module.exports = { FdCarrier, giveAwayReadBuffer }
