/* AutoNAT v2 (specs: autonat/autonat-v2.md): a peer asks another to dial
 * exactly one of its addresses, to learn whether that address can be
 * reached from outside. The client opens /libp2p/autonat/2/dial-request and
 * sends a DialRequest (addresses by priority, a random nonce); the server
 * picks the first address it is willing to dial and, when its IP is not the
 * one it sees the client at, first asks for 30 to 100 kB of "dial data"
 * (DialDataRequest, answered by DialDataResponse chunks), so that it cannot
 * be used to make someone else dial a victim cheaply. It then dials that
 * address over a new connection, opens /libp2p/autonat/2/dial-back and
 * sends the nonce (DialBack, answered by DialBackResponse), and answers the
 * request (DialResponse: which address, how the dial went). The client
 * trusts an OK only if the nonce came back on a connection to an address of
 * the same kind. Every message is a uvarint-length-prefixed protobuf.
 *
 * Sans-I/O parts, with no sockets, no clock and no randomness (times are
 * uint64_t milliseconds from any monotonic clock, random bits are passed
 * in):
 *   - the codec (autonat2_msg.c);
 *   - the server's policy (autonat2_server.c): rate limits, which address
 *     to dial, whether dial data is due, counting it;
 *   - the client's probe (autonat2_client.c): the request, paying for dial
 *     data, checking the dial-back and the answer.
 * The service on a host (autonat2_service*.c) does the streams, dials and
 * timers. Limits and timings are go-libp2p's (p2p/protocol/autonatv2), so
 * that a mixed network behaves as one. */
#ifndef P2P_AUTONAT2_H
#define P2P_AUTONAT2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/peerid.h"

#define P2P_AUTONAT2_DIAL_REQUEST_PROTOCOL "/libp2p/autonat/2/dial-request"
#define P2P_AUTONAT2_DIAL_BACK_PROTOCOL    "/libp2p/autonat/2/dial-back"

/* ---- limits and timings (go-libp2p autonatv2/autonat.go, server.go) ---- */

#define P2P_AUTONAT2_MAX_MESSAGE           8192 /* maxMsgSize: dial-request bodies */
#define P2P_AUTONAT2_MAX_DIAL_BACK_MESSAGE 1024 /* dialBackMaxMsgSize */
/* Addresses of a request the server looks at (maxPeerAddresses); the
 * decoder keeps no more. */
#define P2P_AUTONAT2_MAX_ADDRS 50
/* Dial data: the server asks for a random amount in [MIN, MAX); the client
 * pays no more than MAX. */
#define P2P_AUTONAT2_MIN_DIAL_DATA 30000
#define P2P_AUTONAT2_MAX_DIAL_DATA 100000
/* One DialDataResponse carries at most this many data bytes (the spec's
 * 4096); the client sends chunks of P2P_AUTONAT2_DATA_CHUNK (go's 4000). */
#define P2P_AUTONAT2_MAX_DATA_CHUNK 4096
#define P2P_AUTONAT2_DATA_CHUNK     4000
/* A chunk smaller than this before the amount is reached is refused: it
 * would make the server decode messages for little (go-libp2p's 100). */
#define P2P_AUTONAT2_MIN_DATA_CHUNK       100
#define P2P_AUTONAT2_STREAM_TIMEOUT_MS    15000 /* streamTimeout: a whole request */
#define P2P_AUTONAT2_DIAL_TIMEOUT_MS      10000 /* dialBackDialTimeout */
#define P2P_AUTONAT2_DIAL_BACK_TIMEOUT_MS 5000  /* dialBackStreamTimeout */
/* The server's rate limits, per minute of a sliding window. */
#define P2P_AUTONAT2_SERVER_RPM            60 /* serverRPM: every peer */
#define P2P_AUTONAT2_SERVER_PER_PEER_RPM   12 /* serverPerPeerRPM */
#define P2P_AUTONAT2_SERVER_DIAL_DATA_RPM  12 /* serverDialDataRPM */
#define P2P_AUTONAT2_SERVER_MAX_CONCURRENT 2  /* maxConcurrentRequestsPerPeer */
#define P2P_AUTONAT2_WINDOW_MS             60000

/* ---- messages ---- */

/* Message's oneof, by field number. */
typedef enum p2p_autonat2_type {
	P2P_AUTONAT2_NONE = 0, /* none set: malformed on the wire */
	P2P_AUTONAT2_DIAL_REQUEST = 1,
	P2P_AUTONAT2_DIAL_RESPONSE = 2,
	P2P_AUTONAT2_DIAL_DATA_REQUEST = 3,
	P2P_AUTONAT2_DIAL_DATA_RESPONSE = 4,
} p2p_autonat2_type;

