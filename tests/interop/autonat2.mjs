// js-libp2p peers for the AutoNAT v2 interop test (autonat2.test.sh), in the
// style of autonat.mjs: JSON lines on stdout, {"error":…} and exit 1 on
// failure, exit 0 on SIGINT/SIGTERM, loopback addresses only.
//
//   node autonat2.mjs --serve --listen MULTIADDR
//       A node with identify and js-libp2p's AutoNAT v2 service
//       (@libp2p/autonat-v2), whose server answers
//       /libp2p/autonat/2/dial-request. Prints {"peer_id":…,"addrs":[…]},
//       then for each request its server handles
//         {"event":"request","peer":…,"remote_addr":…}    when it arrives
//         {"event":"handled","peer":…,"addrs":[…]|null,"responses":[{"status",
//          "addr_idx","dial_status"}…],"data_requested":N|null,
//          "data_received":N,"dial_backs":N,"errors":["…"],"elapsed_ms":N}
//       when its handler is done. The hooks: the handler is re-registered
//       around the service's own, and the service's protobuf codec (the
//       module both share) and its logger are wrapped, each message and
//       error landing in its request's record (AsyncLocalStorage).
//       What that server does (dist/src/server.js): for EVERY address of
//       the request, in order (not only the first it would dial, unlike
//       the spec), one that no transport of ours can dial (or the gater
//       denies) gets its own DialResponse E_DIAL_REFUSED/UNUSED/addrIdx i;
//       one with a private IP (isPrivateIp of @libp2p/utils: 127/8, RFC
//       1918…; no option turns that off) makes it throw, log "Requested
//       address had private IP" and send nothing for it; otherwise it asks
//       for 30000-100000 bytes of dial data when the IP is not the
//       connection's, dials from this node's own peer ID (not a separate
//       one) with force, and answers OK/its dial status. Then it closes the
//       stream. So on loopback a TCP address gets no answer at all (the
//       stream just ends), and only an address it cannot dial (QUIC here)
//       gets an answer, E_DIAL_REFUSED.
//   node autonat2.mjs --ask MULTIADDR/p2p/ID [--cases a,b,…] [--timeout SEC]
//       A node listening on 127.0.0.1 and 127.0.0.2 (port 0 each), with its
//       own /libp2p/autonat/2/dial-back handler (reads DialBack, records
//       the nonce and the connection's local address, answers
//       DialBackResponse OK), that dials the peer and runs one exchange per
//       case on a new /libp2p/autonat/2/dial-request stream, with
//       @libp2p/autonat-v2's own protobuf codec and pbStream. Cases (the
//       addresses asked about, by priority):
//         self         our 127.0.0.1 listen address: no dial data expected
//         other-ip     our 127.0.0.2 listen address, then the 127.0.0.1 one:
//                      the server should ask for dial data (not the IP it
//                      sees us at); we pay in DialDataResponse chunks of
//                      4000 bytes until numBytes
//         no-pay       our 127.0.0.2 listen address; asked for data, we
//                      reset the stream instead
//         closed-port  a 127.0.0.1 TCP port nobody listens on
//         refused      /ip4/127.0.0.1/udp/1/quic-v1 only
//       Prints one line per case: {"case":…,"asked":[…],"status":"OK"|…|null,
//       "dial_status":…|null,"addr_idx":N|null,"data_requested":N|null,
//       "data_idx":N|null,"data_paid":N,"dialed_back":bool,"dial_backs":N,
//       "nonce_ok":bool,"dial_back_local":addr|null,"dial_back_peer":ID|null,
//       "inbound_conns":N,"elapsed_ms":N,"error":"…"|null}.
//       status null: no DialResponse came (error says why, e.g. the stream
//       ended; for no-pay "reset by us"). dialed_back: a dial-back stream
//       (any nonce) came during the case (dial_backs: how many); nonce_ok:
//       one with this case's nonce; dial_back_local, dial_back_peer: the
//       local address (ours: which listener was dialed) and the remote peer
//       of the connection it came on; inbound_conns: new inbound
//       connections (any peer) meanwhile. Only an unexpected failure (no
//       connection, no stream, a write failing) is an {"error":…}.

