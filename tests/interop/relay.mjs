// js-libp2p circuit relay v2 peers for the relay interop tests, in the style
// of peer.mjs (JSON lines on stdout; {"error":…} and exit 1 on failure; exit 0
// on SIGINT/SIGTERM; loopback addresses only).
//
//   node relay.mjs --relay --listen /ip4/127.0.0.1/tcp/0 [--key FILE] [--limited]
//                  [--connect MULTIADDR/p2p/ID]
//       A relay (hop) server with identify and ping. With --connect it dials
//       that peer once it listens (as a relay met through the DHT would be
//       connected), prints {"event":"connected","peer":…} and stays
//       connected. Reservations carry no
//       limit, unless --limited: then js-libp2p's go-libp2p-like defaults
//       (2 min, 128 KiB per relayed connection, both directions together;
//       js puts the duration on the wire in ms, 120000, where the spec says
//       seconds). On a limit the relay resets both halves of the circuit.
//       Prints {"peer_id":…,"addrs":[…]}, then one line per reservation
//       {"event":"reservation","peer":…,"limit":{…}|null} and per circuit
//       {"event":"circuit","src":…,"dst":…}.
//   node relay.mjs --reserve RELAY_MULTIADDR/p2p/ID [--key FILE]
//       Reserves a slot on the relay, listens on RELAY/p2p-circuit and serves
//       identify, ping and /echo/1.0.0; prints {"peer_id":…,"addrs":[…]} with
//       its circuit addresses (…/p2p/RELAY/p2p-circuit/p2p/ID).
//   node relay.mjs --dial CIRCUIT_MULTIADDR [--count N] [--echo BYTES] [--timeout SEC]
//       Dials through the relay and prints the remote's identify, N pings and
//       the echo check, as peer.mjs's dialer does.

import { createHash, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import process from 'node:process'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { defaultLogger } from '@libp2p/logger'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const ECHO_PROTOCOL = '/echo/1.0.0'
const CHUNK = 64 * 1024
const MAX_READ_BUFFER = 16 * 1024 * 1024
const DEFAULT_TIMEOUT_SEC = 100
const RESERVE_WAIT_MS = 20000

function usage () {
  process.stderr.write('usage: relay.mjs --relay --listen MULTIADDR [--key FILE] [--limited] [--connect MULTIADDR]\n' +
    '       relay.mjs --reserve RELAY_MULTIADDR [--key FILE]\n' +
    '       relay.mjs --dial CIRCUIT_MULTIADDR [--count N] [--echo BYTES] [--timeout SEC]\n')
  process.exit(2)
}

function parseArgs (argv) {
  const opts = { count: 3, echo: 0, timeout: DEFAULT_TIMEOUT_SEC, limited: false }
  const num = (v) => {
    if (v == null || !/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) usage()
    return Number(v)
  }
  const str = (v) => { if (v == null) usage(); return v }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--relay') opts.relay = true
    else if (a === '--listen') opts.listen = str(argv[++i])
    else if (a === '--limited') opts.limited = true
    else if (a === '--connect') opts.connect = str(argv[++i])
    else if (a === '--reserve') opts.reserve = str(argv[++i])
    else if (a === '--dial') opts.dial = str(argv[++i])
    else if (a === '--key') opts.key = str(argv[++i])
    else if (a === '--count') opts.count = num(argv[++i])
    else if (a === '--echo') opts.echo = num(argv[++i])
    else if (a === '--timeout') opts.timeout = num(argv[++i])
    else usage()
  }
  const roles = [opts.relay, opts.reserve != null, opts.dial != null].filter(Boolean).length
  if (roles !== 1 || (opts.relay === true) !== (opts.listen != null)) usage()
  return opts
}

function print (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail (err) {
  // A relay's reset arrives as an error with an empty message: name it.
  print({ error: err?.message || err?.name || String(err) })
  if (process.env.PEER_DEBUG) process.stderr.write(`${err?.stack ?? err}\n`)
  process.exit(1)
}

function isLoopback (ma) {
  const s = ma.toString()
  return s.startsWith('/ip4/127.') || s.startsWith('/ip6/::1/')
}

async function loadKey (file) {
  if (file == null) return generateKeyPair('Ed25519')
  try {
    return privateKeyFromProtobuf(await readFile(file))
  } catch (err) {
    if (err.code !== 'ENOENT') throw err
  }
  const key = await generateKeyPair('Ed25519')
  await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600 })
  return key
}

// The relay server emits no events for reservations or circuits (its
// 'relay:reservation' event is declared but never dispatched), so its log
// calls are the hook: this logger prints an event line for two of them and
// otherwise behaves as the default one (DEBUG=libp2p:* still works).
function relayEventLogger () {
  const base = defaultLogger()
  return {
    forComponent (name) {
      const log = base.forComponent(name)
      if (name !== 'libp2p:circuit-relay:server') return log
      const hooked = (fmt, ...args) => {
        if (fmt === 'connection from %p to %p established - merging streams') {
          print({ event: 'circuit', src: String(args[0]), dst: String(args[1]) })
        }
        log(fmt, ...args)
      }
      return Object.assign(hooked, { error: log.error, trace: log.trace, enabled: log.enabled, newScope: log.newScope })
    }
  }
}

async function makeNode (opts, extra) {
  return createLibp2p({
    privateKey: await loadKey(opts.key),
    addresses: { listen: [] },
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialMultiaddr: (ma) => !isLoopback(ma)
    },
    connectionMonitor: { enabled: false },
    nodeInfo: { name: 'js-libp2p-interop' },
    ...extra,
    services: {
      identify: identify({ runOnConnectionOpen: opts.dial == null }),
      ping: ping(),
      ...extra?.services
    }
  })
}

