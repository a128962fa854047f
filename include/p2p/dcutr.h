/* DCUtR, Direct Connection Upgrade through Relay (libp2p/specs
 * relay/DCUtR.md): over a relayed connection, two peers trade their
 * candidate addresses, time the relay's round trip and dial each other at
 * the same moment, so that both NATs see an outgoing SYN and let the other
 * one in (a TCP simultaneous open).
 *
 *   initiator ("B")                      responder ("A")
 *   CONNECT(our addrs), t0 = now  --->
 *                                 <---   CONNECT(its addrs)
 *   rtt = now - t0; SYNC          --->   DIAL at once
 *   DIAL at now + rtt/2
 *   a failed dial: CONNECT again on the same stream (or a fresh one,
 *   p2p_dcutr_new_stream), up to 3 attempts in all.
 *
 * Each message is a uvarint length and a HolePunch protobuf
 * (proto/holepunch.proto) of at most P2P_DCUTR_MAX_MESSAGE bytes.
 *
 * Sans-I/O: this core never touches a socket or a clock. The caller feeds
 * it the stream's bytes and the time (ms, any monotonic origin), sends
 * whatever it appends to `out`, arms a timer for p2p_dcutr_deadline() and
 * acts on p2p_dcutr_get_state(): WAIT (read, or wait for the deadline),
 * DIAL (dial p2p_dcutr_remote_addrs, then p2p_dcutr_dial_result), DONE,
 * FAILED. State changes happen only inside the calls below.
 *
 * Errors (p2p_dcutr_error, and what recv/tick return on the way to FAILED):
 *   P2P_EPROTO       malformed length prefix or protobuf, a message without
 *                    a known type, a message the state does not expect,
 *                    peer bytes before our CONNECT;
 *   P2P_ETOOBIG      a message over P2P_DCUTR_MAX_MESSAGE;
 *   P2P_EUNSUPPORTED the peer's CONNECT has no address we can punch to;
 *   P2P_ENOTFOUND    we have no address of our own to offer;
 *   P2P_ETIMEDOUT    no message within P2P_DCUTR_STEP_TIMEOUT_MS;
 *   P2P_ECLOSED      the stream ended while a message was awaited, or
 *                    before a retry could be sent on it;
 *   P2P_ELIMIT       P2P_DCUTR_MAX_ATTEMPTS dials failed;
 *   P2P_ENOMEM. */
#ifndef P2P_DCUTR_H
#define P2P_DCUTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/lpmsg.h"

#define P2P_DCUTR_PROTOCOL "/libp2p/dcutr"
/* The spec: "refuse encoded RPC messages (length prefix excluded) larger
 * than 4 KiB"; go-libp2p's maxMsgSize is the same. */
#define P2P_DCUTR_MAX_MESSAGE 4096
/* Addresses kept from a CONNECT (after filtering); more are ignored, not
 * an error. Also the most of our own we offer, which keeps our CONNECT far
 * below P2P_DCUTR_MAX_MESSAGE (an /ip6/X/tcp/N is 22 bytes on the wire). */
#define P2P_DCUTR_MAX_ADDRS 16
/* The spec: the inbound peer SHOULD retry twice, 3 attempts in all
 * (go-libp2p's maxRetries). */
#define P2P_DCUTR_MAX_ATTEMPTS 3
/* How long we wait for the peer's next message. go-libp2p gives the whole
 * stream a minute; a relay's round trip is well under a second, so 10 s
 * only ever cuts off a peer that went away. */
#define P2P_DCUTR_STEP_TIMEOUT_MS 10000

/* The HolePunch.Type values on the wire. */
#define P2P_DCUTR_TYPE_CONNECT 100
#define P2P_DCUTR_TYPE_SYNC    300

typedef enum {
	/* "B" in the spec: accepted the relayed connection, opens the stream,
	 * sends the first CONNECT, measures the RTT, sends SYNC, dials after
	 * RTT/2. */
	P2P_DCUTR_INITIATOR,
	/* "A": answers CONNECT with its own CONNECT, dials as soon as SYNC
	 * arrives. */
	P2P_DCUTR_RESPONDER
} p2p_dcutr_role;

typedef enum {
	P2P_DCUTR_WAIT,   /* waiting for a message or for p2p_dcutr_deadline() */
	P2P_DCUTR_DIAL,   /* dial the remote's addresses now (p2p_dcutr_remote_addrs),
	                     then report with p2p_dcutr_dial_result */
	P2P_DCUTR_DONE,   /* a dial succeeded */
	P2P_DCUTR_FAILED, /* gave up: p2p_dcutr_error() says why */
} p2p_dcutr_state;

