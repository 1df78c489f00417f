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
//   block1       SZX 0-6: send the payload block-wise (node-coap's Block1 support: it is only
//                used when the request carries a Block1 option, whose SZX sets the block size)
//   block2       SZX 0-6: ask for this Block2 size in the first request (early negotiation)
//   observe      {"count": N, "timeout_ms": T, "close": "forget" | "deregister",
//                 "quiet_ms": Q}: register with Observe, collect N notifications (the first
//                is the registration's response) or until T ms (default 5000), then close:
//                "forget" (default) is node-coap's close(), which only drops the token, so
//                the next CON notification is answered with RST (RFC 7641 §3.6);
//                "deregister" is close(true), a GET with Observe=1 and the same token.
//                The socket then stays open Q ms (default 0) to see what still arrives.
//
// For each request one JSON line is printed:
//   {"index":0, "request":{"type":"CON","mid":1234,"token":"a1b2"},
//    "type":"ACK", "mid":1234, "token":"a1b2", "code":"2.05",
//    "payload":"text", "payload_hex":"74657874", "content_format":0,
//    "etag":["0000002a"], "location_path":["a","b"], "location_query":["x=1"],
//    "block1":{"num":0,"more":false,"size":1024}, "block2":null, "observe":null,
//    "options":[{"name":"Content-Format","value":"00"}],
//    "wire":[{"dir":"out","type":"CON","mid":1234,"token":"a1b2","code":"0.01",
//             "observe":null,"block1":null,"block2":null,"etag":null,"size2":null,
//             "payload_length":0,"after_close":false}, ...]}
// "wire" lists every datagram node-coap sent and received on the request's socket. With
// "observe", the line also has "notifications": one object per notification node-coap
// delivered ('data' event), with the fields above except request, mid, token, payload_hex and
// wire; "type" is that of the datagram that completed it.
// On failure the line is {"index":0, "error":"...", "wire":[...]}; the exit status is then 1.
'use strict'

const dgram = require('dgram')
const net = require('net')
const coap = require('coap')
const packet = require('coap-packet')

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

function uintOf (bytes) {
  return Buffer.from(bytes).reduce((n, byte) => n * 256 + byte, 0)
}

function optionBuffer (value) {
  if (value === true) return Buffer.alloc(0)
  if (typeof value === 'number') return uintBytes(value)
  if (typeof value === 'string') return Buffer.from(value, 'hex')
  throw new Error('unsupported option value ' + JSON.stringify(value))
}

function typeOf (message) {
  if (message.ack) return 'ACK'
  if (message.reset) return 'RST'
  return message.confirmable ? 'CON' : 'NON'
}

function hex (buffer) {
  return buffer == null ? '' : Buffer.from(buffer).toString('hex')
}

// RFC 7959 §2.2: NUM, M and SZX packed into 0-3 bytes.
function blockOf (value) {
  if (value == null || !Buffer.isBuffer(value)) return null
  const number = uintOf(value)
  return { num: Math.floor(number / 16), more: (number & 8) !== 0, size: 1 << ((number & 7) + 4) }
}

// The Observe value: node-coap converts it to a number; raw bytes on the wire.
function observeOf (value) {
  if (value == null) return null
  return typeof value === 'number' ? value : uintOf(value)
}

// Code, payload and options of a message as node-coap parsed it (a response or the state of
// an ObserveReadStream).
function contentOf (code, options, payload) {
  options = options || []
  payload = payload || Buffer.alloc(0)
  const values = (name) => options.filter((o) => o.name === name).map((o) => o.value)
  const first = (name) => { const all = values(name); return all.length > 0 ? all[0] : null }
  const format = first('Content-Format')
  return {
    code,
    payload: Buffer.from(payload).toString('utf8'),
    payload_hex: hex(payload),
    content_format: format == null ? null : uintOf(format),
    etag: values('ETag').map(hex),
    location_path: values('Location-Path').map((v) => Buffer.from(v).toString('utf8')),
    location_query: values('Location-Query').map((v) => Buffer.from(v).toString('utf8')),
    block1: blockOf(first('Block1')),
    block2: blockOf(first('Block2')),
    observe: observeOf(first('Observe')),
    options: options.map((o) => ({
      name: String(o.name),
      value: Buffer.isBuffer(o.value) ? hex(o.value) : String(o.value)
    }))
  }
}

function requestOf (request) {
  return {
    type: request._packet.confirmable ? 'CON' : 'NON',
    mid: request._packet.messageId,
    token: hex(request._packet.token)
  }
}

function describe (index, request, response, wire) {
  const message = response._packet
  return Object.assign({ index, request: requestOf(request), type: typeOf(message),
    mid: message.messageId, token: hex(message.token) },
  contentOf(message.code, message.options, message.payload), { wire })
}

