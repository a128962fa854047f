// A js-libp2p peer with the same command line as the C tool p2p-ping, so the
// interop tests can put either implementation on either side.
//
//   node peer.mjs --listen /ip4/127.0.0.1/tcp/0 [--key FILE]
//       Prints {"peer_id":…,"addrs":[…]} once listening, then serves identify,
//       ping, /perf/1.0.0 and /echo/1.0.0 until SIGINT/SIGTERM (exits 0).
//   node peer.mjs <multiaddr/p2p/ID> [--count N] [--echo BYTES]
//                 [--perf-upload BYTES] [--perf-download BYTES] [--timeout SEC]
//       Dials, prints the remote's identify, N pings, the echo check and the
//       perf rates, one JSON line each; on failure prints {"error":…} and
//       exits 1.
//
// Only loopback addresses are ever listened on or dialled. Rates are in
// MB/s with MB = 10^6 bytes.

import { createHash, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import process from 'node:process'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const ECHO_PROTOCOL = '/echo/1.0.0'
const PERF_PROTOCOL = '/perf/1.0.0'
const CHUNK = 64 * 1024
const DEFAULT_TIMEOUT_SEC = 100
// js streams buffer received data while paused; perf and echo read
// continuously, so this only has to cover one burst.
const MAX_READ_BUFFER = 16 * 1024 * 1024

function usage () {
  process.stderr.write('usage: peer.mjs --listen MULTIADDR [--key FILE]\n' +
    '       peer.mjs MULTIADDR/p2p/ID [--count N] [--echo BYTES] ' +
    '[--perf-upload BYTES] [--perf-download BYTES] [--timeout SEC]\n')
  process.exit(2)
}

function parseArgs (argv) {
  const opts = { count: 3, echo: 0, perfUpload: 0, perfDownload: 0, timeout: DEFAULT_TIMEOUT_SEC }
  const num = (v) => {
    if (v == null || !/^[0-9]+$/.test(v)) usage()
    const n = Number(v)
    if (!Number.isSafeInteger(n)) usage()
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--listen') opts.listen = argv[++i]
    else if (a === '--key') opts.key = argv[++i]
    else if (a === '--count') opts.count = num(argv[++i])
    else if (a === '--echo') opts.echo = num(argv[++i])
    else if (a === '--perf-upload') opts.perfUpload = num(argv[++i])
    else if (a === '--perf-download') opts.perfDownload = num(argv[++i])
    else if (a === '--timeout') opts.timeout = num(argv[++i])
    else if (!a.startsWith('--') && opts.target == null) opts.target = a
    else usage()
  }
  if ((opts.listen == null) === (opts.target == null)) usage()
  return opts
}

function print (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail (err) {
  print({ error: err?.message ?? String(err) })
  if (process.env.PEER_DEBUG) process.stderr.write(`${err?.stack ?? err}\n`)
  process.exit(1)
}

function isLoopback (ma) {
  const s = ma.toString()
  return s.startsWith('/ip4/127.') || s.startsWith('/ip6/::1/')
}

// The key file holds a libp2p protobuf-encoded private key (peer-ids spec);
// it is created with a fresh Ed25519 key if it does not exist.
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

async function makeNode (opts) {
  return createLibp2p({
    privateKey: await loadKey(opts.key),
    addresses: { listen: opts.listen != null ? [opts.listen] : [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Never reach beyond this machine, whatever an identify message says.
    connectionGater: {
      denyDialMultiaddr: (ma) => !isLoopback(ma)
    },
    // No discovery, relay, NAT or DHT services are configured; the monitor's
    // periodic pings would only add noise to the tests.
    connectionMonitor: { enabled: false },
    nodeInfo: { name: 'js-libp2p-interop' },
    services: {
      // Dial mode asks for identify explicitly, to see its errors.
      identify: identify({ runOnConnectionOpen: opts.listen != null }),
      ping: ping()
    }
  })
}

// Sends `total` bytes taken from `source(offset, length)` with backpressure.
async function sendAll (stream, total, source) {
  for (let off = 0; off < total; off += CHUNK) {
    const len = Math.min(CHUNK, total - off)
    if (!stream.send(source(off, len))) await stream.onDrain()
  }
}

function readU64 (bytes) {
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, false)
}

function echoHandler (stream) {
  stream.maxReadBufferLength = MAX_READ_BUFFER
  stream.addEventListener('message', (evt) => {
    // Stop reading while our send buffer is full so a fast peer cannot
    // make us buffer without bound.
    // The read side may close meanwhile (the peer's last data was this
    // message and it half-closed), so resume only a paused stream.
    if (!stream.send(evt.data) && stream.readStatus === 'readable') {
      stream.pause()
      stream.onDrain().then(() => {
        if (stream.readStatus === 'paused') stream.resume()
      }, () => {})
    }
  })
  // 'end': the peer half-closed and everything it sent was echoed.
  stream.addEventListener('end', () => {
    stream.close().catch((err) => stream.abort(err))
  })
}

async function perfHandler (stream) {
  stream.maxReadBufferLength = MAX_READ_BUFFER
  const header = []
  let headerLen = 0
  try {
    for await (const chunk of stream) {
      if (headerLen < 8) {
        const bytes = chunk.subarray()
        header.push(bytes)
        headerLen += bytes.byteLength
      }
    }
    if (headerLen < 8) throw new Error('perf: stream ended before the 8-byte size')
    const want = readU64(Buffer.concat(header, headerLen))
    if (want > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('perf: requested size too large')
    const zeros = new Uint8Array(CHUNK)
    await sendAll(stream, Number(want), (off, len) => zeros.subarray(0, len))
    await stream.close()
  } catch (err) {
    stream.abort(err)
  }
}

async function listen (opts) {
  const node = await makeNode(opts)
  await node.handle(ECHO_PROTOCOL, echoHandler, { maxInboundStreams: 16 })
  await node.handle(PERF_PROTOCOL, perfHandler, { maxInboundStreams: 16 })
  const addrs = node.getMultiaddrs().filter(isLoopback).map(String)
  if (addrs.length === 0) throw new Error('not listening on a loopback address')
  print({ peer_id: node.peerId.toString(), addrs })
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    node.stop().then(() => process.exit(0), (err) => fail(err))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

// Reads a stream to its end, feeding each chunk to `onChunk`.
async function drain (stream, onChunk) {
  for await (const chunk of stream) {
    // A Uint8ArrayList iterates over its Uint8Array parts without copying.
    if (chunk instanceof Uint8Array) onChunk(chunk)
    else for (const part of chunk) onChunk(part)
  }
}

function mbPerSec (bytes, ms) {
  return Math.round((bytes / 1e6) / (Math.max(ms, 0.001) / 1000) * 100) / 100
}

async function echo (conn, total) {
  const data = randomBytes(total)
  const stream = await conn.newStream(ECHO_PROTOCOL)
  stream.maxReadBufferLength = MAX_READ_BUFFER
  const start = performance.now()
  const hash = createHash('sha256')
  let received = 0
  const reading = drain(stream, (bytes) => {
    received += bytes.byteLength
    hash.update(bytes)
  })
  await sendAll(stream, total, (off, len) => data.subarray(off, off + len))
  await stream.close()
  await reading
  const ms = performance.now() - start
  const ok = received === total &&
    hash.digest('hex') === createHash('sha256').update(data).digest('hex')
  if (!ok) throw new Error(`echo: sent ${total} bytes, got back ${received} different bytes`)
  return { echo_bytes: total, ok: true, mb_per_s: mbPerSec(total, ms) }
}

// One /perf/1.0.0 run: uploads `up` bytes, asks for `down` bytes back.
// Returns the time from stream open to the server's close, in ms.
async function perfRun (conn, up, down) {
  const start = performance.now()
  const stream = await conn.newStream(PERF_PROTOCOL)
  stream.maxReadBufferLength = MAX_READ_BUFFER
  let received = 0
  const reading = drain(stream, (bytes) => { received += bytes.byteLength })
  const header = new Uint8Array(8)
  new DataView(header.buffer).setBigUint64(0, BigInt(down), false)
  stream.send(header)
  const zeros = new Uint8Array(CHUNK)
  await sendAll(stream, up, (off, len) => zeros.subarray(0, len))
  await stream.close()
  await reading
  if (received !== down) throw new Error(`perf: asked for ${down} bytes, got ${received}`)
  return performance.now() - start
}

async function dial (opts) {
  const target = multiaddr(opts.target)
  if (!isLoopback(target)) throw new Error('only loopback addresses may be dialled')
  const node = await makeNode(opts)
  const conn = await node.dial(target)

  const id = await node.services.identify.identify(conn)
  print({
    peer_id: id.peerId.toString(),
    agent_version: id.agentVersion ?? null,
    protocol_version: id.protocolVersion ?? null,
    protocols: id.protocols,
    listen_addrs: id.listenAddrs.map(String),
    observed_addr: id.observedAddr?.toString() ?? null
  })

  for (let i = 0; i < opts.count; i++) {
    const rtt = await node.services.ping.ping(conn.remotePeer)
    print({ rtt_ms: rtt })
  }

  if (opts.echo > 0) print(await echo(conn, opts.echo))

  if (opts.perfUpload > 0 || opts.perfDownload > 0) {
    const res = { upload_bytes: opts.perfUpload, download_bytes: opts.perfDownload }
    res.upload_mb_per_s = opts.perfUpload > 0
      ? mbPerSec(opts.perfUpload, await perfRun(conn, opts.perfUpload, 0))
      : null
    res.download_mb_per_s = opts.perfDownload > 0
      ? mbPerSec(opts.perfDownload, await perfRun(conn, 0, opts.perfDownload))
      : null
    print(res)
  }

  await conn.close()
  await node.stop()
}

const opts = parseArgs(process.argv.slice(2))
if (opts.target != null) {
  setTimeout(() => fail(new Error(`timed out after ${opts.timeout} s`)), opts.timeout * 1000).unref()
  dial(opts).then(() => process.exit(0), fail)
} else {
  listen(opts).catch(fail)
}