/* Where inside WAIT we are; the caller only needs p2p_dcutr_state. */
typedef enum {
	P2P_DCUTR_PHASE_IDLE,          /* initiator before p2p_dcutr_start */
	P2P_DCUTR_PHASE_WAIT_CONNECT,  /* awaiting the peer's CONNECT */
	P2P_DCUTR_PHASE_WAIT_SYNC,     /* responder: awaiting SYNC */
	P2P_DCUTR_PHASE_WAIT_HALF_RTT, /* initiator: SYNC sent, dial at deadline */
	P2P_DCUTR_PHASE_DIAL,
	P2P_DCUTR_PHASE_DONE,
	P2P_DCUTR_PHASE_FAILED,
} p2p_dcutr_phase;

/* Embeddable; all storage owned (p2p_dcutr_free releases it). */
typedef struct p2p_dcutr {
	p2p_dcutr_role role;
	p2p_dcutr_phase phase;
	int err;              /* when FAILED */
	unsigned attempt;     /* 1-based; 0 before the first CONNECT */
	bool stream_closed;   /* no more messages will come on this stream */
	bool clock_started;   /* the responder's first wait is timed */
	uint64_t connect_ms;  /* when our CONNECT of this attempt went out */
	uint64_t deadline_ms; /* UINT64_MAX: none */
	uint64_t rtt_ms;
	p2p_lpmsg_reader rd;
	p2p_buf ours[P2P_DCUTR_MAX_ADDRS];
	size_t n_ours;
	p2p_buf remote[P2P_DCUTR_MAX_ADDRS];
	size_t n_remote;
} p2p_dcutr;

/* our_addrs: our candidate addresses (binary multiaddrs, copied, filtered
 * with p2p_dcutr_filter_addrs semantics, at most P2P_DCUTR_MAX_ADDRS kept).
 * None left is not an error here: a CONNECT needs them, so start (as the
 * initiator) or the peer's CONNECT (as the responder) fails with
 * P2P_ENOTFOUND. Returns P2P_OK, or P2P_EINVAL for a bad role or
 * arguments (then d is FAILED, holds nothing, and p2p_dcutr_free is
 * harmless). An address that cannot be copied (out of memory) is left out,
 * as p2p_dcutr_filter_addrs does. */
int p2p_dcutr_init(p2p_dcutr *d, p2p_dcutr_role role, const p2p_buf *our_addrs, size_t n);
void p2p_dcutr_free(p2p_dcutr *d);

/* Initiator: starts attempt 1: appends the length-prefixed CONNECT to out
 * and records now_ms (the RTT's start and the step timeout's).
 * Responder (optional, appends nothing): records now_ms so that the wait
 * for the first CONNECT is timed too; without it that wait has no deadline.
 * P2P_ESTATE if called twice (nothing changes); P2P_ENOTFOUND (FAILED) if
 * the initiator has no address to offer. */
int p2p_dcutr_start(p2p_dcutr *d, uint64_t now_ms, p2p_buf *out);

/* Bytes read from the stream (any split: partial messages, several messages
 * at once). Appends anything to send to out. Returns P2P_OK or a negative
 * error (then state is FAILED). Bytes after the state leaves WAIT are not
 * consumed: *consumed tells how many were (as p2p_lpmsg_read); the caller
 * keeps the rest and feeds it again once the state is WAIT again. In DIAL
 * and DONE nothing is consumed and P2P_OK is returned; in FAILED nothing is
 * consumed and the error is returned again. */
int p2p_dcutr_recv(p2p_dcutr *d, const uint8_t *in, size_t len, size_t *consumed,
                   uint64_t now_ms, p2p_buf *out);

/* The absolute time (ms) at which the caller must call p2p_dcutr_tick, or
 * UINT64_MAX when none: the initiator's RTT/2 wait after SYNC (SYNC time +
 * RTT/2; it may already have passed when RTT < 2 ms: tick at once), and the
 * step timeout while a message is awaited. */
uint64_t p2p_dcutr_deadline(const p2p_dcutr *d);

/* Time passed: before the deadline nothing happens; at or after it the
 * initiator goes DIAL (RTT/2 wait) or either role goes FAILED with
 * P2P_ETIMEDOUT (returned). P2P_OK otherwise, in any state. out is unused
 * today (kept so that a future step may send). */
