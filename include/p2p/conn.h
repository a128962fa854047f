/* Connections: a secure, multiplexed link to one authenticated peer, made
 * by the upgrader (transport.h) from a pipe. It carries streams
 * (stream.h). Today that is Noise + yamux over TCP; a QUIC connection
 * would bring its own security and streams behind the same functions.
 *
 * Lifetime: the upgrader makes the connection; whoever holds it (usually
 * the host) ends it with p2p_conn_close. on_close is the last callback;
 * the pointer is dead once it returns. Every stream on the connection gets
 * on_reset and on_close before that. */
#ifndef P2P_CONN_H
#define P2P_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/keys.h"
#include "p2p/peerid.h"
#include "p2p/stream.h"

/* Default limit of concurrent streams on one connection (both ways). */
#define P2P_CONN_MAX_STREAMS 256
/* Largest per-stream receive window we grant (yamux grows it up to this
 * while the application keeps up): bounds unconsumed bytes per stream.
 * go-libp2p and js-libp2p use 16 MiB too. A smaller one stalls a fast
 * sender: on loopback 4 MiB is no more than the two socket buffers hold,
 * and the sender waited for window updates every 2 MiB. */
#define P2P_CONN_MAX_WINDOW (16 * 1024 * 1024)
/* Output waiting for the peer (queued on the pipe, or ready to go to it)
 * above which the connection stops reading the peer, until the output has
 * drained to the pipe's high-water mark (P2P_PIPE_HIGH_WATER, pipe.h).
 * Our own writers already stop at the high-water mark (plus at most a
 * chunk), so only what the peer's input makes us send gets this far: ping
 * answers, refusals of its streams, acknowledgements. A peer that sends
 * without reading is then simply not read, and TCP's flow control stops
 * it, instead of our answers piling up to P2P_PIPE_MAX_QUEUED. Twice the
 * high-water mark: a bulk transfer both ways never pauses reading. */
#define P2P_CONN_READ_PAUSE (3 * 1024 * 1024)
/* A connection whose queued output makes no progress for this long (the
 * peer takes not a byte) is closed with P2P_ETIMEDOUT, so a peer that
 * stops reading cannot hold our memory and a connection slot for good.
 * Progress is any drop of the pipe's queued bytes; the TCP pipe counts
 * them to the byte (a partial write counts), so a slow link that takes a
 * little is not a stall. Checked on the connection's tick (about once a
 * second). */
#define P2P_CONN_WRITE_STALL_MS 30000

typedef enum p2p_direction {
	P2P_DIR_INBOUND = 0,  /* the peer dialed us */
	P2P_DIR_OUTBOUND = 1, /* we dialed */
} p2p_direction;

typedef struct p2p_conn_callbacks {
	/* The peer opened a stream. It has no protocol yet: the receiver
	 * negotiates one (p2p_stream_select) or resets it. */
	void (*on_stream)(p2p_conn *c, p2p_stream *s, void *user);
	/* The connection is closed: err is 0 for a local p2p_conn_close(c, 0)
	 * or an orderly remote close, else why (P2P_EPROTO, P2P_EIO...). */
	void (*on_close)(p2p_conn *c, int err, void *user);
} p2p_conn_callbacks;

/* Replaces the callbacks (copied) and user pointer. */
void p2p_conn_set_callbacks(p2p_conn *c, const p2p_conn_callbacks *cb, void *user);
void *p2p_conn_user(const p2p_conn *c);

/* The peer as authenticated by the security handshake. Owned by c. */
const p2p_peerid *p2p_conn_remote_peer(const p2p_conn *c);
const p2p_pubkey *p2p_conn_remote_key(const p2p_conn *c);
/* Transport addresses (e.g. /ip4/127.0.0.1/tcp/4001) as binary multiaddrs
 * (multiaddr.h) in data[0..len), owned by c; len 0 if unknown. */
const p2p_buf *p2p_conn_remote_addr(const p2p_conn *c);
const p2p_buf *p2p_conn_local_addr(const p2p_conn *c);
p2p_direction p2p_conn_direction(const p2p_conn *c);
/* The security and muxer protocols in use ("/noise", "/yamux/1.0.0"). */
const char *p2p_conn_security(const p2p_conn *c);
const char *p2p_conn_muxer(const p2p_conn *c);
bool p2p_conn_is_open(const p2p_conn *c);
/* True when the carrier limits the connection's duration or data (a relay
 * circuit with a Limit, circuit relay v2): fit for signalling such as
 * DCUtR, not for bulk data. */
bool p2p_conn_is_limited(const p2p_conn *c);
/* True when the connection runs through a relay: its remote address has a
 * /p2p-circuit component (circuit relay v2). Such a connection may be
 * limited or not, and DCUtR may replace it with a direct one. */
bool p2p_conn_is_relayed(const p2p_conn *c);
size_t p2p_conn_num_streams(const p2p_conn *c);

/* Opens an outbound stream, without a protocol yet (see
 * p2p_stream_select). The stream is owned by the library as stream.h
 * says. P2P_ELIMIT over the stream limit, P2P_ECLOSED if closing. */
int p2p_conn_open_stream(p2p_conn *c, p2p_stream **out);

/* Closes the connection (a yamux GoAway, then the pipe). err is the reason
 * reported to on_close and logged (0: normal). Idempotent; callbacks
 * follow from the loop, never from inside this call. */
void p2p_conn_close(p2p_conn *c, int err);

#endif