/* DialResponse.ResponseStatus, with its wire values. */
enum {
	P2P_AUTONAT2_E_INTERNAL_ERROR = 0,
	P2P_AUTONAT2_E_REQUEST_REJECTED = 100, /* rate limit, resources */
	P2P_AUTONAT2_E_DIAL_REFUSED = 101,     /* no address the server would dial */
	P2P_AUTONAT2_OK = 200,                 /* one address was dialed */
};

/* DialStatus, with its wire values. */
enum {
	P2P_AUTONAT2_DIAL_UNUSED = 0,
	P2P_AUTONAT2_DIAL_E_DIAL_ERROR = 100,      /* could not connect */
	P2P_AUTONAT2_DIAL_E_DIAL_BACK_ERROR = 101, /* connected, the nonce failed */
	P2P_AUTONAT2_DIAL_OK = 200,                /* connected, nonce delivered */
};

/* A Message. Owned by the struct, released by p2p_autonat2_msg_free; only
 * the fields of its type are meaningful. Enum values are kept as they came
 * (proto3 enums are open): the reader judges unknown ones. */
typedef struct p2p_autonat2_msg {
	p2p_autonat2_type type;
	/* DIAL_REQUEST: the addresses as sent (binary, not validated: the
	 * server judges each; an index in the answers refers to this list),
	 * at most P2P_AUTONAT2_MAX_ADDRS, the rest ignored. */
	p2p_buf *addrs;
	size_t n_addrs;
	uint64_t nonce;
	/* DIAL_RESPONSE */
	int status;      /* P2P_AUTONAT2_OK ... */
	int dial_status; /* P2P_AUTONAT2_DIAL_... */
	/* DIAL_RESPONSE and DIAL_DATA_REQUEST */
	uint32_t addr_idx;
	/* DIAL_DATA_REQUEST */
	uint64_t num_bytes;
	/* DIAL_DATA_RESPONSE: how many data bytes it carried (not kept) */
	size_t data_len;
} p2p_autonat2_msg;

void p2p_autonat2_msg_init(p2p_autonat2_msg *m);
void p2p_autonat2_msg_free(p2p_autonat2_msg *m);

/* Decodes one Message body (without its length prefix) into m, freshly
 * initialised; free it whatever the result. P2P_ETOOBIG over
 * P2P_AUTONAT2_MAX_MESSAGE; P2P_EPROTO if malformed, if no oneof field is
 * set, or a DialDataResponse carries more than P2P_AUTONAT2_MAX_DATA_CHUNK
 * bytes; P2P_ENOMEM. */
int p2p_autonat2_msg_decode(p2p_autonat2_msg *m, const uint8_t *body, size_t len);

/* Each appends one whole message (length prefix included) to out; out is
 * unchanged on error (P2P_EINVAL for a bad argument, P2P_ETOOBIG,
 * P2P_ENOMEM). */
/* DialRequest: addrs (binary multiaddrs, each must validate), in order,
 * 1..P2P_AUTONAT2_MAX_ADDRS of them, within P2P_AUTONAT2_MAX_MESSAGE. */
int p2p_autonat2_dial_request_encode(p2p_buf *out, const p2p_buf *addrs, size_t n,
                                     uint64_t nonce);
int p2p_autonat2_dial_response_encode(p2p_buf *out, int status, uint32_t addr_idx,
                                      int dial_status);
int p2p_autonat2_dial_data_request_encode(p2p_buf *out, uint32_t addr_idx,
                                          uint64_t num_bytes);
/* DialDataResponse carrying len zero bytes (1..P2P_AUTONAT2_MAX_DATA_CHUNK). */
int p2p_autonat2_dial_data_response_encode(p2p_buf *out, size_t len);

/* The dial-back stream: DialBack{nonce}, then DialBackResponse{status}
 * (OK is 0, the only value). Bodies of at most
 * P2P_AUTONAT2_MAX_DIAL_BACK_MESSAGE. Decoders: P2P_EPROTO if malformed,
 * P2P_ETOOBIG. */
int p2p_autonat2_dial_back_encode(p2p_buf *out, uint64_t nonce);
int p2p_autonat2_dial_back_decode(const uint8_t *body, size_t len, uint64_t *nonce);
int p2p_autonat2_dial_back_response_encode(p2p_buf *out);
int p2p_autonat2_dial_back_response_decode(const uint8_t *body, size_t len, int *status);

/* ---- the server's policy ---- */

