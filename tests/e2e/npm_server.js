#!/usr/bin/env node
// A CoAP server built with the npm package `coap` (node-coap), a peer for the client end-to-end
// tests (client_e2e_test.cpp):
//
//   node npm_server.js [address]        address defaults to "::" (IPv6 and IPv4)
//
// It listens on a free UDP port and prints "listening PORT" on stdout once bound. Resources:
//   GET  /hello      2.05 "world", Content-Format text/plain
//   PUT  /store      2.04 echoing the request payload (node-coap reassembles Block1 uploads and
//                    sends large echoes block-wise)
//   GET  /separate   answered after 300 ms; node-coap sends an empty ACK after 50 ms, so the
//                    response is a separate CON (RFC 7252 §5.2.2)
//   GET  /large      2.05, 3000 bytes of numbered lines ("00000\n00001\n..."): more than one
//                    block, so node-coap answers with Block2
//   GET  /counter    observable (RFC 7641): a notification every 100 ms carrying 1, 2, 3...;
//                    a GET with Observe = 1 (same token) deregisters, and so does an RST
//   anything else    4.04
// Observation events go to stderr as "counter: registered <key>", "counter: deregistered <key>"
// and "counter: ended <key>" so that the tests can tell when the server stopped notifying.
'use strict'

const coap = require('coap')

const address = process.argv[2] || '::'
const NOTIFY_MS = 100
const SEPARATE_MS = 300

const large = Array.from({ length: 500 }, (_, i) => String(i).padStart(5, '0') + '\n').join('')

// Active observations of /counter by "address:port/token".
const observers = new Map()

function keyOf (request) {
  const token = request._packet.token ? request._packet.token.toString('hex') : ''
  return `${request.rsinfo.address}:${request.rsinfo.port}/${token}`
}

function serveCounter (request, response) {
  const key = keyOf(request)
  if (request.headers.Observe === 0) {
    let count = 0
    response.setOption('Content-Format', 'text/plain')
    response.write(String(++count))
    const timer = setInterval(() => response.write(String(++count)), NOTIFY_MS)
    observers.set(key, { response, timer })
    process.stderr.write(`counter: registered ${key}\n`)
    // node-coap ends the stream when the client answers a notification with RST.
    response.on('finish', () => {
      clearInterval(timer)
      if (observers.get(key)?.response === response) observers.delete(key)
      process.stderr.write(`counter: ended ${key}\n`)
    })
    return
  }
  const observer = observers.get(key)
  if (request.headers.Observe === 1 && observer) {
    clearInterval(observer.timer)
    observers.delete(key)
    process.stderr.write(`counter: deregistered ${key}\n`)
    observer.response.end()
  }
  response.setOption('Content-Format', 'text/plain')
  response.end('counter')
}

const server = coap.createServer({ type: address.includes(':') ? 'udp6' : 'udp4' })

server.on('request', (request, response) => {
  const path = request.url.split('?')[0]
  const method = request.method
  if (path === '/hello' && method === 'GET') {
    response.setOption('Content-Format', 'text/plain')
    response.end('world')
  } else if (path === '/store' && method === 'PUT') {
    response.code = '2.04'
    response.end(request.payload)
  } else if (path === '/separate' && method === 'GET') {
    setTimeout(() => {
      response.setOption('Content-Format', 'text/plain')
      response.end('separate')
    }, SEPARATE_MS)
  } else if (path === '/large' && method === 'GET') {
    response.setOption('Content-Format', 'text/plain')
    response.end(large)
  } else if (path === '/counter' && method === 'GET') {
    serveCounter(request, response)
  } else {
    response.code = '4.04'
    response.end()
  }
})

server.listen(0, address, (error) => {
  if (error) {
    process.stderr.write(`cannot listen: ${error}\n`)
    process.exit(1)
  }
  process.stdout.write(`listening ${server._sock.address().port}\n`)
})

process.on('SIGTERM', () => process.exit(0))