import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import process from 'node:process'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { autoNATv2 } from '@libp2p/autonat-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { defaultLogger } from '@libp2p/logger'
import { tcp } from '@libp2p/tcp'
import { pbStream } from '@libp2p/utils'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

// The package exports only its service; its codec is the one its client
// and server speak (and, being the same module, where --serve hooks in).
const pb = await import(new URL('./node_modules/@libp2p/autonat-v2/dist/src/pb/index.js', import.meta.url))
const { Message, DialBack, DialBackResponse } = pb

const DIAL_REQUEST = '/libp2p/autonat/2/dial-request'
const DIAL_BACK = '/libp2p/autonat/2/dial-back'
const CASES = ['self', 'other-ip', 'no-pay', 'closed-port', 'refused']
const DEFAULT_TIMEOUT_SEC = 100
// js's own client and server allow 30 s for a whole exchange (TIMEOUT).
const REQUEST_TIMEOUT_MS = 30000
const MAX_MESSAGE = 8192 // the spec's and both implementations'
const DATA_CHUNK = 4000 // within the spec's 4096 a DialDataResponse
const MAX_DIAL_DATA = 200 * 1024 // what js's client pays at most
// After an answer, how long late dial-backs are waited for.
const SETTLE_MS = 200
const NO_PAY_SETTLE_MS = 1000

function usage () {
  process.stderr.write('usage: autonat2.mjs --serve --listen MULTIADDR\n' +
    '       autonat2.mjs --ask MULTIADDR/p2p/ID [--cases ' + CASES.join(',') + '] [--timeout SEC]\n')
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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function makeNode (listen, extra) {
  return createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen },
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

// --- --serve ---

// The request being handled, for the codec and logger hooks.
const current = new AsyncLocalStorage()

function formatLog (fmt, args) {
  let i = 0
  return String(fmt).replace(/%[a-zA-Z%]/g, (m) => {
    if (m === '%%') return '%'
    const a = args[i++]
    if (a instanceof Error) return a.message
    return String(a)
  })
}

// The default logger (DEBUG=libp2p:* still works), with the AutoNAT v2
// server's errors also noted in the request's record.
function serverErrorLogger () {
  const base = defaultLogger()
  return {
    forComponent (name) {
      const log = base.forComponent(name)
      if (name !== 'libp2p:auto-nat-v2:server') return log
      const error = (fmt, ...args) => {
        current.getStore()?.errors.push(formatLog(fmt, args))
        log.error(fmt, ...args)
      }
      const hooked = (...args) => log(...args)
      return Object.assign(hooked, { error, trace: log.trace, enabled: log.enabled, newScope: log.newScope })
    }
  }
}

// Every message the server writes or reads goes through these (pbStream
// calls proto.encode / proto.decode on the module's objects).
function hookCodec () {
  const encode = Message.encode
  const decode = Message.decode
  const encodeDialBack = DialBack.encode
  Message.encode = (obj) => {
    const r = current.getStore()
    if (r != null && obj.dialResponse != null) {
      const d = obj.dialResponse
      r.responses.push({ status: d.status ?? null, addr_idx: d.addrIdx ?? 0, dial_status: d.dialStatus ?? null })
    }
    if (r != null && obj.dialDataRequest != null) r.dataRequested = Number(obj.dialDataRequest.numBytes)
    return encode(obj)
  }
  Message.decode = (buf, opts) => {
    const msg = decode(buf, opts)
    const r = current.getStore()
    if (r != null && msg.dialRequest != null) {
      r.addrs = msg.dialRequest.addrs.map((a) => {
        try { return multiaddr(a).toString() } catch { return null }
      })
    }
    if (r != null && msg.dialDataResponse != null) r.dataReceived += msg.dialDataResponse.data.byteLength
    return msg
  }
  DialBack.encode = (obj) => {
    const r = current.getStore()
    if (r != null) r.dialBacks++
    return encodeDialBack(obj)
  }
}

async function runServe (opts) {
  if (!isLoopback(multiaddr(opts.listen))) throw new Error('only loopback addresses may be used')
  hookCodec()
  const node = await makeNode([opts.listen], {
    logger: serverErrorLogger(),
    services: { autoNATv2: autoNATv2() }
  })
  // The service registered its server's (bound) handler on start; this one
  // takes its place, runs it and reports.
  const server = node.services.autoNATv2.server
  if (typeof server?.handleDialRequestStream !== 'function') throw new Error('@libp2p/autonat-v2 has no server to hook')
  await node.handle(DIAL_REQUEST, async (stream, connection) => {
    const r = {
      peer: connection.remotePeer.toString(),
      addrs: null,
      responses: [],
      dataRequested: null,
      dataReceived: 0,
      dialBacks: 0,
      errors: []
    }
    print({ event: 'request', peer: r.peer, remote_addr: connection.remoteAddr.toString() })
    const start = performance.now()
    try {
      await current.run(r, () => server.handleDialRequestStream(stream, connection))
    } catch (err) {
      r.errors.push(`handler failed: ${err?.message ?? err}`)
      throw err
    } finally {
      print({
        event: 'handled',
        peer: r.peer,
        addrs: r.addrs,
        responses: r.responses,
        data_requested: r.dataRequested,
        data_received: r.dataReceived,
        dial_backs: r.dialBacks,
        errors: r.errors,
        elapsed_ms: Math.round(performance.now() - start)
      })
    }
  }, { force: true, maxInboundStreams: server.maxInboundStreams, maxOutboundStreams: server.maxOutboundStreams })
  const addrs = node.getMultiaddrs().filter(isLoopback).map(String)
  if (addrs.length === 0) throw new Error('not listening on a loopback address')
  print({ peer_id: node.peerId.toString(), addrs })
  onSignalStop(node)
}

// --- --ask ---

// A loopback TCP port nobody listens on: bound, then let go.
async function closedPort () {
  const server = createServer()
  await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).on('error', reject))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