// A UDP socket whose traffic is recorded in `wire`, for node-coap's Agent({socket}).
function tracedSocket (ipv6, wire, state) {
  const socket = dgram.createSocket(ipv6 ? 'udp6' : 'udp4')
  const record = (dir, datagram) => {
    const entry = { dir, after_close: state.closed }
    try {
      const message = packet.parse(datagram)
      const option = (name) => {
        const found = message.options.find((o) => o.name === name)
        return found == null ? null : found.value
      }
      Object.assign(entry, {
        type: typeOf(message),
        mid: message.messageId,
        token: hex(message.token),
        code: message.code,
        observe: option('Observe') == null ? null : uintOf(option('Observe')),
        block1: blockOf(option('Block1')),
        block2: blockOf(option('Block2')),
        etag: option('ETag') == null ? null : hex(option('ETag')),
        size2: option('Size2') == null ? null : uintOf(option('Size2')),
        payload_length: message.payload.length
      })
    } catch (error) {
      entry.unparsable = hex(datagram)
    }
    wire.push(entry)
  }
  socket.on('message', (datagram) => record('in', datagram))
  const send = socket.send.bind(socket)
  socket.send = (...args) => {
    // node-coap calls send(buffer, offset, length, port, address, callback); dgram replays
    // sends queued before the implicit bind as send([buffer], port, address, callback).
    if (Buffer.isBuffer(args[0])) record('out', args[0].subarray(args[1], args[1] + args[2]))
    return send(...args)
  }
  return socket
}

function perform (server, spec, index) {
  return new Promise((resolve) => {
    const wire = []
    const state = { closed: false }
    const hostname = server.hostname.replace(/^\[(.*)\]$/, '$1')
    const socket = tracedSocket(net.isIPv6(hostname), wire, state)
    const observe = spec.observe
    const notifications = []
    let done = false
    let timer = null
    let stream = null
    const finish = (line) => {
      if (done) return
      done = true
      clearTimeout(timer)
      state.closed = true
      if (stream != null && stream.readable) stream.close(observe.close === 'deregister')
      // Stay reachable a while after closing, to see (and answer) what still arrives.
      setTimeout(() => {
        try { socket.close() } catch (error) { /* already closed */ }
        if (observe != null) line.notifications = notifications
        line.wire = wire
        resolve(line)
      }, observe != null && observe.quiet_ms != null ? observe.quiet_ms : 0)
    }
    const limit = observe != null && observe.timeout_ms != null ? observe.timeout_ms : TIMEOUT_MS
    timer = setTimeout(() => {
      if (observe != null && notifications.length > 0) {
        finish(Object.assign(describe(index, request, stream), { incomplete: true }))
      } else {
        finish({ index, error: 'no response within ' + limit + ' ms' })
      }
    }, limit)
    let request
    try {
      request = coap.request({
        hostname,
        port: Number(server.port),
        method: spec.method || 'GET',
        pathname: spec.path || '/',
        query: spec.query || '',
        confirmable: spec.confirmable !== false,
        observe: observe != null,
        agent: new coap.Agent({ socket })
      })
      for (const [name, value] of Object.entries(spec.options || {})) {
        request.setOption(name, optionBuffer(value))
      }
      if (spec.block1 != null) request.setOption('Block1', Buffer.of(spec.block1))
      if (spec.block2 != null) request.setOption('Block2', Buffer.of(spec.block2))
    } catch (error) {
      finish({ index, error: String(error && error.message ? error.message : error) })
      return
    }
    request.on('response', (response) => {
      // node-coap answers a refused registration (4.04) with a plain IncomingMessage.
      if (observe == null || typeof response.append !== 'function') {
        finish(describe(index, request, response, wire))
        return
      }
      stream = response
      collect(stream, notifications, () => {
        if (notifications.length >= (observe.count || 1)) {
          finish(describe(index, request, stream))
        }
      })
    })
    request.on('error', (error) => finish({ index, error: String(error.message || error) }))
    request.on('timeout', (error) => finish({ index, error: 'timeout: ' + String(error) }))
    if (spec.payload != null) request.write(Buffer.from(spec.payload, 'utf8'))
    request.end()
  })
}

// Records every notification an ObserveReadStream delivers, with the type, code and options
// of the message that completed it (node-coap exposes only the payload in 'data').
function collect (stream, notifications, onNotification) {
  const pending = [snapshot(stream._packet, stream)]
  const append = stream.append.bind(stream)
  let current = null
  stream.append = (message, first) => {
    current = message
    append(message, first)
  }
  const push = stream.push.bind(stream)
  stream.push = (chunk) => {
    if (chunk !== null && current !== null) pending.push(snapshot(current, stream))
    return push(chunk)
  }
  stream.on('data', (payload) => {
    const entry = pending.shift() || snapshot(stream._packet, stream)
    entry.payload = Buffer.from(payload).toString('utf8')
    delete entry.payload_hex  // kept short: the observable resources are text
    notifications.push(entry)
    onNotification()
  })
}

function snapshot (message, stream) {
  return Object.assign({ type: typeOf(message) }, contentOf(stream.code, stream.options,
    message.payload))
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
