/* AutoNAT v1 (specs: autonat/autonat-v1.md): a peer asks another to dial it
 * back on its addresses, to learn whether it can be reached from outside.
 * The client opens /libp2p/autonat/1.0.0, sends one DIAL message and reads
 * one DIAL_RESPONSE; each is a uvarint-length-prefixed protobuf (lpmsg.h).
 *
 * Three sans-I/O parts, with no sockets and no clock (times are uint64_t
 * milliseconds from any monotonic clock, passed in):
 *   - the codec (autonat_msg.c);
 *   - the server's policy (autonat_server.c): which addresses of a request
 *     may be dialed back, and how often a peer, or anyone, may ask;
 *   - the client's reachability tracker (autonat_client.c): the verdict
 *     from the answers of several servers, and when to ask next.
 * The stream handler, the dial-backs and the timers are the caller's.
 *
 * Timings, limits and the confidence rule are go-libp2p's
 * (p2p/host/autonat), so that a mixed network behaves as one. */
#ifndef P2P_AUTONAT_H
#define P2P_AUTONAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/buf.h"
#include "p2p/peerid.h"

#define P2P_AUTONAT_PROTOCOL "/libp2p/autonat/1.0.0"

/* ---- messages ---- */

/* Largest message body, both ways (go-libp2p maxMsgSize; js-libp2p accepts
 * 8192 but sends far less). */
#define P2P_AUTONAT_MAX_MESSAGE 4096
/* Addresses in one DIAL request; more is refused (P2P_ELIMIT). Ours: a
 * 4 KiB message could list some 800 tiny addresses, real hosts list a few
 * dozen at most. */
#define P2P_AUTONAT_MAX_ADDRS 64

/* Message types, with their wire values. */
enum {
	P2P_AUTONAT_DIAL = 0,
	P2P_AUTONAT_DIAL_RESPONSE = 1,
};

/* Response statuses, with their wire values. */
typedef enum p2p_autonat_status {
	P2P_AUTONAT_OK = 0,
	P2P_AUTONAT_E_DIAL_ERROR = 100,     /* dialed every address, none answered */
	P2P_AUTONAT_E_DIAL_REFUSED = 101,   /* would not dial (policy, rate limit) */
	P2P_AUTONAT_E_BAD_REQUEST = 200,    /* no peer info, or another peer's ID */
	P2P_AUTONAT_E_INTERNAL_ERROR = 300, /* the server could not tell */
} p2p_autonat_status;

/* A Message. Everything is owned by the struct and released by
 * p2p_autonat_msg_free. Only the part of the message's type is used. */
typedef struct p2p_autonat_msg {
	int type; /* P2P_AUTONAT_DIAL or P2P_AUTONAT_DIAL_RESPONSE */

	/* DIAL: Dial.peer. A missing or bad peer ID is not a decode error,
	 * because the server must answer it with E_BAD_REQUEST. */
	bool has_peer;      /* the request has a PeerInfo */
	bool has_peer_id;   /* ... with an id */
	bool peer_id_valid; /* ... that is a peer ID, in peer_id */
	p2p_peerid peer_id;
	p2p_buf *addrs; /* binary multiaddrs */
	size_t n_addrs;

	/* DIAL_RESPONSE */
	int status;          /* p2p_autonat_status */
	p2p_buf status_text; /* as sent (may be empty); a NUL follows it */
	p2p_buf addr;        /* binary multiaddr; empty when absent */
} p2p_autonat_msg;

void p2p_autonat_msg_init(p2p_autonat_msg *m);
void p2p_autonat_msg_free(p2p_autonat_msg *m);

/* Appends uvarint(len) + the protobuf to out. Rules: the type is known; a
 * DIAL's peer ID, if any, is valid and its addresses validate (at most
 * P2P_AUTONAT_MAX_ADDRS); a DIAL_RESPONSE's status is one of the spec's
 * and its address, if any, validates. P2P_EINVAL if m breaks them,
 * P2P_ETOOBIG past P2P_AUTONAT_MAX_MESSAGE; out is unchanged on error.
 * The type and status are always written, even when 0 (DIAL, OK), as
 * go-libp2p writes them. */
int p2p_autonat_msg_encode(const p2p_autonat_msg *m, p2p_buf *out);