// The local address of a TCP connection: js-libp2p's Connection has none,
// its MultiaddrConnection (@libp2p/tcp) keeps the socket.
function localAddrOf (connection) {
  const sock = connection.maConn?.socket
  if (sock?.localAddress == null || sock.localPort == null) return null
  const ip = sock.localAddress.replace(/^::ffff:/, '')
  return `/${ip.includes(':') ? 'ip6' : 'ip4'}/${ip}/tcp/${sock.localPort}`
}

function randomNonce () {
  for (;;) {
    const n = randomBytes(8).readBigUInt64LE(0)
    if (n !== 0n) return n // 0 would not be on the wire at all
  }
}

// Dial-backs received, oldest first.
const dialBacks = []

async function onDialBack (stream, connection) {
  const rec = {
    at: performance.now(),
    nonce: null,
    local: localAddrOf(connection),
    peer: connection.remotePeer.toString()
  }
  dialBacks.push(rec)
  const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  try {
    const messages = pbStream(stream, { maxDataLength: MAX_MESSAGE })
    const msg = await messages.read(DialBack, { signal })
    // protons decodes fixed64 as a signed BigInt: back to the unsigned bits.
    rec.nonce = BigInt.asUintN(64, msg.nonce)
    await messages.write({ status: DialBackResponse.DialBackStatus.OK }, DialBackResponse, { signal })
    await stream.close({ signal })
  } catch (err) {
    // A server may reset once it has the answer (or drop the connection).
    stream.abort(err)
  }
}

async function askedFor (name, addr1, addr2) {
  switch (name) {
    case 'self': return [addr1]
    case 'other-ip': return [addr2, addr1]
    case 'no-pay': return [addr2]
    case 'closed-port': return [multiaddr(`/ip4/127.0.0.1/tcp/${await closedPort()}`)]
    case 'refused': return [multiaddr('/ip4/127.0.0.1/udp/1/quic-v1')]
  }
  throw new Error(`no case ${name}`)
}

