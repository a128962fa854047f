// js-libp2p peers for the AutoNAT v1 interop test (autonat.test.sh), in the
// style of peer.mjs and relay.mjs: JSON lines on stdout, {"error":…} and
// exit 1 on failure, exit 0 on SIGINT/SIGTERM, loopback addresses only.
//
//   node autonat.mjs --serve --listen /ip4/127.0.0.1/tcp/0
//       A node with identify and js-libp2p's AutoNAT service
//       (@libp2p/autonat), which answers /libp2p/autonat/1.0.0. Prints
//       {"peer_id":…,"addrs":[…]}, then one line per request its AutoNAT
//       server logs: {"event":"request","peer":…} and, when it dials
//       nothing, {"event":"refused","peer":…}. js's server never dials a
//       private or loopback address (isPrivate in @libp2p/utils, not
//       configurable), so on loopback its answer is E_DIAL_REFUSED.
//   node autonat.mjs --ask MULTIADDR/p2p/ID [--cases a,b,…] [--timeout SEC]
//       A node listening on 127.0.0.1 that dials the peer and sends it one
//       DIAL per case on a new /libp2p/autonat/1.0.0 stream, written and
//       read with js-libp2p's own AutoNAT protobuf codec (@libp2p/autonat's
//       Message) and pbStream, as @libp2p/autonat's client does (which
//       itself never asks about a loopback address). Cases:
//         self         our peer ID and our listen address
//         other-peer   another peer's ID with our listen address
//         other-ip     our peer ID, our port on 127.0.0.2
//         closed-port  our peer ID, a 127.0.0.1 port nobody listens on
//       Prints one line per case: {"case":…,"status":"OK"|…,"status_text":…,
//       "addr":…|null,"dialed_back":bool,"elapsed_ms":N}; dialed_back says
//       whether a new inbound connection from the peer opened meanwhile.

import { createServer } from 'node:net'
import process from 'node:process'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { autoNAT } from '@libp2p/autonat'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { pbStream } from '@libp2p/utils'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

// The package exports only its service; its message codec is the one its
// client and server speak, so it is loaded by path.
const { Message } = await import(new URL('./node_modules/@libp2p/autonat/dist/src/pb/index.js', import.meta.url))

const PROTOCOL = '/libp2p/autonat/1.0.0'
const CASES = ['self', 'other-peer', 'other-ip', 'closed-port']
const DEFAULT_TIMEOUT_SEC = 100
// js's own client allows 30 s for an answer (its TIMEOUT); the C server
// answers within its dial timeout.
const REQUEST_TIMEOUT_MS = 30000

function usage () {
  process.stderr.write('usage: autonat.mjs --serve --listen MULTIADDR\n' +
    '       autonat.mjs --ask MULTIADDR/p2p/ID [--cases ' + CASES.join(',') + '] [--timeout SEC]\n')
  process.exit(2)
}

function parseArgs (argv) {
  const opts = { cases: CASES, timeout: DEFAULT_TIMEOUT_SEC }
  const str = (v) => { if (v == null) usage(); return v }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--serve') opts.serve = true
    else if (a === '--listen') opts.listen = str(argv[++i])
    else if (a === '--ask') opts.ask = str(argv[++i])
    else if (a === '--cases') opts.cases = str(argv[++i]).split(',')
    else if (a === '--timeout') {
      const v = str(argv[++i])
      if (!/^[0-9]+$/.test(v)) usage()
      opts.timeout = Number(v)
    } else usage()
  }
  if ((opts.serve === true) === (opts.ask != null)) usage()
  if (opts.serve === true && opts.listen == null) usage()
  if (opts.cases.some((c) => !CASES.includes(c))) usage()
  return opts
}