/* Decodes one protobuf body (without its length prefix) into m, freshly
 * initialised; free it whatever the result. A missing type is DIAL (the
 * proto2 default, as go-libp2p reads it). A DIAL_RESPONSE must have a
 * status. Addresses that do not validate (a transport we do not know) are
 * dropped, from a request and from a response alike. P2P_ETOOBIG over
 * P2P_AUTONAT_MAX_MESSAGE, P2P_ELIMIT over P2P_AUTONAT_MAX_ADDRS,
 * P2P_EPROTO for anything else malformed (an unknown type or status). */
int p2p_autonat_msg_decode(p2p_autonat_msg *m, const uint8_t *body, size_t len);

/* Appends a whole DIAL_RESPONSE (length prefix included): status, the
 * optional text (NULL: none) and the optional address (NULL, 0: none). */
int p2p_autonat_response_encode(p2p_buf *out, int status, const char *text,
                                const uint8_t *addr, size_t addr_len);

/* True if the first /ip4 or /ip6 of a binary multiaddr is a public
 * unicast address, by go-multiaddr's IsPublicAddr ranges (not private,
 * loopback, link-local, CGNAT, documentation, benchmark or multicast; an
 * IPv6 one in 2000::/3 or a NAT64 prefix). False without an IP. */
bool p2p_autonat_addr_is_public(const uint8_t *addr, size_t len);

/* ---- the server's policy ---- */

/* go-libp2p p2p/host/autonat/options.go defaults. */
#define P2P_AUTONAT_SERVER_MAX_ADDRS   16 /* maxPeerAddresses: dialed per request */
#define P2P_AUTONAT_THROTTLE_PEER_MAX  3  /* throttlePeerMax: per peer and window */
#define P2P_AUTONAT_THROTTLE_GLOBAL    30 /* throttleGlobalMax: all peers, per window */
#define P2P_AUTONAT_THROTTLE_RESET_MS  60000 /* throttleResetPeriod: the window */
#define P2P_AUTONAT_THROTTLE_JITTER_MS 15000 /* throttleResetJitter: added to it */
#define P2P_AUTONAT_DIAL_TIMEOUT_MS    15000 /* dialTimeout: one dial-back */
#define P2P_AUTONAT_STREAM_TIMEOUT_MS  60000 /* streamTimeout: a whole exchange */

/* 0 in a numeric field: the default above. There is no "unlimited": the
 * global budget bounds the per-peer table. */
typedef struct p2p_autonat_server_config {
	uint32_t throttle_peer_max;
	uint32_t throttle_global;
	uint64_t throttle_reset_ms;
	uint64_t throttle_jitter_ms;
	/* Random bits for the window's jitter (so that clients cannot time the
	 * reset); the caller draws them, since the core has no randomness. */
	uint64_t jitter_seed;
	/* Dial back private and loopback IPs too (go-libp2p's allowSelfDials):
	 * for tests and LAN-only networks. Off, a requester observed at a
	 * non-public IP is refused, as go-libp2p and js-libp2p refuse it. */
	bool allow_private;
} p2p_autonat_server_config;

typedef struct p2p_autonat_peer_count {
	p2p_peerid peer;
	uint32_t n;
} p2p_autonat_peer_count;

/* The rate limiter: counters per fixed window, as go-libp2p's (reset all
 * at once every throttle_reset_ms plus up to throttle_jitter_ms). A
 * request is counted only when the server goes on to dial. */
typedef struct p2p_autonat_server {
	p2p_autonat_server_config cfg;
	uint64_t window_end_ms;
	uint64_t rng;
	uint32_t global; /* dial-backs granted in this window */
	/* throttle_global entries at most: each counted peer took one of the
	 * window's global grants. */
	p2p_autonat_peer_count *peers;
	size_t n_peers;
} p2p_autonat_server;

/* cfg is copied; NULL: the defaults. The first window starts at now_ms.
 * P2P_ENOMEM. */
int p2p_autonat_server_init(p2p_autonat_server *s, const p2p_autonat_server_config *cfg,
                            uint64_t now_ms);
void p2p_autonat_server_free(p2p_autonat_server *s);