async function runCase (node, conn, name, addr1, addr2) {
  const asked = await askedFor(name, addr1, addr2)
  const nonce = randomNonce()
  const out = {
    case: name,
    asked: asked.map(String),
    status: null,
    dial_status: null,
    addr_idx: null,
    data_requested: null,
    data_idx: null,
    data_paid: 0,
    dialed_back: false,
    dial_backs: 0,
    nonce_ok: false,
    dial_back_local: null,
    dial_back_peer: null,
    inbound_conns: 0,
    elapsed_ms: 0,
    error: null
  }
  let inbound = 0
  const onOpen = (evt) => { if (evt.detail.direction === 'inbound') inbound++ }
  node.addEventListener('connection:open', onOpen)
  const mark = dialBacks.length
  const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  const start = performance.now()
  const stream = await conn.newStream(DIAL_REQUEST, { signal })
  let aborted = false
  const abort = (why) => { aborted = true; stream.abort(new Error(why)) }
  try {
    const messages = pbStream(stream, { maxDataLength: MAX_MESSAGE }).pb(Message)
    await messages.write({ dialRequest: { addrs: asked.map((a) => a.bytes), nonce } }, { signal })
    for (;;) {
      let msg
      try {
        msg = await messages.read({ signal })
      } catch (err) {
        out.error = `no DialResponse: ${err?.message ?? err}`
        break
      }
      if (msg.dialDataRequest != null) {
        const d = msg.dialDataRequest
        if (out.data_requested != null) {
          out.error = 'a second DialDataRequest'
          abort(out.error)
          break
        }
        out.data_requested = Number(d.numBytes)
        out.data_idx = d.addrIdx
        if (name === 'no-pay') {
          out.error = 'reset by us (not paying)'
          abort('not paying for dial data')
          break
        }
        if (out.data_requested > MAX_DIAL_DATA) {
          out.error = `too much dial data asked for: ${out.data_requested}`
          abort(out.error)
          break
        }
        const chunk = new Uint8Array(DATA_CHUNK)
        while (out.data_paid < out.data_requested) {
          await messages.write({ dialDataResponse: { data: chunk } }, { signal })
          out.data_paid += chunk.byteLength
        }
        continue
      }
      if (msg.dialResponse != null) {
        out.status = msg.dialResponse.status ?? null
        out.dial_status = msg.dialResponse.dialStatus ?? null
        out.addr_idx = msg.dialResponse.addrIdx ?? 0
        break
      }
      out.error = `unexpected message: ${Object.keys(msg).join(',') || 'empty'}`
      abort(out.error)
      break
    }
    out.elapsed_ms = Math.round(performance.now() - start)
    // A dial-back comes before the answer; one after it would be late.
    await sleep(name === 'no-pay' ? NO_PAY_SETTLE_MS : SETTLE_MS)
    if (!aborted) {
      try {
        await stream.close({ signal })
      } catch (err) {
        stream.abort(err)
      }
    }
  } catch (err) {
    stream.abort(err)
    throw new Error(`${name}: ${err?.message ?? err}`)
  } finally {
    node.removeEventListener('connection:open', onOpen)
  }
  const backs = dialBacks.slice(mark)
  const ours = backs.find((b) => b.nonce === nonce)
  out.dialed_back = backs.length > 0
  out.dial_backs = backs.length
  out.nonce_ok = ours != null
  out.dial_back_local = (ours ?? backs[0])?.local ?? null
  out.dial_back_peer = (ours ?? backs[0])?.peer ?? null
  out.inbound_conns = inbound
  print(out)
}

async function runAsk (opts) {
  const target = multiaddr(opts.ask)
  if (!isLoopback(target)) throw new Error('only loopback addresses may be dialled')
  const node = await makeNode(['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.2/tcp/0'])
  const mine = node.getMultiaddrs().map((ma) => ma.decapsulateCode(CODE_P2P))
  const addr1 = mine.find((ma) => ma.toString().startsWith('/ip4/127.0.0.1/tcp/'))
  const addr2 = mine.find((ma) => ma.toString().startsWith('/ip4/127.0.0.2/tcp/'))
  if (addr1 == null || addr2 == null) throw new Error(`not listening on 127.0.0.1 and 127.0.0.2: ${mine.join(' ')}`)
  await node.handle(DIAL_BACK, onDialBack, { maxInboundStreams: 8 })
  const conn = await node.dial(target)
  for (const name of opts.cases) {
    await runCase(node, conn, name, addr1, addr2)
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