/* 0 in a numeric field: the default above. */
typedef struct p2p_autonat2_server_config {
	uint32_t rpm;            /* P2P_AUTONAT2_SERVER_RPM */
	uint32_t per_peer_rpm;   /* P2P_AUTONAT2_SERVER_PER_PEER_RPM */
	uint32_t dial_data_rpm;  /* P2P_AUTONAT2_SERVER_DIAL_DATA_RPM */
	uint32_t max_concurrent; /* P2P_AUTONAT2_SERVER_MAX_CONCURRENT */
	/* Dial private, loopback and benchmark (198.18.0.0/15) addresses
	 * too: tests, LANs, the NAT lab. Off, only public ones (as
	 * go-libp2p's manet.IsPublicAddr). */
	bool allow_private;
} p2p_autonat2_server_config;

typedef struct p2p_autonat2_peer_reqs {
	p2p_peerid peer;
	uint64_t *times; /* per_peer_rpm slots: grant times in the window */
	size_t n_times;
	uint32_t in_progress;
} p2p_autonat2_peer_reqs;

/* Sliding-window counters, as go-libp2p's rateLimiter: a grant counts for
 * P2P_AUTONAT2_WINDOW_MS. The per-peer table has at most rpm entries (each
 * peer in it holds a global grant or a request in progress). */
typedef struct p2p_autonat2_server {
	p2p_autonat2_server_config cfg;
	uint64_t *global; /* rpm slots: grant times, oldest first */
	size_t n_global;
	uint64_t *data; /* dial_data_rpm slots */
	size_t n_data;
	p2p_autonat2_peer_reqs *peers;
	size_t n_peers;
} p2p_autonat2_server;

/* cfg is copied; NULL: the defaults. P2P_ENOMEM. */
int p2p_autonat2_server_init(p2p_autonat2_server *s,
                             const p2p_autonat2_server_config *cfg);
void p2p_autonat2_server_free(p2p_autonat2_server *s);

/* A new dial-request stream from peer, before it is read (go-libp2p checks
 * first): P2P_OK, counted, and the request is in progress until
 * p2p_autonat2_server_done; P2P_ELIMIT: over a limit (the peer's
 * concurrent requests, its rate or everyone's): answer
 * E_REQUEST_REJECTED. */
int p2p_autonat2_server_accept(p2p_autonat2_server *s, const p2p_peerid *peer,
                               uint64_t now_ms);
/* The request accepted for peer is over (answered, failed or cut off). */
void p2p_autonat2_server_done(p2p_autonat2_server *s, const p2p_peerid *peer);

/* What the server decided about one DialRequest. */
typedef struct p2p_autonat2_decision {
	/* P2P_AUTONAT2_OK: dial addr (after the dial data, if num_bytes > 0);
	 * anything else is the DialResponse status to answer at once
	 * (E_DIAL_REFUSED, E_REQUEST_REJECTED). */
	int status;
	const char *why;    /* static, for logs; NULL when OK */
	uint32_t addr_idx;  /* of the request's list */
	p2p_buf addr;       /* bare /ip4|ip6/<ip>/tcp/<port> to dial */
	uint64_t num_bytes; /* dial data due first; 0: none */
} p2p_autonat2_decision;

void p2p_autonat2_decision_init(p2p_autonat2_decision *d);
void p2p_autonat2_decision_free(p2p_autonat2_decision *d);

/* Decides on req (a decoded message that arrived on a request accepted
 * for peer `from`, on a connection whose remote address is `observed`).
 * The first address of the list that is /ip4|ip6/<ip>/tcp/<port> (port
 * not 0, maybe followed by /p2p/<from>, nothing else), whose IP is public
 * (or allow_private: any but unspecified and multicast), is chosen; none:
 * E_DIAL_REFUSED. If its IP is not the observed one (or the connection is
 * relayed: observed has /p2p-circuit, or has no IP), dial data is due:
 * over the dial-data rate, E_REQUEST_REJECTED; else num_bytes is
 * P2P_AUTONAT2_MIN_DIAL_DATA + rnd % (MAX - MIN). Returns P2P_OK with d
 * filled (d initialised, reset here), P2P_EPROTO if req is not a
 * DIAL_REQUEST (go-libp2p resets the stream), P2P_ENOMEM. */
int p2p_autonat2_server_select(p2p_autonat2_server *s, const p2p_autonat2_msg *req,
                               const p2p_peerid *from, const uint8_t *observed,
                               size_t observed_len, uint64_t now_ms, uint64_t rnd,
                               p2p_autonat2_decision *d);

/* Counts one message read while dial data is due (*remain bytes of it):
 * P2P_EAGAIN more is due; P2P_OK the amount is reached (a last chunk may
 * go past it); P2P_EPROTO: not a DIAL_DATA_RESPONSE, or a chunk under
 * P2P_AUTONAT2_MIN_DATA_CHUNK bytes before the end (reset the stream). */
int p2p_autonat2_server_data(uint64_t *remain, const p2p_autonat2_msg *m);

/* ---- the client's probe ---- */

