'use strict'
// What the server answers and what the clients send, shared by nginx's config, the Node fallback server and
// the workers, so every response can be checked for its exact length.

const SMALL_BODY = 'hello world\n'
const POST_REPLY = 'ok\n'
const LARGE_BYTES = 64 * 1024
const POST_BYTES = 4 * 1024

const PAYLOADS = [
  { id: 'small', label: 'GET small', path: '/small', method: 'GET', requestBytes: 0, responseBytes: SMALL_BODY.length },
  { id: '64k', label: 'GET 64 KiB', path: '/64k', method: 'GET', requestBytes: 0, responseBytes: LARGE_BYTES },
  { id: 'post', label: 'POST 4 KiB', path: '/post', method: 'POST', requestBytes: POST_BYTES, responseBytes: POST_REPLY.length }
]

/** A printable, non-compressible-looking 64 KiB body (a repeating alphabet line). */
function largeBody () {
  return Buffer.alloc(LARGE_BYTES, 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ!?\n')
}

function requestBody (payload) {
  return payload.requestBytes ? Buffer.alloc(payload.requestBytes, 'x') : undefined
}

module.exports = { SMALL_BODY, POST_REPLY, PAYLOADS, largeBody, requestBody }