int p2p_dcutr_tick(p2p_dcutr *d, uint64_t now_ms, p2p_buf *out);

/* After DIAL: ok true -> DONE. ok false -> initiator: next attempt (appends
 * a new CONNECT to out, state WAIT) until P2P_DCUTR_MAX_ATTEMPTS, then
 * FAILED (P2P_ELIMIT); responder: back to WAIT for the initiator's next
 * CONNECT (timed from now_ms), FAILED after MAX_ATTEMPTS too. If the stream
 * closed meanwhile (p2p_dcutr_stream_closed), a failed dial is FAILED with
 * P2P_ECLOSED unless p2p_dcutr_new_stream was called first.
 * P2P_ESTATE (nothing changes) outside DIAL. */
int p2p_dcutr_dial_result(p2p_dcutr *d, bool ok, uint64_t now_ms, p2p_buf *out);

/* The stream ended (EOF/reset). While a message is awaited: FAILED with
 * P2P_ECLOSED. During the initiator's RTT/2 wait or DIAL the attempt goes
 * on (go-libp2p closes the stream right after the SYNC exchange, before
 * either side dials); only a retry needs the stream. DONE and FAILED stay. */
void p2p_dcutr_stream_closed(p2p_dcutr *d);

/* The next messages go over a fresh stream (go-libp2p opens one per
 * attempt and answers one exchange per stream): forgets stream_closed.
 * For the initiator: call it before p2p_dcutr_dial_result(false) and send
 * that call's output on the new stream. P2P_ESTATE unless in DIAL or in the
 * initiator's RTT/2 wait (the only points between two exchanges). */
int p2p_dcutr_new_stream(p2p_dcutr *d);

p2p_dcutr_state p2p_dcutr_get_state(const p2p_dcutr *d);
int p2p_dcutr_error(const p2p_dcutr *d); /* P2P_OK unless FAILED */
/* The peer's addresses from its last CONNECT, filtered (valid in DIAL and
 * until the next CONNECT or p2p_dcutr_free). */
const p2p_buf *p2p_dcutr_remote_addrs(const p2p_dcutr *d, size_t *n);
/* Initiator: the last measured RTT (CONNECT sent to CONNECT received).
 * Responder: its CONNECT sent to SYNC received, go-libp2p's measure. */
uint64_t p2p_dcutr_rtt_ms(const p2p_dcutr *d);
unsigned p2p_dcutr_attempt(const p2p_dcutr *d); /* 1-based attempt number */

/* Pure helper: keeps the addresses fit for a TCP hole punch: /ip4/X/tcp/N or
 * /ip6/X/tcp/N (a trailing /p2p/<id> is stripped), drops /p2p-circuit and
 * anything else (quic, ws, dns, ip6zone), invalid multiaddrs, unspecified
 * IPs (0.0.0.0, ::, ::ffff:0.0.0.0), port 0, duplicates (after stripping);
 * keeps private and RFC 2544 (198.18.0.0/15) ranges ON PURPOSE (the NAT
 * lab's public segment uses 198.18.0.0/15; peers on one LAN need private
 * addresses); loopback kept too (tests run on loopback). Writes at most max
 * into out, in input order: out[0..max) are all initialised by the function
 * (those past the count stay empty); the caller frees them with
 * p2p_buf_free. Returns the count; out of memory, it stops there and returns
 * what it kept. */
size_t p2p_dcutr_filter_addrs(const p2p_buf *in, size_t n, p2p_buf *out, size_t max);

/* --- wire codec (dcutr_msg.c), for tests and tools --- */

/* Appends uvarint(len) and a HolePunch of `type` with addrs as ObsAddrs
 * (sent as given, not filtered). P2P_ETOOBIG over P2P_DCUTR_MAX_MESSAGE. */
int p2p_dcutr_msg_append(p2p_buf *out, uint32_t type, const p2p_buf *addrs, size_t n);
/* Decodes one HolePunch body (no length prefix): *type (P2P_EPROTO if it is
 * missing or neither CONNECT nor SYNC) and its ObsAddrs as
 * p2p_dcutr_filter_addrs keeps them, at most max into addrs (all
 * initialised, free them even on error). P2P_ETOOBIG over
 * P2P_DCUTR_MAX_MESSAGE, P2P_EPROTO if the protobuf is malformed. */
int p2p_dcutr_msg_decode(const uint8_t *body, size_t len, uint32_t *type, p2p_buf *addrs,
                         size_t max, size_t *n_addrs);

#endif