/* Addresses one probe asks about (the server dials one of them). Ours:
 * a host has a handful of candidates. */
#define P2P_AUTONAT2_PROBE_MAX_ADDRS 8

typedef enum p2p_autonat2_reach {
	P2P_AUTONAT2_REACH_UNKNOWN = 0,
	P2P_AUTONAT2_REACH_PUBLIC,  /* the server reached us there */
	P2P_AUTONAT2_REACH_PRIVATE, /* it tried and could not */
} p2p_autonat2_reach;

typedef enum p2p_autonat2_probe_state {
	P2P_AUTONAT2_PROBE_WAIT = 0,  /* for the server's next message */
	P2P_AUTONAT2_PROBE_DIAL_BACK, /* answered OK: for the dial-back's nonce */
	P2P_AUTONAT2_PROBE_DONE,      /* p2p_autonat2_probe_result holds */
	P2P_AUTONAT2_PROBE_FAILED,    /* reset the stream; no verdict */
} p2p_autonat2_probe_state;

typedef struct p2p_autonat2_probe {
	p2p_buf addrs[P2P_AUTONAT2_PROBE_MAX_ADDRS];
	bool pay[P2P_AUTONAT2_PROBE_MAX_ADDRS]; /* dial data accepted for it */
	size_t n_addrs;
	uint64_t nonce;
	p2p_autonat2_probe_state state;
	bool data_sent;         /* a DialDataRequest was answered */
	bool dial_back;         /* the nonce came back (then dial_back_addr) */
	p2p_buf dial_back_addr; /* local address of the connection it came on */
	int status;             /* the DialResponse's, when one came */
	int dial_status;
	uint32_t addr_idx;
	int err; /* why it failed */
} p2p_autonat2_probe;

/* addrs: the addresses to ask about, by priority (copied, each must
 * validate, 1..P2P_AUTONAT2_PROBE_MAX_ADDRS); pay: for each, whether we
 * send dial data if the server asks for it on that address (NULL: for
 * none); nonce: random bits drawn by the caller. P2P_EINVAL, P2P_ENOMEM. */
int p2p_autonat2_probe_init(p2p_autonat2_probe *p, const p2p_buf *addrs, const bool *pay,
                            size_t n, uint64_t nonce);
void p2p_autonat2_probe_free(p2p_autonat2_probe *p);

/* Appends the DialRequest to send first. */
int p2p_autonat2_probe_request(const p2p_autonat2_probe *p, p2p_buf *out);

/* A message the server sent on the dial-request stream. A DialDataRequest
 * for an address we pay for, of at most P2P_AUTONAT2_MAX_DIAL_DATA bytes
 * (once): the DialDataResponse chunks are appended to out (WAIT goes on).
 * A DialResponse: DONE, or DIAL_BACK while an OK (or E_DIAL_BACK_ERROR)
 * waits for its nonce. Anything else (an index out of range, data we do
 * not pay for, a second request, another type, an unknown status or an
 * OK with dial status UNUSED): FAILED with p->err P2P_EPROTO. Returns the
 * new state (negative: P2P_ENOMEM). */
int p2p_autonat2_probe_on_message(p2p_autonat2_probe *p, const p2p_autonat2_msg *m,
                                  p2p_buf *out);

/* A DialBack arrived with nonce on a connection whose local address is
 * local_addr. True if it is this probe's (then it is remembered: answer
 * it with a DialBackResponse); false: not ours (or a second one). */
bool p2p_autonat2_probe_on_dial_back(p2p_autonat2_probe *p, uint64_t nonce,
                                     const uint8_t *local_addr, size_t local_len);

/* No dial-back came in time (P2P_AUTONAT2_DIAL_BACK_TIMEOUT_MS after an
 * OK answer), the stream ended before an answer, or a timeout: FAILED
 * with p->err = err, unless DONE already (then nothing changes). */
void p2p_autonat2_probe_give_up(p2p_autonat2_probe *p, int err);

/* The outcome. As go-libp2p's client:
 *   - status E_DIAL_REFUSED: UNKNOWN, *addr_idx -1 (no address judged);
 *   - status OK, dial OK or E_DIAL_BACK_ERROR: PUBLIC, once our nonce came
 *     back on a connection whose local address has the same protocols as
 *     the address named (ip4/tcp for ip4/tcp); a mismatch makes the probe
 *     FAILED (a server claiming what it did not do);
 *   - status OK, dial E_DIAL_ERROR: PRIVATE;
 *   - any other status: UNKNOWN (rejected, internal error).
 * UNKNOWN and *addr_idx -1 unless DONE. *addr_idx (may be NULL): the
 * index judged. */
p2p_autonat2_reach p2p_autonat2_probe_result(const p2p_autonat2_probe *p, int *addr_idx);

#endif