function onSignalStop (node) {
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    node.stop().then(() => process.exit(0), (err) => fail(err))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

async function runRelay (opts) {
  const reservations = opts.limited
    ? { applyDefaultLimit: true, defaultDurationLimit: 2 * 60 * 1000, defaultDataLimit: 128n * 1024n }
    : { applyDefaultLimit: false }
  const node = await makeNode(opts, {
    addresses: { listen: [opts.listen] },
    logger: relayEventLogger(),
    services: { relay: circuitRelayServer({ reservations }) }
  })
  const addrs = node.getMultiaddrs().filter(isLoopback).map(String)
  if (addrs.length === 0) throw new Error('not listening on a loopback address')
  print({ peer_id: node.peerId.toString(), addrs })
  // Reservations: polled from the server's reservation map.
  const seen = new Map()
  setInterval(() => {
    for (const [peer, r] of node.services.relay.reservations.entries()) {
      const key = String(peer)
      if (seen.get(key) === r) continue
      seen.set(key, r)
      const limit = r.limit == null
        ? null
        : { duration: r.limit.duration ?? null, data: r.limit.data != null ? Number(r.limit.data) : null }
      print({ event: 'reservation', peer: key, expiry: r.expiry.toISOString(), limit })
    }
  }, 100).unref()
  onSignalStop(node)
  if (opts.connect != null) {
    const target = multiaddr(opts.connect)
    if (!isLoopback(target)) throw new Error('only loopback addresses may be dialled')
    const conn = await node.dial(target)
    print({ event: 'connected', peer: conn.remotePeer.toString() })
  }
}

function echoHandler (stream) {
  stream.maxReadBufferLength = MAX_READ_BUFFER
  stream.addEventListener('message', (evt) => {
    if (!stream.send(evt.data) && stream.readStatus === 'readable') {
      stream.pause()
      stream.onDrain().then(() => {
        if (stream.readStatus === 'paused') stream.resume()
      }, () => {})
    }
  })
  stream.addEventListener('end', () => {
    stream.close().catch((err) => stream.abort(err))
  })
}

async function runReserve (opts) {
  const relay = multiaddr(opts.reserve)
  if (!isLoopback(relay)) throw new Error('only loopback relays may be used')
  const node = await makeNode(opts, {
    addresses: { listen: [relay.encapsulate('/p2p-circuit').toString()] }
  })
  await node.handle(ECHO_PROTOCOL, echoHandler, { maxInboundStreams: 16, runOnLimitedConnection: true })
  const deadline = Date.now() + RESERVE_WAIT_MS
  let addrs = []
  for (;;) {
    addrs = node.getMultiaddrs().filter((ma) => isLoopback(ma) && ma.toString().includes('/p2p-circuit/')).map(String)
    if (addrs.length > 0) break
    if (Date.now() > deadline) throw new Error('no circuit address after the reservation')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  print({ peer_id: node.peerId.toString(), addrs })
  onSignalStop(node)
}

async function sendAll (stream, total, source) {
  for (let off = 0; off < total; off += CHUNK) {
    const len = Math.min(CHUNK, total - off)
    if (!stream.send(source(off, len))) await stream.onDrain()
  }
}

async function echo (conn, total) {
  const data = randomBytes(total)
  const stream = await conn.newStream(ECHO_PROTOCOL, { runOnLimitedConnection: true })
  stream.maxReadBufferLength = MAX_READ_BUFFER
  const start = performance.now()
  const hash = createHash('sha256')
  let received = 0
  const reading = (async () => {
    for await (const chunk of stream) {
      for (const part of chunk instanceof Uint8Array ? [chunk] : chunk) {
        received += part.byteLength
        hash.update(part)
      }
    }
  })()
  await sendAll(stream, total, (off, len) => data.subarray(off, off + len))
  await stream.close()
  await reading
  const ms = Math.max(performance.now() - start, 0.001)
  const ok = received === total &&
    hash.digest('hex') === createHash('sha256').update(data).digest('hex')
  if (!ok) throw new Error(`echo: sent ${total} bytes, got back ${received} different bytes`)
  return { echo_bytes: total, ok: true, mb_per_s: Math.round(total / 1e6 / (ms / 1000) * 100) / 100 }
}

async function runDial (opts) {
  const target = multiaddr(opts.dial)
  if (!isLoopback(target)) throw new Error('only loopback addresses may be dialled')
  if (!target.toString().includes('/p2p-circuit/p2p/')) throw new Error('not a circuit address: ' + target)
  const node = await makeNode(opts)
  const conn = await node.dial(target)
  const id = await node.services.identify.identify(conn)
  print({
    peer_id: id.peerId.toString(),
    agent_version: id.agentVersion ?? null,
    protocol_version: id.protocolVersion ?? null,
    protocols: id.protocols,
    listen_addrs: id.listenAddrs.map(String),
    observed_addr: id.observedAddr?.toString() ?? null,
    limited: conn.limits != null
  })
  for (let i = 0; i < opts.count; i++) {
    print({ rtt_ms: await node.services.ping.ping(conn.remotePeer) })
  }
  if (opts.echo > 0) print(await echo(conn, opts.echo))
  await conn.close()
  await node.stop()
}

const opts = parseArgs(process.argv.slice(2))
if (opts.dial != null) {
  setTimeout(() => fail(new Error(`timed out after ${opts.timeout} s`)), opts.timeout * 1000).unref()
  runDial(opts).then(() => process.exit(0), fail)
} else if (opts.reserve != null) {
  runReserve(opts).catch(fail)
} else {
  runRelay(opts).catch(fail)
}