/* What the server decided about one DIAL. */
typedef struct p2p_autonat_dialback {
	/* P2P_AUTONAT_OK: dial the requester at addrs; anything else is the
	 * refusal to send at once (p2p_autonat_response_encode(status, text)). */
	int status;
	const char *text; /* static: why it was refused; NULL when OK */
	/* Bare /ip4|ip6/<ip>/tcp/<port>, distinct, in the request's order. */
	p2p_buf addrs[P2P_AUTONAT_SERVER_MAX_ADDRS];
	size_t n_addrs;
} p2p_autonat_dialback;

void p2p_autonat_dialback_init(p2p_autonat_dialback *d);
void p2p_autonat_dialback_free(p2p_autonat_dialback *d);

/* Decides on req, a decoded DIAL that arrived on a connection from peer
 * `from`, whose remote address is `observed` (binary multiaddr). d is
 * initialised (and reset here). In go-libp2p's order:
 *   - no PeerInfo, a bad peer ID, or another peer's ID: E_BAD_REQUEST
 *     (no peer ID at all is accepted: the connection's is used);
 *   - observed through /p2p-circuit (its IP is the relay's) or, unless
 *     allow_private, at a non-public IP: E_DIAL_REFUSED;
 *   - observed without an IP first: E_INTERNAL_ERROR;
 *   - of the request's addresses, only /ip4|ip6/<ip>/tcp/<port> (with
 *     perhaps /p2p/<from>) at exactly the observed IP, port not 0, are
 *     kept, deduplicated, at most P2P_AUTONAT_SERVER_MAX_ADDRS (the spec's
 *     rule against using the server to flood a third party; go-libp2p
 *     rewrites other IPs to the observed one, js-libp2p drops them, as we
 *     do); none left: E_DIAL_REFUSED;
 *   - the peer or everyone over its budget in this window: E_DIAL_REFUSED;
 *   - else P2P_AUTONAT_OK, and the request is counted.
 * Returns P2P_OK with d filled; P2P_EPROTO if req is not a DIAL (go-libp2p
 * resets such a stream without answering); P2P_ENOMEM; P2P_EINVAL. */
int p2p_autonat_server_check(p2p_autonat_server *s, const p2p_autonat_msg *req,
                             const p2p_peerid *from, const uint8_t *observed,
                             size_t observed_len, uint64_t now_ms,
                             p2p_autonat_dialback *d);

/* Appends the DIAL_RESPONSE for the dial-back's outcome: dial_rc P2P_OK
 * and the address of the connection it made give OK with that address;
 * any error gives E_DIAL_ERROR. */
int p2p_autonat_server_result(p2p_buf *out, int dial_rc, const uint8_t *addr,
                              size_t addr_len);

/* ---- the client's reachability tracker ---- */

/* go-libp2p p2p/host/autonat (autonat.go, options.go). */
#define P2P_AUTONAT_MAX_CONFIDENCE      3                         /* maxConfidence */
#define P2P_AUTONAT_BOOT_DELAY_MS       15000                     /* bootDelay */
#define P2P_AUTONAT_RETRY_INTERVAL_MS   90000                     /* retryInterval */
#define P2P_AUTONAT_REFRESH_INTERVAL_MS (15u * 60u * 1000u)       /* refreshInterval */
#define P2P_AUTONAT_MAX_REFRESH_MS      (24u * 60u * 60u * 1000u) /* maxRefreshInterval */
#define P2P_AUTONAT_FORCED_RETRY_MS     2000  /* scheduleProbe's 2 s */
#define P2P_AUTONAT_REQUEST_TIMEOUT_MS  30000 /* requestTimeout */
#define P2P_AUTONAT_SERVER_RECENT_MS    90000 /* throttlePeerPeriod */
/* Probes in flight (go-libp2p's tryProbe starts none past 5 pending). */
#define P2P_AUTONAT_MAX_PENDING 6
/* Servers remembered as recently asked. Ours: beyond it the oldest is
 * forgotten, which only lets it be asked a little early. */
#define P2P_AUTONAT_MAX_RECENT 32

typedef enum p2p_autonat_reachability {
	P2P_AUTONAT_UNKNOWN = 0,
	P2P_AUTONAT_PUBLIC,
	P2P_AUTONAT_PRIVATE,
} p2p_autonat_reachability;

/* What p2p_autonat_client_on_response changed (bits). */
#define P2P_AUTONAT_CHANGED_STATE 1 /* the reachability */
#define P2P_AUTONAT_CHANGED_ADDR  2 /* the confirmed address */