function print (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail (err) {
  print({ error: err?.message || err?.name || String(err) })
  if (process.env.PEER_DEBUG) process.stderr.write(`${err?.stack ?? err}\n`)
  process.exit(1)
}

function isLoopback (ma) {
  const s = ma.toString()
  return s.startsWith('/ip4/127.') || s.startsWith('/ip6/::1/')
}

// The AutoNAT service has no events: its log calls are the hook, as in
// relay.mjs. This logger prints a line for two of them and otherwise is
// the default one (DEBUG=libp2p:* still works).
function autonatEventLogger () {
  const base = defaultLogger()
  return {
    forComponent (name) {
      const log = base.forComponent(name)
      if (name !== 'libp2p:auto-nat') return log
      const hooked = (fmt, ...args) => {
        if (fmt === 'incoming request from %p') print({ event: 'request', peer: String(args[0]) })
        if (fmt === 'refused to dial all multiaddrs for %p from message') print({ event: 'refused', peer: String(args[0]) })
        log(fmt, ...args)
      }
      return Object.assign(hooked, { error: log.error, trace: log.trace, enabled: log.enabled, newScope: log.newScope })
    }
  }
}

async function makeNode (listen, extra) {
  return createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: [listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialMultiaddr: (ma) => !isLoopback(ma)
    },
    connectionMonitor: { enabled: false },
    nodeInfo: { name: 'js-libp2p-interop' },
    ...extra,
    services: {
      identify: identify(),
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

async function runServe (opts) {
  if (!isLoopback(multiaddr(opts.listen))) throw new Error('only loopback addresses may be used')
  const node = await makeNode(opts.listen, {
    logger: autonatEventLogger(),
    services: { autoNAT: autoNAT() }
  })
  const addrs = node.getMultiaddrs().filter(isLoopback).map(String)
  if (addrs.length === 0) throw new Error('not listening on a loopback address')
  print({ peer_id: node.peerId.toString(), addrs })
  onSignalStop(node)
}

// A loopback TCP port nobody listens on: bound, then let go.
async function closedPort () {
  const server = createServer()
  await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).on('error', reject))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function request (opts, node, conn, target, name, listenAddr) {
  let id = node.peerId
  let addr = listenAddr
  if (name === 'other-peer') id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  if (name === 'other-ip') addr = multiaddr(listenAddr.toString().replace('/ip4/127.0.0.1/', '/ip4/127.0.0.2/'))
  if (name === 'closed-port') addr = multiaddr(`/ip4/127.0.0.1/tcp/${await closedPort()}`)
  let dialedBack = false
  const onOpen = (evt) => {
    const c = evt.detail
    if (c.direction === 'inbound' && c.remotePeer.equals(target)) dialedBack = true
  }
  node.addEventListener('connection:open', onOpen)
  const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  const start = performance.now()
  const stream = await conn.newStream(PROTOCOL, { signal })
  try {
    const messages = pbStream(stream).pb(Message)
    await messages.write({
      type: Message.MessageType.DIAL,
      dial: { peer: { id: id.toMultihash().bytes, addrs: [addr.bytes] } }
    }, { signal })
    const response = await messages.read({ signal })
    const elapsed = Math.round(performance.now() - start)
    if (response.type !== Message.MessageType.DIAL_RESPONSE || response.dialResponse == null) {
      throw new Error(`${name}: not a DIAL_RESPONSE: ${JSON.stringify(response)}`)
    }
    const r = response.dialResponse
    // The dial-back's connection may be reported a moment after the answer.
    await new Promise((resolve) => setTimeout(resolve, 200))
    print({
      case: name,
      status: r.status ?? null,
      status_text: r.statusText ?? null,
      addr: r.addr != null && r.addr.length > 0 ? multiaddr(r.addr).toString() : null,
      asked: addr.toString(),
      dialed_back: dialedBack,
      elapsed_ms: elapsed
    })
    await stream.close({ signal })
  } catch (err) {
    stream.abort(err)
    throw err
  } finally {
    node.removeEventListener('connection:open', onOpen)
  }
}

async function runAsk (opts) {
  const target = multiaddr(opts.ask)
  if (!isLoopback(target)) throw new Error('only loopback addresses may be dialled')
  const node = await makeNode('/ip4/127.0.0.1/tcp/0')
  const listenAddr = node.getMultiaddrs().filter(isLoopback)[0]?.decapsulateCode(CODE_P2P)
  if (listenAddr == null) throw new Error('not listening on a loopback address')
  const conn = await node.dial(target)
  for (const name of opts.cases) {
    await request(opts, node, conn, conn.remotePeer, name, listenAddr)
  }
  await node.stop()
}

const opts = parseArgs(process.argv.slice(2))
if (opts.ask != null) {
  setTimeout(() => fail(new Error(`timed out after ${opts.timeout} s`)), opts.timeout * 1000).unref()
  runAsk(opts).then(() => process.exit(0), fail)
} else {
  runServe(opts).catch(fail)
}
