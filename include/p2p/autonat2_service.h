/* The AutoNAT v2 service on a host (autonat2.h has the protocol and its
 * sans-I/O parts): the I/O around them, on the host's loop.
 *
 * The server answers /libp2p/autonat/2/dial-request streams: it asks for
 * dial data when the address is not at the IP it sees the requester at,
 * dials the chosen address over a fresh TCP connection from an ephemeral
 * port (the spec: not the listening port, so that no hole is punched by
 * accident), sends the nonce on /libp2p/autonat/2/dial-back, waits for the
 * answer or the stream's end (at most P2P_AUTONAT2_DIAL_BACK_TIMEOUT_MS),
 * closes that connection and answers. As our AutoNAT v1 server, the
 * dial-back runs under our own peer ID (go-libp2p uses a throwaway one; the
 * spec lets the client rely on the nonce only), so it counts against the
 * requester's max_conns_per_peer.
 *
 * The client (p2p_autonat2_service_check) asks the peer at the other end of
 * a connection about a list of addresses, pays for dial data, handles the
 * dial-back stream and reports the verdict for the address the server
 * chose. Picking servers and addresses, and how many verdicts make a
 * conclusion, are the caller's. */
#ifndef P2P_AUTONAT2_SERVICE_H
#define P2P_AUTONAT2_SERVICE_H

#include "p2p/autonat2.h"
#include "p2p/host.h"

/* Server exchanges at once; past it a new stream is reset and counted as
 * refused (the rate limiter grants P2P_AUTONAT2_SERVER_RPM a minute; this
 * bounds streams that never send their request). */
#define P2P_AUTONAT2_SERVICE_MAX_REQUESTS 32
/* Client probes in flight (p2p_autonat2_service_check: P2P_ELIMIT). */
#define P2P_AUTONAT2_SERVICE_MAX_PROBES 8
/* Inbound dial-back streams being read at once; more are reset. */
#define P2P_AUTONAT2_SERVICE_MAX_DIAL_BACKS 16

typedef struct p2p_autonat2_service p2p_autonat2_service;

/* A check's outcome, valid during the callback. */
typedef struct p2p_autonat2_result {
	const p2p_peerid *server;
	/* 0: the server answered (status and what follows hold); else why
	 * there is no verdict (P2P_ETIMEDOUT, P2P_EPROTO for an answer that
	 * breaks the rules or a dial-back that did not come, P2P_ERESET...). */
	int err;
	int status;      /* DialResponse status (P2P_AUTONAT2_OK ...), -1 if none */
	int dial_status; /* P2P_AUTONAT2_DIAL_..., -1 if none */
	int addr_idx;    /* of the addresses asked about; -1: none judged */
	p2p_autonat2_reach reach;
	const p2p_buf *addr; /* the address judged (binary), NULL if none */
	uint64_t data_paid;  /* dial-data bytes we sent */
} p2p_autonat2_result;

typedef void (*p2p_autonat2_check_cb)(const p2p_autonat2_result *r, void *user);

/* Every field 0 (or NULL) is the default; a NULL config is all defaults. */
typedef struct p2p_autonat2_service_config {
	bool disable_server; /* do not answer dial requests */
	bool disable_client; /* do not take dial-back streams (checks fail) */
	/* The server dials private, loopback and benchmark addresses too
	 * (p2p_autonat2_server_config.allow_private). */
	bool allow_private;
	/* The client refuses to pay dial data (the server then cannot check
	 * an address at another IP than ours). */
	bool no_dial_data;
	uint64_t dial_timeout_ms;      /* P2P_AUTONAT2_DIAL_TIMEOUT_MS */
	uint64_t stream_timeout_ms;    /* P2P_AUTONAT2_STREAM_TIMEOUT_MS, both roles */
	uint64_t dial_back_timeout_ms; /* P2P_AUTONAT2_DIAL_BACK_TIMEOUT_MS */
	uint32_t rpm, per_peer_rpm, dial_data_rpm, max_concurrent; /* the server's */
} p2p_autonat2_service_config;

typedef struct p2p_autonat2_service_stats {
	/* The server. */
	uint64_t served;           /* requests answered OK (an address was dialed) */
	uint64_t refused;          /* E_REQUEST_REJECTED, E_DIAL_REFUSED sent, or
	                            * the stream reset (bad input, relayed, over
	                            * the limits, unpaid data, timeout) */
	uint64_t dialbacks_ok;     /* answered OK / DIAL_OK */
	uint64_t dialbacks_failed; /* answered OK / E_DIAL_ERROR or E_DIAL_BACK_ERROR */
	uint64_t data_requests;    /* DialDataRequests sent */
	/* The client. */
	uint64_t probes_sent;     /* DialRequests written */
	uint64_t probes_answered; /* a verdict came (err 0) */
	uint64_t probes_failed;   /* no verdict */
	uint64_t dial_backs;      /* dial-back nonces of ours received */
} p2p_autonat2_service_stats;

/* Serves AutoNAT v2 on h (unless disable_server) and takes dial-back
 * streams (unless disable_client). cfg is copied. P2P_ENOMEM, P2P_ELIMIT
 * (the host's handlers), P2P_ECRYPTO (no randomness).
 * As the other services: free it once the host has closed (from
 * p2p_host_close's on_closed); it does not touch the host then. */
int p2p_autonat2_service_new(p2p_autonat2_service **out, p2p_host *h,
                             const p2p_autonat2_service_config *cfg);
void p2p_autonat2_service_free(p2p_autonat2_service *svc);

/* Asks the peer at the other end of c (direct, open) whether we can be
 * reached at addrs (binary multiaddrs by priority, copied, 1 to
 * P2P_AUTONAT2_PROBE_MAX_ADDRS). cb runs exactly once, later, from the
 * loop (also when the host closes first: err P2P_ECLOSED). P2P_EINVAL,
 * P2P_ELIMIT (P2P_AUTONAT2_SERVICE_MAX_PROBES in flight, or the client
 * disabled), P2P_ENOMEM, P2P_ECRYPTO, or the stream's error if it could
 * not be opened: then cb will not run. */
int p2p_autonat2_service_check(p2p_autonat2_service *svc, p2p_conn *c,
                               const p2p_buf *addrs, size_t n, p2p_autonat2_check_cb cb,
                               void *user);

const p2p_autonat2_service_stats *
p2p_autonat2_service_stats_get(const p2p_autonat2_service *svc);

#endif