typedef struct p2p_autonat_recent {
	p2p_peerid server;
	uint64_t asked_ms;
} p2p_autonat_recent;

typedef struct p2p_autonat_client {
	p2p_autonat_reachability state;
	int confidence; /* 0..P2P_AUTONAT_MAX_CONFIDENCE */
	p2p_buf addr;   /* when PUBLIC: the address the last OK named */
	uint64_t boot_ms;
	bool probed; /* a round has started (then last_probe_ms) */
	uint64_t last_probe_ms;
	bool inbound; /* an inbound connection came (then last_inbound_ms) */
	uint64_t last_inbound_ms;
	bool forced; /* ask again soon: a refusal, or a new server */
	size_t pending;
	p2p_autonat_recent recent[P2P_AUTONAT_MAX_RECENT];
	size_t n_recent;
} p2p_autonat_client;

/* Starts UNKNOWN; the first probe is due P2P_AUTONAT_BOOT_DELAY_MS after
 * now_ms. */
void p2p_autonat_client_init(p2p_autonat_client *c, uint64_t now_ms);
void p2p_autonat_client_free(p2p_autonat_client *c);

p2p_autonat_reachability p2p_autonat_client_state(const p2p_autonat_client *c);
int p2p_autonat_client_confidence(const p2p_autonat_client *c);
/* The confirmed address (binary multiaddr) when PUBLIC and a server named
 * one; else len 0. Valid until the next call on c. */
const p2p_buf *p2p_autonat_client_addr(const p2p_autonat_client *c);

/* When the next round is due (>= now_ms), go-libp2p's scheduleProbe:
 * before the first round, the boot delay; then after the last round
 * P2P_AUTONAT_FORCED_RETRY_MS if forced while UNKNOWN,
 * P2P_AUTONAT_RETRY_INTERVAL_MS while UNKNOWN, below full confidence, or
 * PRIVATE with an inbound connection since, twice the refresh interval
 * (at most P2P_AUTONAT_MAX_REFRESH_MS) when PUBLIC with one, else the
 * refresh interval. The boot delay holds even when forced (go-libp2p's
 * first event would skip it, by accident of its zero time). */
uint64_t p2p_autonat_client_next_probe(const p2p_autonat_client *c, uint64_t now_ms);

/* Whether server may be asked now: fewer than P2P_AUTONAT_MAX_PENDING
 * probes in flight and server not asked in the last
 * P2P_AUTONAT_SERVER_RECENT_MS. */
bool p2p_autonat_client_may_ask(const p2p_autonat_client *c, const p2p_peerid *server,
                                uint64_t now_ms);

/* A round, at the deadline: the schedule restarts from now_ms and the
 * forced flag is cleared, whether or not anyone is asked. server is the
 * peer the caller picked (one that speaks AutoNAT and may_ask allows), or
 * NULL when there is none. P2P_OK: ask it, then report the outcome with
 * exactly one p2p_autonat_client_on_response; P2P_ELIMIT: may_ask would
 * have said no, do not ask; P2P_ENOTFOUND: server was NULL. */
int p2p_autonat_client_begin_probe(p2p_autonat_client *c, const p2p_peerid *server,
                                   uint64_t now_ms);

/* The outcome of a probe begun with P2P_OK: resp is the decoded reply, or
 * NULL when there was none (stream refused or reset, timeout, malformed
 * or non-DIAL_RESPONSE reply). As go-libp2p:
 *   - OK: PUBLIC at once (confidence 0 on a flip, else one more);
 *   - E_DIAL_ERROR: PRIVATE once the confidence in another state has run
 *     down (each one takes one off; a flip starts at 0), else one more;
 *   - E_DIAL_REFUSED: no verdict (the server would not try); the next
 *     round comes soon while UNKNOWN;
 *   - anything else, or NULL: takes one off the confidence, or at 0 makes
 *     the state UNKNOWN.
 * Returns P2P_AUTONAT_CHANGED_* bits (0: nothing the caller must report),
 * P2P_ESTATE when no probe is pending, P2P_ENOMEM (the state is then
 * updated, the address is not). */
int p2p_autonat_client_on_response(p2p_autonat_client *c, const p2p_autonat_msg *resp);

/* An inbound connection from a public IP that is not ours: while PRIVATE
 * it makes the next round come at the retry interval, while PUBLIC later. */
