'use strict'
// A response head read without llhttp, for the usual answer only: `HTTP/1.1`, a final status, a
// Content-Length, no Transfer-Encoding, no Upgrade, a plain Connection. llhttp's `execute` cost more
// than anything else of an exchange's own but the `write` syscall (≈ 3 µs a response at 64 in flight,
// 12 µs one at a time, `--cpu-prof`), most of it making a string of every header name and value; a
// scan in JS costs a third of that and leaves the names and values as one string, cut only when read.
//
// `scan` accepts a strict subset of what llhttp accepts (kLenientNone) and reads it as llhttp does;
// anything else, even what llhttp would take, is left to llhttp from the first byte (nothing is consumed
// until `scan` says yes), so a head `scan` refuses behaves exactly as before. __test__/promise-head.test.js
// checks the two against each other on crafted and mutated heads.

/** RFC 9110 tchar: the octets of a field name. */
const TOKEN = new Uint8Array(256)
/** What a field value holds between its ends, as llhttp takes it: HTAB, SP, VCHAR and obs-text (not DEL). */
const VALUE = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = TOKEN[c | 0x20] = 1
VALUE[0x09] = 1
for (let c = 0x20; c < 0x7f; c++) VALUE[c] = 1
for (let c = 0x80; c <= 0xff; c++) VALUE[c] = 1

const CR = 0x0d
const LF = 0x0a
const SP = 0x20
const HTAB = 0x09
/** `HTTP/1.1 `: the only version `scan` takes. */
const VERSION = Buffer.from('HTTP/1.1 ', 'latin1')
/** Digits of a Content-Length `scan` takes: up to 2^53 − 1, as llhttp's 64-bit count never overflows. */
const LENGTH_DIGITS_MAX = 15

/**
 * What the last `scan` that said yes found: the status, where the head ends (the body's first byte),
 * the body's length, whether the connection stays open, and where the last `Keep-Alive` value is (or -1).
 * One record, overwritten by each scan: read before the next.
 */
const scanned = { status: 0, end: 0, length: 0, keepAlive: true, hintStart: -1, hintEnd: -1 }

/** Whether `buf[at, at + name.length)` is `name` (lower case, letters and '-') in any case. */
function named (buf, at, name) {
  for (let i = 0; i < name.length; i++) {
    if ((buf[at + i] | 0x20) !== name.charCodeAt(i)) return false
  }
  return true
}

/**
 * Whether `buf[0, n)` starts with a whole response head `scan` reads (see the top of this file), followed
 * by no more than its body; `scanned` says what it found. False leaves the bytes to llhttp.
 */
function scan (buf, n) {
  if (n < 17) return false
  for (let i = 0; i < 9; i++) {
    if (buf[i] !== VERSION[i]) return false
  }
  const d0 = buf[9] - 0x30
  const d1 = buf[10] - 0x30
  const d2 = buf[11] - 0x30
  // 2xx to 5xx: a 1xx is followed by another head, and 204 and 304 have no body whatever their length says.
  if (d0 < 2 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || buf[12] !== SP) return false
  const status = d0 * 100 + d1 * 10 + d2
  if (status === 204 || status === 304) return false
  let i = 13
  while (i < n && VALUE[buf[i]] === 1) i++
  if (i + 1 >= n || buf[i] !== CR || buf[i + 1] !== LF) return false
  i += 2
  let length = -1
  let keepAlive = true
  let connection = false
  let hintStart = -1
  let hintEnd = -1
  for (;;) {
    if (i + 1 >= n) return false
    if (buf[i] === CR) {
      if (buf[i + 1] !== LF) return false
      i += 2
      break
    }
    const nameStart = i
    while (i < n && TOKEN[buf[i]] === 1) i++
    const nameLength = i - nameStart
    if (nameLength === 0 || i >= n || buf[i] !== 0x3a) return false
    i++
    while (i < n && (buf[i] === SP || buf[i] === HTAB)) i++
    const valueStart = i
    while (i < n && VALUE[buf[i]] === 1) i++
    if (i + 1 >= n || buf[i] !== CR || buf[i + 1] !== LF) return false
    const lineEnd = i
    i += 2
    // What llhttp reads a Content-Length or Connection from ends before trailing spaces, not tabs (it
    // refuses `5\t` as a length, and takes `close\t` for no close): a tab left there makes `scan` refuse.
    let valueEnd = lineEnd
    while (valueEnd > valueStart && buf[valueEnd - 1] === SP) valueEnd--
    // Only the names llhttp reads meaning into are looked at; among them, what is not the plain case is llhttp's.
    switch (nameLength) {
      case 7:
        if (named(buf, nameStart, 'upgrade')) return false
        break
      case 10:
        if (named(buf, nameStart, 'connection')) {
          if (connection) return false
          connection = true
          const valueLength = valueEnd - valueStart
          if (valueLength === 5 && named(buf, valueStart, 'close')) keepAlive = false
          else if (valueLength !== 10 || !named(buf, valueStart, 'keep-alive')) return false
        } else if (named(buf, nameStart, 'keep-alive')) {
          hintStart = valueStart
          hintEnd = lineEnd
          while (hintEnd > hintStart && (buf[hintEnd - 1] === SP || buf[hintEnd - 1] === HTAB)) hintEnd--
        }
        break
      case 14:
        if (named(buf, nameStart, 'content-length')) {
          if (length !== -1 || valueEnd === valueStart || valueEnd - valueStart > LENGTH_DIGITS_MAX) return false
          length = 0
          for (let k = valueStart; k < valueEnd; k++) {
            const digit = buf[k] - 0x30
            if (digit < 0 || digit > 9) return false
            length = length * 10 + digit
          }
        }
        break
      case 16:
        if (named(buf, nameStart, 'proxy-connection')) return false
        break
      case 17:
        if (named(buf, nameStart, 'transfer-encoding')) return false
        break
    }
  }
  // Bytes beyond the body are another message (or garbage): llhttp tells them apart.
  if (length === -1 || n - i > length) return false
  scanned.status = status
  scanned.end = i
  scanned.length = length
  scanned.keepAlive = keepAlive
  scanned.hintStart = hintStart
  scanned.hintEnd = hintEnd
  return true
}

/**
 * A head `scan` read, as its latin1 text (status line to the empty line): the status text and the header
 * lines are cut from it only when asked for, as llhttp would give them (names as received, values without
 * the whitespace around them).
 */
class ReceivedHead {
  constructor (text) {
    this.text = text
  }

  get statusText () {
    const text = this.text
    return text.slice(13, text.indexOf('\r\n'))
  }

  /** Names and values alternating, in the order received. */
  get rawHeaders () {
    const text = this.text
    const raw = []
    let at = text.indexOf('\r\n') + 2
    for (;;) {
      const end = text.indexOf('\r\n', at)
      if (end === at) return raw
      const colon = text.indexOf(':', at)
      raw.push(text.slice(at, colon), trimmed(text, colon + 1, end))
      at = end + 2
    }
  }
}

/** `text[start, end)` without the spaces and tabs at its ends. */
function trimmed (text, start, end) {
  while (start < end && isBlank(text.charCodeAt(start))) start++
  while (end > start && isBlank(text.charCodeAt(end - 1))) end--
  return text.slice(start, end)
}

function isBlank (code) {
  return code === SP || code === HTAB
}

module.exports = { scan, scanned, ReceivedHead }
