'use strict'
// Malformed responses on the Promise face fail with the HPE_* code Node's own parser (llhttp) gives the
// same bytes: each case is sent to Node's http.get too, and both codes must match.

const { test } = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const { Agent } = require('..')
const { rawServer } = require('./helpers/faces')

const cases = {
  protocol: ['HTPT/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_CONSTANT'],
  version: ['HTTP/1.x 200 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_VERSION'],
  status: ['HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_STATUS'],
  'header name': ['HTTP/1.1 200 OK\r\nBad\u0001Name: x\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  'space in header name': ['HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  'header value': ['HTTP/1.1 200 OK\r\nX: a\u0001b\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  'obs-fold': ['HTTP/1.1 200 OK\r\nX: y\r\n  folded\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  'content-length': ['HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
  'content-length twice': ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
  'content-length, then chunked': ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
  'chunked, then content-length': ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n2\r\nok\r\n0\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
  'bare LF': ['HTTP/1.1 200 OK\nContent-Length: 0\n\n', 'HPE_CR_EXPECTED'],
  'CR without LF': ['HTTP/1.1 200 OK\r\nX: y\rZ: w\r\nContent-Length: 0\r\n\r\n', 'HPE_LF_EXPECTED'],
  'head over 64 KiB': [`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\nContent-Length: 0\r\n\r\n`, 'HPE_HEADER_OVERFLOW'],
  'chunk size': ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
  'chunk size overflow': ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nok\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
  'chunk without CRLF': ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n', 'HPE_STRICT']
}

/** What Node's own client reports for the same bytes: the request's or the response's error code. */
function nodeCode (url) {
  return new Promise(resolve => {
    const req = http.get(url, { agent: false }, res => {
      res.on('error', err => resolve(err.code))
      res.on('data', () => {})
      res.on('end', () => resolve('no error'))
    })
    req.on('error', err => resolve(err.code))
  })
}

test('each malformed response fails with the code Node\'s parser gives the same bytes', async () => {
  const names = Object.keys(cases)
  const srv = await rawServer(socket => socket.once('data', chunk => {
    const name = decodeURIComponent(chunk.toString('latin1').split(' ')[1].slice(1))
    socket.end(cases[name][0], 'latin1')
  }))
  const agent = new Agent()
  try {
    for (const name of names) {
      const url = `${srv.url}/${encodeURIComponent(name)}`
      const expected = cases[name][1]
      assert.strictEqual(await nodeCode(url), expected, `Node's code for ${name}`)
      const ours = await agent.request(url).then(res => res.text()).then(() => 'no error', err => err)
      assert.strictEqual(ours.code, expected, `${name}: ${ours.message ?? ours}`)
      assert.match(ours.message, /^Parse Error: /, name)
    }
  } finally {
    agent.destroy()
    await srv.close()
  }
})