void p2p_autonat_client_on_inbound(p2p_autonat_client *c, uint64_t now_ms);
/* A peer that speaks AutoNAT appeared (identify completed): while UNKNOWN,
 * the next round comes soon. */
void p2p_autonat_client_on_server_found(p2p_autonat_client *c);
/* Our addresses gained one: a full confidence drops by one, so that the
 * next round comes at the retry interval. */
void p2p_autonat_client_on_addrs_changed(p2p_autonat_client *c);

/* Appends a whole DIAL request (length prefix included) for us (self) at
 * the candidate addresses, in their order: /p2p-circuit ones (no server
 * may dial them) and duplicates are left out, and the list is cut to
 * P2P_AUTONAT_MAX_ADDRS and to what fits in P2P_AUTONAT_MAX_MESSAGE.
 * P2P_EINVAL if an address does not validate. */
int p2p_autonat_dial_request_encode(p2p_buf *out, const p2p_peerid *self,
                                    const p2p_buf *addrs, size_t n_addrs);

/* ---- the service on a host (autonat_service*.c) ----
 *
 * The I/O around the three parts above: the server answers
 * /libp2p/autonat/1.0.0 streams and dials the requester back over a fresh
 * TCP connection from an ephemeral port (a connection it already has
 * would prove nothing); the client asks one connected peer that speaks
 * AutoNAT per round, on the schedule of p2p_autonat_client_next_probe,
 * and reports the verdict. Both run on the host's loop.
 *
 * The dial-back is upgraded by the host, under our own peer ID (go-libp2p
 * dials from a second, throwaway identity), so it counts against the
 * requester's max_conns_per_peer: a requester that already holds that
 * many connections to us gets E_DIAL_ERROR. */

/* The service needs the host and identify's observed addresses. */
#include "p2p/identify.h"

/* Server exchanges at once (a DIAL read, its dial-back, the answer): past
 * it a new stream is reset and counted as refused. Ours: the throttle
 * grants P2P_AUTONAT_THROTTLE_GLOBAL dial-backs a window; this bounds
 * what streams that never send their DIAL can hold. */
#define P2P_AUTONAT_SERVICE_MAX_REQUESTS 32
/* ... from one peer (js-libp2p's maxInboundStreams for AutoNAT is 2). */
#define P2P_AUTONAT_SERVICE_MAX_PER_PEER 2
/* Observed addresses (identify, one observer is enough: the server
 * checks them) offered in a DIAL, besides the announce addresses. */
#define P2P_AUTONAT_SERVICE_MAX_OBSERVED 8
/* Addresses the application offers besides those (a port mapping's
 * external address, to be confirmed before it is announced). */
#define P2P_AUTONAT_SERVICE_MAX_EXTRA 4

typedef struct p2p_autonat_service p2p_autonat_service;

/* The reachability or the confirmed address changed. addr is the address
 * a server reached us at when PUBLIC (binary, may be empty), NULL
 * otherwise; valid during the call. */
typedef void (*p2p_autonat_change_cb)(p2p_autonat_reachability state, const p2p_buf *addr,
                                      int confidence, void *user);
/* One probe's outcome: status is the server's p2p_autonat_status, or a
 * negative error when no usable answer came (the stream failed, a
 * timeout, a malformed reply); text is the server's status text ("" when
 * none), valid during the call. For logs and tests. */
typedef void (*p2p_autonat_probe_cb)(const p2p_peerid *server, int status,
                                     const char *text, void *user);

/* Every field 0 (or NULL) is the default; a NULL config is all defaults.
 * The callbacks may run while the host closes (a probe cut off); they must
 * not free the service. */
