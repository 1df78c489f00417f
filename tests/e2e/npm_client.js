#!/usr/bin/env node
// Performs CoAP requests with the npm package `coap` (node-coap), for the end-to-end tests.
//
//   node npm_client.js coap://127.0.0.1:5683 '[{"method":"GET","path":"/test"}, ...]'
//   echo '[...]' | node npm_client.js coap://[::1]:5683
//
// The requests run one after another (later ones may depend on earlier ones), each from a
// fresh UDP socket. A request is an object with:
//   method       "GET", "POST", "PUT" or "DELETE" (default "GET")
//   path         "/seg1/seg2" (default "/")
//   query        "first=1&second=2" (default none)
//   confirmable  true for CON (the default), false for NON
//   payload      a string (default none)
//   options      {"Content-Format": 0, "Accept": 41,        uint options: numbers
//                 "If-Match": "0000002a", "ETag": "01ab",   opaque options: hex strings
//                 "If-None-Match": true}                    empty options: true
//
// For each request one JSON line is printed:
//   {"index":0, "request":{"type":"CON","mid":1234,"token":"a1b2"},
//    "type":"ACK", "mid":1234, "token":"a1b2", "code":"2.05",
//    "payload":"text", "payload_hex":"74657874", "content_format":0,
//    "etag":["0000002a"], "location_path":["a","b"], "location_query":["x=1"],
//    "options":[{"name":"Content-Format","value":"00"}]}
// or {"index":0, "error":"..."}; the exit status is then 1.
'use strict'

const coap = require('coap')

const TIMEOUT_MS = 5000

// Keep these options as raw bytes both ways: node-coap would otherwise turn ETags and
// locations into (lossy) strings and content formats into media-type names.
const raw = (value) => value
for (const name of ['ETag', 'If-Match', 'Location-Path', 'Location-Query', 'Content-Format',
  'Accept', 'Max-Age']) {
  coap.registerOption(name, raw, raw)
}

function uintBytes (number) {
  const bytes = []
  for (let value = number; value > 0; value = Math.floor(value / 256)) bytes.unshift(value % 256)
  return Buffer.from(bytes)
}

function optionBuffer (value) {
  if (value === true) return Buffer.alloc(0)
  if (typeof value === 'number') return uintBytes(value)
  if (typeof value === 'string') return Buffer.from(value, 'hex')
  throw new Error('unsupported option value ' + JSON.stringify(value))
}

function typeOf (packet) {
  if (packet.ack) return 'ACK'
  if (packet.reset) return 'RST'
  return packet.confirmable ? 'CON' : 'NON'
}

function hex (buffer) {
  return buffer == null ? '' : Buffer.from(buffer).toString('hex')
}

function describe (index, request, response) {
  const packet = response._packet
  const options = packet.options || []
  const values = (name) => options.filter((o) => o.name === name).map((o) => o.value)
  const format = values('Content-Format')
  const payload = packet.payload || Buffer.alloc(0)
  return {
    index,
    request: {
      type: request._packet.confirmable ? 'CON' : 'NON',
      mid: request._packet.messageId,
      token: hex(request._packet.token)
    },
    type: typeOf(packet),
    mid: packet.messageId,
    token: hex(packet.token),
    code: packet.code,
    payload: payload.toString('utf8'),
    payload_hex: hex(payload),
    content_format: format.length > 0 ? format[0].reduce((n, byte) => n * 256 + byte, 0) : null,
    etag: values('ETag').map(hex),
    location_path: values('Location-Path').map((v) => Buffer.from(v).toString('utf8')),
    location_query: values('Location-Query').map((v) => Buffer.from(v).toString('utf8')),
    options: options.map((o) => ({
      name: String(o.name),
      value: Buffer.isBuffer(o.value) ? hex(o.value) : String(o.value)
    }))
  }
}

function perform (server, spec, index) {
  return new Promise((resolve) => {
    let done = false
    const finish = (line) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resolve(line)
    }
    const timer = setTimeout(() => finish({ index, error: 'no response within ' + TIMEOUT_MS + ' ms' }),
      TIMEOUT_MS)
    let request
    try {
      request = coap.request({
        hostname: server.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: Number(server.port),
        method: spec.method || 'GET',
        pathname: spec.path || '/',
        query: spec.query || '',
        confirmable: spec.confirmable !== false,
        agent: false
      })
      for (const [name, value] of Object.entries(spec.options || {})) {
        request.setOption(name, optionBuffer(value))
      }
    } catch (error) {
      finish({ index, error: String(error && error.message ? error.message : error) })
      return
    }
    request.on('response', (response) => finish(describe(index, request, response)))
    request.on('error', (error) => finish({ index, error: String(error.message || error) }))
    request.on('timeout', (error) => finish({ index, error: 'timeout: ' + String(error) }))
    if (spec.payload != null) request.write(Buffer.from(spec.payload, 'utf8'))
    request.end()
  })
}

async function main () {
  const [base, json] = process.argv.slice(2)
  if (!base) {
    process.stderr.write('usage: npm_client.js coap://host:port [JSON list of requests]\n')
    process.exit(2)
  }
  let text = json
  if (text == null) {
    const chunks = []
    for await (const chunk of process.stdin) chunks.push(chunk)
    text = Buffer.concat(chunks).toString('utf8')
  }
  const requests = JSON.parse(text)
  const server = new URL(base)
  let failed = false
  for (let i = 0; i < requests.length; ++i) {
    const line = await perform(server, requests[i], i)
    if (line.error) failed = true
    process.stdout.write(JSON.stringify(line) + '\n')
  }
  process.exit(failed ? 1 : 0)
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + '\n')
  process.exit(1)
})