typedef struct p2p_autonat_service_config {
	p2p_autonat_change_cb on_change; /* may be NULL */
	p2p_autonat_probe_cb on_probe;   /* may be NULL */
	void *user;
	bool disable_server; /* do not answer AutoNAT (default: answer) */
	bool disable_client; /* do not probe (default: probe) */
	/* Private, loopback and benchmark (198.18.0.0/15) IPs count as
	 * public, for tests, LANs and the NAT lab: the server dials back
	 * requesters seen at such IPs, the client asks servers at them and
	 * offers such addresses. Off (the default), as go-libp2p. */
	bool allow_private;
	/* The client's schedule, in place of the P2P_AUTONAT_* intervals of
	 * p2p_autonat_client_next_probe (tests run it in milliseconds). A
	 * server asked stays unasked for P2P_AUTONAT_SERVER_RECENT_MS
	 * whatever these say. */
	uint64_t boot_delay_ms;       /* P2P_AUTONAT_BOOT_DELAY_MS */
	uint64_t forced_retry_ms;     /* P2P_AUTONAT_FORCED_RETRY_MS */
	uint64_t retry_interval_ms;   /* P2P_AUTONAT_RETRY_INTERVAL_MS */
	uint64_t refresh_interval_ms; /* P2P_AUTONAT_REFRESH_INTERVAL_MS */
	uint64_t request_timeout_ms;  /* P2P_AUTONAT_REQUEST_TIMEOUT_MS */
	/* The server. */
	uint64_t dial_timeout_ms;   /* P2P_AUTONAT_DIAL_TIMEOUT_MS */
	uint64_t stream_timeout_ms; /* P2P_AUTONAT_STREAM_TIMEOUT_MS */
	uint32_t throttle_peer_max; /* p2p_autonat_server_config's */
	uint32_t throttle_global;
	uint64_t throttle_reset_ms;
	uint64_t throttle_jitter_ms;
} p2p_autonat_service_config;

typedef struct p2p_autonat_service_stats {
	/* The server. */
	uint64_t served;           /* DIAL requests answered, whatever the answer */
	uint64_t refused;          /* refusals sent, and streams reset (bad input,
	                            * a relayed connection, over the limits, no
	                            * DIAL within the stream timeout) */
	uint64_t dialbacks_ok;     /* answered OK */
	uint64_t dialbacks_failed; /* answered E_DIAL_ERROR */
	/* The client. */
	uint64_t probes_sent;     /* DIAL requests written */
	uint64_t probes_answered; /* a DIAL_RESPONSE came back */
	uint64_t probes_failed;   /* begun, no usable answer */
} p2p_autonat_service_stats;

/* Serves AutoNAT on h (unless disable_server) and probes (unless
 * disable_client). identify (may be NULL) gives the observed addresses
 * offered besides p2p_host_announce_addrs; the peers that speak AutoNAT
 * are those whose identify protocols, in the peerstore, say so (looked up
 * at each round). cfg is copied. P2P_ENOMEM, P2P_ELIMIT (the host's
 * handlers or observers), P2P_ECRYPTO (no randomness for the throttle's
 * jitter).
 * As the other services: free it once the host has closed (from
 * p2p_host_close's on_closed); it does not touch the host then. Its timer
 * does not keep the loop alive by itself. */
int p2p_autonat_service_new(p2p_autonat_service **out, p2p_host *h,
                            p2p_identify_service *identify,
                            const p2p_autonat_service_config *cfg);
void p2p_autonat_service_free(p2p_autonat_service *svc);

/* For the application's identify callback (the identify service takes
 * one): a peer that speaks AutoNAT makes the next round come soon while
 * UNKNOWN (p2p_autonat_client_on_server_found). info may be NULL (a
 * failed identify: nothing happens). */
void p2p_autonat_service_on_identified(p2p_autonat_service *svc, p2p_conn *c,
                                       const p2p_identify *info);
/* Our addresses gained one (after p2p_host_set_announce_addrs): see
 * p2p_autonat_client_on_addrs_changed. */
void p2p_autonat_service_addrs_changed(p2p_autonat_service *svc);
/* Addresses offered first in every DIAL, besides the announce and the
 * observed ones, in place of those set before (n 0: none): where a port
 * mapping says we can be reached, which a server should try before we
 * announce it. Copied; at most P2P_AUTONAT_SERVICE_MAX_EXTRA (P2P_ELIMIT
 * past it), P2P_ENOMEM. Counts as p2p_autonat_service_addrs_changed. */
int p2p_autonat_service_set_extra_addrs(p2p_autonat_service *svc, const p2p_buf *addrs,
                                        size_t n);

/* The current verdict; *addr (may be NULL) the confirmed address as
 * p2p_autonat_client_addr, *confidence (may be NULL) its confidence. */
p2p_autonat_reachability p2p_autonat_service_state(const p2p_autonat_service *svc,
                                                   const p2p_buf **addr, int *confidence);
const p2p_autonat_service_stats *
p2p_autonat_service_stats_get(const p2p_autonat_service *svc);

#endif
